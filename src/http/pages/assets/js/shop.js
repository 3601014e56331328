// Storefront shopping views: basket, checkout (address, coupon, order, payment), my orders with
// cancel / refund / reviews, and my coupons.

import { get, post, patch, del, newKey } from "./api.js";
import { session } from "./session.js";
import { h, fill, say, money, num, when, duration, badge, errorText, onSubmit, productImage } from "./ui.js";
import { serverNow, syncClock } from "./clock.js";
import { addressForm, addressText, loadAddresses } from "./account.js";

const PAYING_KEY = "hotdeal.paying";

/** Put `qty` of a product in the basket. */
export async function addToBasket(productId, quantity) {
  await post("/api/v1/baskets", { productId, quantity });
  refreshBasketCount();
}

/** The number of basket lines, next to the Basket link. */
export async function refreshBasketCount() {
  const el = document.getElementById("basket-count");
  if (!el) return;
  if (!session.isLoggedIn()) {
    el.hidden = true;
    return;
  }
  try {
    const page = await get("/api/v1/baskets?size=1", { retries: 0 });
    el.textContent = String(page.totalElements);
    el.hidden = page.totalElements === 0;
  } catch {
    el.hidden = true;
  }
}

/**
 * Pay for an order with the configured provider. The built-in fake provider's payment page is
 * this server's own `/payment/success` redirect, which approves the payment: it is followed in
 * the background and the order is shown. Any other provider's page is opened in the tab.
 * Returns true when the payment completed here.
 */
export async function pay(orderId, msg) {
  say(msg, "Preparing the payment…");
  const ready = await post("/api/v1/payments", { orderId });
  const url = new URL(ready.nextRedirectPcUrl, location.href);
  if (url.origin !== location.origin) {
    sessionStorage.setItem(PAYING_KEY, orderId);
    say(msg, "Opening the payment page…");
    location.assign(url.href);
    return false;
  }
  say(msg, "Paying…");
  const res = await fetch(url.href, { cache: "no-store" });
  if (!res.ok) {
    const page = new DOMParser().parseFromString(await res.text(), "text/html");
    throw new Error(page.querySelector("p")?.textContent || `the payment failed (${res.status})`);
  }
  return true;
}

// ----------------------------------------------------------------------------------- basket

export async function basketView({ main, app }) {
  if (app.requireLogin()) return;
  const msg = h("p", { class: "msg", role: "status" });
  const list = h("ul", { class: "list", "data-role": "basket" });
  const order = h("button", { type: "button", "data-role": "order-basket" }, "Order selected");
  fill(main, h("h1", {}, "Basket"), msg, list, h("p", {}, order));
  const refresh = async () => {
    const page = await get("/api/v1/baskets?size=50");
    fill(
      list,
      page.content.length
        ? page.content.map((line) => {
            const p = line.product;
            const qty = h("input", { class: "qty", type: "number", min: 1, value: line.quantity, "aria-label": `Quantity of ${p.productName}` });
            qty.addEventListener("change", async () => {
              try {
                await patch(`/api/v1/baskets/${line.basketId}`, { quantity: Number(qty.value) });
                say(msg, "Quantity updated.", "ok");
              } catch (err) {
                say(msg, errorText(err), "error");
              }
            });
            return h(
              "li",
              { "data-basket": line.basketId },
              h("input", { type: "checkbox", name: "pick", value: line.basketId, checked: true, "aria-label": `Order ${p.productName}` }),
              productImage(p.productThumbImg, "", "mini"),
              h("span", { style: "flex:1" }, h("strong", {}, p.productName), " · ", money(p.productDiscountPrice || p.productPrice), p.productQuantity > 0 ? "" : " · sold out"),
              qty,
              h(
                "button",
                {
                  type: "button",
                  class: "secondary",
                  onclick: async () => {
                    try {
                      await del(`/api/v1/baskets/${line.basketId}`);
                      refreshBasketCount();
                      await refresh();
                    } catch (err) {
                      say(msg, errorText(err), "error");
                    }
                  },
                },
                "Remove",
              ),
            );
          })
        : h("li", { class: "empty" }, "Your basket is empty. ", h("a", { href: "#/" }, "See the deals"), "."),
    );
    order.disabled = page.content.length === 0;
  };
  order.addEventListener("click", () => {
    const ids = [...list.querySelectorAll("input[name=pick]:checked")].map((c) => c.value);
    if (!ids.length) return say(msg, "Choose at least one line.", "warn");
    app.navigate(`#/checkout?baskets=${ids.join(",")}`);
  });
  await refresh();
}

