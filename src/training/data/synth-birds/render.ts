// A small hand-written rasteriser and the bird drawn with it.
//
// A scene is laid out once in unit coordinates ([0, 1] across the image, y down) from the attributes and the
// image's render stream, so the same bird comes out at every size; only the rasterisation depends on the size.
// Shapes are intersections of convex primitives (ellipses, half-planes, convex polygons, capsules), so each
// row of a shape is one interval, found analytically. Each pixel holds 4x4 point samples; every paint op sets
// the samples it covers (blending when translucent) and the samples are box-filtered down to the pixel at the
// end, which anti-aliases every edge without conflation between parts that share one. All colours are sRGB
// values composited as they are (no linearisation), consistently for every op.
import type { RgbImage } from '../../../model/image.js';
import type { Rng } from '../../../model/sampling.js';
import { DfganError } from '../../../errors.js';
import { PALETTE, pick, randInt, randRange, type BirdAttributes } from './attributes.js';

export type Rgb = readonly [number, number, number];

export type Prim =
  /** Rotated ellipse: `angle` turns its x axis clockwise on screen (y is down). */
  | { kind: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number }
  /** The points with nx * x + ny * y <= d. */
  | { kind: 'half'; nx: number; ny: number; d: number }
  /** Convex polygon, either winding. */
  | { kind: 'poly'; pts: readonly (readonly [number, number])[] }
  /** Thick line: the points within r of the segment (x0, y0)-(x1, y1). */
  | { kind: 'capsule'; x0: number; y0: number; x1: number; y1: number; r: number };

/** Intersection of its primitives (so convex). */
export type Shape = readonly Prim[];

export interface PaintOp {
  /** What is painted, e.g. 'body', 'crown', 'cloud'. */
  part: string;
  shape: Shape;
  colour: Rgb;
  /** 1 = opaque. */
  alpha: number;
}

/** Axis-aligned box, x/y of the top-left corner. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface BirdScene {
  /** Vertical gradient behind everything. */
  background: { top: Rgb; bottom: Rgb };
  /** Painted in order: background texture, branch, then the bird's parts back to front. */
  ops: PaintOp[];
  /** The bird (legs and feet included, branch excluded) in unit coordinates. */
  bbox: Box;
}

/** The parts that make up the bird (its bounding box is theirs). */
export const BIRD_PARTS = ['legs', 'feet', 'tail', 'body', 'belly', 'wing', 'head', 'crown', 'beak', 'eyering', 'eye'] as const;
export type BirdPart = (typeof BIRD_PARTS)[number];

/** Supersampling factor per axis. */
export const SUPERSAMPLE = 4;
export const MIN_SIZE = 8;
export const MAX_SIZE = 1024;

// ---------------------------------------------------------------------------------------------------------
// Geometry helpers

type Vec = readonly [number, number];

/** A similarity frame: world = origin + scale * R(angle) * local. */
interface Frame {
  ox: number;
  oy: number;
  scale: number;
  angle: number;
}

function toWorld(f: Frame, u: number, v: number): [number, number] {
  const c = Math.cos(f.angle);
  const s = Math.sin(f.angle);
  return [f.ox + f.scale * (c * u - s * v), f.oy + f.scale * (s * u + c * v)];
}

function ellipseIn(f: Frame, cu: number, cv: number, ru: number, rv: number, angle = 0): Prim {
  const [cx, cy] = toWorld(f, cu, cv);
  return { kind: 'ellipse', cx, cy, rx: ru * f.scale, ry: rv * f.scale, angle: angle + f.angle };
}

/** Local half-plane nu * u + nv * v <= d (n need not be unit) in world coordinates. */
function halfIn(f: Frame, nu: number, nv: number, d: number): Prim {
  const c = Math.cos(f.angle);
  const s = Math.sin(f.angle);
  const nx = c * nu - s * nv;
  const ny = s * nu + c * nv;
  return { kind: 'half', nx, ny, d: d * f.scale + nx * f.ox + ny * f.oy };
}

function polyIn(f: Frame, pts: readonly Vec[]): Prim {
  return { kind: 'poly', pts: pts.map(([u, v]) => toWorld(f, u, v)) };
}

