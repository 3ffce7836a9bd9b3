// 8-bit RGB -> PNG bytes with sharp (libvips: native deflate on libuv's thread pool, about 2.5x fast-png at
// 256x256, and off the event loop). Main thread only: sharp must not be loaded in a worker thread that may exit
// (https://sharp.pixelplumbing.com/install#worker-threads), so engine workers hand back pixels, not PNGs.
import sharp from 'sharp';
import type { RgbImage } from './image.js';

export async function encodePng(img: RgbImage): Promise<Uint8Array> {
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: 6, adaptiveFiltering: false })
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