// --------------------------------------------------------------------------------- checkout

export async function checkoutView({ main, params, app }) {
  if (app.requireLogin()) return;
  const msg = h("p", { class: "msg", role: "alert", "data-role": "checkout-msg" });
  const basketIds = (params.get("baskets") || "").split(",").filter(Boolean);
  let lines;
  if (basketIds.length) {
    const page = await get("/api/v1/baskets?size=50");
    lines = page.content
      .filter((l) => basketIds.includes(l.basketId))
      .map((l) => ({
        productId: l.product.productId,
        name: l.product.productName,
        unit: l.product.productDiscountPrice || l.product.productPrice,
        qty: l.quantity,
      }));
  } else {
    const p = await get(`/api/v1/products/${encodeURIComponent(params.get("product") || "")}`);
    lines = [{ productId: p.productId, name: p.name, unit: p.discountPrice || p.price, qty: Math.max(1, Number(params.get("qty")) || 1) }];
  }
  const total = lines.reduce((s, l) => s + l.unit * l.qty, 0);

  const addressBox = h("div", { "data-role": "addresses" });
  const renderAddresses = async (select) => {
    const { list, defaultId } = await loadAddresses();
    const chosen = select || defaultId || list[0]?.addressId;
    fill(
      addressBox,
      list.length
        ? h(
            "fieldset",
            {},
            h("legend", {}, "Deliver to"),
            list.map((a) =>
              h("label", { class: "check" }, h("input", { type: "radio", name: "addressId", value: a.addressId, checked: a.addressId === chosen }), addressText(a)),
            ),
          )
        : h("p", { class: "muted" }, "No address yet: add one below."),
      h("details", { open: list.length === 0 }, h("summary", {}, "Add an address"), addressForm((id) => renderAddresses(id))),
    );
  };

  const coupons = await get("/api/v1/coupons?isUsed=false");
  const couponSelect = h(
    "select",
    { name: "couponId", "data-role": "coupon" },
    h("option", { value: "" }, "No coupon"),
    coupons.map((c) =>
      h(
        "option",
        { value: c.couponId, disabled: total < c.minOrderAmount },
        `${c.name}: ${money(c.discountAmount)} off${c.minOrderAmount ? ` (orders from ${money(c.minOrderAmount)})` : ""}`,
      ),
    ),
  );
  const estimate = h("p", { "data-role": "estimate" });
  const paintEstimate = () => {
    const c = coupons.find((x) => x.couponId === couponSelect.value);
    const off = c && total >= c.minOrderAmount ? Math.min(c.discountAmount, total) : 0;
    fill(estimate, "To pay: ", h("strong", {}, money(total - off)), off ? ` (${money(total)} minus ${money(off)})` : "");
  };
  couponSelect.addEventListener("change", paintEstimate);
  paintEstimate();

  const place = h("button", { type: "button", "data-role": "place-order" }, "Place order and pay");
  let inFlight = false;
  place.addEventListener("click", async () => {
    if (inFlight) return;
    const addressId = addressBox.querySelector("input[name=addressId]:checked")?.value;
    if (!addressId) return say(msg, "Choose or add a delivery address first.", "error");
    inFlight = true;
    place.disabled = true;
    try {
      say(msg, "Placing the order…");
      const body = basketIds.length
        ? { basketList: basketIds, addressId }
        : { items: lines.map((l) => ({ productId: l.productId, quantity: l.qty })), addressId };
      if (couponSelect.value) body.couponId = couponSelect.value;
      const created = await post("/api/v1/orders", body, {
        idempotencyKey: newKey(),
        onRetry: ({ attempt, waitMs }) => say(msg, `The shop is busy: retrying in ${Math.ceil(waitMs / 1000)} s (attempt ${attempt}).`, "warn"),
      });
      refreshBasketCount();
      try {
        if (await pay(created.orderId, msg)) app.navigate(`#/orders/${created.orderId}`);
      } catch (err) {
        app.banner(`The order was placed but not paid: ${errorText(err)}. You can pay it from your orders.`, "error", true);
        app.navigate(`#/orders/${created.orderId}`);
      }
    } catch (err) {
      say(msg, errorText(err), "error");
    } finally {
      inFlight = false;
      place.disabled = false;
    }
  });

  fill(
    main,
    h("h1", {}, "Checkout"),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num" }, "Unit price"), h("th", { class: "num" }, "Quantity"), h("th", { class: "num" }, "Amount"))),
        h(
          "tbody",
          {},
          lines.map((l) => h("tr", {}, h("td", {}, l.name), h("td", { class: "num" }, money(l.unit)), h("td", { class: "num" }, num(l.qty)), h("td", { class: "num" }, money(l.unit * l.qty)))),
        ),
      ),
    ),
    h("p", { class: "muted" }, "Prices are the ones shown now; the order states the amount charged."),
    h("h2", {}, "Address"),
    addressBox,
    h("h2", {}, "Coupon"),
    h("label", {}, "Coupon", couponSelect),
    estimate,
    h("p", {}, place),
    msg,
  );
  await renderAddresses();
}

