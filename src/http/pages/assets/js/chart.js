// A sparkline: the last values of a series as an SVG polyline (no library).

const NS = "http://www.w3.org/2000/svg";

/** An empty chart element to pass to `draw`. */
export function sparkline(label) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", "0 0 100 30");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const base = document.createElementNS(NS, "line");
  base.setAttribute("x1", "0");
  base.setAttribute("x2", "100");
  base.setAttribute("y1", "29.5");
  base.setAttribute("y2", "29.5");
  const line = document.createElementNS(NS, "polyline");
  svg.append(base, line);
  return svg;
}

/** Draw `values` (oldest first) scaled to their maximum; `capacity` points span the width. */
export function draw(svg, values, capacity) {
  const line = svg.querySelector("polyline");
  const max = Math.max(1e-9, ...values);
  const step = 100 / Math.max(1, capacity - 1);
  const start = capacity - values.length;
  const points = values.map((v, i) => `${((start + i) * step).toFixed(2)},${(29 - (v / max) * 27).toFixed(2)}`);
  line.setAttribute("points", points.join(" "));
  svg.dataset.max = String(Math.max(0, ...values));
}