function capsule(a: Vec, b: Vec, r: number): Prim {
  return { kind: 'capsule', x0: a[0], y0: a[1], x1: b[0], y1: b[1], r };
}

function circle(c: Vec, r: number): Prim {
  return { kind: 'ellipse', cx: c[0], cy: c[1], rx: r, ry: r, angle: 0 };
}

function mapPrim(p: Prim, fx: (x: number) => number, flip: boolean): Prim {
  // Only two maps are needed: translation (flip false) and the mirror x -> 1 - x (flip true).
  switch (p.kind) {
    case 'ellipse':
      return { ...p, cx: fx(p.cx), angle: flip ? -p.angle : p.angle };
    case 'half': {
      // nx * x + ny * y <= d with x = fx^-1(x'); both maps are x' = a * x + b with a = +-1.
      const a = flip ? -1 : 1;
      const b = fx(0);
      return { kind: 'half', nx: a * p.nx, ny: p.ny, d: p.d + a * p.nx * b };
    }
    case 'poly':
      return { kind: 'poly', pts: p.pts.map(([x, y]) => [fx(x), y] as const) };
    case 'capsule':
      return { ...p, x0: fx(p.x0), x1: fx(p.x1) };
  }
}

function translatePrim(p: Prim, dx: number, dy: number): Prim {
  switch (p.kind) {
    case 'ellipse':
      return { ...p, cx: p.cx + dx, cy: p.cy + dy };
    case 'half':
      return { ...p, d: p.d + p.nx * dx + p.ny * dy };
    case 'poly':
      return { kind: 'poly', pts: p.pts.map(([x, y]) => [x + dx, y + dy] as const) };
    case 'capsule':
      return { ...p, x0: p.x0 + dx, y0: p.y0 + dy, x1: p.x1 + dx, y1: p.y1 + dy };
  }
}

/** Bounding box of a primitive; half-planes are unbounded (null). */
function primBox(p: Prim): [number, number, number, number] | null {
  switch (p.kind) {
    case 'ellipse': {
      const c = Math.cos(p.angle);
      const s = Math.sin(p.angle);
      const hx = Math.hypot(p.rx * c, p.ry * s);
      const hy = Math.hypot(p.rx * s, p.ry * c);
      return [p.cx - hx, p.cy - hy, p.cx + hx, p.cy + hy];
    }
    case 'half':
      return null;
    case 'poly': {
      const xs = p.pts.map((q) => q[0]);
      const ys = p.pts.map((q) => q[1]);
      return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
    }
    case 'capsule':
      return [Math.min(p.x0, p.x1) - p.r, Math.min(p.y0, p.y1) - p.r, Math.max(p.x0, p.x1) + p.r, Math.max(p.y0, p.y1) + p.r];
  }
}

/** A box holding the shape (the intersection of its bounded primitives' boxes). */
export function shapeBox(shape: Shape): [number, number, number, number] {
  let b: [number, number, number, number] = [-Infinity, -Infinity, Infinity, Infinity];
  for (const p of shape) {
    const q = primBox(p);
    if (q) b = [Math.max(b[0], q[0]), Math.max(b[1], q[1]), Math.min(b[2], q[2]), Math.min(b[3], q[3])];
  }
  return b;
}

function primContains(p: Prim, x: number, y: number): boolean {
  switch (p.kind) {
    case 'ellipse': {
      const dx = x - p.cx;
      const dy = y - p.cy;
      const c = Math.cos(p.angle);
      const s = Math.sin(p.angle);
      const u = (c * dx + s * dy) / p.rx;
      const v = (-s * dx + c * dy) / p.ry;
      return u * u + v * v <= 1;
    }
    case 'half':
      return p.nx * x + p.ny * y <= p.d;
    case 'poly':
      return polyHalves(p.pts).every((h) => h.nx * x + h.ny * y <= h.d);
    case 'capsule': {
      const vx = p.x1 - p.x0;
      const vy = p.y1 - p.y0;
      const len2 = vx * vx + vy * vy;
      const t = len2 > 0 ? Math.min(1, Math.max(0, ((x - p.x0) * vx + (y - p.y0) * vy) / len2)) : 0;
      return Math.hypot(x - p.x0 - t * vx, y - p.y0 - t * vy) <= p.r;
    }
  }
}

