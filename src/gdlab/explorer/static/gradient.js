// Page 1: gradient-based learning on a hidden function. The server computes f, f' and
// each descent step; this file only keeps the user's points and draws them.
"use strict";

const Gradient = (() => {
  const $ = (id) => document.getElementById(id);
  const state = { info: null, points: null, curve: null, descent: [], xs: [] };

  function message(text) { $("gradient-message").textContent = text || ""; }

  async function refreshPoints() {
    state.points = state.xs.length ? await Plot.api("/api/function", { x: state.xs }) : null;
  }

  function cell(row, text) { const td = row.insertCell(); td.textContent = text; return td; }

  function renderTables() {
    const showSlope = $("show-derivatives").checked;
    const body = $("points-table").tBodies[0];
    body.innerHTML = "";
    const p = state.points;
    for (let k = 0; p && k < p.x.length; k++) {
      const row = body.insertRow();
      cell(row, k + 1);
      cell(row, Plot.fmt(p.x[k]));
      cell(row, Plot.fmt(p.f[k]));
      cell(row, showSlope ? Plot.fmt(p.df[k]) : "?");
      cell(row, showSlope ? (p.df[k] > 0 ? "← left" : p.df[k] < 0 ? "right →" : "flat") : "?");
    }
    const steps = $("descent-table").tBodies[0];
    steps.innerHTML = "";
    for (const s of state.descent) {
      const row = steps.insertRow();
      for (const v of [s.step, s.x, s.f, s.df, s.update, s.x_next]) cell(row, Plot.fmt(v));
    }
  }

  function draw() {
    const canvas = $("function-canvas");
    const [x0, x1] = state.info.domain;
    const f = Plot.frame(canvas, [x0, x1], state.info.y_range, "x", "f(x)");
    const ctx = f.ctx;
    f.clip();
    const slider = Number($("x-slider").value);
    ctx.strokeStyle = "#8c959f"; ctx.setLineDash([4, 4]);
    ctx.beginPath(); ctx.moveTo(f.X(slider), f.box.top); ctx.lineTo(f.X(slider), f.box.bottom);
    ctx.stroke(); ctx.setLineDash([]);
    if ($("reveal-function").checked && state.curve) {
      ctx.strokeStyle = Plot.COLORS.ink; ctx.lineWidth = 2;
      ctx.beginPath();
      state.curve.x.forEach((x, k) => {
        if (k === 0) ctx.moveTo(f.X(x), f.Y(state.curve.f[k])); else ctx.lineTo(f.X(x), f.Y(state.curve.f[k]));
      });
      ctx.stroke(); ctx.lineWidth = 1;
    }
    const p = state.points;
    for (let k = 0; p && k < p.x.length; k++) {
      const x = p.x[k], y = p.f[k], d = p.df[k];
      if ($("show-derivatives").checked) {
        const h = 0.6;
        ctx.strokeStyle = "#2f9e44"; ctx.lineWidth = 1.5;
        ctx.beginPath(); ctx.moveTo(f.X(x - h), f.Y(y - h * d)); ctx.lineTo(f.X(x + h), f.Y(y + h * d));
        ctx.stroke();
        if (d !== 0) {
          // downhill: the direction of -f'(x), drawn along the tangent
          const dir = d > 0 ? -1 : 1, len = 0.45;
          Plot.arrow(ctx, f.X(x), f.Y(y), f.X(x + dir * len), f.Y(y + dir * len * d), "#c92a2a");
        }
      }
      Plot.dot(ctx, f.X(x), f.Y(y), 5, Plot.COLORS.a);
    }
    if (state.descent.length) {
      ctx.strokeStyle = Plot.COLORS.b; ctx.lineWidth = 1.5;
      ctx.beginPath();
      state.descent.forEach((s, k) => {
        if (k === 0) ctx.moveTo(f.X(s.x), f.Y(s.f)); else ctx.lineTo(f.X(s.x), f.Y(s.f));
      });
      ctx.stroke();
      for (const s of state.descent) Plot.dot(ctx, f.X(s.x), f.Y(s.f), 3.5, Plot.COLORS.b);
    }
    ctx.restore();
  }

  function render() { renderTables(); draw(); }

  async function run(action) {
    try { message(""); await action(); } catch (error) { message(error.message); }
    render();
  }

  async function descend(steps) {
    const last = state.descent.length ? state.descent[state.descent.length - 1].x_next
      : state.xs.length ? state.xs[state.xs.length - 1] : null;
    if (last === null) { message("Add a point first: descent starts from the last point."); return; }
    if (!isFinite(last)) { message("x has run off to infinity: the learning rate is too large."); return; }
    const lr = Number($("descent-lr").value);
    const out = await Plot.api("/api/descend", { x: last, learning_rate: lr, steps });
    const offset = state.descent.length;
    for (const s of out.steps) state.descent.push({ ...s, step: s.step + offset });
    const end = state.descent[state.descent.length - 1];
    if (end.x_next === null || Math.abs(end.x_next) > 1e6) {
      message(`Diverged: x = ${Plot.fmt(end.x_next)}. The learning rate η = ${lr} is too large.`);
    }
  }

  async function start() {
    state.info = await Plot.api("/api/function/info");
    $("x-slider").addEventListener("input", () => {
      $("x-value").textContent = Number($("x-slider").value).toFixed(2); draw();
    });
    $("add-point").addEventListener("click", () => run(async () => {
      state.xs.push(Number($("x-slider").value));
      state.descent = [];
      await refreshPoints();
    }));
    $("show-derivatives").addEventListener("change", render);
    $("reveal-function").addEventListener("change", () => run(async () => {
      if (!state.curve) state.curve = await Plot.api("/api/function/curve");
    }));
    $("descend").addEventListener("click", () => run(() => descend(1)));
    $("descend-10").addEventListener("click", () => run(() => descend(10)));
    $("clear-points").addEventListener("click", () => run(async () => {
      state.xs = []; state.descent = []; await refreshPoints();
    }));
    document.body.dataset.gradientReady = "1";
    render();
  }

  return { start, draw, state };
})();
