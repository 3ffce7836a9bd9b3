// The process's structured logger (JSON lines on stderr, so stdout stays free for command output).
import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function createLogger(level: (typeof LOG_LEVELS)[number] = 'info'): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination(2));
}
