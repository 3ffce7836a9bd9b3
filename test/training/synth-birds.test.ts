import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { Command } from 'commander';
import { tempDir } from '../helpers/tmp.js';
import { DfganError } from '../../src/errors.js';
import { Rng } from '../../src/model/sampling.js';
import { tokenize } from '../../src/model/text/tokenizer.js';
import { registerSynthCommand } from '../../src/cli/synth.js';
import { openDataset } from '../../src/training/data/open.js';
import {
  ATTRIBUTE_NAMES,
  ATTRIBUTE_SPACE,
  BIRD_PARTS,
  CAPTIONS_PER_IMAGE,
  COLOURS,
  COLOUR_WORDS,
  PALETTE,
  PART_NOUNS,
  SUPERSAMPLE,
  SynthBirdsDataset,
  attributesOf,
  composeCaptions,
  imageRng,
  layoutBird,
  rasterise,
  renderBird,
  shapeBox,
  shapeContains,
  synthItem,
  writeSynthBirds,
  type BirdAttributes,
  type BirdScene,
  type ColourName,
} from '../../src/training/data/synth-birds/index.js';

const sceneOf = (seed: number, i: number) => layoutBird(attributesOf(seed, i), imageRng(seed, i, 'render'));

const boxCache = new WeakMap<BirdScene, [number, number, number, number][]>();
function boxes(scene: BirdScene): [number, number, number, number][] {
  let b = boxCache.get(scene);
  if (!b) boxCache.set(scene, (b = scene.ops.map((o) => shapeBox(o.shape))));
  return b;
}

/** Opaque op that alone decides pixel (px, py): all its samples inside it and outside every later op; else -1. */
function soleOp(scene: BirdScene, size: number, px: number, py: number): number {
  const pts: [number, number][] = [];
  for (let sy = 0; sy < SUPERSAMPLE; sy++) {
    for (let sx = 0; sx < SUPERSAMPLE; sx++) pts.push([(px + (sx + 0.5) / SUPERSAMPLE) / size, (py + (sy + 0.5) / SUPERSAMPLE) / size]);
  }
  const x0 = px / size;
  const y0 = py / size;
  const x1 = (px + 1) / size;
  const y1 = (py + 1) / size;
  for (let k = scene.ops.length - 1; k >= 0; k--) {
    const [bx0, by0, bx1, by1] = boxes(scene)[k];
    if (bx0 > x1 || bx1 < x0 || by0 > y1 || by1 < y0) continue;
    const inside = pts.filter(([x, y]) => shapeContains(scene.ops[k].shape, x, y)).length;
    if (inside === 0) continue;
    return inside === pts.length && scene.ops[k].alpha === 1 ? k : -1;
  }
  return -1;
}

/** Pixels decided by one op, grouped by part: the colour each shows. */
function pureParts(scene: BirdScene, size: number, data: Uint8Array): Map<string, number[][]> {
  const out = new Map<string, number[][]>();
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const k = soleOp(scene, size, px, py);
      if (k < 0) continue;
      const o = (py * size + px) * 3;
      const list = out.get(scene.ops[k].part) ?? [];
      list.push([data[o], data[o + 1], data[o + 2], k]);
      out.set(scene.ops[k].part, list);
    }
  }
  return out;
}

test('same seed gives identical pictures and captions, another seed different ones', () => {
  for (const i of [0, 5]) {
    const a = synthItem(11, i, 100, 64);
    const b = synthItem(11, i, 100, 64);
    assert.deepEqual(a.image.data, b.image.data);
    assert.deepEqual(a.captions, b.captions);
    assert.deepEqual(a.attributes, b.attributes);
    const c = synthItem(12, i, 100, 64);
    assert.notDeepEqual(a.image.data, c.image.data);
    assert.notDeepEqual(a.captions, c.captions);
  }
  // An image does not depend on the data-set size or on the images before it.
  assert.deepEqual(synthItem(11, 7, 10, 32).image.data, synthItem(11, 7, 5000, 32).image.data);
});

