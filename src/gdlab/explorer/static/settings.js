// The page's settings in its address, and the presenter mode.
//
// Every control listed in FIELDS is written to the query string as it changes (only the
// values that differ from the page's defaults), and read back when the page loads: a
// teacher shares the address of exactly the run on the screen. `?present=1` is the
// presenter mode: large type, and keys space = step (descend on page 1, Step on page 2),
// d = derivatives, r = reveal the function.
"use strict";

const Settings = (() => {
  const $ = (id) => document.getElementById(id);
  const FIELDS = ["x-slider", "descent-lr", "show-derivatives", "reveal-function",
    "pg-dataset", "pg-n", "pg-model", "pg-hidden", "pg-activation", "pg-init", "pg-seed",
    "pg-epochs", "pg-variant-0", "pg-batch-0", "pg-lr-0", "pg-opt-0", "pg-compare",
    "pg-variant-1", "pg-batch-1", "pg-lr-1", "pg-opt-1", "pg-speed", "pg-param-i", "pg-param-j"];
  const key = (id) => id.replace(/^pg-/, "");
  const query = new URLSearchParams(window.location.search);
  let timer = null;

  function fallback(el) {
    if (el.dataset.default !== undefined) return el.dataset.default;
    if (el.type === "checkbox") return el.defaultChecked ? "1" : "0";
    if (el.tagName === "SELECT") {
      const chosen = [...el.options].find((o) => o.defaultSelected) || el.options[0];
      return chosen ? chosen.value : "";
    }
    return el.defaultValue;
  }
  function value(el) { return el.type === "checkbox" ? (el.checked ? "1" : "0") : el.value; }

  // The value the address asks for a control (undefined if none).
  function wanted(id) { return query.has(key(id)) ? query.get(key(id)) : undefined; }

  // Set the controls from the address (before the pages start).
  function read() {
    for (const id of FIELDS) {
      const el = $(id), v = wanted(id);
      if (!el || v === undefined) continue;
      if (el.type === "checkbox") el.checked = v === "1";
      else if (el.tagName !== "SELECT" || [...el.options].some((o) => o.value === v)) el.value = v;
    }
    if (query.get("present") === "1") document.body.classList.add("present");
    return { page: query.get("page") || "gradient" };
  }

  // Write the current settings to the address (replacing the history entry).
  function write() {
    const out = new URLSearchParams();
    const page = document.querySelector(".tab.active");
    if (page && page.dataset.page !== "gradient") out.set("page", page.dataset.page);
    if (document.body.classList.contains("present")) out.set("present", "1");
    for (const id of FIELDS) {
      const el = $(id);
      if (!el) continue;
      // parameter choices exist once a session started: keep the asked ones until then
      if (el.tagName === "SELECT" && !el.options.length) {
        if (wanted(id) !== undefined) out.set(key(id), wanted(id));
        continue;
      }
      if (value(el) !== fallback(el)) out.set(key(id), value(el));
    }
    const text = out.toString();
    history.replaceState(null, "", text ? `?${text}` : window.location.pathname);
    document.body.dataset.url = text;
  }
  function schedule() { clearTimeout(timer); timer = setTimeout(write, 100); }

  function presenterKeys(event) {
    if (!document.body.classList.contains("present")) return;
    const target = event.target;
    if (target && ["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName)
        && target.type !== "checkbox" && target.type !== "range") return;
    const playground = !$("page-playground").hidden;
    const press = (id) => { event.preventDefault(); $(id).click(); };
    if (event.key === " ") press(playground ? "pg-step" : "descend");
    else if (event.key === "d" && !playground) press("show-derivatives");
    else if (event.key === "r" && !playground) press("reveal-function");
  }

  function start() {
    document.addEventListener("change", schedule);
    document.addEventListener("input", schedule);
    document.addEventListener("keydown", presenterKeys);
  }

  return { read, write, start, wanted, schedule };
})();
