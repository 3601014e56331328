// The storefront (`/`): the page shell, the hash router and the deals view (time sales with
// countdowns and live stock, coupon campaigns with their claim button, all products). The
// account views live in account.js, basket / checkout / orders / coupons in shop.js.

import { get, post, newKey, MAX_RETRIES, logout } from "./api.js";
import { session } from "./session.js";
import { h, fill, say, money, num, duration, errorText, productImage } from "./ui.js";
import { syncClock, serverNow } from "./clock.js";
import { LiveFeed } from "./live.js";
import { loginView, signupView, addressesView } from "./account.js";
import { basketView, checkoutView, ordersView, orderView, couponsView, addToBasket, refreshBasketCount } from "./shop.js";

const main = document.getElementById("main");
const banner = document.getElementById("banner");
const account = document.getElementById("account");
let bannerSticky = false;

/** What views share: navigation, the login redirect and the banner. */
export const app = {
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  /** The current route, to come back to after logging in. */
  here() {
    return location.hash || "#/";
  },
  /** Send the shopper to log in and back here; false when already signed in. */
  requireLogin(next = app.here()) {
    if (session.isLoggedIn()) return false;
    app.navigate(`#/login?next=${encodeURIComponent(next)}`);
    return true;
  },
  /** Show a sentence above the page; `sticky` keeps it through the next navigation. */
  banner(text, kind = "", sticky = false) {
    bannerSticky = sticky;
    banner.hidden = !text;
    banner.textContent = text || "";
    banner.className = `banner ${kind}`.trim();
  },
};

// ------------------------------------------------------------------------------------ shell

function renderAccount() {
  const user = session.user;
  if (!user) {
    fill(account, h("a", { href: "#/login" }, "Log in"), h("a", { class: "button", href: "#/signup" }, "Sign up"));
    return;
  }
  fill(
    account,
    h("span", { class: "muted", "data-role": "who" }, user.email),
    h(
      "button",
      {
        class: "secondary",
        type: "button",
        onclick: async () => {
          await logout();
          app.navigate("#/");
        },
      },
      "Log out",
    ),
  );
}

session.onChange(() => {
  renderAccount();
  refreshBasketCount();
});

window.addEventListener("hotdeal:session-expired", () => {
  app.banner("Your session has expired. Please log in again; you will come back here.", "error", true);
  if (!location.hash.startsWith("#/login")) app.navigate(`#/login?next=${encodeURIComponent(app.here())}`);
});

// ----------------------------------------------------------------------------------- router

const routes = [
  [/^\/?$/, deals],
  [/^\/login$/, loginView],
  [/^\/signup$/, signupView],
  [/^\/addresses$/, addressesView],
  [/^\/basket$/, basketView],
  [/^\/checkout$/, checkoutView],
  [/^\/orders$/, ordersView],
  [/^\/orders\/([0-9a-f-]{36})$/, orderView],
  [/^\/coupons$/, couponsView],
];

let cleanup = null;
let generation = 0;