test('attributes cover their value lists and match the exported space', () => {
  const seen = Object.fromEntries(ATTRIBUTE_NAMES.map((n) => [n, new Set<string>()]));
  for (let i = 0; i < 600; i++) {
    const a = attributesOf(3, i);
    for (const n of ATTRIBUTE_NAMES) {
      assert.ok((ATTRIBUTE_SPACE[n] as readonly string[]).includes(a[n]), `${n}=${a[n]}`);
      seen[n].add(a[n]);
    }
  }
  for (const n of ATTRIBUTE_NAMES) assert.equal(seen[n].size, ATTRIBUTE_SPACE[n].length, n);
  assert.ok(COLOURS.length >= 10);
});

test('rasteriser: anti-aliased edges and exact area of a disc', () => {
  const size = 32;
  const r = 0.3;
  const img = rasterise(
    {
      background: { top: [255, 255, 255], bottom: [255, 255, 255] },
      ops: [{ part: 'disc', shape: [{ kind: 'ellipse', cx: 0.5, cy: 0.5, rx: r, ry: r, angle: 0 }], colour: [0, 0, 0], alpha: 1 }],
      bbox: { x: 0, y: 0, w: 0, h: 0 },
    },
    size,
  );
  let cover = 0;
  let partial = 0;
  for (let p = 0; p < size * size; p++) {
    const v = img.data[p * 3];
    cover += (255 - v) / 255;
    if (v > 0 && v < 255) partial++;
  }
  assert.ok(partial > 40, `${partial} edge pixels with intermediate values`);
  const area = Math.PI * (r * size) ** 2;
  assert.ok(Math.abs(cover - area) / area < 0.01, `covered ${cover} vs ${area}`);

  // And on real birds: pixels at the bird's edges blend its colours with the background's.
  const scene = sceneOf(2, 0);
  const bird = rasterise(scene, 64);
  const body = scene.ops.find((o) => o.part === 'body')!;
  const [x0, y0, x1, y1] = shapeBox(body.shape).map((v) => v * 64);
  const colours = new Set<string>();
  for (let y = Math.floor(y0); y < Math.ceil(y1); y++) {
    for (let x = Math.floor(x0); x < Math.ceil(x1); x++) colours.add(Array.from(bird.data.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)).join());
  }
  assert.ok(colours.size > 20, `${colours.size} distinct colours around the body`);
});

test('the parts show their attribute colours, exactly, at 64 and 32 pixels', () => {
  const need64: Record<string, number> = { body: 20, wing: 10, crown: 4, belly: 10 };
  for (let i = 0; i < 8; i++) {
    const a = attributesOf(21, i);
    const scene = sceneOf(21, i);
    for (const size of [64, 32]) {
      const img = rasterise(scene, size);
      const parts = pureParts(scene, size, img.data);
      // Every pixel decided by a single opaque op shows exactly that op's colour.
      for (const list of parts.values()) for (const [r, g, b, k] of list) assert.deepEqual([r, g, b], [...scene.ops[k].colour], `${scene.ops[k].part} at ${size}`);
      const expect: Record<string, ColourName> = { body: a.body, wing: a.wing, crown: a.crown, belly: a.belly, beak: a.beakColour };
      // The head (below the crown) is body-coloured too.
      parts.set('body', [...(parts.get('body') ?? []), ...(parts.get('head') ?? [])]);
      for (const [part, colour] of Object.entries(expect)) {
        const list = parts.get(part) ?? [];
        for (const [r, g, b] of list) assert.deepEqual([r, g, b], [...PALETTE[colour]], `${part} should be ${colour}`);
        if (size === 64 && need64[part]) assert.ok(list.length >= need64[part], `${part}: only ${list.length} clear pixels at 64 (bird ${i})`);
        if (size === 32 && part !== 'beak') assert.ok(list.length >= 1, `${part}: no clear pixel at 32 (bird ${i})`);
      }
      // The mean colour over the body's clear pixels is the body colour.
      const body = parts.get('body')!;
      const mean = [0, 1, 2].map((c) => body.reduce((s, p) => s + p[c], 0) / body.length);
      assert.deepEqual(mean.map(Math.round), [...PALETTE[a.body]]);
    }
  }
});

test('the bounding box holds the whole bird and lies inside the picture', () => {
  for (let i = 0; i < 250; i++) {
    const scene = sceneOf(8, i);
    const b = scene.bbox;
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= 1 && b.y + b.h <= 1 && b.w > 0.2 && b.h > 0.2, JSON.stringify(b));
    for (const op of scene.ops.filter((o) => (BIRD_PARTS as readonly string[]).includes(o.part))) {
      const [x0, y0, x1, y1] = shapeBox(op.shape);
      const eps = 1e-9;
      assert.ok(x0 >= b.x - eps && y0 >= b.y - eps && x1 <= b.x + b.w + eps && y1 <= b.y + b.h + eps, op.part);
    }
  }
});

