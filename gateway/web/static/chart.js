// A small SVG chart: bars for one series, lines for others, over shared time buckets.
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 900;
const HEIGHT = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 26 };

function svg(tag, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

/**
 * Draw a chart of `buckets`. `bars` and `lines` are [{key, className}] naming bucket fields
 * (null values leave gaps); `unit` labels the y axis.
 */
export function drawChart(buckets, { bars = [], lines = [], unit = "", title = "" }) {
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img" });
  chart.append(svg("title", {}, title));
  const series = [...bars, ...lines];
  const values = buckets.flatMap((bucket) => series.map(({ key }) => bucket[key] ?? 0));
  const top = niceMax(Math.max(0, ...values));
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const step = plotWidth / Math.max(1, buckets.length);
  const x = (index) => PAD.left + index * step;
  const y = (value) => PAD.top + plotHeight * (1 - value / top);
  for (const fraction of [0, 0.5, 1]) {
    const level = y(top * fraction);
    chart.append(svg("line", { class: fraction ? "grid" : "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: level, y2: level }));
    chart.append(svg("text", { x: PAD.left - 6, y: level + 4, "text-anchor": "end" }, `${+(top * fraction).toPrecision(3)}${unit}`));
  }
  for (const [index, bucket] of buckets.entries()) {
    if (index % Math.ceil(buckets.length / 6) === 0) {
      const label = new Date(bucket.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      chart.append(svg("text", { x: x(index), y: HEIGHT - 8 }, label));
    }
    for (const { key, className } of bars) {
      const value = bucket[key] ?? 0;
      if (value > 0) chart.append(svg("rect", { class: className, x: x(index) + 1, y: y(value), width: Math.max(1, step - 2), height: y(0) - y(value) }));
    }
  }
  for (const { key, className } of lines) {
    const points = []; // a lone bucket between gaps is a point, not a line
    let path = "";
    let pen = "M";
    for (const [index, bucket] of buckets.entries()) {
      const value = bucket[key];
      if (value === null || value === undefined) {
        pen = "M"; // a gap: no results in this bucket
        continue;
      }
      const [px, py] = [(x(index) + step / 2).toFixed(1), y(value).toFixed(1)];
      path += `${pen}${px},${py} `;
      pen = "L";
      points.push(svg("circle", { class: `${className} point`, cx: px, cy: py, r: 2.5 }));
    }
    if (path) chart.append(svg("path", { class: className, d: path.trim() }), ...points);
  }
  return chart;
}
