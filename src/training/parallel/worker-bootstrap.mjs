// Entry of a training worker thread when running from TypeScript sources: registers tsx (as bin/dfgan.mjs
// does) and loads the worker module. A worker does not inherit the parent's loader hooks.
import { register } from 'tsx/esm/api';
register();
await import('./worker.ts');
