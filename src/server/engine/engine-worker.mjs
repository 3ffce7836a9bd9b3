// Worker entry of the engine: a worker thread starts without the parent's module hooks, so it registers
// tsx itself (as bin/dfgan.mjs does) before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./engine-worker.ts');