// ----------------------------------------------------------------------------------- orders

function orderActions(o, msg, after) {
  const run = (label, fn, done) =>
    h(
      "button",
      {
        type: "button",
        class: label === "Pay" ? "" : "secondary",
        "data-role": label.toLowerCase(),
        onclick: async (e) => {
          e.target.disabled = true;
          try {
            const completed = await fn();
            if (completed !== false) say(msg, done, "ok");
          } catch (err) {
            say(msg, errorText(err), "error");
          } finally {
            e.target.disabled = false;
            await after();
          }
        },
      },
      label,
    );
  const active = o.orderStatus === "CREATE" || o.orderStatus === "PENDING";
  return [
    active ? run("Pay", () => pay(o.orderId, msg), "Paid.") : null,
    active ? run("Cancel", () => post(`/api/v1/orders/${o.orderId}/cancel`), "Order cancelled; the stock and the coupon were given back.") : null,
    o.orderStatus === "COMPLETE" ? run("Refund", () => post(`/api/v1/orders/${o.orderId}/refund`), "Refunded.") : null,
  ];
}

export async function ordersView({ main, app }) {
  if (app.requireLogin()) return;
  const paying = sessionStorage.getItem(PAYING_KEY);
  if (paying) {
    sessionStorage.removeItem(PAYING_KEY);
    app.navigate(`#/orders/${paying}`);
    return;
  }
  const msg = h("p", { class: "msg", role: "status" });
  const list = h("ul", { class: "list", "data-role": "orders" });
  fill(main, h("h1", {}, "My orders"), msg, list);
  const refresh = async () => {
    // The newest page at the default size (the order list takes no `size` today).
    const page = await get("/api/v1/orders");
    fill(
      list,
      page.content.length
        ? page.content.map((o) =>
            h(
              "li",
              { "data-order": o.orderId },
              h("span", { style: "flex:1" }, h("a", { href: `#/orders/${o.orderId}` }, o.orderName), h("br"), h("span", { class: "muted" }, `${when(o.createdAt)} · ${money(o.payAmount)}`)),
              badge(o.orderStatus),
              orderActions(o, msg, refresh),
            ),
          )
        : h("li", { class: "empty" }, "No order yet."),
    );
  };
  await refresh();
}

