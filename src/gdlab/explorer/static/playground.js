// Page 2: the gradient-descent playground. The server (gdlab) runs every step and sends
// θ, the losses, the step's table and the pictures' grids; this file draws them.
"use strict";

const Playground = (() => {
  const $ = (id) => document.getElementById(id);
  const RUN_COLORS = [Plot.COLORS.a, Plot.COLORS.b];
  const S = { started: false, session: null, desc: null, runs: [], contour: null,
              playing: false, busy: false, upload: null, initSeq: 0, timer: null, applied: null,
              stepRequests: 0 };

  function message(text) { $("pg-message").textContent = text || ""; }
  function ready(flag) { document.body.dataset.pgReady = flag ? "1" : "0"; }

  function runSettings(k) {
    const variant = $(`pg-variant-${k}`).value;
    const batch = variant === "batch" ? "full" : variant === "stochastic" ? 1
      : Number($(`pg-batch-${k}`).value);
    return { batch_size: batch, learning_rate: Number($(`pg-lr-${k}`).value),
             optimizer: $(`pg-opt-${k}`).value };
  }

  function settings() {
    const runs = [runSettings(0)];
    if ($("pg-compare").checked) runs.push(runSettings(1));
    return { dataset: $("pg-dataset").value, n: Number($("pg-n").value), upload: S.upload,
             target: $("pg-target").value || undefined, model: $("pg-model").value,
             hidden: Number($("pg-hidden").value), activation: $("pg-activation").value,
             init: $("pg-init").value, seed: Number($("pg-seed").value),
             epochs: Number($("pg-epochs").value), runs };
  }

  function fillParams(names) {
    for (const [id, fallback] of [["pg-param-i", 0], ["pg-param-j", 1]]) {
      const select = $(id), old = Number(select.value);
      // the first time, the page's address may ask for a pair of parameters
      const asked = S.desc ? NaN : Number(Settings.wanted(id));
      select.replaceChildren(...names.map((n, k) => new Option(n, String(k))));
      select.value = String(asked >= 0 && asked < names.length ? asked
        : old < names.length && select.options.length && !isNaN(old) && S.desc
        && S.desc.param_names.join() === names.join() ? old : fallback);
    }
    Settings.schedule();
  }

  async function init() {
    const seq = ++S.initSeq;
    S.playing = false;
    ready(false);
    const wanted = settings();
    S.applied = JSON.stringify(wanted);
    try {
      const d = await Plot.api("/api/playground/init", wanted);
      if (seq !== S.initSeq) return;
      fillParams(d.param_names);
      S.session = d.session; S.desc = d; S.contour = null;
      exportLinks();
      S.runs = d.runs.map((r) => ({ path: [d.theta0], full: [[0, r.full_loss]], batch: [],
        step: 0, epoch: 0, done: false, diverged: null, table: null, theta: d.theta0,
        picture: d.picture }));
      message("");
      render();
      ready(true);  // Step works at once; the contour grid (the slowest answer) follows
      document.body.dataset.contours = "0";
      loadContours().then(() => {
        if (seq !== S.initSeq) return;
        drawContours();
        document.body.dataset.contours = "1";
      }).catch((e) => { if (seq === S.initSeq) message(e.message); });
    } catch (error) {
      if (seq === S.initSeq) { S.session = null; message(error.message); render(); }
    }
  }

  // The export links of this session (the server writes the files).
  function exportLinks() {
    const base = `/api/playground/export?session=${encodeURIComponent(S.session)}`;
    $("pg-export-path").href = `${base}&format=csv&what=path`;
    $("pg-export-tables").href = `${base}&format=csv&what=tables`;
    $("pg-export-json").href = `${base}&format=json`;
    for (const k of [0, 1]) $(`pg-export-latex-${k}`).href = `${base}&format=latex&run=${k}`;
  }

  // Re-initialise only when a setting really changed (a blur also fires "change").
  function schedule() {
    if (JSON.stringify(settings()) === S.applied) return;
    ready(false);
    clearTimeout(S.timer);
    S.timer = setTimeout(init, 150);
  }

  async function loadContours() {
    if (!S.session) return;
    const i = Number($("pg-param-i").value), j = Number($("pg-param-j").value);
    if (i === j) { S.contour = null; message("Choose two different parameters for the contours."); return; }
    const session = S.session;
    const grid = await Plot.api("/api/playground/contours", { session, i, j });
    if (session === S.session) S.contour = grid;  // not a grid of a session since replaced
  }

  function outsideBox() {
    const c = S.contour;
    if (!c) return false;
    const a = c.a, b = c.b, ma = 0.05 * (a[a.length - 1] - a[0]), mb = 0.05 * (b[b.length - 1] - b[0]);
    return S.runs.some((r) => {
      const t = r.theta;
      if (t[c.i] === null || t[c.j] === null) return false;
      return t[c.i] < a[0] + ma || t[c.i] > a[a.length - 1] - ma || t[c.j] < b[0] + mb
        || t[c.j] > b[b.length - 1] - mb;
    });
  }

  async function step(count) {
    if (!S.session || S.busy || document.body.dataset.pgReady !== "1") return;
    S.busy = true;
    const t0 = performance.now();
    try {
      const d = await Plot.api("/api/playground/step", { session: S.session, steps: count });
      d.runs.forEach((r, k) => {
        const run = S.runs[k];
        run.path.push(...r.path);
        r.full_loss.forEach((v, m) => run.full.push([run.step + m + 1, v]));
        // a batch loss is taken at θ before its step: plot it where that θ is
        r.batch_loss.forEach((v, m) => run.batch.push([run.step + m, v]));
        Object.assign(run, { step: r.step, epoch: r.epoch, done: r.done, diverged: r.diverged,
                             theta: r.theta, picture: r.picture });
        if (r.table) run.table = r.table;
      });
      render();
      await new Promise((resolve) => requestAnimationFrame(() => resolve()));  // painted
      const ms = performance.now() - t0;
      document.body.dataset.stepMs = ms.toFixed(1);
      document.body.dataset.steps = String(++S.stepRequests);
      if (outsideBox()) loadContours().then(drawContours).catch((e) => message(e.message));
    } catch (error) {
      message(error.message);
      S.playing = false;
    } finally {
      S.busy = false;
    }
  }

  async function play() {
    if (S.playing) return;
    S.playing = true;
    while (S.playing && S.session) {
      await step(Number($("pg-speed").value));
      if (S.runs.every((r) => r.done)) S.playing = false;
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
  }

  // --- rendering -----------------------------------------------------------------------
  function render() {
    const compare = S.runs.length > 1;
    for (const el of document.querySelectorAll("#page-playground .run-b:not(fieldset)")) {
      el.classList.toggle("hide", !compare);
    }
    for (let k = 0; k < 2; k++) { renderStatus(k); renderTable(k); }
    drawContours(); drawCurve(); drawData();
  }

  function renderStatus(k) {
    const box = $(`pg-status-${k}`), run = S.runs[k], d = S.desc;
    if (!run || !d) { box.textContent = ""; return; }
    const r = d.runs[k];
    const last = run.full[run.full.length - 1][1];
    const shown = d.param_names.slice(0, 8).map((n, m) => `${n}=${Plot.fmt(run.theta[m])}`);
    if (d.param_names.length > 8) shown.push(`… ${d.param_names.length - 8} more`);
    const theta = shown.join(", ");
    let text = `${k ? "B" : "A"}: ${r.variant} (batch of ${r.batch_size}), η=${r.learning_rate}, ` +
      `${r.optimizer} · ${run.step} steps, epoch ${Math.min(run.epoch + 1, d.epochs)}/${d.epochs}\n` +
      `loss over all ${d.n} rows = ${Plot.fmt(last)}\nθ = (${theta})`;
    const bound = d.stable_learning_rate;
    if (bound && bound.value !== null) {
      const over = r.learning_rate > bound.value;
      text += `\nlargest stable η = 2/λ_max ${bound.exact ? "=" : "at θ₀ ≈"} ${Plot.fmt(bound.value)}` +
        (over ? (r.optimizer === "sgd" && r.variant === "batch" && bound.exact
          ? ": η is above it, the steps will grow" : ": η is above it") : "");
    }
    if (run.done && !run.diverged) text += "\nfinished";
    box.textContent = text;
    if (run.diverged) {
      const p = document.createElement("div");
      p.className = "diverged"; p.id = `pg-diverged-${k}`; p.textContent = run.diverged;
      box.appendChild(p);
    }
  }

  function renderTable(k) {
    const table = $(`pg-table-${k}`), info = $(`pg-info-${k}`), run = S.runs[k];
    const t = run && run.table;
    table.innerHTML = ""; info.textContent = "";
    if (!t) { info.textContent = run ? "Press Step: the table of the step appears here." : ""; return; }
    const names = S.desc.param_names;
    const vec = (v) => "(" + v.map(Plot.fmt).join(", ") + ")";
    const r = S.desc.runs[k];
    info.textContent = `update no. ${t.step + 1} · epoch ${t.epoch + 1} · ${t.variant} · batch of ${t.n_rows} row(s)` +
      (t.n_rows > t.rows.length ? `, first ${t.rows.length} shown` : "") +
      `\nθ before = ${vec(t.theta_before)}\n∇Loss = mean of the rows' dL = ${vec(t.gradient)}` +
      `\nθ after (${r.optimizer}, η=${t.learning_rate}) = ${vec(t.theta_after)}` +
      (names.length <= 8 ? `   [${names.join(", ")}]` : "");
    const head = table.createTHead().insertRow();
    for (const c of ["row", ...t.columns]) {
      const th = document.createElement("th"); th.textContent = c; head.appendChild(th);
    }
    const body = table.createTBody();
    t.rows.forEach((values, m) => {
      const row = body.insertRow();
      row.insertCell().textContent = t.row_index[m];
      for (const v of values) row.insertCell().textContent = Plot.fmt(v);
    });
    const mean = table.createTFoot().insertRow();
    mean.className = "mean";
    mean.insertCell().textContent = `mean (${t.n_rows})`;
    const first = t.columns.length - names.length;
    t.columns.forEach((c, m) => {
      const cell = mean.insertCell();
      cell.textContent = c === "loss" ? Plot.fmt(t.loss) : m >= first ? Plot.fmt(t.gradient[m - first]) : "";
    });
  }

  // The range of the finite values, widened by 6 % on each side: no marker on the frame.
  function extent(values) {
    const finite = values.filter((v) => v !== null && isFinite(v));
    if (!finite.length) return [0, 1];
    let lo = Math.min(...finite), hi = Math.max(...finite);
    if (hi === lo) { lo -= 0.5; hi += 0.5; }
    const pad = 0.06 * (hi - lo);
    return [lo - pad, hi + pad];
  }

  function thin(list, max) {
    if (list.length <= max) return list;
    const every = Math.ceil(list.length / max);
    return list.filter((_, k) => k % every === 0 || k === list.length - 1);
  }

  // Contour lines (traced on the server), labelled with their level; the runs' paths on
  // top, run B dashed with square markers so that it shows where it overlaps run A.
  function drawContours() {
    const canvas = $("contour-canvas"), c = S.contour;
    if (!c || !S.desc) { Plot.fit(canvas).ctx.clearRect(0, 0, canvas.width, canvas.height); return; }
    const names = S.desc.param_names;
    const f = Plot.frame(canvas, [c.a[0], c.a[c.a.length - 1]], [c.b[0], c.b[c.b.length - 1]],
      names[c.i], names[c.j]);
    const ctx = f.ctx;
    f.clip();
    const lines = c.lines || [];
    lines.forEach((line, m) => {
      const t = lines.length > 1 ? m / (lines.length - 1) : 0;
      ctx.strokeStyle = `hsl(${220 - 190 * t}, 65%, ${45 + 10 * t}%)`;
      ctx.lineWidth = 1.2;
      for (const path of line.paths) {
        ctx.beginPath();
        path.forEach(([x, y], k) => (k ? ctx.lineTo : ctx.moveTo).call(ctx, f.X(x), f.Y(y)));
        ctx.stroke();
      }
    });
    const placed = [];
    lines.forEach((line) => {  // labels after all lines, so no line crosses a label
      const longest = line.paths.reduce((best, p) => (p.length > best.length ? p : best), []);
      if (longest.length < 8) return;
      const [x, y] = longest[Math.floor(longest.length / 2)];
      const px = f.X(x), py = f.Y(y), text = Plot.fmt(Number(line.level.toPrecision(2)));
      const half = 3 * text.length + 4;  // about half the label's width (10 px font)
      if (placed.some(([qx, qy, qh]) => Math.abs(qx - px) < half + qh && Math.abs(qy - py) < 14)) return;
      placed.push([px, py, half]);
      Plot.label(ctx, px, py, text);
    });
    S.runs.forEach((run, k) => {
      const pts = thin(run.path, 4000).filter((t) => t[c.i] !== null && t[c.j] !== null);
      ctx.strokeStyle = RUN_COLORS[k]; ctx.lineWidth = k ? 1.5 : 3;
      ctx.globalAlpha = k ? 1 : 0.75;
      ctx.setLineDash(k ? [5, 4] : []);
      ctx.beginPath();
      pts.forEach((t, m) => (m ? ctx.lineTo : ctx.moveTo).call(ctx, f.X(t[c.i]), f.Y(t[c.j])));
      ctx.stroke();
      ctx.setLineDash([]); ctx.globalAlpha = 1;
      const mark = (t, r) => (k ? Plot.square : Plot.dot)(ctx, f.X(t[c.i]), f.Y(t[c.j]), r, RUN_COLORS[k]);
      if (pts.length < 300) for (const t of pts) mark(t, k ? 2.5 : 3);
      const end = pts[pts.length - 1];
      if (end) mark(end, 5.5);
    });
    const t0 = S.desc.theta0;
    Plot.dot(ctx, f.X(t0[c.i]), f.Y(t0[c.j]), 5, Plot.COLORS.ink);
    if (c.optimum) Plot.star(ctx, f.X(c.optimum[0]), f.Y(c.optimum[1]), 8, Plot.COLORS.ink);
    ctx.restore();
    const over = c.rows < c.n ? `loss over a sample of ${c.rows} of the ${c.n} rows` : "loss over all rows";
    const marks = `black dot: θ₀${c.optimum ? "; star: the least-squares minimum θ*" : ""}` +
      (S.runs.length > 1 ? "; run B dashed" : "");
    $("contour-caption").textContent = names.length > 2
      ? `${over}; the other parameters held at run A's current θ (${marks})`
      : `${over}, contour lines labelled with the loss, and the path of θ (${marks})`;
  }

  function drawCurve() {
    const canvas = $("curve-canvas");
    if (!S.desc) { Plot.fit(canvas).ctx.clearRect(0, 0, canvas.width, canvas.height); return; }
    const log = (v) => (v !== null && v > 0 ? Math.log10(v) : null);
    const all = S.runs.flatMap((r) => [...r.full, ...r.batch].map((p) => log(p[1])));
    const steps = Math.max(1, ...S.runs.map((r) => r.step));
    const f = Plot.frame(canvas, [0, steps], extent(all), "step", "loss (log scale)",
      (v) => {
        const x = Math.pow(10, v);
        return x >= 1e4 || x < 1e-3 ? x.toExponential(1) : String(Number(x.toPrecision(3)));
      });
    const ctx = f.ctx;
    f.clip();
    S.runs.forEach((run, k) => {
      ctx.globalAlpha = 0.35;
      for (const [s, v] of thin(run.batch, 3000)) if (log(v) !== null) Plot.dot(ctx, f.X(s), f.Y(log(v)), 1.8, RUN_COLORS[k]);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = RUN_COLORS[k]; ctx.lineWidth = 2;
      ctx.beginPath();
      thin(run.full, 3000).filter((p) => log(p[1]) !== null)
        .forEach(([s, v], m) => (m ? ctx.lineTo : ctx.moveTo).call(ctx, f.X(s), f.Y(log(v))));
      ctx.stroke();
    });
    ctx.restore();
  }

  function drawData() {
    const canvas = $("data-canvas"), d = S.desc;
    const run = S.runs[0];
    const pic = run && run.picture;
    if (!d || !pic) {
      Plot.fit(canvas).ctx.clearRect(0, 0, canvas.width, canvas.height);
      $("data-caption").textContent = d ? "no picture: the model's inputs are not one or two features" : "";
      return;
    }
    const X = d.points.X, y = d.points.y;
    if (pic.kind === "curve") {
      const xs = X.map((r) => r[0]);
      const f = Plot.frame(canvas, extent([...xs, ...pic.x]), extent([...y, ...S.runs.flatMap((r) => r.picture.y)]),
        d.feature_names[0], d.target_name);
      f.clip();
      S.runs.forEach((r, k) => {
        f.ctx.strokeStyle = RUN_COLORS[k]; f.ctx.lineWidth = 2; f.ctx.setLineDash(k ? [6, 4] : []);
        f.ctx.beginPath();
        r.picture.x.forEach((x, m) => (m ? f.ctx.lineTo : f.ctx.moveTo).call(f.ctx, f.X(x), f.Y(r.picture.y[m])));
        f.ctx.stroke(); f.ctx.setLineDash([]);
      });
      xs.forEach((x, m) => Plot.dot(f.ctx, f.X(x), f.Y(y[m]), 4, Plot.COLORS.ink));
      f.ctx.restore();
      $("data-caption").textContent = "the data and the fitted curve ŷ(x)";
      return;
    }
    const f = Plot.frame(canvas, [pic.a[0], pic.a[pic.a.length - 1]], [pic.b[0], pic.b[pic.b.length - 1]],
      d.feature_names[0], d.feature_names[1]);
    const ctx = f.ctx;
    f.clip();
    const da = (pic.a[1] - pic.a[0]) / 2, db = (pic.b[1] - pic.b[0]) / 2;
    pic.p.forEach((row, rb) => row.forEach((p, ca) => {
      const cls = pic.cls ? pic.cls[rb][ca] : p >= 0.5 ? 1 : 0;
      const strength = pic.cls ? p : Math.abs(p - 0.5) * 2;
      ctx.globalAlpha = 0.08 + 0.3 * (strength || 0);
      ctx.fillStyle = Plot.COLORS.classes[cls % 5];
      const x0 = f.X(pic.a[ca] - da), y0 = f.Y(pic.b[rb] + db);
      ctx.fillRect(x0, y0, f.X(pic.a[ca] + da) - x0 + 1, f.Y(pic.b[rb] - db) - y0 + 1);
    }));
    ctx.globalAlpha = 1;
    X.forEach((r, m) => {
      Plot.dot(ctx, f.X(r[0]), f.Y(r[1]), 3, Plot.COLORS.classes[y[m] % 5]);
    });
    ctx.restore();
    $("data-caption").textContent = "the data and run A's decision regions (shade: confidence)";
  }

  // --- wiring --------------------------------------------------------------------------
  async function uploadFile() {
    const file = $("pg-file").files[0];
    if (!file) return;
    ready(false);
    try {
      const response = await fetch("/api/upload", { method: "POST", body: file });
      const data = await response.json().catch(() => ({ error: response.statusText }));
      if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
      S.upload = data.upload;
      // column names come from the file: text, never HTML
      $("pg-target").replaceChildren(...data.columns.map((c) => new Option(c, c)));
      $("pg-target").value = data.columns[data.columns.length - 1];
      await init();
    } catch (error) {
      message(error.message);
      document.body.dataset.pgUpload = "failed";
    }
  }

  function toggleFields() {
    const upload = $("pg-dataset").value === "upload";
    for (const el of document.querySelectorAll(".upload-only")) el.classList.toggle("hide", !upload);
    $("pg-n").disabled = !["logistic", "blobs"].includes($("pg-dataset").value);
    for (const k of [0, 1]) $(`pg-batch-${k}`).disabled = $(`pg-variant-${k}`).value !== "mini-batch";
    const mlp = $("pg-model").value === "mlp";
    $("pg-hidden").disabled = !mlp; $("pg-activation").disabled = !mlp;
  }

  function start() {
    if (S.started) return;
    S.started = true;
    const skip = new Set(["pg-file", "pg-param-i", "pg-param-j", "pg-speed"]);
    const onEdit = (event) => {
      if (skip.has(event.target.id)) return;
      toggleFields();
      if ($("pg-dataset").value === "upload" && S.upload === null) {
        message("Choose a CSV file: a header row and at least two numeric columns.");
        return;
      }
      schedule();
    };
    $("pg-form").addEventListener("change", onEdit);
    $("pg-form").addEventListener("input", onEdit);
    $("pg-file").addEventListener("change", uploadFile);
    for (const id of ["pg-param-i", "pg-param-j"]) {
      $(id).addEventListener("change", () => loadContours().then(drawContours).catch((e) => message(e.message)));
    }
    $("pg-reset").addEventListener("click", init);
    $("pg-step").addEventListener("click", () => step(1));
    $("pg-play").addEventListener("click", play);
    $("pg-pause").addEventListener("click", () => { S.playing = false; });
    toggleFields();
    init();
  }

  return { start, render, state: S };
})();
