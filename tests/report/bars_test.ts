import assert from "node:assert/strict";
import { barChartSvg } from "../../lib/report/bars.ts";

Deno.test("a bar chart has a panel per measure, a bar per series and escaped labels", () => {
  const svg = barChartSvg([
    {
      title: "MODIFY p50",
      unit: "µs, lower is better",
      bars: [
        { series: "ours", value: 90 },
        { series: "Python <grpcio>", value: 180 },
      ],
    },
    {
      title: "INSERT",
      unit: "/s",
      bars: [
        { series: "ours", value: 52_000 },
        { series: "Python <grpcio>", value: NaN },
      ],
    },
  ], { title: "P4Runtime & peers", subtitle: "load 1.0" });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="620"/);
  assert.match(svg, /P4Runtime &amp; peers/);
  assert.equal((svg.match(/Python &lt;grpcio&gt;/g) ?? []).length, 1, "one legend entry");
  assert.match(svg, />52,000</);
  assert.match(svg, />n\/a</);
  // 2 legend swatches + 4 bars + the background.
  assert.equal((svg.match(/<rect /g) ?? []).length, 7);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
});