test('facing and pose are visible: mirrored layout, branch and legs only when perched', () => {
  for (let i = 0; i < 40; i++) {
    const a = attributesOf(4, i);
    const scene = sceneOf(4, i);
    const parts = new Set(scene.ops.map((o) => o.part));
    assert.equal(parts.has('branch'), a.pose === 'perched');
    assert.equal(parts.has('legs'), a.pose === 'perched');
    const centre = (part: string) => {
      const [x0, , x1] = shapeBox(scene.ops.find((o) => o.part === part)!.shape);
      return (x0 + x1) / 2;
    };
    // The beak is on the facing side of the body, the tail on the other.
    if (a.facing === 'right') assert.ok(centre('beak') > centre('body') && centre('tail') < centre('body'));
    else assert.ok(centre('beak') < centre('body') && centre('tail') > centre('body'));
  }
});

test('any size works and shows the same bird', async () => {
  const scene = sceneOf(5, 3);
  const big = rasterise(scene, 256);
  const small = rasterise(scene, 64);
  for (const size of [32, 64, 256]) {
    const img = renderBird(attributesOf(5, 3), size, imageRng(5, 3, 'render'));
    assert.equal(img.width, size);
    assert.equal(img.height, size);
    assert.equal(img.data.length, size * size * 3);
  }
  // 256 box-filtered down to 64 matches the 64 rendering.
  let diff = 0;
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) s += big.data[((y * 4 + dy) * 256 + x * 4 + dx) * 3 + c];
        diff += Math.abs(s / 16 - small.data[(y * 64 + x) * 3 + c]);
      }
    }
  }
  assert.ok(diff / (64 * 64 * 3) < 2, `mean difference ${diff / (64 * 64 * 3)}`);
});

const partOfNoun = new Map<string, keyof typeof PART_NOUNS>();
for (const [part, nouns] of Object.entries(PART_NOUNS)) for (const n of nouns) partOfNoun.set(n, part as keyof typeof PART_NOUNS);
const colourOfWord = new Map<string, ColourName>();
for (const [c, words] of Object.entries(COLOUR_WORDS)) for (const w of words) colourOfWord.set(w, c as ColourName);

/** Part -> colours a caption gives it; throws on a colour word tied to no part. */
function colourClaims(text: string): [keyof typeof PART_NOUNS, ColourName][] {
  const words = text.split(/[\s,.]+/).filter(Boolean);
  const claims: [keyof typeof PART_NOUNS, ColourName][] = [];
  words.forEach((w, k) => {
    const c = colourOfWord.get(w);
    if (!c) return;
    const next = words[k + 1];
    if (words[k - 1] === 'mostly') claims.push(['body', c]);
    else if (next && partOfNoun.has(next)) claims.push([partOfNoun.get(next)!, c]);
    else assert.fail(`colour "${w}" names no part in "${text}"`);
  });
  return claims;
}

