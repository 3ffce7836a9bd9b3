// Notices when a checkpoint root's `latest` pointer may have changed: fs.watch for promptness, plus a polling
// timer because fs.watch misses events on some filesystems (network mounts, some containers).
import { watch, type FSWatcher } from 'node:fs';
import { LATEST_FILE } from '../model/checkpoint/manifest.js';
import type { Logger } from '../logger.js';

export interface WatchOptions {
  /** Use fs.watch. */
  watch: boolean;
  /** Also call back this often (0: never). */
  pollMs: number;
}

export interface Watcher {
  close(): void;
}

/** Calls `onChange` (possibly spuriously; the caller re-reads the pointer) when `root/latest` may have changed. */
export function watchLatest(root: string, opts: WatchOptions, onChange: () => void, log: Logger): Watcher {
  let fsWatcher: FSWatcher | undefined;
  if (opts.watch) {
    try {
      // The trainer renames a finished temporary file onto `latest`: the event names `latest` (or nothing).
      fsWatcher = watch(root, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === LATEST_FILE) onChange();
      });
      fsWatcher.on('error', (err) => {
        log.warn({ err, root }, 'fs.watch on the checkpoint root failed; relying on polling');
        fsWatcher?.close();
        fsWatcher = undefined;
      });
    } catch (err) {
      log.warn({ err, root }, 'cannot fs.watch the checkpoint root; relying on polling');
    }
  }
  const timer = opts.pollMs > 0 ? setInterval(onChange, opts.pollMs).unref() : undefined;
  return {
    close() {
      fsWatcher?.close();
      if (timer) clearInterval(timer);
    },
  };
}
