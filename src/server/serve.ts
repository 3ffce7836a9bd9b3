// `dfgan serve`: runs the server until SIGTERM or SIGINT. The first signal starts a graceful shutdown; a second
// one, or the shutdown timeout, ends the process at once.
import type { Logger } from '../logger.js';
import type { ServeConfig } from './config.js';
import { startServer } from './main.js';

/** Resolves with the exit code once the server has stopped. */
export async function serve(config: ServeConfig, log: Logger): Promise<number> {
  const server = await startServer(config, { log });
  try {
    await server.loaded;
  } catch (err) {
    // Nothing to serve: stop listening and report why.
    await server.shutdown();
    throw err;
  }
  return new Promise((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        log.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      log.info({ signal }, 'signal received');
      server.shutdown().then(
        ({ forced }) => resolve(forced ? 1 : 0),
        (err) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
