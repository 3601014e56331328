// Live stock from `GET /api/v1/live` (server-sent events of the engine's state). While the stream
// is refused or down, the page is told, the stream is reopened with backoff, and an optional
// `poll()` runs at most once a second so counters keep moving.

const MAX_BACKOFF_MS = 30_000;

export class LiveFeed {
  /**
   * `onUpdate({items, campaigns})` for every event; `onStatus(text)` with "" when live and a
   * sentence when not; `poll()` (optional) refreshes by plain API calls while the stream is down.
   */
  constructor({ onUpdate, onStatus = () => {}, poll = null }) {
    this.onUpdate = onUpdate;
    this.onStatus = onStatus;
    this.poll = poll;
    this.key = "";
    this.es = null;
    this.backoff = 1000;
    this.retryTimer = null;
    this.pollTimer = null;
  }

  /** Watch these ids (reopens the stream when the set changed). */
  watch({ productIds = [], couponInfoIds = [] }) {
    const p = [...new Set(productIds)].slice(0, 50).sort();
    const c = [...new Set(couponInfoIds)].slice(0, 50).sort();
    const key = `${p.join(",")}|${c.join(",")}`;
    if (key === this.key && this.es) return;
    this.key = key;
    this.params = { p, c };
    this.open();
  }

  open() {
    this.closeStream();
    const { p, c } = this.params;
    if (!p.length && !c.length) return;
    const q = new URLSearchParams();
    if (p.length) q.set("productIds", p.join(","));
    if (c.length) q.set("couponInfoIds", c.join(","));
    const es = new EventSource(`/api/v1/live?${q}`);
    this.es = es;
    es.addEventListener("stock", (e) => {
      this.backoff = 1000;
      this.stopPolling();
      this.onStatus("");
      try {
        this.onUpdate(JSON.parse(e.data));
      } catch (err) {
        console.warn("bad live event", err);
      }
    });
    es.addEventListener("error", () => {
      // CONNECTING: the browser reconnects by itself (the server ends streams now and then).
      if (es.readyState !== EventSource.CLOSED || this.es !== es) return;
      const wait = this.backoff;
      this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      this.onStatus(`Live updates paused; reconnecting in ${Math.round(wait / 1000)} s.`);
      this.startPolling();
      this.retryTimer = setTimeout(() => this.open(), wait);
    });
  }

  startPolling() {
    if (!this.poll || this.pollTimer) return;
    this.pollTimer = setInterval(() => this.poll(), 1000);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  closeStream() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.es) this.es.close();
    this.es = null;
  }

  /** Stop everything (the view went away). */
  close() {
    this.closeStream();
    this.stopPolling();
    this.key = "";
  }
}