test('captions: ten per image, true colours only, every attribute named, CUB-sized ascii', () => {
  const valueWords: Partial<Record<keyof BirdAttributes, Record<string, RegExp>>> = {
    size: { small: /\b(small|tiny|little)\b/, medium: /\bmedium\b/, large: /\b(large|big)\b/ },
    beakLength: { short: /\b(short|stubby)\b/, long: /\blong\b/ },
    facing: { left: /\bleft\b/, right: /\bright\b/ },
    pose: { perched: /\b(perched|sitting|standing)\b/, flying: /\b(flying|flight)\b/ },
    background: { sky: /\bsky\b/, leaves: /\bleaves\b/, water: /\bwater\b/, ground: /\bground\b/ },
  };
  for (let i = 0; i < 150; i++) {
    const a = attributesOf(31, i);
    const caps = composeCaptions(a, imageRng(31, i, 'captions'));
    assert.equal(caps.length, CAPTIONS_PER_IMAGE);
    const named = new Set<string>();
    for (const { text, mentions } of caps) {
      assert.match(text, /^[a-z ,]+$/);
      const n = tokenize(text).length;
      assert.ok(n >= 3 && n <= 18, `${n} words: ${text}`);
      assert.ok(mentions.length >= 2 && mentions.length <= 4 && new Set(mentions).size === mentions.length);
      mentions.forEach((m) => named.add(m));
      const claims = colourClaims(text);
      for (const [part, c] of claims) assert.equal(c, a[part], `"${text}" calls the ${part} ${c}, it is ${a[part]}`);
      // Every colour attribute the caption is meant to name is there, with its true colour.
      for (const m of mentions) {
        if (m in PART_NOUNS) assert.ok(claims.some(([p, c]) => p === m && c === a[m as keyof typeof PART_NOUNS]), `${m} missing in "${text}"`);
      }
      // Other attributes: the true value's word appears when named, no other value's word ever does.
      for (const [attr, table] of Object.entries(valueWords)) {
        const value = a[attr as keyof BirdAttributes];
        if (mentions.includes(attr as keyof BirdAttributes)) assert.match(text, table[value], `${attr} in "${text}"`);
        for (const [other, re] of Object.entries(table)) if (other !== value) assert.doesNotMatch(text, re, `${attr}=${value}: "${text}"`);
      }
    }
    assert.deepEqual([...named].sort(), [...ATTRIBUTE_NAMES].sort());
  }
});

test('written layout is complete and consistent, and matches the in-memory data set', async () => {
  const root = await tempDir('synth-birds-');
  const out = join(root, 'ds');
  const count = 24;
  const res = await writeSynthBirds({ out, count, size: 32, seed: 9, testFraction: 0.25 });
  assert.equal(res.train + res.test, count);
  assert.equal(res.test, 6);
  const cub = join(out, 'CUB_200_2011');
  const lines = async (p: string) => (await readFile(p, 'utf8')).split('\n').filter((l) => l.length > 0);
  const images = await lines(join(cub, 'images.txt'));
  const boxes = await lines(join(cub, 'bounding_boxes.txt'));
  assert.equal(images.length, count);
  assert.equal(boxes.length, count);
  const keys: string[] = [];
  for (let k = 0; k < count; k++) {
    const [id, file] = images[k].split(' ');
    assert.equal(id, String(k + 1));
    assert.match(file, /^\d{3}\.[a-z]+_body\/synth_bird_\d{6}\.png$/);
    const key = file.slice(0, -4);
    keys.push(key);
    const png = decode(await readFile(join(cub, 'images', file)));
    assert.equal(png.width, 32);
    assert.equal(png.height, 32);
    const [bid, ...xywh] = boxes[k].split(' ');
    assert.equal(bid, id);
    const [x, y, w, h] = xywh.map(Number);
    assert.ok([x, y, w, h].every(Number.isInteger) && x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 32 && y + h <= 32, boxes[k]);
    const caps = await lines(join(out, 'text', `${key}.txt`));
    assert.equal(caps.length, 10);
  }
  assert.equal(new Set(keys).size, count);
  const train = await lines(join(out, 'train', 'filenames.txt'));
  const test = await lines(join(out, 'test', 'filenames.txt'));
  assert.equal(train.length + test.length, count);
  assert.deepEqual([...train, ...test].sort(), [...keys].sort());
  assert.equal(new Set([...train, ...test]).size, count);
  const attrs = (await lines(join(out, 'attributes.jsonl'))).map((l) => JSON.parse(l));
  assert.deepEqual(
    attrs.map((r) => r.key),
    keys,
  );
  for (const r of attrs) {
    assert.equal(r.split, train.includes(r.key) ? 'train' : 'test');
    assert.ok(r.key.startsWith(`${String(COLOURS.indexOf(r.body) + 1).padStart(3, '0')}.${r.body}_body/`));
  }
  const manifest = JSON.parse(await readFile(join(out, 'synth-birds.json'), 'utf8'));
  assert.deepEqual([manifest.seed, manifest.count, manifest.size, manifest.train, manifest.test], [9, count, 32, 18, 6]);
  assert.deepEqual(manifest.attributes, JSON.parse(JSON.stringify(ATTRIBUTE_SPACE)));

  // The in-memory data set gives the same keys, pixels, captions and attributes.
  for (const [split, list] of [['train', train], ['test', test]] as const) {
    const ds = new SynthBirdsDataset({ seed: 9, count, size: 32, testFraction: 0.25, split });
    assert.equal(ds.size, list.length);
    for (const i of [0, ds.size - 1]) {
      assert.equal(ds.key(i), list[i]);
      const img = await ds.image(i);
      const png = decode(await readFile(join(cub, 'images', `${list[i]}.png`)));
      assert.deepEqual(Buffer.from(img.data), Buffer.from(png.data as Uint8Array));
      assert.deepEqual(await ds.captions(i), await lines(join(out, 'text', `${list[i]}.txt`)));
      const rec = attrs.find((r) => r.key === list[i])!;
      const { key: _k, split: _s, ...rest } = rec;
      assert.deepEqual(await ds.attributes(i), rest);
    }
  }

  // The CUB reader loads the folder: same keys, captions, and its crops equal the in-memory 'cub' crops.
  for (const split of ['train', 'test'] as const) {
    const disk = await openDataset(out, split);
    const mem = new SynthBirdsDataset({ seed: 9, count, size: 32, testFraction: 0.25, split, crop: 'cub' });
    assert.equal(disk.size, mem.size);
    for (let i = 0; i < disk.size; i++) {
      assert.equal(disk.key(i), mem.key(i));
      assert.deepEqual(await disk.captions(i), await mem.captions(i));
      const [a, b] = [await disk.image(i), await mem.image(i)];
      assert.deepEqual([a.width, a.height], [b.width, b.height]);
      assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), disk.key(i));
    }
  }

  // Same seed -> the same bytes; a non-empty folder is refused unless overwriting.
  const again = join(root, 'again');
  await writeSynthBirds({ out: again, count, size: 32, seed: 9, testFraction: 0.25 });
  for (const f of ['CUB_200_2011/images.txt', 'CUB_200_2011/bounding_boxes.txt', 'attributes.jsonl', `CUB_200_2011/images/${keys[3]}.png`, `text/${keys[3]}.txt`]) {
    assert.deepEqual(await readFile(join(out, f)), await readFile(join(again, f)), f);
  }
  await assert.rejects(writeSynthBirds({ out, count: 2, size: 32, seed: 9 }), (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT');
  await writeSynthBirds({ out, count: 2, size: 32, seed: 9, overwrite: true });
  assert.equal((await lines(join(cub, 'images.txt'))).length, 2);
  assert.deepEqual((await readdir(root)).sort(), ['again', 'ds']);
});

