// Small DOM helpers shared by the pages: an element builder, number and time formats, message
// areas, and forms that keep what was typed when the server says no.

/** `h("p", {class: "x", onclick: fn}, "text", child)`: an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const won = new Intl.NumberFormat("en-US");
/** `12,000 won`. */
export const money = (n) => `${won.format(n)} won`;
export const num = (n) => won.format(n);

/** `1d 02:03:04`, `02:03:04` or `03:04` for a duration in milliseconds. */
export function duration(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(s / 86400);
  const hh = String(Math.floor((s % 86400) / 3600)).padStart(2, "0");
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  if (d > 0) return `${d}d ${hh}:${mm}:${ss}`;
  return s >= 3600 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** A date-time for people, in the browser's zone. */
export function when(iso) {
  const d = typeof iso === "number" ? new Date(iso) : new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

/** Show `text` in a message area (`kind`: ok, warn, error or empty). */
export function say(el, text, kind = "") {
  if (!el) return;
  el.textContent = text || "";
  el.className = `msg ${kind}`.trim();
}

/** The message to show for an error: the API's message, with its code. */
export function errorText(err) {
  if (!err) return "";
  if (err.code && err.status) return `${err.message} (${err.code})`;
  return err.message || String(err);
}

/** A status badge. */
export const badge = (status) => h("span", { class: `status ${status}` }, status.replace(/_/g, " "));

/**
 * Run `handler(values, form)` on submit. While it runs the submit buttons are disabled; an error
 * is shown in the form's `.msg` area and every field keeps what was typed; `reset` clears the
 * form after a success.
 */
export function onSubmit(form, handler, { reset = false } = {}) {
  const msg = form.querySelector(".msg") || form.appendChild(h("p", { class: "msg", role: "alert" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const buttons = [...form.querySelectorAll("button[type=submit], button:not([type])")];
    buttons.forEach((b) => (b.disabled = true));
    say(msg, "");
    try {
      const values = Object.fromEntries(new FormData(form).entries());
      const done = await handler(values, form, msg);
      if (typeof done === "string") say(msg, done, "ok");
      if (reset) form.reset();
    } catch (err) {
      if (err?.name === "AbortError") return;
      say(msg, errorText(err), "error");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
  return form;
}

/** A labelled input. */
export function field(label, attrs) {
  return h("label", {}, label, h(attrs.tag || "input", { ...attrs, tag: undefined }));
}

/** A labelled select of `[value, text]` options. */
export function select(label, name, options, attrs = {}) {
  return h(
    "label",
    {},
    label,
    h("select", { name, ...attrs }, options.map(([v, t]) => h("option", { value: v }, t))),
  );
}

/** The image of a product, with a local stand-in when its URL does not load. */
export function productImage(url, alt, cls = "thumb") {
  const img = h("img", { class: cls, src: url || "/assets/img/product.svg", alt, loading: "lazy" });
  img.addEventListener("error", () => {
    if (!img.src.endsWith("/assets/img/product.svg")) img.src = "/assets/img/product.svg";
  });
  return img;
}
