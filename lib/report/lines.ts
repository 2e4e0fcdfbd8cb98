/**
 * An SVG line chart of measurements against a setting (downtime and migration time against a
 * server's memory): categorical x positions, a log-scaled y axis (the values span milliseconds to
 * seconds), one coloured line per series, dashed when asked. Plain SVG like plot.ts.
 *
 * @module
 */
import { escapeXml, PALETTE } from "./plot.ts";

export interface LineSeries {
  label: string;
  /** One value per x category; undefined leaves a gap. */
  values: (number | undefined)[];
  dashed?: boolean;
  /** Index into {@link PALETTE} (default: the series' position). */
  color?: number;
}

export interface LineChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** The x categories, left to right. */
  categories: string[];
  width?: number;
  height?: number;
}

/** Powers of ten (and their 2x, 5x) between `min` and `max`, for a log axis. */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let p = Math.floor(Math.log10(min)); p <= Math.ceil(Math.log10(max)); p++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** p;
      if (v >= min / 1.0001 && v <= max * 1.0001) ticks.push(v);
    }
  }
  return ticks;
}

function tickLabel(v: number): string {
  return v >= 1000 ? `${+(v / 1000).toFixed(2)} s` : `${+v.toFixed(2)} ms`;
}

/** Renders the series as an SVG document. */
export function lineChartSvg(series: readonly LineSeries[], options: LineChartOptions): string {
  const width = options.width ?? 820;
  const height = options.height ?? 440;
  const m = { left: 78, right: 220, top: options.subtitle ? 58 : 42, bottom: 52 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const values = series.flatMap((s) => s.values).filter((v): v is number =>
    v !== undefined && v > 0
  );
  const lo = values.length ? 10 ** Math.floor(Math.log10(Math.min(...values))) : 1;
  const hi = values.length ? 10 ** Math.ceil(Math.log10(Math.max(...values))) : 10;
  const y = (v: number) =>
    m.top + ph - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1) * ph;
  const n = options.categories.length;
  const x = (i: number) => m.left + (n > 1 ? (i / (n - 1)) * pw : pw / 2);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${m.left}" y="22" font-size="15" font-weight="bold">${
      escapeXml(options.title)
    }</text>`,
  ];
  if (options.subtitle) {
    out.push(`<text x="${m.left}" y="40" fill="#555">${escapeXml(options.subtitle)}</text>`);
  }
  for (const t of logTicks(lo, hi)) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`,
      `<text x="${m.left - 6}" y="${y(t) + 4}" text-anchor="end">${tickLabel(t)}</text>`,
    );
  }
  options.categories.forEach((c, i) => {
    out.push(
      `<line x1="${x(i)}" x2="${x(i)}" y1="${m.top}" y2="${m.top + ph}" stroke="#f0f0f0"/>`,
      `<text x="${x(i)}" y="${m.top + ph + 18}" text-anchor="middle">${escapeXml(c)}</text>`,
    );
  });
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
    `<text x="${m.left + pw / 2}" y="${height - 12}" text-anchor="middle">${
      escapeXml(options.xLabel)
    }</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(options.yLabel)
    } (log scale)</text>`,
  );
  series.forEach((s, k) => {
    const color = PALETTE[(s.color ?? k) % PALETTE.length];
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    const points = s.values.map((v, i) => v !== undefined && v > 0 ? [x(i), y(v)] : undefined);
    let path = "";
    points.forEach((p, i) => {
      if (!p) return;
      path += `${path && points[i - 1] ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)} `;
    });
    // A lone point is its dot alone.
    if (path.includes("L")) {
      out.push(`<path d="${path.trim()}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    for (const p of points) {
      if (p) {
        out.push(
          `<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="3.5" fill="${color}"/>`,
        );
      }
    }
    const ly = m.top + 10 + k * 20;
    out.push(
      `<line x1="${m.left + pw + 14}" x2="${m.left + pw + 40}" y1="${ly}" y2="${ly}" ` +
        `stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${m.left + pw + 46}" y="${ly + 4}">${escapeXml(s.label)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