/** Whether the point (unit coordinates) lies in the shape. */
export function shapeContains(shape: Shape, x: number, y: number): boolean {
  return shape.every((p) => primContains(p, x, y));
}

/** The edges of a convex polygon as half-planes, whatever its winding. */
function polyHalves(pts: readonly Vec[]): { nx: number; ny: number; d: number }[] {
  let area = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x0, y0] = pts[i];
    const [x1, y1] = pts[(i + 1) % pts.length];
    area += x0 * y1 - x1 * y0;
  }
  const sign = area >= 0 ? 1 : -1;
  const out: { nx: number; ny: number; d: number }[] = [];
  for (let i = 0; i < pts.length; i++) {
    const [x0, y0] = pts[i];
    const [x1, y1] = pts[(i + 1) % pts.length];
    // Outward normal of edge (x0,y0)->(x1,y1) for a positive-area (clockwise on screen) polygon is (dy, -dx).
    const nx = sign * (y1 - y0);
    const ny = sign * -(x1 - x0);
    if (nx === 0 && ny === 0) continue;
    out.push({ nx, ny, d: nx * x0 + ny * y0 });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Rasteriser

/** One primitive prepared for row spans in sample coordinates. */
type RowPrim =
  | { kind: 'ellipse'; cx: number; cy: number; a: number; b: number; c: number; y0: number; y1: number }
  | { kind: 'half'; nx: number; ny: number; d: number }
  | { kind: 'union'; parts: RowPrim[][]; y0: number; y1: number };

function prepare(p: Prim, k: number): RowPrim[] {
  switch (p.kind) {
    case 'ellipse': {
      const c = Math.cos(p.angle);
      const s = Math.sin(p.angle);
      const rx2 = (p.rx * k) ** 2;
      const ry2 = (p.ry * k) ** 2;
      const box = primBox(p)!;
      return [
        {
          kind: 'ellipse',
          cx: p.cx * k,
          cy: p.cy * k,
          a: (c * c) / rx2 + (s * s) / ry2,
          b: 2 * c * s * (1 / rx2 - 1 / ry2),
          c: (s * s) / rx2 + (c * c) / ry2,
          y0: box[1] * k,
          y1: box[3] * k,
        },
      ];
    }
    case 'half':
      return [{ kind: 'half', nx: p.nx, ny: p.ny, d: p.d * k }];
    case 'poly':
      return polyHalves(p.pts).map((h) => ({ kind: 'half', nx: h.nx, ny: h.ny, d: h.d * k }));
    case 'capsule': {
      // Convex hull of two discs = disc0 U disc1 U the rectangle between them; its row span is the hull of theirs.
      const vx = p.x1 - p.x0;
      const vy = p.y1 - p.y0;
      const len = Math.hypot(vx, vy);
      const parts: RowPrim[][] = [prepare(circle([p.x0, p.y0], p.r), k), prepare(circle([p.x1, p.y1], p.r), k)];
      if (len > 0) {
        const ux = vx / len;
        const uy = vy / len;
        const rect: RowPrim[] = [
          { kind: 'half', nx: -ux, ny: -uy, d: -(ux * p.x0 + uy * p.y0) * k },
          { kind: 'half', nx: ux, ny: uy, d: (ux * p.x1 + uy * p.y1) * k },
          { kind: 'half', nx: -uy, ny: ux, d: (-uy * p.x0 + ux * p.y0 + p.r) * k },
          { kind: 'half', nx: uy, ny: -ux, d: (uy * p.x0 - ux * p.y0 + p.r) * k },
        ];
        parts.push(rect);
      }
      const box = primBox(p)!;
      return [{ kind: 'union', parts, y0: box[1] * k, y1: box[3] * k }];
    }
  }
}

function markEmpty(span: Float64Array): void {
  span[0] = Infinity;
  span[1] = -Infinity;
}

/** Narrows [span[0], span[1]] to the primitive's row interval at sample-space height y. */
function clipRow(p: RowPrim, y: number, span: Float64Array): void {
  switch (p.kind) {
    case 'half': {
      const rhs = p.d - p.ny * y;
      if (p.nx > 0) span[1] = Math.min(span[1], rhs / p.nx);
      else if (p.nx < 0) span[0] = Math.max(span[0], rhs / p.nx);
      else if (rhs < 0) markEmpty(span);
      return;
    }
    case 'ellipse': {
      const dy = y - p.cy;
      const bq = p.b * dy;
      const disc = bq * bq - 4 * p.a * (p.c * dy * dy - 1);
      if (disc < 0) {
        markEmpty(span);
        return;
      }
      const r = Math.sqrt(disc);
      span[0] = Math.max(span[0], p.cx + (-bq - r) / (2 * p.a));
      span[1] = Math.min(span[1], p.cx + (-bq + r) / (2 * p.a));
      return;
    }
    case 'union': {
      let lo = Infinity;
      let hi = -Infinity;
      const part = new Float64Array(2);
      for (const prims of p.parts) {
        part[0] = -Infinity;
        part[1] = Infinity;
        for (const q of prims) clipRow(q, y, part);
        if (part[0] <= part[1]) {
          lo = Math.min(lo, part[0]);
          hi = Math.max(hi, part[1]);
        }
      }
      span[0] = Math.max(span[0], lo);
      span[1] = Math.min(span[1], hi);
      return;
    }
  }
}

let scratch = new Float32Array(0);

/** Renders a scene at size x size pixels. */
export function rasterise(scene: BirdScene, size: number): RgbImage {
  if (!Number.isInteger(size) || size < MIN_SIZE || size > MAX_SIZE) {
    throw new DfganError('INVALID_ARGUMENT', `image size must be an integer in [${MIN_SIZE}, ${MAX_SIZE}], got ${size}`);
  }
  const ss = SUPERSAMPLE;
  const n = size * ss;
  // The sample buffer is kept between calls up to 256 x 256 pixels (12 MiB); larger ones are allocated each time.
  let buf: Float32Array;
  if (size <= 256) {
    if (scratch.length < n * n * 3) scratch = new Float32Array(n * n * 3);
    buf = scratch;
  } else {
    buf = new Float32Array(n * n * 3);
  }

  const { top, bottom } = scene.background;
  for (let j = 0; j < n; j++) {
    const t = (j + 0.5) / n;
    const r = top[0] + (bottom[0] - top[0]) * t;
    const g = top[1] + (bottom[1] - top[1]) * t;
    const b = top[2] + (bottom[2] - top[2]) * t;
    let o = j * n * 3;
    for (let i = 0; i < n; i++, o += 3) {
      buf[o] = r;
      buf[o + 1] = g;
      buf[o + 2] = b;
    }
  }

  const span = new Float64Array(2);
  for (const op of scene.ops) {
    const prims = op.shape.flatMap((p) => prepare(p, n));
    const [, by0, , by1] = shapeBox(op.shape);
    const j0 = Math.max(0, Math.floor(by0 * n - 0.5));
    const j1 = Math.min(n - 1, Math.ceil(by1 * n - 0.5));
    const [cr, cg, cb] = op.colour;
    const a = op.alpha;
    for (let j = j0; j <= j1; j++) {
      const y = j + 0.5;
      span[0] = -Infinity;
      span[1] = Infinity;
      for (const p of prims) {
        clipRow(p, y, span);
        if (!(span[0] <= span[1])) break;
      }
      if (!(span[0] <= span[1])) continue;
      // Samples i with centre i + 0.5 in [lo, hi].
      const i0 = Math.max(0, Math.ceil(span[0] - 0.5));
      const i1 = Math.min(n - 1, Math.floor(span[1] - 0.5));
      let o = (j * n + i0) * 3;
      if (a >= 1) {
        for (let i = i0; i <= i1; i++, o += 3) {
          buf[o] = cr;
          buf[o + 1] = cg;
          buf[o + 2] = cb;
        }
      } else {
        for (let i = i0; i <= i1; i++, o += 3) {
          buf[o] += (cr - buf[o]) * a;
          buf[o + 1] += (cg - buf[o + 1]) * a;
          buf[o + 2] += (cb - buf[o + 2]) * a;
        }
      }
    }
  }

  const data = new Uint8Array(size * size * 3);
  const norm = 1 / (ss * ss);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = 0; sy < ss; sy++) {
        let o = ((py * ss + sy) * n + px * ss) * 3;
        for (let sx = 0; sx < ss; sx++, o += 3) {
          r += buf[o];
          g += buf[o + 1];
          b += buf[o + 2];
        }
      }
      const q = (py * size + px) * 3;
      data[q] = Math.round(r * norm);
      data[q + 1] = Math.round(g * norm);
      data[q + 2] = Math.round(b * norm);
    }
  }
  return { width: size, height: size, data };
}

