// Drawing helpers and the JSON client. No mathematics of the model lives here: every
// number drawn or shown comes from the server (gdlab).
"use strict";

const Plot = (() => {
  const MARGIN = { left: 58, right: 14, top: 12, bottom: 38 };
  const COLORS = { a: "#1f6feb", b: "#d9480f", ink: "#1b1f24", grid: "#eaeef2",
                   classes: ["#1f6feb", "#d9480f", "#2f9e44", "#ae3ec9", "#f59f00"] };

  // A number as shown in the tables: 6 significant digits.
  function fmt(v) {
    if (v === null || v === undefined) return "—";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-4)) return v.toExponential(5);
    return String(Number(v.toPrecision(6)));
  }

  function ticks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0) || !isFinite(span)) return [lo];
    const raw = span / count;
    const step = Math.pow(10, Math.floor(Math.log10(raw)));
    const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= count) || 10 * step;
    const out = [];
    for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-12 * span; t += nice) out.push(t);
    return out;
  }

  // Size the canvas's pixels to its width on the screen (times the device's pixel ratio),
  // keeping the aspect of its width and height attributes: text stays 11 px on a phone
  // and sharp on a projector. Returns the context, in CSS pixels, and the size.
  function fit(canvas) {
    if (!canvas.dataset.aspect) canvas.dataset.aspect = String(canvas.height / canvas.width);
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(240, Math.round(canvas.clientWidth || canvas.width));
    const h = Math.round(w * Number(canvas.dataset.aspect));
    if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
    if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx, w, h };
  }

  // A cleared canvas with axes over xRange × yRange; returns the coordinate maps.
  function frame(canvas, xRange, yRange, xLabel, yLabel, yTickFormat) {
    const { ctx, w, h } = fit(canvas);
    const left = MARGIN.left, right = w - MARGIN.right, top = MARGIN.top,
          bottom = h - MARGIN.bottom;
    const [x0, x1] = xRange, [y0, y1] = yRange;
    const X = (v) => left + ((v - x0) / (x1 - x0)) * (right - left);
    const Y = (v) => bottom - ((v - y0) / (y1 - y0)) * (bottom - top);
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeStyle = COLORS.grid;
    ctx.fillStyle = "#57606a";
    ctx.lineWidth = 1;
    ctx.textAlign = "center";
    for (const t of ticks(x0, x1, 7)) {
      ctx.beginPath(); ctx.moveTo(X(t), top); ctx.lineTo(X(t), bottom); ctx.stroke();
      ctx.fillText(fmt(t), X(t), bottom + 14);
    }
    ctx.textAlign = "right";
    for (const t of ticks(y0, y1, 6)) {
      ctx.beginPath(); ctx.moveTo(left, Y(t)); ctx.lineTo(right, Y(t)); ctx.stroke();
      ctx.fillText((yTickFormat || fmt)(t), left - 5, Y(t) + 4);
    }
    ctx.strokeStyle = COLORS.ink;
    ctx.strokeRect(left, top, right - left, bottom - top);
    ctx.textAlign = "center";
    ctx.fillStyle = COLORS.ink;
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillText(xLabel || "", (left + right) / 2, h - 6);
    ctx.save();
    ctx.translate(13, (top + bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(yLabel || "", 0, 0);
    ctx.restore();
    const clip = () => { ctx.save(); ctx.beginPath(); ctx.rect(left, top, right - left, bottom - top); ctx.clip(); };
    return { ctx, X, Y, clip, box: { left, right, top, bottom } };
  }

  function dot(ctx, x, y, r, color) {
    ctx.fillStyle = color;
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
  }

  function square(ctx, x, y, r, color) {
    ctx.fillStyle = color;
    ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
  }

  function star(ctx, x, y, r, color) {
    ctx.fillStyle = color;
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const a = -Math.PI / 2 + (k * Math.PI) / 5, rr = k % 2 ? r * 0.45 : r;
      (k ? ctx.lineTo : ctx.moveTo).call(ctx, x + rr * Math.cos(a), y + rr * Math.sin(a));
    }
    ctx.closePath(); ctx.fill();
  }

  // A small text on a white halo (contour levels).
  function label(ctx, x, y, text) {
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "center"; ctx.textBaseline = "middle";
    const w = ctx.measureText(text).width + 4;
    ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.fillRect(x - w / 2, y - 6, w, 12);
    ctx.fillStyle = "#57606a";
    ctx.fillText(text, x, y);
    ctx.textBaseline = "alphabetic";
  }

  function arrow(ctx, x0, y0, x1, y1, color) {
    const angle = Math.atan2(y1 - y0, x1 - x0);
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = 2.5;
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - 10 * Math.cos(angle - 0.4), y1 - 10 * Math.sin(angle - 0.4));
    ctx.lineTo(x1 - 10 * Math.cos(angle + 0.4), y1 - 10 * Math.sin(angle + 0.4));
    ctx.closePath(); ctx.fill();
    ctx.lineWidth = 1;
  }

  // POST (or GET without body) to the server; throws an Error with the server's message.
  async function api(path, body) {
    const init = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, init);
    let data;
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  return { COLORS, fmt, fit, frame, dot, square, star, label, arrow, api };
})();
