// Opens a data set folder, telling CUB from COCO by its layout.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DfganError } from '../../errors.js';
import { openCoco } from './coco.js';
import { openCub } from './cub.js';
import type { Dataset, Split } from './dataset.js';

export type DatasetLayout = 'cub' | 'coco';

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** 'cub' when root/CUB_200_2011/ exists, 'coco' when root/images/train2014/ or val2014/ does, else undefined. */
export async function detectLayout(root: string): Promise<DatasetLayout | undefined> {
  if (await isDir(join(root, 'CUB_200_2011'))) return 'cub';
  if ((await isDir(join(root, 'images', 'train2014'))) || (await isDir(join(root, 'images', 'val2014')))) return 'coco';
  return undefined;
}

export async function openDataset(root: string, split: Split): Promise<Dataset> {
  if (!(await isDir(root))) throw new DfganError('INVALID_ARGUMENT', `data set folder ${root} does not exist or is not a folder`);
  switch (await detectLayout(root)) {
    case 'cub':
      return openCub(root, split);
    case 'coco':
      return openCoco(root, split);
    default:
      throw new DfganError(
        'INVALID_ARGUMENT',
        `no known data set layout in ${root}: expected ${join(root, 'CUB_200_2011')}/ (CUB-200-2011) or ` +
          `${join(root, 'images', 'train2014')}/ or ${join(root, 'images', 'val2014')}/ (COCO 2014)`,
      );
  }
}