test('dfgan synth: writes the data set; bad flags are INVALID_ARGUMENT', async () => {
  const root = await tempDir('synth-cli-');
  const make = () => {
    const program = new Command('dfgan').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    registerSynthCommand(program);
    return program;
  };
  const write = process.stdout.write;
  let printed = '';
  // Keep the JSON the command prints (the test runner's own binary frames pass through).
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') return (printed += chunk), true;
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    await make().parseAsync(['synth', '--out', join(root, 'a'), '--count', '3', '--size', '32', '--seed', '4', '--test-fraction', '0.34', '--no-progress'], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  assert.deepEqual([JSON.parse(printed).train, JSON.parse(printed).test], [2, 1]);
  assert.equal((await readFile(join(root, 'a', 'test', 'filenames.txt'), 'utf8')).trim().split('\n').length, 1);
  for (const bad of [
    ['--count', '0'],
    ['--count', '2', '--size', '7'],
    ['--count', '2', '--seed', '-1'],
    ['--count', '2', '--test-fraction', '1.5'],
    ['--count', 'x'],
  ]) {
    await assert.rejects(
      make().parseAsync(['synth', '--out', join(root, 'b'), ...bad], { from: 'user' }),
      (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT',
      bad.join(' '),
    );
  }
  // The folder exists and is not empty.
  await mkdir(join(root, 'c'));
  await writeFile(join(root, 'c', 'x'), '');
  await assert.rejects(
    make().parseAsync(['synth', '--out', join(root, 'c'), '--count', '1', '--no-progress'], { from: 'user' }),
    (e: unknown) => e instanceof DfganError && e.code === 'INVALID_ARGUMENT',
  );
});

test('Rng streams of different images differ', () => {
  const a = new Rng(0);
  assert.ok(a.uniform() > 0);
  const firsts = new Set(Array.from({ length: 1000 }, (_, i) => imageRng(1, i, 'attributes').nextUint32()));
  assert.equal(firsts.size, 1000);
});
