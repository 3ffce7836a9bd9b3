#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's built-in runner through tsx.
// Node 20's `--test` does not expand globs or pick up .ts files by itself, so the list is built here. A test that
// hangs fails after 5 minutes instead of blocking CI.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...collect(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = collect('test').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', '--test-force-exit', ...files], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
