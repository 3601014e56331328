// The signed-in user: the token pair in localStorage, the access token's claims, and a
// single-flight refresh (refresh tokens rotate: two refreshes with one token would revoke it).

const KEY = "hotdeal.session";
const listeners = new Set();
let refreshing = null;

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

function bare(token) {
  return (token || "").replace(/^Bearer\s+/i, "").trim();
}

function notify() {
  for (const fn of listeners) fn(session.user);
}

window.addEventListener("storage", (e) => {
  if (e.key === KEY) notify();
});

export const session = {
  /** The access token without its `Bearer ` prefix, or null. */
  get accessToken() {
    return load()?.accessToken || null;
  },
  get refreshToken() {
    return load()?.refreshToken || null;
  },
  /** `{userId, email, role, exp}` of the access token, or null when signed out. */
  get user() {
    const t = this.accessToken;
    return t ? claimsOf(t) : null;
  },
  isLoggedIn() {
    return !!this.accessToken;
  },
  hasRole(...roles) {
    const u = this.user;
    return !!u && roles.includes(u.role);
  },
  /** Seconds until the access token expires (negative once expired). */
  expiresInS() {
    const u = this.user;
    return u && u.exp ? u.exp - Date.now() / 1000 : -1;
  },
  save(pair) {
    localStorage.setItem(
      KEY,
      JSON.stringify({ accessToken: bare(pair.accessToken), refreshToken: bare(pair.refreshToken) }),
    );
    notify();
  },
  clear() {
    localStorage.removeItem(KEY);
    notify();
  },
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
  /** Trade the refresh token for a new pair; false when the session is over. */
  refresh() {
    if (refreshing) return refreshing;
    const used = this.refreshToken;
    refreshing = (async () => {
      if (!used) return false;
      try {
        const res = await fetch("/api/v1/auth/refresh", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ refreshToken: used }),
        });
        // Another tab may have refreshed meanwhile: its pair is the one to keep.
        if (this.refreshToken !== used) return this.isLoggedIn();
        if (!res.ok) return false;
        const body = await res.json();
        this.save(body.data);
        return true;
      } catch {
        // Unreachable server: keep the session, the request fails with its own error.
        return this.isLoggedIn();
      }
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  },
  /** The session is over (refresh refused): forget it and tell the page. */
  expire() {
    this.clear();
    window.dispatchEvent(new CustomEvent("hotdeal:session-expired"));
  },
};
