// Counterfactual captions for D's training on synth-birds data (`train --counterfactual-pairs`): for each image of
// a batch, its caption with one of the attributes it names changed (data/synth-birds/counterfactuals.ts).
import { DfganError } from '../errors.js';
import type { Rng } from '../model/sampling.js';
import type { Dataset } from './data/dataset.js';
import { counterfactualOf } from './data/synth-birds/counterfactuals.js';
import { synthBirdsMeta } from './eval/evaluate.js';

export class CounterfactualNegatives {
  private constructor(
    private readonly ds: Dataset,
    private readonly synthSeed: number,
  ) {}

  /** For the train split `ds` of the data set at `root`; refused unless `dfgan synth` wrote it (its seed is needed). */
  static async open(root: string, ds: Dataset): Promise<CounterfactualNegatives> {
    const meta = await synthBirdsMeta(root);
    if (!meta) {
      throw new DfganError(
        'INVALID_ARGUMENT',
        `--counterfactual-pairs needs a synth-birds data set written by this version of \`dfgan synth\` (its synth-birds.json gives the seed that composes the captions); ${root} is not one`,
      );
    }
    return new CounterfactualNegatives(ds, meta.seed);
  }

  /**
   * One counterfactual per (dataset index, caption), drawn by `rng`. A caption with no attribute that can be
   * changed alone (rare), or whose counterfactual is not `usable` (a word the vocabulary lacks), gets the next
   * image's caption instead: an ordinary mismatched pair.
   */
  pick(indices: readonly number[], captions: readonly string[], rng: Rng, usable: (caption: string) => boolean = () => true): { captions: string[]; fallbacks: number } {
    let fallbacks = 0;
    const out = captions.map((caption, i) => {
      const m = /synth_bird_(\d+)$/.exec(this.ds.key(indices[i]));
      const pair = m ? counterfactualOf(this.synthSeed, Number(m[1]) - 1, caption, rng) : undefined;
      if (pair && usable(pair.other)) return pair.other;
      fallbacks += 1;
      return captions[(i + 1) % captions.length];
    });
    return { captions: out, fallbacks };
  }
}
