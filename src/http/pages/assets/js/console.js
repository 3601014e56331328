// The operator console (`/console`, MASTER and MANAGER): live engine numbers read from
// `/metrics` once a second and drawn as small charts, the engine status, the engine-versus-
// database audit and the operator audit log, and snapshots listed and taken from the page.
// The admin endpoints are MASTER-only; a MANAGER sees their refusal in place.

import { get, post, qs } from "./api.js";
import { h, fill, say, num, when, errorText } from "./ui.js";
import { sparkline, draw } from "./chart.js";
import { startPanel } from "./panel.js";

/** Points kept per chart (one a second: two minutes). */
const HISTORY = 120;

/** Prometheus text exposition: `name{labels} value` lines into a map, plus sums by name. */
export function parseMetrics(text) {
  const series = new Map();
  const sums = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    series.set(m[1] + (m[2] || ""), value);
    sums.set(m[1], (sums.get(m[1]) || 0) + value);
  }
  return {
    sum: (name) => sums.get(name) || 0,
    get: (name, labels = "") => series.get(name + labels) || 0,
    labelled(name, label) {
      const out = {};
      const re = new RegExp(`^${name}\\{.*${label}="([^"]*)"`);
      for (const [k, v] of series) {
        const m = k.match(re);
        if (m) out[m[1]] = (out[m[1]] || 0) + v;
      }
      return out;
    },
  };
}

/** The tiles: what each shows, from two consecutive scrapes `a` (older) and `b`, `dt` seconds apart. */
const TILES = [
  ["claims", "Claims / s", (a, b, dt) => (b.sum("hotdeal_claims_total") - a.sum("hotdeal_claims_total")) / dt],
  ["issued", "Coupons issued / s", (a, b, dt) => (b.get("hotdeal_claims_total", '{outcome="issued"}') - a.get("hotdeal_claims_total", '{outcome="issued"}')) / dt],
  ["fast-rejects", "Fast rejects / s", (a, b, dt) => (b.sum("hotdeal_engine_fast_rejects_total") - a.sum("hotdeal_engine_fast_rejects_total")) / dt],
  ["busy", "Busy answers / s", (a, b, dt) => (b.sum("hotdeal_engine_busy_total") - a.sum("hotdeal_engine_busy_total")) / dt],
  [
    "records-per-fsync",
    "Journal records per fsync",
    (a, b) => {
      const fsyncs = b.sum("hotdeal_journal_fsyncs_total") - a.sum("hotdeal_journal_fsyncs_total");
      const records = b.sum("hotdeal_journal_records_total") - a.sum("hotdeal_journal_records_total");
      return fsyncs > 0 ? records / fsyncs : 0;
    },
  ],
  ["backlog", "Write-behind backlog (events)", (a, b) => b.sum("hotdeal_journal_backlog_events")],
  ["lag", "Write-behind lag (ms)", (a, b) => b.sum("hotdeal_writebehind_lag_ms")],
];

const fmt = (v) => (v >= 100 || Number.isInteger(v) ? num(Math.round(v)) : v.toFixed(1));

function liveSection() {
  const msg = h("p", { class: "msg", role: "status" });
  const tiles = TILES.map(([key, label]) => {
    const value = h("div", { class: "value", "data-role": "value" }, "–");
    const chart = sparkline(label);
    return { key, values: [], value, chart, el: h("div", { class: "tile", "data-metric": key }, h("div", { class: "label" }, label), value, chart) };
  });
  const totals = h("dl", { class: "kv", "data-role": "claim-totals" });
  const section = h(
    "section",
    { id: "live", "aria-labelledby": "h-live" },
    h("h2", { id: "h-live" }, "Live"),
    msg,
    h("div", { class: "tiles" }, tiles.map((t) => t.el)),
    h("h3", { style: "margin-top:1rem" }, "Coupon claims since start, by outcome"),
    totals,
  );
  let previous = null;
  let previousAt = 0;
  let samples = 0;
  const scrape = async () => {
    try {
      const res = await fetch("/metrics", { cache: "no-store" });
      if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
      const current = parseMetrics(await res.text());
      const at = performance.now();
      if (previous) {
        const dt = Math.max(0.001, (at - previousAt) / 1000);
        for (const [i, [, , f]] of TILES.entries()) {
          const t = tiles[i];
          const v = Math.max(0, f(previous, current, dt));
          t.values.push(v);
          if (t.values.length > HISTORY) t.values.shift();
          t.value.textContent = fmt(v);
          draw(t.chart, t.values, HISTORY);
          t.el.dataset.peak = String(Math.max(...t.values));
        }
      }
      const outcomes = current.labelled("hotdeal_claims_total", "outcome");
      const keys = Object.keys(outcomes).sort();
      fill(
        totals,
        keys.length
          ? keys.map((k) => [h("dt", {}, k.replace(/_/g, " ")), h("dd", { "data-outcome": k }, num(outcomes[k]))])
          : [h("dt", {}, "none yet"), h("dd", {}, "0")],
      );
      samples += 1;
      section.dataset.samples = String(samples);
      previous = current;
      previousAt = at;
      say(msg, "");
    } catch (err) {
      say(msg, `Metrics unavailable: ${err.message}`, "error");
    }
  };
  return { section, scrape };
}

