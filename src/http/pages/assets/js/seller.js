// The seller pages (`/seller`): register a company (staff approve it here too), add products
// with image URLs, create time sales and watch their sell-through live.

import { get, post, patch, qs } from "./api.js";
import { session } from "./session.js";
import { h, fill, say, money, num, when, badge, errorText, field, select, onSubmit } from "./ui.js";
import { LiveFeed } from "./live.js";
import { startPanel } from "./panel.js";

const CATEGORIES = [
  "FASHION", "BEAUTY", "MATERNITY_BABY", "FOOD", "KITCHEN", "HOUSEHOLD", "HOME_INTERIOR", "APPLIANCES",
  "SPORTS", "AUTOMOTIVE", "BOOKS_MEDIA", "HOBBIES", "OFFICE_SUPPLIES", "PET_SUPPLIES", "HEALTH",
];

const label = (s) => s.charAt(0) + s.slice(1).toLowerCase().replace(/_/g, " ");

/** `YYYY-MM-DDTHH:MM` in the browser's zone, for a datetime-local input. */
function localInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

async function sellerPage(main) {
  const staff = session.hasRole("MASTER", "MANAGER");
  const companyMsg = h("p", { class: "msg", role: "status" });
  const companyRows = h("tbody");
  const companyPick = h("select", { name: "companyId", "data-role": "company-pick" });
  const productMsg = h("p", { class: "msg", role: "status" });
  const productRows = h("tbody");
  const saleMsg = h("p", { class: "msg", role: "status" });
  const saleRows = h("tbody");
  const saleProduct = h("select", { name: "productId", required: true, "data-role": "sale-product" });
  const state = { companies: [], products: [], sales: [], live: new Map() };

  const feed = new LiveFeed({
    onUpdate: ({ items }) => {
      for (const item of items) state.live.set(item.productId, item);
      paintProducts();
      paintSales();
    },
    onStatus: (t) => say(saleMsg, t, "warn"),
  });

  // ------------------------------------------------------------------ companies
  const loadCompanies = async () => {
    const page = await get("/api/v1/companies?size=100");
    state.companies = page.content;
    fill(
      companyRows,
      page.content.length
        ? page.content.map((c) =>
            h(
              "tr",
              { "data-company": c.companyId },
              h("td", {}, c.brandName),
              h("td", {}, String(c.businessRegistrationNumber)),
              h("td", {}, c.companyEmail),
              h("td", {}, badge(c.status)),
              h(
                "td",
                {},
                staff && (c.status === "REQUESTED" || c.status === "PENDING")
                  ? ["APPROVED", "REJECTED"].map((to) =>
                      h(
                        "button",
                        {
                          type: "button",
                          class: to === "APPROVED" ? "" : "secondary",
                          onclick: async () => {
                            try {
                              await patch(`/api/v1/companies/${c.companyId}/status`, { status: to });
                              say(companyMsg, `${c.brandName} is ${to.toLowerCase()}.`, "ok");
                            } catch (err) {
                              say(companyMsg, errorText(err), "error");
                            }
                            await loadCompanies();
                          },
                        },
                        to === "APPROVED" ? "Approve" : "Reject",
                      ),
                    )
                  : null,
              ),
            ),
          )
        : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No company yet: register one below.")),
    );
    const approved = page.content.filter((c) => c.status === "APPROVED");
    const current = companyPick.value;
    fill(
      companyPick,
      approved.length
        ? approved.map((c) => h("option", { value: c.companyId }, c.brandName))
        : h("option", { value: "" }, "No approved company yet"),
    );
    if (approved.some((c) => c.companyId === current)) companyPick.value = current;
    await loadProducts();
  };

  const companyForm = h(
    "form",
    { "data-role": "company-form" },
    h(
      "div",
      { class: "form-grid" },
      field("Business registration number (10 digits)", { name: "brn", inputmode: "numeric", required: true, pattern: "\\d{10}" }),
      field("Phone number (digits)", { name: "phone", inputmode: "numeric", required: true, pattern: "\\d{1,15}" }),
      field("Brand name", { name: "brandName", required: true, maxlength: 100 }),
      field("Company email", { name: "companyEmail", type: "email", required: true }),
    ),
    h("div", {}, h("button", { type: "submit" }, "Register the company")),
    h("p", { class: "msg", role: "alert" }),
  );
  onSubmit(
    companyForm,
    async (v) => {
      await post("/api/v1/companies", {
        businessRegistrationNumber: Number(v.brn),
        companyPhoneNumber: Number(v.phone),
        brandName: v.brandName.trim(),
        companyEmail: v.companyEmail.trim(),
      });
      await loadCompanies();
      return "Registered. A manager approves it before you can add products.";
    },
    { reset: true },
  );

  // ------------------------------------------------------------------- products
  const paintProducts = () => {
    fill(
      productRows,
      state.products.length
        ? state.products.map((p) => {
            const live = state.live.get(p.productId);
            return h(
              "tr",
              { "data-product": p.productId },
              h("td", {}, p.name),
              h("td", {}, label(p.category)),
              h("td", { class: "num" }, money(live ? live.price : p.price)),
              h("td", { class: "num", "data-role": "available" }, num(live ? live.available : p.quantity)),
              h("td", {}, badge(p.status)),
            );
          })
        : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No product in this company yet.")),
    );
  };

  const loadProducts = async () => {
    const companyId = companyPick.value;
    state.products = companyId ? (await get(`/api/v1/products${qs({ companyId, size: 100 })}`)).content : [];
    paintProducts();
    fill(
      saleProduct,
      state.products.length
        ? state.products.map((p) => h("option", { value: p.productId }, `${p.name} (${money(p.price)}, ${num(p.quantity)} in stock)`))
        : h("option", { value: "" }, "Add a product first"),
    );
    await loadSales();
  };
  companyPick.addEventListener("change", () => loadProducts().catch((err) => say(productMsg, errorText(err), "error")));

  const productForm = h(
    "form",
    { "data-role": "product-form" },
    h(
      "div",
      { class: "form-grid" },
      field("Name", { name: "name", required: true, maxlength: 255 }),
      field("Price (won)", { name: "price", type: "number", min: 1, required: true }),
      field("Stock (units)", { name: "quantity", type: "number", min: 1, required: true }),
      select("Category", "category", CATEGORIES.map((c) => [c, label(c)])),
      field("Thumbnail image URL", { name: "thumbImg", type: "url", required: true, placeholder: "https://…" }),
    ),
    field("Description", { tag: "textarea", name: "description", maxlength: 5000 }),
    field("Detail image URLs (one per line)", { tag: "textarea", name: "detailImgs" }),
    h("div", {}, h("button", { type: "submit" }, "Add the product")),
    h("p", { class: "msg", role: "alert" }),
  );
  onSubmit(
    productForm,
    async (v) => {
      if (!companyPick.value) throw new Error("Choose an approved company first.");
      await post("/api/v1/products", {
        name: v.name.trim(),
        price: Number(v.price),
        quantity: Number(v.quantity),
        category: v.category,
        companyId: companyPick.value,
        description: v.description.trim() || null,
        thumbImg: v.thumbImg.trim(),
        detailImgs: v.detailImgs.split("\n").map((s) => s.trim()).filter(Boolean),
      });
      await loadProducts();
      return "Product added.";
    },
    { reset: true },
  );

  // ----------------------------------------------------------------- time sales
  const paintSales = () => {
    const names = new Map(state.products.map((p) => [p.productId, p.name]));
    fill(
      saleRows,
      state.sales.length
        ? state.sales.map((s) => {
            const live = state.live.get(s.productId)?.sale;
            const held = live && live.promotionId === s.promotionId;
            const remaining = held ? live.remaining : s.remaining;
            const phase = held ? live.phase : s.status;
            const taken = s.quantity - remaining;
            const split = held ? `: ${num(live.sold)} paid, ${num(live.reserved)} awaiting payment` : "";
            return h(
              "tr",
              { "data-promotion": s.promotionId },
              h("td", {}, names.get(s.productId) || s.productId),
              h("td", {}, `${when(s.start)} – ${when(s.end)}`),
              h("td", { class: "num" }, `${money(s.discountPrice)} (-${s.discountRate}%)`),
              h("td", {}, badge(phase)),
              h(
                "td",
                { "data-role": "sell-through" },
                `${num(taken)} of ${num(s.quantity)} taken (${s.quantity ? Math.round((taken / s.quantity) * 100) : 0}%)${split}`,
                h("br"),
                h("meter", { min: 0, max: s.quantity, value: taken, "aria-hidden": "true" }),
              ),
            );
          })
        : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "No time sale for these products yet.")),
    );
  };

  const loadSales = async () => {
    const ids = state.products.map((p) => p.productId);
    state.sales = ids.length ? (await get(`/api/v1/promotions${qs({ productIds: ids.slice(0, 100), size: 100, sort: "start,desc" })}`)).content : [];
    paintSales();
    if (ids.length) feed.watch({ productIds: ids });
    else feed.close();
  };

  const now = Date.now();
  const saleForm = h(
    "form",
    { "data-role": "sale-form" },
    h(
      "div",
      { class: "form-grid" },
      h("label", {}, "Product", saleProduct),
      field("Starts", { name: "start", type: "datetime-local", step: 1, required: true, value: localInput(now + 10 * 60_000) }),
      field("Ends", { name: "end", type: "datetime-local", step: 1, required: true, value: localInput(now + 70 * 60_000) }),
      field("Sale price (won)", { name: "discountPrice", type: "number", min: 1, required: true }),
      field("Units on sale", { name: "quantity", type: "number", min: 1, required: true }),
      field("Most per shopper (optional)", { name: "perUserLimit", type: "number", min: 1 }),
    ),
    h("p", { class: "muted" }, `Times are in your zone (${Intl.DateTimeFormat().resolvedOptions().timeZone}); the sale opens at the exact instant.`),
    h("div", {}, h("button", { type: "submit" }, "Create the time sale")),
    h("p", { class: "msg", role: "alert" }),
  );
  onSubmit(saleForm, async (v) => {
    const start = new Date(v.start);
    const end = new Date(v.end);
    if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) throw new Error("Give a start and an end.");
    await post("/api/v1/promotions", {
      productId: v.productId,
      start: start.toISOString(),
      end: end.toISOString(),
      discountPrice: Number(v.discountPrice),
      quantity: Number(v.quantity),
      perUserLimit: v.perUserLimit ? Number(v.perUserLimit) : null,
    });
    await loadSales();
    return "Time sale created.";
  });

  const table = (heads, body) =>
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))), body));

  fill(
    main,
    h("h1", {}, "Seller pages"),
    h("section", { id: "companies", "aria-labelledby": "h-companies" },
      h("h2", { id: "h-companies" }, staff ? "Companies (all)" : "My companies"),
      companyMsg,
      table(["Brand", "Registration no.", "Email", "Status", ""], companyRows),
      h("details", {}, h("summary", {}, "Register a company"), companyForm),
    ),
    h("section", { id: "products", "aria-labelledby": "h-products" },
      h("h2", { id: "h-products" }, "Products"),
      h("label", { class: "narrow" }, "Company", companyPick),
      productMsg,
      table(["Name", "Category", "Price", "Available", "Status"], productRows),
      h("details", {}, h("summary", {}, "Add a product"), productForm),
    ),
    h("section", { id: "sales", "aria-labelledby": "h-sales" },
      h("h2", { id: "h-sales" }, "Time sales"),
      saleMsg,
      table(["Product", "Window", "Sale price", "Status", "Sell-through (live)"], saleRows),
      h("details", {}, h("summary", {}, "Create a time sale"), saleForm),
    ),
  );
  await loadCompanies();
  return () => feed.close();
}

startPanel({ roles: ["SELLER", "MANAGER", "MASTER"], who: "sellers and managers", render: sellerPage });
