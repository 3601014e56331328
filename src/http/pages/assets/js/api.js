// The one way the pages call the API: JSON bodies, the `{message, data}` envelope on success and
// `{timestamp, code, message}` on errors, bearer tokens refreshed without the user noticing,
// and 429/503 answers retried after their Retry-After with exponential backoff.

import { session } from "./session.js";

/** An API error: the HTTP status, the stable code and the message to show. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfterS = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }
  /** Busy or rate limited: worth retrying later. */
  get busy() {
    return this.status === 429 || this.status === 503;
  }
}

/** Most automatic retries of one busy request. */
export const MAX_RETRIES = 4;
/** Longest wait between two retries. */
const MAX_WAIT_MS = 30_000;

/** The wait before retry `attempt` (1-based): at least Retry-After, doubling, with jitter. */
export function backoffMs(retryAfterS, attempt) {
  const base = Math.max(retryAfterS ? retryAfterS * 1000 : 500, 250);
  const wait = Math.min(base * 2 ** (attempt - 1), MAX_WAIT_MS);
  return Math.round(wait + Math.random() * wait * 0.2);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new DOMException("aborted", "AbortError"));
    });
  });
}

/** A fresh Idempotency-Key (retries of one action reuse it, a new action takes a new one). */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** The body as JSON, or `{text}` when it is something else. */
async function readJson(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { text: text.trim().slice(0, 300) };
  }
}

function retryAfterOf(res) {
  const v = res.headers.get("Retry-After");
  if (!v) return null;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, n);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, (at - Date.now()) / 1000) : null;
}

/**
 * Call the API and return the envelope's `data` (or `{message, data}` with `full`).
 *
 * Options: `body` (sent as JSON), `auth` (send the bearer token; default true when signed in),
 * `idempotencyKey`, `retries` (busy retries; default MAX_RETRIES for GET and for requests with
 * an Idempotency-Key, 0 otherwise), `onRetry({attempt, waitMs, error})` to tell the user,
 * `signal`, `full`.
 */
export async function api(method, path, opts = {}) {
  const { body, idempotencyKey, onRetry, signal, full } = opts;
  const auth = opts.auth ?? true;
  const retries = opts.retries ?? (method === "GET" || idempotencyKey ? MAX_RETRIES : 0);
  let attempt = 0;
  let refreshed = false;
  for (;;) {
    // Refresh shortly before the access token expires rather than collecting a 401.
    if (auth && session.isLoggedIn() && session.expiresInS() < 20 && !refreshed) {
      refreshed = true;
      if (!(await session.refresh())) {
        session.expire();
        throw new ApiError(401, "SESSION_EXPIRED", "your session has expired; please log in again");
      }
    }
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && session.accessToken) headers.Authorization = `Bearer ${session.accessToken}`;
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: "no-store",
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      const err = new ApiError(0, "NETWORK_ERROR", "the server could not be reached; check the connection and try again");
      if (attempt < retries) {
        attempt += 1;
        const waitMs = backoffMs(1, attempt);
        onRetry?.({ attempt, waitMs, error: err });
        await sleep(waitMs, signal);
        continue;
      }
      throw err;
    }
    const payload = await readJson(res);
    if (res.ok) return full ? payload : payload ? payload.data ?? null : null;
    const err = new ApiError(
      res.status,
      payload?.code || `HTTP_${res.status}`,
      payload?.message || payload?.text || res.statusText || `request failed (${res.status})`,
      retryAfterOf(res),
    );
    if (res.status === 401 && auth && session.isLoggedIn()) {
      if (!refreshed) {
        refreshed = true;
        if (await session.refresh()) continue;
      }
      session.expire();
      throw new ApiError(401, "SESSION_EXPIRED", "your session has expired; please log in again");
    }
    if (err.busy && attempt < retries) {
      attempt += 1;
      const waitMs = backoffMs(err.retryAfterS, attempt);
      onRetry?.({ attempt, waitMs, error: err });
      await sleep(waitMs, signal);
      continue;
    }
    throw err;
  }
}

export const get = (path, opts) => api("GET", path, opts);
export const post = (path, body, opts = {}) => api("POST", path, { ...opts, body });
export const put = (path, body, opts = {}) => api("PUT", path, { ...opts, body });
export const patch = (path, body, opts = {}) => api("PATCH", path, { ...opts, body });
export const del = (path, opts) => api("DELETE", path, opts);

/** Sign in: keep the token pair. */
export async function login(email, password) {
  const pair = await post("/api/v1/auth/login", { email, password }, { auth: false });
  session.save(pair);
  return session.user;
}

/** Sign out here and on the server (the refresh token stops working). */
export async function logout() {
  try {
    if (session.isLoggedIn()) await post("/api/v1/auth/logout", undefined, { retries: 0 });
  } catch {
    // Signed out locally whatever the server said.
  }
  session.clear();
}

/** A query string from an object, leaving out empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "") continue;
    u.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : "";
}