// ---------------------------------------------------------------------------------------------------------
// The bird

const LEG_COLOUR: Rgb = [62, 50, 44];
const FOOT_COLOUR: Rgb = [62, 50, 44];
const EYE_COLOUR: Rgb = [16, 16, 18];
const EYERING_COLOUR: Rgb = [238, 236, 226];
const BRANCH_COLOUR: Rgb = [88, 72, 60];
const BRANCH_SHADE: Rgb = [66, 54, 46];

/** Per size: scale s (unit coordinates per body half-length) and proportions in units of s. */
const PROPORTIONS = {
  small: { s: 0.15, bodyB: 0.8, headR: 0.6, tail: 0.55, leg: 0.42 },
  medium: { s: 0.185, bodyB: 0.68, headR: 0.52, tail: 0.8, leg: 0.5 },
  large: { s: 0.205, bodyB: 0.58, headR: 0.46, tail: 1.05, leg: 0.6 },
} as const;

const MARGIN = 0.04;

const BACKGROUND_STYLE = {
  sky: { top: [128, 170, 210], bottom: [196, 214, 228] },
  leaves: { top: [66, 88, 62], bottom: [104, 122, 84] },
  water: { top: [104, 138, 156], bottom: [56, 90, 116] },
  ground: { top: [202, 184, 148], bottom: [164, 144, 110] },
} as const satisfies Record<BirdAttributes['background'], { top: Rgb; bottom: Rgb }>;

