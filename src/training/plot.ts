// Loss curves as a small self-contained SVG (no plotting dependency): one panel, one smoothed line per series.

export interface Series {
  name: string;
  points: Array<[number, number]>;
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2'];

function ema(points: Array<[number, number]>, alpha: number): Array<[number, number]> {
  let s: number | undefined;
  return points.map(([x, y]) => {
    s = s === undefined ? y : alpha * y + (1 - alpha) * s;
    return [x, s];
  });
}

function niceTicks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

export function lossPlotSvg(series: Series[], opts: { title?: string; width?: number; height?: number; smoothing?: number } = {}): string {
  const W = opts.width ?? 800;
  const H = opts.height ?? 420;
  const m = { l: 60, r: 150, t: 36, b: 40 };
  const smoothed = series.filter((s) => s.points.length > 0).map((s) => ({ ...s, points: ema(s.points, opts.smoothing ?? 0.1) }));
  const all = smoothed.flatMap((s) => s.points);
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`;
  const title = `<text x="${m.l}" y="22" font-size="14">${esc(opts.title ?? 'training losses')}</text>`;
  if (all.length === 0) return `${head}<rect width="${W}" height="${H}" fill="white"/>${title}</svg>\n`;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b);
  const parts: string[] = [head, `<rect width="${W}" height="${H}" fill="white"/>`, title];
  for (const t of niceTicks(y0, y1, 6)) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) parts.push(`<text x="${px(t)}" y="${H - m.b + 16}" text-anchor="middle">${t}</text>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">step</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  smoothed.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    parts.push(`<rect x="${W - m.r + 12}" y="${m.t + i * 18}" width="12" height="3" fill="${colour}"/>`);
    parts.push(`<text x="${W - m.r + 30}" y="${m.t + i * 18 + 5}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>\n');
  return parts.join('');
}
