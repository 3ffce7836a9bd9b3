// One leak check for every engine runtime: tensors alive in the worker stay the same across generate, warm-up
// and refused calls.
import assert from 'node:assert/strict';
import { DfganError } from '../../src/errors.js';
import type { WorkerModel } from '../../src/server/engine/worker-engine.js';

export async function assertNoWorkerLeaks(model: WorkerModel, caption: string): Promise<void> {
  const ids = model.tokenize(caption).ids;
  await model.generate([{ ids, seed: 1, truncation: 0.88 }]);
  const before = await model.tensorCount();
  await model.warmup([1, 3]);
  for (let i = 0; i < 3; i++) {
    await model.generate([
      { ids, seed: i, truncation: 0.88 },
      { ids: [1, 2, 3], seed: i, truncation: null },
    ]);
    await assert.rejects(model.generate([{ ids: [999_999], seed: 1, truncation: 0.88 }]), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT');
  }
  assert.equal(await model.tensorCount(), before);
}
