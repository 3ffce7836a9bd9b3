import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddingCache } from '../../src/server/embedding-cache.js';

const v = (x: number) => new Float32Array([x]);

test('keeps the most recently used entries up to its capacity', () => {
  const c = new EmbeddingCache(2);
  c.set('a', v(1));
  c.set('b', v(2));
  assert.equal(c.get('a')?.[0], 1); // a is now the most recent
  c.set('c', v(3)); // evicts b
  assert.equal(c.get('b'), undefined);
  assert.equal(c.get('a')?.[0], 1);
  assert.equal(c.get('c')?.[0], 3);
  assert.equal(c.size, 2);
});

test('re-setting a key replaces its value without growing', () => {
  const c = new EmbeddingCache(2);
  c.set('a', v(1));
  c.set('a', v(5));
  assert.equal(c.size, 1);
  assert.equal(c.get('a')?.[0], 5);
});

test('capacity 0 stores nothing; keys are word ids', () => {
  const c = new EmbeddingCache(0);
  c.set('a', v(1));
  assert.equal(c.get('a'), undefined);
  assert.equal(EmbeddingCache.keyOf([3, 14, 15]), '3,14,15');
  assert.throws(() => new EmbeddingCache(-1), RangeError);
});