function backgroundOps(kind: BirdAttributes['background'], rng: Rng): PaintOp[] {
  const ops: PaintOp[] = [];
  switch (kind) {
    case 'sky': {
      const clouds = 2 + randInt(rng, 3);
      for (let c = 0; c < clouds; c++) {
        const cx = randRange(rng, -0.1, 1.1);
        const cy = randRange(rng, 0.05, 0.9);
        const w = randRange(rng, 0.08, 0.18);
        const puffs = 3 + randInt(rng, 3);
        for (let p = 0; p < puffs; p++) {
          const px = cx + randRange(rng, -1, 1) * w;
          const py = cy + randRange(rng, -0.3, 0.3) * w;
          const r = w * randRange(rng, 0.35, 0.7);
          ops.push({ part: 'cloud', shape: [{ kind: 'ellipse', cx: px, cy: py, rx: r * 1.4, ry: r * 0.8, angle: 0 }], colour: [232, 238, 244], alpha: 0.35 });
        }
      }
      break;
    }
    case 'leaves': {
      const tones: Rgb[] = [
        [84, 108, 72],
        [62, 82, 56],
        [110, 128, 86],
        [94, 114, 68],
      ];
      const count = 28 + randInt(rng, 14);
      for (let k = 0; k < count; k++) {
        const r = randRange(rng, 0.03, 0.065);
        ops.push({
          part: 'leaf',
          shape: [{ kind: 'ellipse', cx: randRange(rng, -0.05, 1.05), cy: randRange(rng, -0.05, 1.05), rx: r, ry: r * randRange(rng, 0.35, 0.5), angle: randRange(rng, 0, Math.PI) }],
          colour: pick(rng, tones),
          alpha: 0.85,
        });
      }
      break;
    }
    case 'water': {
      const count = 10 + randInt(rng, 8);
      for (let k = 0; k < count; k++) {
        const y = randRange(rng, 0.04, 0.98);
        const x = randRange(rng, -0.05, 1.05);
        const len = randRange(rng, 0.06, 0.2) * (0.5 + y);
        const tilt = randRange(rng, -0.01, 0.01);
        ops.push({
          part: 'wave',
          shape: [capsule([x - len / 2, y - tilt], [x + len / 2, y + tilt], randRange(rng, 0.004, 0.008))],
          colour: [156, 186, 198],
          alpha: 0.55,
        });
      }
      break;
    }
    case 'ground': {
      const count = 14 + randInt(rng, 10);
      const tones: Rgb[] = [
        [148, 130, 102],
        [214, 200, 168],
        [176, 158, 124],
      ];
      for (let k = 0; k < count; k++) {
        const r = randRange(rng, 0.01, 0.03);
        ops.push({
          part: 'pebble',
          shape: [{ kind: 'ellipse', cx: randRange(rng, 0, 1), cy: randRange(rng, 0, 1), rx: r, ry: r * randRange(rng, 0.5, 0.8), angle: randRange(rng, -0.4, 0.4) }],
          colour: pick(rng, tones),
          alpha: 0.75,
        });
      }
      break;
    }
  }
  return ops;
}

