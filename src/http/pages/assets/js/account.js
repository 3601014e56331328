// Storefront account views: log in, sign up with the emailed code, and addresses.

import { get, post, patch, del, login } from "./api.js";
import { session } from "./session.js";
import { h, fill, say, field, onSubmit, errorText } from "./ui.js";

/** Where to go after logging in: the `next` route when it is one of ours. */
function nextOf(params) {
  const next = params.get("next") || "#/";
  return next.startsWith("#/") && !next.startsWith("#/login") && !next.startsWith("#/signup") ? next : "#/";
}

export function loginView({ main, params, app }) {
  const next = nextOf(params);
  const form = h(
    "form",
    { class: "narrow", "aria-labelledby": "h-login", "data-role": "login-form" },
    field("Email", { name: "email", type: "email", autocomplete: "username", required: true }),
    field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
    h("button", { type: "submit" }, "Log in"),
    h("p", { class: "msg", role: "alert" }),
  );
  onSubmit(form, async ({ email, password }) => {
    await login(email.trim(), password);
    app.banner("");
    app.navigate(next);
  });
  fill(
    main,
    h("h1", { id: "h-login" }, "Log in"),
    session.isLoggedIn() ? h("p", { class: "muted" }, `You are logged in as ${session.user.email}.`) : null,
    form,
    h("p", {}, "New here? ", h("a", { href: `#/signup?next=${encodeURIComponent(next)}` }, "Create an account"), "."),
  );
  form.querySelector("input").focus();
}

export function signupView({ main, params, app }) {
  const next = nextOf(params);
  const role = (params.get("role") || "CUSTOMER").toUpperCase() === "SELLER" ? "SELLER" : "CUSTOMER";
  const email = h("input", { name: "email", type: "email", autocomplete: "email", required: true, "data-role": "email" });
  const code = h("input", { name: "code", inputmode: "text", autocomplete: "one-time-code", required: true, "data-role": "code" });
  const step1 = h(
    "form",
    { class: "narrow", "data-role": "signup-email" },
    h("label", {}, "Email", email),
    h("button", { type: "submit" }, "Send me a code"),
    h("p", { class: "msg", role: "alert" }),
  );
  const step2Set = h(
    "fieldset",
    { disabled: true },
    h("legend", {}, "2. The code we emailed you"),
    h("label", {}, "Code", code),
    h("button", { type: "submit" }, "Verify"),
  );
  const step2 = h("form", { class: "narrow", "data-role": "signup-code" }, step2Set, h("p", { class: "msg", role: "alert" }));
  const step3Set = h(
    "fieldset",
    { disabled: true },
    h("legend", {}, "3. Your account"),
    field("Nickname (4 to 10 lowercase letters or digits)", {
      name: "nickname",
      autocomplete: "nickname",
      required: true,
      minlength: 4,
      maxlength: 10,
    }),
    field("Password (8 to 15 letters, digits or !@#$%^&*()_+-=)", {
      name: "password",
      type: "password",
      autocomplete: "new-password",
      required: true,
      minlength: 8,
      maxlength: 15,
    }),
    h(
      "fieldset",
      {},
      h("legend", {}, "I am"),
      h("label", { class: "check" }, h("input", { type: "radio", name: "role", value: "CUSTOMER", checked: role === "CUSTOMER" }), "a shopper"),
      h("label", { class: "check" }, h("input", { type: "radio", name: "role", value: "SELLER", checked: role === "SELLER" }), "a seller"),
    ),
    h("button", { type: "submit" }, "Create account"),
  );
  const step3 = h("form", { class: "narrow", "data-role": "signup-account" }, step3Set, h("p", { class: "msg", role: "alert" }));

  onSubmit(step1, async () => {
    await post("/api/v1/auth/email-verification", { email: email.value.trim() }, { auth: false });
    step2Set.disabled = false;
    code.focus();
    return `A code was sent to ${email.value.trim()}. It is valid for a few minutes.`;
  });
  onSubmit(step2, async () => {
    await post(
      "/api/v1/auth/email-verification/confirm",
      { email: email.value.trim(), verificationToken: code.value.trim() },
      { auth: false },
    );
    step3Set.disabled = false;
    step3.querySelector("input").focus();
    return "Email verified.";
  });
  onSubmit(step3, async (v) => {
    const address = email.value.trim();
    await post(
      "/api/v1/auth/signup",
      { email: address, password: v.password, nickname: v.nickname.trim(), role: v.role },
      { auth: false },
    );
    await login(address, v.password);
    if (v.role === "SELLER") {
      location.assign("/seller");
      return;
    }
    app.banner(`Welcome, ${v.nickname.trim()}!`, "", true);
    app.navigate(next);
  });
  fill(
    main,
    h("h1", {}, "Create an account"),
    h("p", { class: "muted" }, "1. Your email: we send you a code to check it is yours."),
    step1,
    step2,
    step3,
    h("p", {}, "Already have an account? ", h("a", { href: `#/login?next=${encodeURIComponent(next)}` }, "Log in"), "."),
  );
  email.focus();
}

