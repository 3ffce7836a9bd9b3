// The README's sample grid of a checkpoint: one row per caption of a text file (`row N: caption` lines, as the
// trainer's samples/step-*.txt and docs/images/bundled-samples.txt are written, or plain lines), one column per
// seed 0..COLS-1, truncation 0.88 (what `dfgan generate --seed 0 --n COLS` gives for each caption). Usage:
//   node --import tsx scripts/sample-grid.ts CHECKPOINT CAPTIONS.txt OUT.png [COLS]
import { readFile, writeFile } from 'node:fs/promises';
import { selectBackend } from '../src/model/backend.js';
import { TextToImage } from '../src/model/text-to-image.js';
import { gridOf, type RgbImage } from '../src/model/image.js';
import sharp from 'sharp';

const [checkpoint, captionsFile, out, colsArg = '6'] = process.argv.slice(2);
const cols = Number(colsArg);
if (!checkpoint || !captionsFile || !out || !Number.isInteger(cols) || cols < 1 || cols > 64) {
  console.error('usage: sample-grid.ts CHECKPOINT CAPTIONS.txt OUT.png [COLS (1-64, default 6)]');
  process.exit(2);
}
const captions = (await readFile(captionsFile, 'utf8'))
  .split('\n')
  .map((l) => l.replace(/^row \d+: /, '').trim())
  .filter((l) => l.length > 0);
if (captions.length === 0) {
  console.error(`${captionsFile} has no captions`);
  process.exit(2);
}
await selectBackend('auto');
const model = await TextToImage.load(checkpoint);
try {
  const images: RgbImage[] = [];
  const seeds = Array.from({ length: cols }, (_, i) => i);
  for (const text of captions) images.push(...(await model.generate({ text, seeds })).images);
  const grid = gridOf(images, cols);
  // Committed to the repository: the smallest PNG sharp makes (the server's encoder trades size for speed).
  const png = await sharp(grid.data, { raw: { width: grid.width, height: grid.height, channels: 3 } })
    .png({ compressionLevel: 9, adaptiveFiltering: true, effort: 10 })
    .toBuffer();
  await writeFile(out, png);
  console.log(`${out}: ${captions.length} captions x ${cols} seeds from ${model.dir}`);
} finally {
  model.dispose();
}