function reviewForm(o, line) {
  const form = h(
    "form",
    { class: "inline", "data-role": "review-form", "data-product": line.productId },
    h(
      "label",
      {},
      "Rating",
      h("select", { name: "rating" }, [5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1].map((r) => h("option", { value: r }, `${r} ★`))),
    ),
    h("label", { style: "flex:1" }, "Your review", h("input", { name: "review", required: true, maxlength: 2000 })),
    h("button", { type: "submit" }, "Post review"),
    h("p", { class: "msg", role: "alert", style: "flex-basis:100%" }),
  );
  onSubmit(form, async (v) => {
    await post("/api/v1/reviews", { orderId: o.orderId, productId: line.productId, rating: Number(v.rating), review: v.review.trim(), reviewImgs: [] });
    form.querySelectorAll("input, select, button").forEach((el) => (el.disabled = true));
    return "Thank you for your review.";
  });
  return form;
}

export async function orderView({ main, match, app }) {
  if (app.requireLogin()) return;
  const id = match[1];
  const msg = h("p", { class: "msg", role: "status" });
  const body = h("div");
  fill(main, h("h1", {}, "Order"), msg, body);
  await syncClock();
  let timer = null;
  const refresh = async () => {
    const o = await get(`/api/v1/orders/${id}`);
    clearInterval(timer);
    const deadline = h("span", { "data-role": "deadline" });
    const active = o.orderStatus === "CREATE" || o.orderStatus === "PENDING";
    if (active) {
      const paint = () => (deadline.textContent = ` · pay within ${duration(Date.parse(o.expiresAt) - serverNow())}`);
      paint();
      timer = setInterval(paint, 1000);
    }
    fill(
      body,
      h("p", {}, h("strong", {}, o.orderName), " ", h("span", { "data-role": "order-status" }, badge(o.orderStatus)), active ? deadline : null),
      h("p", { class: "muted" }, `Placed ${when(o.createdAt)} · order ${o.orderId}`),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num" }, "Unit price"), h("th", { class: "num" }, "Quantity"))),
          h("tbody", {}, o.productList.map((l) => h("tr", {}, h("td", {}, l.productName), h("td", { class: "num" }, money(l.productPrice)), h("td", { class: "num" }, num(l.productQuantity))))),
        ),
      ),
      h(
        "dl",
        { class: "kv", style: "margin-top:1rem" },
        h("dt", {}, "Total"),
        h("dd", {}, money(o.totalAmount)),
        h("dt", {}, "Coupon"),
        h("dd", {}, o.discountAmount ? `-${money(o.discountAmount)}` : "none"),
        h("dt", {}, "Paid / to pay"),
        h("dd", { "data-role": "pay-amount" }, money(o.payAmount)),
      ),
      h("div", { class: "actions", style: "margin:1rem 0" }, orderActions(o, msg, refresh)),
      o.orderStatus === "COMPLETE" ? [h("h2", {}, "Reviews"), o.productList.map((l) => [h("h3", {}, l.productName), reviewForm(o, l)])] : null,
    );
  };
  try {
    await refresh();
  } catch (err) {
    say(msg, errorText(err), "error");
  }
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------------- coupons

export async function couponsView({ main, app }) {
  if (app.requireLogin()) return;
  const list = await get("/api/v1/coupons");
  fill(
    main,
    h("h1", {}, "My coupons"),
    list.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { "data-role": "my-coupons" },
            h("thead", {}, h("tr", {}, h("th", {}, "Coupon"), h("th", { class: "num" }, "Discount"), h("th", { class: "num" }, "Minimum order"), h("th", {}, "Use by"), h("th", {}, "State"))),
            h(
              "tbody",
              {},
              list.map((c) =>
                h(
                  "tr",
                  { "data-coupon": c.couponId },
                  h("td", {}, c.name),
                  h("td", { class: "num" }, money(c.discountAmount)),
                  h("td", { class: "num" }, money(c.minOrderAmount)),
                  h("td", {}, c.expirationDate),
                  h("td", {}, c.used ? badge("USED") : badge("ISSUED")),
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, "No coupon yet: claim one on ", h("a", { href: "#/" }, "the deals page"), "."),
  );
}
