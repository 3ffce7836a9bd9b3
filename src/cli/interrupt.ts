// Ctrl-C (or SIGTERM) for long jobs: the first signal asks the job to stop after its current step and save; a
// second one exits at once (the last saved checkpoint stays valid, being written atomically).
import type { Logger } from '../logger.js';

export async function untilInterrupted<T>(log: Logger, job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) {
      log.warn('second interrupt: exiting now; the last saved checkpoint stays in place');
      process.exit(130);
    }
    log.warn('interrupt: finishing this step, then saving a checkpoint (Ctrl-C again to quit at once)');
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await job(stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
