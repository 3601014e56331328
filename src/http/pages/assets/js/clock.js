// The server's clock in the browser: sales open at the server's instant, so countdowns use
// `serverNow()`, the browser's clock corrected by the offset measured against `/api/v1/time`
// (the sample with the shortest round trip of a few, half the round trip added).

let offsetMs = 0;
let synced = false;
let timer = null;

async function sample() {
  const sent = Date.now();
  const t0 = performance.now();
  const res = await fetch("/api/v1/time", { cache: "no-store", headers: { Accept: "application/json" } });
  const rtt = performance.now() - t0;
  if (!res.ok) throw new Error(`server time: ${res.status}`);
  const body = await res.json();
  return { rtt, offset: body.data.nowMs + rtt / 2 - (sent + rtt) };
}

/** Measure the offset (three samples); resynchronise every minute. */
export async function syncClock() {
  const samples = [];
  for (let i = 0; i < 3; i++) {
    try {
      samples.push(await sample());
    } catch {
      // Keep the previous offset; the next sync retries.
    }
  }
  if (samples.length) {
    samples.sort((a, b) => a.rtt - b.rtt);
    offsetMs = samples[0].offset;
    synced = true;
  }
  if (!timer) timer = setInterval(syncClock, 60_000);
  return synced;
}

/** The server's current time, epoch milliseconds. */
export function serverNow() {
  return Date.now() + offsetMs;
}

/** Whether the offset has been measured at least once. */
export function isSynced() {
  return synced;
}