function engineSection() {
  const msg = h("p", { class: "msg", role: "status" });
  const list = h("dl", { class: "kv", "data-role": "engine" });
  const section = h("section", { id: "engine", "aria-labelledby": "h-engine" }, h("h2", { id: "h-engine" }, "Engine"), msg, list);
  const LABELS = [
    ["durability", "Durability"],
    ["campaignActors", "Campaign actors"],
    ["itemActors", "Item actors"],
    ["journalAppendedSeq", "Journal: last appended"],
    ["journalDurableSeq", "Journal: last durable"],
    ["databaseAppliedSeq", "Database: last applied"],
    ["writebehindBacklogEvents", "Write-behind backlog"],
    ["journalRecords", "Journal records"],
    ["journalFsyncs", "Journal fsyncs"],
  ];
  const refresh = async () => {
    try {
      const e = await get("/api/v1/admin/engine", { retries: 0 });
      fill(list, LABELS.map(([k, label]) => [h("dt", {}, label), h("dd", {}, typeof e[k] === "number" ? num(e[k]) : String(e[k]))]));
      say(msg, "");
    } catch (err) {
      say(msg, errorText(err), "error");
    }
  };
  return { section, refresh };
}

function auditSection() {
  const msg = h("p", { class: "msg", role: "status" });
  const result = h("div", { "data-role": "audit" });
  const logRows = h("tbody");
  const run = h("button", { type: "button", "data-role": "run-audit" }, "Run the audit");
  run.addEventListener("click", async () => {
    run.disabled = true;
    say(msg, "Comparing the engine with the database…");
    try {
      const a = await get("/api/v1/admin/audit");
      say(msg, a.differences.length ? `${a.differences.length} difference(s).` : "The engine and the database agree.", a.differences.length ? "error" : "ok");
      fill(
        result,
        h("p", { class: "muted" }, `${num(a.campaignsChecked)} campaigns and ${num(a.itemsChecked)} items checked; write-behind ${a.caughtUp ? "caught up" : `${num(a.backlogEvents)} events behind`}.`),
        a.differences.length
          ? h(
              "div",
              { class: "table-wrap" },
              h(
                "table",
                {},
                h("thead", {}, h("tr", {}, ["Entity", "Id", "Field", "Engine", "Database"].map((t) => h("th", {}, t)))),
                h("tbody", {}, a.differences.map((d) => h("tr", {}, h("td", {}, d.entity), h("td", {}, d.id), h("td", {}, d.field), h("td", { class: "num" }, num(d.engine)), h("td", { class: "num" }, num(d.database))))),
              ),
            )
          : null,
      );
    } catch (err) {
      say(msg, errorText(err), "error");
    } finally {
      run.disabled = false;
    }
  });
  const logMsg = h("p", { class: "msg", role: "status" });
  const refreshLog = async () => {
    try {
      const page = await get(`/api/v1/admin/audit-log${qs({ size: 20 })}`, { retries: 0 });
      fill(
        logRows,
        page.content.length
          ? page.content.map((e) => h("tr", {}, h("td", {}, when(e.createdAt)), h("td", {}, e.action), h("td", {}, `${e.entityType} ${e.entityId}`), h("td", {}, JSON.stringify(e.detail))))
          : h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No operator action yet.")),
      );
      say(logMsg, "");
    } catch (err) {
      say(logMsg, errorText(err), "error");
    }
  };
  const section = h(
    "section",
    { id: "audit", "aria-labelledby": "h-audit" },
    h("h2", { id: "h-audit" }, "Audit"),
    h("p", {}, run),
    msg,
    result,
    h("h3", {}, "Operator actions"),
    logMsg,
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["When", "Action", "Entity", "Detail"].map((t) => h("th", {}, t)))), logRows)),
  );
  return { section, refreshLog };
}

function snapshotSection() {
  const msg = h("p", { class: "msg", role: "status" });
  const rows = h("tbody", { "data-role": "snapshots" });
  const take = h("button", { type: "button", "data-role": "take-snapshot" }, "Take a snapshot now");
  const refresh = async () => {
    try {
      const list = await get("/api/v1/admin/snapshots", { retries: 0 });
      fill(
        rows,
        list.length
          ? list.map((s) =>
              h(
                "tr",
                { "data-snapshot": String(s.seq) },
                h("td", {}, when(s.created_at_ms)),
                h("td", { class: "num" }, num(s.seq)),
                h("td", { class: "num" }, `${num(Math.ceil(s.size_bytes / 1024))} KiB`),
                h("td", {}, String(s.path).split("/").pop()),
              ),
            )
          : h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No snapshot yet.")),
      );
    } catch (err) {
      say(msg, errorText(err), "error");
    }
  };
  take.addEventListener("click", async () => {
    take.disabled = true;
    try {
      await post("/api/v1/admin/snapshots");
      say(msg, "Snapshot written.", "ok");
    } catch (err) {
      say(msg, errorText(err), "error");
    } finally {
      take.disabled = false;
      await refresh();
    }
  });
  const section = h(
    "section",
    { id: "snapshots", "aria-labelledby": "h-snapshots" },
    h("h2", { id: "h-snapshots" }, "Snapshots"),
    h("p", {}, take),
    msg,
    h(
      "div",
      { class: "table-wrap" },
      h("table", {}, h("thead", {}, h("tr", {}, ["Taken", "Journal sequence", "Size", "File"].map((t) => h("th", {}, t)))), rows),
    ),
  );
  return { section, refresh };
}

async function consolePage(main) {
  const live = liveSection();
  const engine = engineSection();
  const audit = auditSection();
  const snapshots = snapshotSection();
  fill(main, h("h1", {}, "Operator console"), live.section, engine.section, audit.section, snapshots.section);
  await Promise.all([live.scrape(), engine.refresh(), audit.refreshLog(), snapshots.refresh()]);
  const fast = setInterval(live.scrape, 1000);
  const medium = setInterval(engine.refresh, 2000);
  const slow = setInterval(audit.refreshLog, 10_000);
  return () => {
    clearInterval(fast);
    clearInterval(medium);
    clearInterval(slow);
  };
}

startPanel({ roles: ["MASTER", "MANAGER"], who: "operators (MASTER or MANAGER)", render: consolePage });
