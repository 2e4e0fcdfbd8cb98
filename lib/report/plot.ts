/**
 * An SVG plot of request latency over time with migration windows shaded, written into the demo's
 * report directory. Plain SVG, no dependencies, so it opens in any browser.
 *
 * @module
 */

export interface LatencySample {
  /** Time the request was sent, in ms since the epoch. */
  t: number;
  latencyMs: number;
  /** Client connection it was sent on (one colour per connection). */
  conn: number;
}

export interface MarkedWindow {
  /** ms since the epoch. */
  start: number;
  end: number;
  label: string;
}

export interface PlotOptions {
  title: string;
  width?: number;
  height?: number;
}

/** Series colours, in order. */
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

/** `s` with the characters XML gives meaning to escaped. */
export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!,
  );
}

/** A round axis step near `span / 6`. */
export function niceStep(span: number): number {
  const raw = span / 6 || 1;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const m = raw / pow;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * pow;
}

/** An SVG document's opening: the root element, a white background and a centred title. */
export function svgOpening(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
}

/** Renders samples and windows as an SVG document (latency in ms, log-free linear axes). */
export function latencyPlotSvg(
  samples: readonly LatencySample[],
  windows: readonly MarkedWindow[],
  options: PlotOptions,
): string {
  const width = options.width ?? 960;
  const height = options.height ?? 420;
  const m = { left: 64, right: 20, top: 40, bottom: 48 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const times = [...samples.map((s) => s.t), ...windows.flatMap((w) => [w.start, w.end])];
  const t0 = times.length ? Math.min(...times) : 0;
  const t1 = times.length ? Math.max(...times) : 1;
  const spanS = Math.max((t1 - t0) / 1000, 0.001);
  const maxLat = Math.max(1, ...samples.map((s) => s.latencyMs)) * 1.1;
  const x = (t: number) => m.left + ((t - t0) / 1000 / spanS) * pw;
  const y = (v: number) => m.top + ph - (v / maxLat) * ph;
  const parts: string[] = [];
  parts.push(...svgOpening(width, height, options.title));
  for (const w of windows) {
    const wx = x(w.start);
    const ww = Math.max(1, x(w.end) - wx);
    parts.push(
      `<rect x="${wx.toFixed(1)}" y="${m.top}" width="${ww.toFixed(1)}" height="${ph}" ` +
        `fill="#f4a261" fill-opacity="0.35"/>`,
      `<text x="${(wx + ww / 2).toFixed(1)}" y="${m.top + 14}" text-anchor="middle" ` +
        `fill="#9c4a00">${escapeXml(w.label)}</text>`,
    );
  }
  const xStep = niceStep(spanS);
  for (let s = 0; s <= spanS + 1e-9; s += xStep) {
    const px = m.left + (s / spanS) * pw;
    parts.push(
      `<line x1="${px.toFixed(1)}" y1="${m.top + ph}" x2="${px.toFixed(1)}" y2="${
        m.top + ph + 5
      }" stroke="black"/>`,
      `<text x="${px.toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${+s.toFixed(
        3,
      )}</text>`,
    );
  }
  const yStep = niceStep(maxLat);
  for (let v = 0; v <= maxLat; v += yStep) {
    const py = y(v);
    parts.push(
      `<line x1="${m.left}" y1="${py.toFixed(1)}" x2="${m.left + pw}" y2="${
        py.toFixed(1)
      }" stroke="#e0e0e0"/>`,
      `<text x="${m.left - 6}" y="${(py + 4).toFixed(1)}" text-anchor="end">${+v.toFixed(
        3,
      )}</text>`,
    );
  }
  const conns = [...new Set(samples.map((s) => s.conn))].sort((a, b) => a - b);
  for (const [i, conn] of conns.entries()) {
    const colour = PALETTE[i % PALETTE.length];
    const dots = samples
      .filter((s) => s.conn === conn)
      .map((s) => `M${x(s.t).toFixed(1)},${y(s.latencyMs).toFixed(1)}h0`)
      .join("");
    parts.push(
      `<path d="${dots}" stroke="${colour}" stroke-width="3" stroke-linecap="round" fill="none"/>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`,
    `<text x="${m.left + pw / 2}" y="${height - 10}" text-anchor="middle">time (s)</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">` +
      `request latency (ms)</text>`,
    `</svg>`,
  );
  return parts.join("\n") + "\n";
}