const ADDRESS_FIELDS = [
  ["zipNum", "Postal code", "postal-code"],
  ["city", "City", "address-level1"],
  ["district", "District", "address-level2"],
  ["streetName", "Street", "address-line1"],
  ["streetNum", "Number", "address-line2"],
  ["detailAddr", "Details (floor, door)", "address-line3"],
];

/** A form that adds an address and calls `onSaved(addressId)`. */
export function addressForm(onSaved) {
  const form = h(
    "form",
    { "data-role": "address-form" },
    h("div", { class: "form-grid" }, ADDRESS_FIELDS.map(([name, label, ac]) => field(label, { name, autocomplete: ac, required: true, maxlength: 255 }))),
    h("div", {}, h("button", { type: "submit" }, "Save address")),
    h("p", { class: "msg", role: "alert" }),
  );
  onSubmit(
    form,
    async (v) => {
      const body = Object.fromEntries(ADDRESS_FIELDS.map(([name]) => [name, (v[name] || "").trim()]));
      const { addressId } = await post("/api/v1/address", body);
      await onSaved(addressId);
    },
    { reset: true },
  );
  return form;
}

/** One line for an address. */
export function addressText(a) {
  return `${a.streetName} ${a.streetNum}, ${a.detailAddr}, ${a.district}, ${a.city} ${a.zipNum}`;
}

/** The caller's addresses and the default one's id (null when none is set). */
export async function loadAddresses() {
  const [page, def] = await Promise.all([
    get("/api/v1/address?size=50"),
    get("/api/v1/address-default").catch((err) => {
      if (err.status === 404) return null;
      throw err;
    }),
  ]);
  return { list: page.content, defaultId: def ? def.addressId : null };
}

export async function addressesView({ main, app }) {
  if (app.requireLogin()) return;
  const list = h("ul", { class: "list", "data-role": "addresses" });
  const msg = h("p", { class: "msg", role: "status" });
  const refresh = async () => {
    try {
      const { list: rows, defaultId } = await loadAddresses();
      fill(
        list,
        rows.length
          ? rows.map((a) =>
              h(
                "li",
                { "data-address": a.addressId },
                h("span", { style: "flex:1" }, addressText(a), a.addressId === defaultId ? h("strong", {}, " (default)") : null),
                a.addressId === defaultId
                  ? null
                  : h("button", { type: "button", class: "secondary", onclick: () => act(() => patch(`/api/v1/address-default/${a.addressId}`), "Default address set.") }, "Make default"),
                h("button", { type: "button", class: "secondary", onclick: () => act(() => del(`/api/v1/address/${a.addressId}`), "Address deleted.") }, "Delete"),
              ),
            )
          : h("li", { class: "empty" }, "No address yet."),
      );
    } catch (err) {
      say(msg, errorText(err), "error");
    }
  };
  const act = async (fn, done) => {
    try {
      await fn();
      say(msg, done, "ok");
    } catch (err) {
      say(msg, errorText(err), "error");
    }
    await refresh();
  };
  fill(
    main,
    h("h1", {}, "Addresses"),
    msg,
    list,
    h("h2", {}, "Add an address"),
    addressForm(async () => {
      say(msg, "Address saved.", "ok");
      await refresh();
    }),
  );
  await refresh();
}
