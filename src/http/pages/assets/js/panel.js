// The shell of the seller pages and the operator console: the account corner, a login form
// for the roles the page is for, and coming back to the page after an expired session.

import { login, logout } from "./api.js";
import { session } from "./session.js";
import { h, fill, field, onSubmit } from "./ui.js";

/**
 * Show `render(main)` to a user with one of `roles` (it may return a cleanup function); a login
 * form to anyone else. `who` names the page's users in the refusal message.
 */
export function startPanel({ roles, who, render }) {
  const main = document.getElementById("main");
  const account = document.getElementById("account");
  const banner = document.getElementById("banner");
  let cleanup = null;

  const say = (text, kind = "") => {
    banner.hidden = !text;
    banner.textContent = text || "";
    banner.className = `banner ${kind}`.trim();
  };

  const stop = () => {
    if (cleanup) {
      try {
        cleanup();
      } catch {
        // Stopping a page must not stop the next.
      }
    }
    cleanup = null;
  };

  const paintAccount = () => {
    const user = session.user;
    fill(
      account,
      user
        ? [
            h("span", { class: "muted" }, `${user.email} (${user.role})`),
            h(
              "button",
              {
                type: "button",
                class: "secondary",
                onclick: async () => {
                  stop();
                  await logout();
                  show();
                },
              },
              "Log out",
            ),
          ]
        : null,
    );
  };

  const loginForm = () => {
    const form = h(
      "form",
      { class: "narrow", "data-role": "login-form" },
      field("Email", { name: "email", type: "email", autocomplete: "username", required: true }),
      field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
      h("button", { type: "submit" }, "Log in"),
      h("p", { class: "msg", role: "alert" }),
    );
    onSubmit(form, async ({ email, password }) => {
      await login(email.trim(), password);
      say("");
      show();
    });
    return form;
  };

  const show = async () => {
    stop();
    paintAccount();
    const user = session.user;
    if (!user) {
      fill(main, h("h1", {}, "Log in"), h("p", { class: "muted" }, `For ${who}.`), loginForm());
      main.querySelector("input").focus();
      return;
    }
    if (!roles.includes(user.role)) {
      fill(
        main,
        h("h1", {}, "Not for this account"),
        h("p", { class: "msg error", role: "alert" }, `This page is for ${who}; you are logged in as ${user.role}.`),
        loginForm(),
      );
      return;
    }
    try {
      const done = await render(main);
      cleanup = typeof done === "function" ? done : null;
    } catch (err) {
      fill(main, h("h1", {}, "Something went wrong"), h("p", { class: "msg error", role: "alert" }, err.message || String(err)));
    }
  };

  window.addEventListener("hotdeal:session-expired", () => {
    say("Your session has expired. Log in again to come back to this page.", "error");
    show();
  });
  session.onChange(paintAccount);
  show();
}
