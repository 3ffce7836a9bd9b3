// Holds the model being served and replaces it when the trainer publishes a new checkpoint. A new checkpoint is
// loaded, verified and warmed up off the request path, then swapped in with one assignment; requests already
// accepted finish on the model they started on, which is disposed after its last lease is returned. A checkpoint
// that fails to load is logged and counted, and the old model keeps serving.
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DfganError } from '../errors.js';
import type { Logger } from '../logger.js';
import { MANIFEST_FILE } from '../model/checkpoint/manifest.js';
import { resolveCheckpointDir } from '../model/checkpoint/read.js';
import { watchLatest, type Watcher } from './checkpoint-watcher.js';
import type { Engine, LoadedModel, ModelInfo } from './engine/engine.js';

export interface ModelHostOptions {
  /** A checkpoint folder (served as is) or a root with a `latest` pointer (watched). */
  checkpoint: string;
  warmupBatchSizes: readonly number[];
  watch: boolean;
  pollMs: number;
}

export interface ModelHostHooks {
  reload?(result: 'success' | 'failure', seconds: number): void;
}

/** A model kept alive for one request; release() exactly once when done with it. */
export interface ModelLease {
  readonly model: LoadedModel;
  release(): void;
}

export type ReloadResult = 'loaded' | 'unchanged' | 'failed';

interface Entry {
  model: LoadedModel;
  /** The host's own reference while current, plus one per lease. */
  refs: number;
  broken: boolean;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Emits 'change' whenever the served model or its readiness changes. */
export class ModelHost extends EventEmitter {
  private current: Entry | undefined;
  private readonly alive = new Set<Entry>();
  private readonly disposals = new Set<Promise<void>>();
  private reloading: Promise<ReloadResult> | undefined;
  private again = false;
  /** What the last failed reload tried (a folder, or the error of reading the pointer): not retried until it changes. */
  private lastFailure: string | undefined;
  /** The root whose `latest` is followed; undefined when serving a fixed folder. */
  private root: string | undefined;
  private fixedDir: string | undefined;
  private watcher: Watcher | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly engine: Engine,
    private readonly opts: ModelHostOptions,
    private readonly log: Logger,
    private readonly hooks: ModelHostHooks = {},
  ) {
    super();
  }

  /** Loads the first model (failures propagate: there is nothing to serve) and starts watching. */
  start(): Promise<void> {
    this.starting ??= this.loadFirst();
    return this.starting;
  }

  private async loadFirst(): Promise<void> {
    const path = resolve(this.opts.checkpoint);
    const dir = await resolveCheckpointDir(path);
    if (await isFile(join(path, MANIFEST_FILE))) this.fixedDir = path;
    else this.root = path;
    const t0 = performance.now();
    const model = await this.loadWarm(dir);
    if (this.closed) {
      await model.dispose();
      throw new DfganError('MODEL_NOT_READY', 'the server was stopped while its model was loading');
    }
    this.install(model);
    this.log.info({ ...this.info, seconds: (performance.now() - t0) / 1000, watching: this.root ?? null }, 'model loaded');
    if (this.root) this.watcher = watchLatest(this.root, this.opts, () => void this.checkForUpdate(), this.log);
  }

  get ready(): boolean {
    return !this.closed && this.current !== undefined && !this.current.broken;
  }

  get info(): ModelInfo | undefined {
    return this.current?.model.info;
  }

  /** The current model for one request. MODEL_NOT_READY while none can serve. */
  acquire(): ModelLease {
    const entry = this.current;
    if (!entry || entry.broken || this.closed) throw new DfganError('MODEL_NOT_READY', 'no model is ready to serve yet; retry later');
    entry.refs++;
    let released = false;
    return {
      model: entry.model,
      release: () => {
        if (released) return;
        released = true;
        this.unref(entry);
      },
    };
  }

  /** Re-reads the pointer and swaps in the checkpoint it names, if new. Concurrent calls share one reload. */
  checkForUpdate(): Promise<ReloadResult> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      let result: ReloadResult;
      do {
        this.again = false;
        result = await this.reloadOnce();
      } while (this.again && !this.closed);
      return result;
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  /** Stops watching and disposes every model once its leases are back (at once with `force`). */
  async close(opts: { force?: boolean } = {}): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    // A load under way disposes its own model when it sees the host closed.
    await this.starting?.catch(() => undefined);
    if (!opts.force) await this.reloading?.catch(() => undefined);
    const cur = this.current;
    this.current = undefined;
    this.emit('change');
    if (cur) this.unref(cur);
    if (opts.force) for (const e of this.alive) this.dispose(e);
    await Promise.all(this.disposals);
  }

  private async reloadOnce(): Promise<ReloadResult> {
    if (this.closed) return 'unchanged';
    const cur = this.current;
    let dir: string;
    try {
      dir = this.fixedDir ?? (await resolveCheckpointDir(this.root!));
    } catch (err) {
      return this.failed(`pointer: ${err instanceof Error ? err.message : String(err)}`, err, 0);
    }
    if (cur && !cur.broken && dir === cur.model.info.dir) return 'unchanged';
    // A checkpoint already refused is not retried on every poll; a broken model is always worth replacing.
    if (dir === this.lastFailure && !cur?.broken) return 'unchanged';
    const t0 = performance.now();
    this.log.info({ dir }, 'loading a new checkpoint');
    let model: LoadedModel;
    try {
      model = await this.loadWarm(dir);
    } catch (err) {
      return this.failed(dir, err, (performance.now() - t0) / 1000);
    }
    if (this.closed) {
      await model.dispose();
      return 'unchanged';
    }
    const seconds = (performance.now() - t0) / 1000;
    const from = cur?.model.info.version;
    this.install(model);
    this.lastFailure = undefined;
    this.hooks.reload?.('success', seconds);
    this.log.info({ from, to: model.info.version, dir, seconds }, 'model swapped');
    return 'loaded';
  }

  private failed(what: string, err: unknown, seconds: number): ReloadResult {
    if (what === this.lastFailure && !this.current?.broken) return 'unchanged';
    this.lastFailure = what;
    this.hooks.reload?.('failure', seconds);
    const e = err as { code?: string; message?: string };
    this.log.error(
      { code: e?.code, err: e?.message, serving: this.current?.model.info.version ?? null },
      `checkpoint refused, the current model keeps serving: ${e?.message ?? String(err)}`,
    );
    return 'failed';
  }

  private async loadWarm(dir: string): Promise<LoadedModel> {
    const model = await this.engine.load(dir);
    try {
      await model.warmup(this.opts.warmupBatchSizes);
    } catch (err) {
      await model.dispose();
      throw err;
    }
    return model;
  }

  private install(model: LoadedModel): void {
    const entry: Entry = { model, refs: 1, broken: false };
    model.onFailure((err) => this.onModelFailure(entry, err));
    this.alive.add(entry);
    const old = this.current;
    this.current = entry;
    this.emit('change');
    if (old) this.unref(old);
  }

  private onModelFailure(entry: Entry, err: Error): void {
    entry.broken = true;
    if (entry !== this.current || this.closed) return;
    this.log.error({ err: err.message, version: entry.model.info.version }, 'the model failed; reloading it');
    this.emit('change');
    void this.checkForUpdate();
  }

  private unref(entry: Entry): void {
    if (--entry.refs === 0) this.dispose(entry);
  }

  private dispose(entry: Entry): void {
    if (!this.alive.delete(entry)) return;
    const p = entry.model
      .dispose()
      .catch((err) => this.log.error({ err }, 'disposing a model failed'))
      .finally(() => this.disposals.delete(p));
    this.disposals.add(p);
  }
}