async function route() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  const params = new URLSearchParams(query);
  if (cleanup) {
    try {
      cleanup();
    } catch {
      // A view's cleanup must not stop the next view.
    }
    cleanup = null;
  }
  const mine = ++generation;
  for (const a of document.querySelectorAll(".top nav a")) {
    const target = a.getAttribute("href").replace(/^#/, "");
    if (target === path || (target === "/" && path === "")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const found = routes.find(([re]) => re.test(path));
  const view = found ? found[1] : notFound;
  const match = found ? path.match(found[0]) : [];
  try {
    const done = await view({ main, params, match, app, isCurrent: () => mine === generation });
    if (mine === generation) cleanup = typeof done === "function" ? done : null;
    else if (typeof done === "function") done();
  } catch (err) {
    if (mine !== generation) return;
    fill(main, h("h1", {}, "Something went wrong"), h("p", { class: "msg error", role: "alert" }, errorText(err)));
  }
  if (mine === generation) main.focus({ preventScroll: true });
}

function notFound({ main }) {
  fill(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to the deals")));
}

// ------------------------------------------------------------------------------------ deals

/** How often the deals page looks for sales it does not show yet. */
const RELIST_MS = 15_000;

/** The phase of a sale window at the server's current time. */
function phaseAt(now, startMs, endMs) {
  if (now < startMs) return "PENDING";
  if (now < endMs) return "IN_PROGRESS";
  return "COMPLETED";
}

function saleCard(sale, onBuy, onBasket) {
  const { promo, product } = sale;
  const qty = h("input", {
    class: "qty",
    type: "number",
    name: "qty",
    min: 1,
    max: promo.perUserLimit || undefined,
    value: 1,
    "aria-label": `Quantity of ${product.name}`,
  });
  const els = {
    ribbon: h("span", { class: "ribbon" }),
    countdown: h("p", { class: "countdown", "data-role": "countdown", "aria-live": "off" }),
    stock: h("p", { class: "stock", "data-role": "stock" }),
    meter: h("meter", { min: 0, max: promo.quantity, value: promo.remaining, "aria-hidden": "true" }),
    buy: h("button", { type: "button", "data-role": "buy", onclick: () => onBuy(promo.productId, Number(qty.value) || 1) }, "Buy now"),
    basket: h(
      "button",
      { type: "button", class: "secondary", onclick: () => onBasket(promo.productId, Number(qty.value) || 1, sale.els.outcome) },
      "Add to basket",
    ),
    outcome: h("p", { class: "msg", role: "status", "data-role": "outcome" }),
    qty,
  };
  const limit = promo.perUserLimit ? ` · at most ${promo.perUserLimit} per shopper` : "";
  sale.els = els;
  sale.el = h(
    "article",
    { class: "card", "data-promotion": promo.promotionId, "data-product": promo.productId },
    productImage(product.thumbImg, product.name),
    els.ribbon,
    h("h3", {}, product.name),
    h(
      "p",
      { class: "price" },
      h("s", { "aria-label": `regular price ${money(product.price)}` }, money(product.price)),
      h("strong", { "data-role": "sale-price" }, money(promo.discountPrice)),
      h("span", { class: "rate" }, `-${promo.discountRate}%`),
    ),
    els.countdown,
    els.stock,
    els.meter,
    h("p", { class: "muted" }, `${num(promo.quantity)} on sale${limit}`),
    h("div", { class: "actions" }, qty, els.buy, els.basket),
    els.outcome,
  );
  return sale.el;
}

/** Refresh a sale card from the sale row, the live state and the server clock. */
function paintSale(sale) {
  const { promo, product, live, els } = sale;
  let startMs = Date.parse(promo.start);
  let endMs = Date.parse(promo.end);
  let remaining = promo.remaining;
  let onSale = product.status === "ON_SALE";
  const held = live?.sale && live.sale.promotionId === promo.promotionId ? live.sale : null;
  if (held) {
    startMs = held.startMs;
    endMs = held.endMs;
    remaining = held.remaining;
  }
  if (live) onSale = live.onSale;
  const now = serverNow();
  const phase = phaseAt(now, startMs, endMs);
  const soldOut = remaining <= 0;
  sale.el.dataset.phase = phase;
  sale.el.dataset.remaining = String(remaining);
  sale.el.classList.toggle("soldout", soldOut || phase === "COMPLETED");
  if (phase === "PENDING") els.countdown.textContent = `Starts in ${duration(startMs - now)}`;
  else if (phase === "IN_PROGRESS") els.countdown.textContent = `Ends in ${duration(endMs - now)}`;
  else els.countdown.textContent = "Ended";
  els.stock.textContent = soldOut ? "Sold out" : `${num(remaining)} of ${num(promo.quantity)} left`;
  els.meter.value = Math.max(0, remaining);
  const [text, cls] = soldOut
    ? ["Sold out", "ribbon off"]
    : phase === "PENDING"
      ? ["Soon", "ribbon soon"]
      : phase === "COMPLETED"
        ? ["Ended", "ribbon off"]
        : ["Live", "ribbon"];
  els.ribbon.textContent = text;
  els.ribbon.className = cls;
  const buyable = phase === "IN_PROGRESS" && !soldOut && onSale;
  els.buy.disabled = !buyable;
  els.basket.disabled = !buyable;
}

function productCard(p, onBuy, onBasket) {
  const qty = h("input", { class: "qty", type: "number", min: 1, value: 1, "aria-label": `Quantity of ${p.name}` });
  const stock = h("p", { class: "stock", "data-role": "stock" });
  const outcome = h("p", { class: "msg", role: "status", "data-role": "outcome" });
  const buy = h("button", { type: "button", onclick: () => onBuy(p.productId, Number(qty.value) || 1) }, "Buy now");
  const basket = h(
    "button",
    { type: "button", class: "secondary", onclick: () => onBasket(p.productId, Number(qty.value) || 1, outcome) },
    "Add to basket",
  );
  const price = h("p", { class: "price" });
  const card = h(
    "article",
    { class: "card", "data-product": p.productId },
    productImage(p.thumbImg, p.name),
    h("h3", {}, p.name),
    price,
    stock,
    p.rating > 0 ? h("p", { class: "muted" }, `★ ${p.rating} (${p.reviewCnt} reviews)`) : null,
    h("div", { class: "actions" }, qty, buy, basket),
    outcome,
  );
  const paint = (live) => {
    const available = live ? live.available : p.quantity;
    const salePrice = live?.sale?.phase === "IN_PROGRESS" ? live.sale.salePrice : p.discountPrice;
    const regular = live ? live.price : p.price;
    fill(price, salePrice ? [h("s", {}, money(regular)), h("strong", {}, money(salePrice))] : h("strong", {}, money(regular)));
    stock.textContent = available > 0 ? `${num(available)} in stock` : "Sold out";
    const ok = available > 0 && (live ? live.onSale : p.status === "ON_SALE");
    buy.disabled = !ok;
    basket.disabled = !ok;
  };
  paint(null);
  return { card, paint, outcome };
}

function couponCard(c, held, onClaim) {
  const els = {
    ribbon: h("span", { class: "ribbon" }, "Coupon"),
    remaining: h("p", { class: "stock", "data-role": "remaining" }),
    meter: h("meter", { min: 0, max: c.quantity, value: c.quantity - c.issuedCount, "aria-hidden": "true" }),
    claim: h("button", { type: "button", "data-role": "claim" }, "Claim"),
    outcome: h("p", { class: "msg", role: "status", "data-role": "outcome" }),
  };
  const state = { c, held, live: null, els, busy: false };
  els.claim.addEventListener("click", () => onClaim(state));
  state.el = h(
    "article",
    { class: "card coupon", "data-campaign": c.couponId },
    els.ribbon,
    h("h3", { style: "margin-top:2rem" }, c.name),
    h("p", { class: "price" }, h("strong", {}, `${money(c.discountAmount)} off`)),
    h(
      "p",
      { class: "muted" },
      c.minOrderAmount > 0 ? `On orders of ${money(c.minOrderAmount)} or more` : "On any order",
      ` · use by ${c.expirationDate}`,
    ),
    els.remaining,
    els.meter,
    h("div", { class: "actions" }, els.claim),
    els.outcome,
  );
  if (held) say(els.outcome, "You have this coupon.", "ok");
  return state;
}

function paintCoupon(state) {
  const { c, live, els } = state;
  const quantity = live ? live.quantity : c.quantity;
  const issued = live ? live.issuedCount : c.issuedCount;
  const left = Math.max(0, quantity - issued);
  const liveState = live ? live.state : c.status === "ISSUED" ? (left > 0 ? "OPEN" : "SOLD_OUT") : "NOT_OPEN";
  const soldOut = liveState === "SOLD_OUT" || left === 0;
  state.el.dataset.state = soldOut ? "SOLD_OUT" : liveState;
  state.el.classList.toggle("soldout", soldOut);
  els.remaining.textContent = soldOut
    ? `Sold out: all ${num(quantity)} claimed`
    : liveState === "OPEN"
      ? `${num(left)} of ${num(quantity)} left`
      : `${num(left)} of ${num(quantity)} left · ${liveState.replace(/_/g, " ").toLowerCase()}`;
  els.meter.value = left;
  els.ribbon.textContent = soldOut ? "Sold out" : "Coupon";
  els.ribbon.className = soldOut ? "ribbon off" : "ribbon";
  els.claim.disabled = state.busy || soldOut || (live && liveState !== "OPEN");
}

async function claimCoupon(state) {
  const { els, c } = state;
  if (app.requireLogin()) return;
  state.busy = true;
  paintCoupon(state);
  say(els.outcome, "Claiming…");
  try {
    await post(
      "/api/v1/coupons/issue",
      { couponInfoId: c.couponId },
      {
        idempotencyKey: newKey(),
        onRetry: ({ attempt, waitMs, error }) =>
          say(
            els.outcome,
            `Busy (${error.message}): retrying in ${Math.ceil(waitMs / 1000)} s, attempt ${attempt} of ${MAX_RETRIES}.`,
            "warn",
          ),
      },
    );
    state.held = true;
    say(els.outcome, "Issued: the coupon is yours (see Coupons).", "ok");
  } catch (err) {
    if (err.code === "CO006") say(els.outcome, "Already yours: you claimed this coupon before.", "ok");
    else if (err.code === "CO005") {
      say(els.outcome, "Sold out: every coupon has been claimed.", "error");
      state.live = { ...(state.live || { quantity: c.quantity, issuedCount: c.quantity }), state: "SOLD_OUT" };
    } else if (err.busy) say(els.outcome, `Still busy after ${MAX_RETRIES} retries: ${err.message}. Try again in a moment.`, "error");
    else say(els.outcome, errorText(err), "error");
  } finally {
    state.busy = false;
    paintCoupon(state);
  }
}

async function deals({ main, isCurrent }) {
  const liveMsg = h("p", { class: "msg warn", role: "status", "data-role": "live-status" });
  const salesGrid = h("div", { class: "grid", id: "sales" }, h("p", { class: "empty" }, "Loading…"));
  const couponsGrid = h("div", { class: "grid", id: "coupons" });
  const productsGrid = h("div", { class: "grid", id: "products" });
  fill(
    main,
    h("h1", {}, "Hot deals"),
    liveMsg,
    h("section", { "aria-labelledby": "h-sales" }, h("h2", { id: "h-sales" }, "Time sales"), salesGrid),
    h("section", { "aria-labelledby": "h-coupons" }, h("h2", { id: "h-coupons" }, "Coupons"), couponsGrid),
    h("section", { "aria-labelledby": "h-products" }, h("h2", { id: "h-products" }, "All products"), productsGrid),
  );

  const onBuy = (productId, qty) => {
    const next = `#/checkout?product=${productId}&qty=${qty}`;
    if (!app.requireLogin(next)) app.navigate(next);
  };
  const onBasket = async (productId, qty, out) => {
    if (app.requireLogin()) return;
    try {
      await addToBasket(productId, qty);
      say(out, "Added to your basket.", "ok");
    } catch (err) {
      say(out, errorText(err), "error");
    }
  };

  /** The sale each product shows: its running one, else its next one. */
  const listSales = async (opts) => {
    const [running, upcoming] = await Promise.all([
      get("/api/v1/promotions?status=IN_PROGRESS&size=50&sort=end,asc", opts),
      get("/api/v1/promotions?status=PENDING&size=50&sort=start,asc", opts),
    ]);
    const wanted = new Map();
    for (const promo of [...running.content, ...upcoming.content]) {
      if (!wanted.has(promo.productId)) wanted.set(promo.productId, promo);
    }
    return wanted;
  };
  const sales = new Map();
  /** Show the sales of `wanted` that are not on the page yet (new ones, or a product's next). */
  const showSales = async (wanted, opts) => {
    const missing = [...wanted.values()].filter((promo) => sales.get(promo.productId)?.promo.promotionId !== promo.promotionId);
    if (!missing.length) return false;
    const ids = missing.map((p) => p.productId);
    const page = await get(`/api/v1/products?productIds=${ids.join(",")}&size=${ids.length}`, opts);
    const byId = new Map(page.content.map((p) => [p.productId, p]));
    salesGrid.querySelector(".empty")?.remove();
    for (const promo of missing) {
      const product = byId.get(promo.productId);
      if (!product) continue;
      const old = sales.get(promo.productId);
      const sale = { promo, product, live: old?.live || null };
      sales.set(promo.productId, sale);
      const card = saleCard(sale, onBuy, onBasket);
      if (old) old.el.replaceWith(card);
      else salesGrid.append(card);
      paintSale(sale);
    }
    return true;
  };

  const [, wanted, products] = await Promise.all([syncClock(), listSales(), get("/api/v1/products?status=ON_SALE&size=24")]);
  if (!isCurrent()) return;
  fill(salesGrid);
  await showSales(wanted);
  if (!sales.size) salesGrid.append(h("p", { class: "empty" }, "No time sale right now. Come back soon."));

  const cards = new Map();
  fill(productsGrid);
  for (const p of products.content) {
    const card = productCard(p, onBuy, onBasket);
    cards.set(p.productId, card);
    productsGrid.append(card.card);
  }
  if (!cards.size) productsGrid.append(h("p", { class: "empty" }, "No products yet."));

  const coupons = new Map();
  if (session.isLoggedIn()) {
    try {
      const [list, mine] = await Promise.all([get("/api/v1/coupon-infos?size=50"), get("/api/v1/coupons")]);
      const held = new Set(mine.map((c) => c.couponInfoId));
      fill(couponsGrid);
      for (const c of list.content) {
        const state = couponCard(c, held.has(c.couponId), claimCoupon);
        coupons.set(c.couponId, state);
        couponsGrid.append(state.el);
        paintCoupon(state);
      }
      if (!coupons.size) couponsGrid.append(h("p", { class: "empty" }, "No coupons to claim right now."));
    } catch (err) {
      fill(couponsGrid, h("p", { class: "msg error", role: "alert" }, errorText(err)));
    }
  } else {
    fill(
      couponsGrid,
      h("p", { class: "empty" }, h("a", { href: `#/login?next=${encodeURIComponent("#/")}` }, "Log in"), " to see and claim coupons."),
    );
  }
  if (!isCurrent()) return;

  const onUpdate = ({ items, campaigns }) => {
    for (const live of items) {
      const sale = sales.get(live.productId);
      if (sale) {
        sale.live = live;
        paintSale(sale);
      }
      cards.get(live.productId)?.paint(live);
    }
    for (const live of campaigns) {
      const state = coupons.get(live.couponInfoId);
      if (state) {
        state.live = live;
        paintCoupon(state);
      }
    }
  };
  // While the stream is down: the sale rows (remaining, status) by plain API calls.
  const poll = async () => {
    if (!sales.size) return;
    try {
      const page = await get(`/api/v1/promotions?productIds=${[...sales.keys()].join(",")}&size=50`, { retries: 0 });
      for (const promo of page.content) {
        const sale = sales.get(promo.productId);
        if (sale && sale.promo.promotionId === promo.promotionId) {
          sale.promo = promo;
          paintSale(sale);
        }
      }
    } catch {
      // The next poll tries again.
    }
  };
  const feed = new LiveFeed({ onUpdate, onStatus: (t) => say(liveMsg, t, "warn"), poll });
  const watch = () => feed.watch({ productIds: [...new Set([...sales.keys(), ...cards.keys()])], couponInfoIds: [...coupons.keys()] });
  watch();
  const ticker = setInterval(() => sales.forEach(paintSale), 250);
  // New sales (and a product's next sale once one ends) appear without a reload.
  const relist = setInterval(async () => {
    try {
      if (await showSales(await listSales({ retries: 0 }), { retries: 0 })) watch();
    } catch {
      // The next round tries again.
    }
  }, RELIST_MS);
  return () => {
    feed.close();
    clearInterval(ticker);
    clearInterval(relist);
  };
}

// ------------------------------------------------------------------------------------ start

window.addEventListener("hashchange", () => {
  if (bannerSticky) bannerSticky = false;
  else app.banner("");
  route();
});
renderAccount();
refreshBasketCount();
route();