function unionBox(boxes: [number, number, number, number][]): [number, number, number, number] {
  return [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))];
}

/**
 * Lays out one bird: pose, proportions and position jittered from `rng`, colours and parts from `attrs`.
 * Consumes the same number of draws at every image size (the layout does not know the size).
 */
export function layoutBird(attrs: BirdAttributes, rng: Rng): BirdScene {
  const prop = PROPORTIONS[attrs.size];
  const perched = attrs.pose === 'perched';
  // Flying birds spread wider (raised wings), so they are drawn a little smaller.
  const s = prop.s * randRange(rng, 0.94, 1.06) * (perched ? 1 : 0.95);
  const A = randRange(rng, 0.95, 1.05);
  const B = prop.bodyB * randRange(rng, 0.94, 1.06);
  const r = prop.headR * randRange(rng, 0.94, 1.06);
  const tilt = perched ? -randRange(rng, 0.3, 0.6) : randRange(rng, -0.12, 0.08);
  const body: Frame = { ox: 0, oy: 0, scale: s, angle: tilt };

  // Head: on the front top of the body, roughly level whatever the body's tilt.
  const [hx, hy] = toWorld(body, 0.74 * A, -0.5 * B);
  const head: Frame = { ox: hx + 0.05 * r * s, oy: hy - 0.3 * r * s, scale: s, angle: randRange(rng, -0.15, 0.12) };

  const col = (c: keyof typeof PALETTE): Rgb => PALETTE[c];
  const bird: PaintOp[] = [];

  // Tail (wing coloured), hanging from the rear of the body.
  const tailAngle = perched ? randRange(rng, 0, 0.3) : randRange(rng, -0.1, 0.1);
  const T = prop.tail * randRange(rng, 0.9, 1.1);
  const [tx, ty] = toWorld(body, -0.72 * A, 0.02 * B);
  const tail: Frame = { ox: tx, oy: ty, scale: s, angle: tilt + tailAngle + Math.PI };
  const spread = randRange(rng, 0.05, 0.14);
  const tailShape = [polyIn(tail, [[0, -0.2 * B], [0, 0.2 * B], [T + 0.25, 0.2 * B + spread + 0.02], [T + 0.25, -0.2 * B - spread]])];

  // Belly: the lower front of the body, bounded by a line that climbs towards the breast.
  const bodyShape = [ellipseIn(body, 0, 0, A, B)];
  const bellySlope = randRange(rng, 0.2, 0.35);
  const bellyLevel = randRange(rng, 0.12, 0.25) * B;
  const bellyShape = [...bodyShape, halfIn(body, -bellySlope, -1, -bellyLevel)];

  // Wing: folded over the back when perched, raised above it when flying.
  let wingShape: Shape;
  let farWingShape: Shape | null = null;
  if (perched) {
    wingShape = [ellipseIn(body, -0.3 * A + randRange(rng, -0.05, 0.05), -0.1 * B, 0.72 * A, 0.46 * B, randRange(rng, -0.12, 0.08))];
  } else {
    // Near wing raised up and back over the body; the far wing shows above the back, further forward.
    const up = -randRange(rng, 1.8, 2.2);
    const len = randRange(rng, 0.8, 0.95) * A;
    const su = 0.0 * A;
    const sv = -0.35 * B;
    wingShape = [ellipseIn(body, su + Math.cos(up) * len * 0.85, sv + Math.sin(up) * len * 0.85, len, 0.34 * A, up)];
    const far = up + randRange(rng, 0.35, 0.55);
    const farLen = len * 0.8;
    farWingShape = [ellipseIn(body, 0.2 * A + Math.cos(far) * farLen * 0.85, sv + Math.sin(far) * farLen * 0.85, farLen, 0.26 * A, far)];
  }

  // Head parts: crown cap above a nearly level line, eye below it, beak in front.
  const headShape = [ellipseIn(head, 0, 0, r, r)];
  const crownShape = [...headShape, halfIn(head, -0.1, 1, -0.14 * r)];
  const eyeU = 0.36 * r;
  const eyeV = 0.12 * r;
  const eyeringShape = [ellipseIn(head, eyeU, eyeV, 0.24 * r, 0.24 * r)];
  const eyeShape = [ellipseIn(head, eyeU + 0.03 * r, eyeV, 0.15 * r, 0.15 * r)];
  const long = attrs.beakLength === 'long';
  const beakLen = (long ? randRange(rng, 1.25, 1.5) : randRange(rng, 0.45, 0.6)) * r;
  const beakHalf = (long ? 0.3 : 0.36) * r;
  const beakShape = [polyIn(head, [[0.66 * r, -beakHalf], [0.66 * r, beakHalf + 0.04 * r], [r + beakLen, 0.12 * r]])];

  // Legs straight down from the belly to the branch; the branch runs under the feet to one edge or both.
  let legOps: PaintOp[] = [];
  let branchOps: PaintOp[] = [];
  let branchBottom = -Infinity;
  if (perched) {
    const legLen = prop.leg * s * randRange(rng, 0.9, 1.1);
    const legR = 0.05 * s;
    const hips = [toWorld(body, 0.12 * A, 0.7 * B), toWorld(body, -0.18 * A, 0.75 * B)];
    const footY = Math.max(hips[0][1], hips[1][1]) + legLen;
    const footX = (hips[0][0] + hips[1][0]) / 2;
    const slope = Math.tan(randRange(rng, -0.12, 0.12));
    const branchR = randRange(rng, 0.022, 0.03);
    const branchTop = (x: number) => footY + slope * (x - footX);
    const toes: Prim[] = [];
    const legs: Prim[] = [];
    for (const [lx, ly] of hips) {
      const end: Vec = [lx, branchTop(lx) - legR * 0.5];
      legs.push(capsule([lx, ly], end, legR));
      toes.push(capsule([end[0] - 0.06 * s, end[1] + 0.015 * s], [end[0] + 0.14 * s, end[1] + slope * 0.2 * s], legR * 0.8));
    }
    legOps = [...legs.map((p): PaintOp => ({ part: 'legs', shape: [p], colour: LEG_COLOUR, alpha: 1 })), ...toes.map((p): PaintOp => ({ part: 'feet', shape: [p], colour: FOOT_COLOUR, alpha: 1 }))];
    // Branch along the line y = branchTop(x) + branchR, from far beyond the tail side to past the beak or off the edge.
    const x0 = footX - 2;
    const x1 = rng.uniform() < 0.5 ? footX + 2 : footX + randRange(rng, 0.15, 0.3);
    const cy = (x: number) => branchTop(x) + branchR;
    branchOps = [
      { part: 'branch', shape: [capsule([x0, cy(x0)], [x1, cy(x1)], branchR)], colour: BRANCH_COLOUR, alpha: 1 },
      { part: 'branch', shape: [capsule([x0, cy(x0) + branchR * 0.45], [x1, cy(x1) + branchR * 0.45], branchR * 0.5)], colour: BRANCH_SHADE, alpha: 1 },
    ];
    const twigX = footX + randRange(rng, -0.5, -0.25) * (rng.uniform() < 0.5 ? 1 : -1) * 0.6;
    const twigLen = randRange(rng, 0.1, 0.2);
    const twigUp = randRange(rng, 0.5, 1.1);
    branchOps.push({
      part: 'branch',
      shape: [capsule([twigX, cy(twigX)], [twigX - Math.cos(twigUp) * twigLen, cy(twigX) - Math.sin(twigUp) * twigLen], branchR * 0.45)],
      colour: BRANCH_COLOUR,
      alpha: 1,
    });
    branchBottom = footY + 2 * branchR + Math.abs(slope) * 0.2;
  }

  bird.push(...legOps);
  if (farWingShape) bird.push({ part: 'wing', shape: farWingShape, colour: col(attrs.wing), alpha: 1 });
  bird.push({ part: 'tail', shape: tailShape, colour: col(attrs.wing), alpha: 1 });
  bird.push({ part: 'body', shape: bodyShape, colour: col(attrs.body), alpha: 1 });
  bird.push({ part: 'belly', shape: bellyShape, colour: col(attrs.belly), alpha: 1 });
  bird.push({ part: 'wing', shape: wingShape, colour: col(attrs.wing), alpha: 1 });
  bird.push({ part: 'head', shape: headShape, colour: col(attrs.body), alpha: 1 });
  bird.push({ part: 'crown', shape: crownShape, colour: col(attrs.crown), alpha: 1 });
  bird.push({ part: 'beak', shape: beakShape, colour: col(attrs.beakColour), alpha: 1 });
  bird.push({ part: 'eyering', shape: eyeringShape, colour: EYERING_COLOUR, alpha: 1 });
  bird.push({ part: 'eye', shape: eyeShape, colour: EYE_COLOUR, alpha: 1 });

  // Place the bird (and the branch under its feet) inside the margins, at a jittered position.
  let [x0, y0, x1, y1] = unionBox(bird.map((o) => shapeBox(o.shape)));
  const fitBottom = Math.max(y1, branchBottom);
  const slackX = 1 - 2 * MARGIN - (x1 - x0);
  const slackY = 1 - 2 * MARGIN - (fitBottom - y0);
  const jx = (rng.uniform() + rng.uniform()) / 2;
  const jy = (rng.uniform() + rng.uniform()) / 2;
  const dx = MARGIN - x0 + Math.max(0, slackX) * jx - Math.min(0, slackX) / 2;
  const dy = MARGIN - y0 + Math.max(0, slackY) * jy - Math.min(0, slackY) / 2;
  const bgOps = backgroundOps(attrs.background, rng);

  const mirror = attrs.facing === 'left';
  const place = (op: PaintOp): PaintOp => ({
    ...op,
    shape: op.shape.map((p) => {
      const q = translatePrim(p, dx, dy);
      return mirror ? mapPrim(q, (x) => 1 - x, true) : q;
    }),
  });
  x0 += dx;
  x1 += dx;
  y0 += dy;
  y1 += dy;
  if (mirror) [x0, x1] = [1 - x1, 1 - x0];
  return {
    background: BACKGROUND_STYLE[attrs.background],
    ops: [...bgOps, ...branchOps.map(place), ...bird.map(place)],
    bbox: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 },
  };
}

/** The bird's bounding box in pixels of a size x size image, clipped to the image. */
export function bboxPixels(scene: BirdScene, size: number): Box {
  const x0 = Math.max(0, scene.bbox.x * size);
  const y0 = Math.max(0, scene.bbox.y * size);
  const x1 = Math.min(size, (scene.bbox.x + scene.bbox.w) * size);
  const y1 = Math.min(size, (scene.bbox.y + scene.bbox.h) * size);
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/** One bird picture of size x size pixels (size in [MIN_SIZE, MAX_SIZE]); the layout draws from `rng`. */
export function renderBird(attrs: BirdAttributes, size: number, rng: Rng): RgbImage {
  return rasterise(layoutBird(attrs, rng), size);
}
