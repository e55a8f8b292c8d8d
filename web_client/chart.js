// A small stacked bar chart drawn as SVG (no library): one bar per day, one colour per series.
const NS = "http://www.w3.org/2000/svg";
export const COLOURS = ["#6b3fd4", "#2fb36a", "#f2a900", "#d33f6a"];

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// days: ["2026-12-01", ...]; series: [{label, values: [number per day]}]; format: value -> text.
// width: the container's CSS pixels, so that labels keep their size on a phone.
export function barChart(days, series, {format = String, dayLabel = (d) => d.slice(8), width = 640} = {}) {
  const w = Math.max(280, Math.round(width)), h = 220, left = 44, bottom = 24, top = 10;
  const totals = days.map((_, i) => series.reduce((s, x) => s + x.values[i], 0));
  const max = Math.max(...totals, 1e-9);
  const svg = el("svg", {viewBox: `0 0 ${w} ${h}`, role: "img"});
  const title = el("title", {}, series.map((s) => s.label).join(", "));
  svg.append(title);
  const plotH = h - bottom - top, slot = (w - left) / Math.max(days.length, 1);
  for (const frac of [0, 0.5, 1]) {
    const y = top + plotH * (1 - frac);
    svg.append(el("line", {x1: left, x2: w, y1: y, y2: y, stroke: "#dcd8ea"}));
    svg.append(el("text", {x: left - 4, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#5d5a6b"},
                  format(max * frac)));
  }
  days.forEach((day, i) => {
    let y = top + plotH;
    series.forEach((s, k) => {
      const bh = (s.values[i] / max) * plotH;
      if (bh <= 0) return;
      y -= bh;
      const bar = el("rect", {x: left + i * slot + slot * 0.15, y, width: slot * 0.7, height: bh, fill: COLOURS[k % 4]});
      bar.append(el("title", {}, `${day}: ${s.label} ${format(s.values[i])}`));
      svg.append(bar);
    });
    const every = Math.ceil(days.length / Math.max(2, Math.floor(w / 60)));
    if (i % every === 0) {
      svg.append(el("text", {x: left + (i + 0.5) * slot, y: h - 6, "text-anchor": "middle", "font-size": 11,
                             fill: "#5d5a6b"}, dayLabel(day)));
    }
  });
  return svg;
}
