/**
 * An SVG bar chart in panels: one panel per measure, each with its own axis (measures of
 * different units side by side), one bar per series, values written on the bars. Plain SVG like
 * plot.ts, whose helpers it shares.
 *
 * @module
 */
import { escapeXml, niceStep, PALETTE, svgOpening } from "./plot.ts";

export interface BarPanel {
  /** The measure, e.g. "MODIFY round trip p50". */
  title: string;
  /** Unit under the title, e.g. "µs, lower is better". */
  unit: string;
  /** One bar per series, in legend order; NaN values are drawn as "n/a". */
  bars: ReadonlyArray<{ series: string; value: number }>;
}

export interface BarChartOptions {
  title: string;
  /** A line under the title (machine, load average). */
  subtitle?: string;
  panelWidth?: number;
  height?: number;
}

/** A compact number for a bar label: 3 significant digits, thousands separated. */
function label(v: number): string {
  if (!Number.isFinite(v)) return "n/a";
  return v >= 1000 ? Math.round(v).toLocaleString("en-US") : String(+v.toPrecision(3));
}

/** The panels as an SVG document. */
export function barChartSvg(panels: readonly BarPanel[], options: BarChartOptions): string {
  const pw = options.panelWidth ?? 300;
  const height = options.height ?? 380;
  const series = [...new Set(panels.flatMap((p) => p.bars.map((b) => b.series)))];
  const colour = (s: string) => PALETTE[series.indexOf(s) % PALETTE.length];
  const m = { left: 56, right: 16, top: 78, bottom: 60 };
  const width = panels.length * pw + 20;
  const ph = height - m.top - m.bottom;
  const parts = svgOpening(width, height, options.title);
  if (options.subtitle) {
    parts.push(
      `<text x="${width / 2}" y="40" text-anchor="middle" fill="#555">${
        escapeXml(options.subtitle)
      }</text>`,
    );
  }
  series.forEach((s, i) => {
    const x = 20 + i * 170;
    parts.push(
      `<rect x="${x}" y="${height - 22}" width="12" height="12" fill="${colour(s)}"/>`,
      `<text x="${x + 16}" y="${height - 12}">${escapeXml(s)}</text>`,
    );
  });
  panels.forEach((panel, i) => {
    const x0 = 10 + i * pw + m.left;
    const w = pw - m.left - m.right;
    const max = Math.max(1e-9, ...panel.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
    const step = niceStep(max * 1.1);
    const top = Math.ceil((max * 1.1) / step) * step;
    const y = (v: number) => m.top + ph - (v / top) * ph;
    parts.push(
      `<text x="${x0 + w / 2}" y="${m.top - 22}" text-anchor="middle" font-weight="bold">${
        escapeXml(panel.title)
      }</text>`,
      `<text x="${x0 + w / 2}" y="${m.top - 8}" text-anchor="middle" fill="#555">${
        escapeXml(panel.unit)
      }</text>`,
    );
    for (let v = 0; v <= top + 1e-9; v += step) {
      parts.push(
        `<line x1="${x0}" y1="${y(v).toFixed(1)}" x2="${x0 + w}" y2="${y(v).toFixed(1)}" ` +
          `stroke="#e0e0e0"/>`,
        `<text x="${x0 - 4}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${label(v)}</text>`,
      );
    }
    const bw = w / Math.max(1, panel.bars.length);
    panel.bars.forEach((b, j) => {
      const v = Number.isFinite(b.value) ? b.value : 0;
      const bx = x0 + j * bw + bw * 0.15;
      parts.push(
        `<rect x="${bx.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" ` +
          `height="${(m.top + ph - y(v)).toFixed(1)}" fill="${colour(b.series)}"/>`,
        `<text x="${(bx + bw * 0.35).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" ` +
          `text-anchor="middle">${label(b.value)}</text>`,
      );
    });
    parts.push(
      `<line x1="${x0}" y1="${m.top + ph}" x2="${x0 + w}" y2="${m.top + ph}" stroke="black"/>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
