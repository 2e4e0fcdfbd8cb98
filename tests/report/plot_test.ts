import assert from "node:assert/strict";
import { latencyPlotSvg } from "../../lib/report/plot.ts";

Deno.test("latency plot marks each migration window and plots every connection", () => {
  const t0 = 1_700_000_000_000;
  const samples = Array.from({ length: 200 }, (_, i) => ({
    t: t0 + i * 10,
    latencyMs: i === 100 ? 150 : 0.4,
    conn: i % 2,
  }));
  const svg = latencyPlotSvg(samples, [
    { start: t0 + 980, end: t0 + 1130, label: "h2 → h3" },
    { start: t0 + 1500, end: t0 + 1600, label: "h3 → h2 <back>" },
  ], { title: "process-migration" });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/fill="#f4a261"/g)?.length, 2);
  assert.equal(svg.match(/stroke-linecap="round"/g)?.length, 2);
  assert.match(svg, /h3 → h2 &lt;back&gt;/);
  assert.ok(!svg.includes("NaN"), "no NaN coordinates");
});

Deno.test("latency plot of no samples is still a valid document", () => {
  const svg = latencyPlotSvg([], [], { title: "empty" });
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(!svg.includes("NaN"));
});
