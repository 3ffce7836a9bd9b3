// Function-preserving widening of G, D and the conditional head to a larger nf (`train --from DIR --widen`): every
// layer keeps its old weights in the block of its old channels, weights from a new channel into an old one (or into
// the logit or the image) are zero, and all other new weights take a fresh network's initial values. The widened
// networks compute exactly what the narrow ones did, and the new channels, whose outgoing weights get gradients
// from their (random, nonzero) activations, add capacity from there on: more channels at every resolution,
// without starting the GAN over (cf. Net2Net, Chen et al. 2016, which splits channels instead).
import { DfganError } from '../errors.js';
import { parseGeneratorConfig, type GeneratorConfig } from '../model/config.js';
import { createGenerator, type Generator } from '../model/generator.js';
import { createConditionalHead, createDiscriminator, type ConditionalHead, type Discriminator } from '../model/discriminator.js';
import type { ParamStore } from '../model/params.js';

/** How an axis of a weight maps new indices to old ones (-1: a new index). */
type AxisMap = (i: number) => number;
type Role = 'in' | 'out' | 'fixed';
interface AxisSpec {
  role: Role;
  map?: AxisMap;
}

const prefix = (oldSize: number): AxisMap => (i) => (i < oldSize ? i : -1);

/**
 * The axes of weight `name` (tfjs layouts: conv [kh, kw, in, out], linear [in, out], bias [out]), with the maps of
 * the two layouts that are not a plain prefix: the head's concat of features and sentence, and the projection's
 * flattened 4x4 x channels features.
 */
function axesOf(name: string, oldShape: number[], newShape: number[], oldNf: number, newNf: number): AxisSpec[] {
  if (name === 'proj.weight') {
    const [fo, fn] = [oldNf * 8, newNf * 8];
    return [{ role: 'in' }, { role: 'in', map: (i) => (i % fn < fo ? Math.floor(i / fn) * fo + (i % fn) : -1) }];
  }
  if (name === 'joint_conv.0.weight') {
    const [fo, fn] = [oldNf * 8, newNf * 8];
    return [{ role: 'fixed' }, { role: 'fixed' }, { role: 'in', map: (i) => (i < fn ? (i < fo ? i : -1) : i - fn + fo) }, { role: 'out' }];
  }
  if (newShape.length === 4) return [{ role: 'fixed' }, { role: 'fixed' }, { role: 'in' }, { role: 'out' }];
  if (newShape.length === 2) return [{ role: 'in' }, { role: 'out' }];
  if (newShape.length === 1) return [{ role: oldShape[0] === 1 && newShape[0] === 1 ? 'fixed' : 'out' }];
  throw new DfganError('INTERNAL', `cannot widen ${name}: a ${newShape.length}-d weight`);
}

/** Old values in the old block, zero from new inputs into old outputs, `fresh` elsewhere. */
function widenWeight(name: string, old: Float32Array, oldShape: number[], fresh: Float32Array, newShape: number[], oldNf: number, newNf: number): Float32Array {
  const axes = axesOf(name, oldShape, newShape, oldNf, newNf).map((a, k) => ({
    ...a,
    map: a.map ?? (oldShape[k] === newShape[k] ? (i: number) => i : prefix(oldShape[k])),
  }));
  const out = new Float32Array(fresh.length);
  const oldStrides = oldShape.map((_, k) => oldShape.slice(k + 1).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(newShape.length).fill(0);
  for (let flat = 0; flat < out.length; flat++) {
    let rem = flat;
    for (let k = newShape.length - 1; k >= 0; k--) {
      idx[k] = rem % newShape[k];
      rem = Math.floor(rem / newShape[k]);
    }
    let oldFlat = 0;
    let newIn = false;
    let newOut = false;
    for (let k = 0; k < axes.length; k++) {
      const o = axes[k].map(idx[k]);
      if (o < 0) {
        if (axes[k].role === 'in') newIn = true;
        else newOut = true;
        oldFlat = -Infinity;
      } else oldFlat += o * oldStrides[k];
    }
    if (oldFlat >= 0) out[flat] = old[oldFlat];
    else out[flat] = newIn && !newOut ? 0 : fresh[flat];
  }
  return out;
}

async function widenStore(from: ParamStore, to: ParamStore, oldNf: number, newNf: number): Promise<void> {
  const old = await from.read();
  const fresh = await to.read();
  const oldSpecs = new Map(from.specs().map((s) => [s.name, s.shape]));
  const values = new Map<string, Float32Array>();
  for (const spec of to.specs()) {
    const oldShape = oldSpecs.get(spec.name);
    if (!oldShape || oldShape.length !== spec.shape.length) {
      throw new DfganError('INVALID_ARGUMENT', `cannot widen: ${spec.name} is ${oldShape ? `[${oldShape}]` : 'missing'} in the narrow network`);
    }
    values.set(spec.name, widenWeight(spec.name, old.get(spec.name)!, oldShape, fresh.get(spec.name)!, spec.shape, oldNf, newNf));
  }
  to.assign(values);
}

/**
 * G, D and C of `nets` widened to a larger `nf` (the inputs are disposed). `seed`
 * initialises the new weights as a fresh network of that nf would be.
 */
export async function widenNetworks(
  nets: { g: Generator; d: Discriminator; c: ConditionalHead },
  nf: number,
  seed: number,
): Promise<{ g: Generator; d: Discriminator; c: ConditionalHead }> {
  const old: GeneratorConfig = nets.g.config;
  if (nf <= old.nf) throw new DfganError('INVALID_ARGUMENT', `--widen needs an nf above the checkpoint's ${old.nf}; got ${nf}`);
  const config = parseGeneratorConfig({ ...old, nf });
  const g = createGenerator(config, { seed });
  const d = createDiscriminator(config, { seed: seed + 1 });
  const c = createConditionalHead(config, { seed: seed + 2 });
  try {
    await widenStore(nets.g.params, g.params, old.nf, nf);
    await widenStore(nets.d.params, d.params, old.nf, nf);
    await widenStore(nets.c.params, c.params, old.nf, nf);
  } catch (e) {
    [g, d, c].forEach((n) => n.dispose());
    throw e;
  }
  [nets.g, nets.d, nets.c].forEach((n) => n.dispose());
  return { g, d, c };
}
