//! The pages in a real headless Chromium, through WebDriver, against a server started in-process
//! (`spawn_app()` of the API tests). Ignored in plain `cargo test` (they need `chromium` and
//! `chromium-driver`); CI runs them with `--include-ignored`, where a missing browser fails.
//! One browser at a time (the tests take a lock): two cores do not run two Chromiums well.
//!
//! Every test ends with a screenshot under `target/screenshots/` and checks the console holds
//! no error.

#[path = "../api/helpers.rs"]
mod helpers;

mod browser;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use hotdeal::domain::clock::SystemClock;
use hotdeal::http::auth::Role;
use serde_json::{Value, json};

use browser::Browser;
use helpers::TestApp;

const PASSWORD: &str = "Secret12!";

static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh browser, holding the one-browser lock; `None` when Chromium is missing outside CI.
async fn open() -> Option<(Browser, tokio::sync::MutexGuard<'static, ()>)> {
    let (chromium, driver) = browser::programs()?;
    let one = ONE_BROWSER_AT_A_TIME.lock().await;
    Some((Browser::start(&chromium, &driver).await, one))
}

/// End a test: a screenshot named `name`, the console check (when the test passed), the
/// browser closed whatever happened, then the test's panic (if any) goes on.
async fn finish(b: Browser, name: &str, outcome: std::thread::Result<()>) {
    let shot = b.screenshot(name).await;
    eprintln!("screenshot: {}", shot.display());
    let errors = if outcome.is_ok() {
        b.console_errors().await
    } else {
        Vec::new()
    };
    b.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn id_of(res: &helpers::TestResponse, field: &str) -> String {
    res.data()[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field}: {:?}", res.body))
        .to_string()
}

/// An approved company with products (as a MASTER); the products' ids.
async fn products(app: &TestApp, list: &[(&str, i64, i64)]) -> Vec<String> {
    let (_, master) = app.token(Role::Master);
    let res = app
        .post(
            "/api/v1/companies",
            &json!({"businessRegistrationNumber": 1234567890_i64, "companyPhoneNumber": 21234567,
                    "brandName": "Daily Deals", "companyEmail": "shop@example.com"}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let company = id_of(&res, "companyId");
    let res = app
        .request(
            reqwest::Method::PATCH,
            &format!("/api/v1/companies/{company}/status"),
            Some(&json!({"status": "APPROVED"})),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let image = app.url("/assets/img/product.svg");
    let mut ids = Vec::new();
    for (name, price, quantity) in list {
        let res = app
            .post(
                "/api/v1/products",
                &json!({"name": name, "price": price, "quantity": quantity, "category": "KITCHEN",
                        "companyId": company, "description": "A hot deal.", "thumbImg": image,
                        "detailImgs": [image]}),
                Some(&master),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        ids.push(id_of(&res, "productId"));
    }
    ids
}

/// A time sale of `product` over `[start_ms, end_ms)`.
async fn sale(
    app: &TestApp,
    product: &str,
    start_ms: i64,
    end_ms: i64,
    price: i64,
    quantity: i64,
) -> String {
    let (_, master) = app.token(Role::Master);
    let res = app
        .post(
            "/api/v1/promotions",
            &json!({"productId": product, "start": at(start_ms), "end": at(end_ms),
                    "discountPrice": price, "quantity": quantity, "perUserLimit": 2}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    id_of(&res, "promotionId")
}

/// The emailed code (the log mailer keeps it), once it was sent.
async fn code_for(app: &TestApp, email: &str) -> String {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(code) = app.state.accounts.last_code(email) {
                return code;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a code was sent")
}

/// A CUSTOMER account with a password, made through the API; its user id.
async fn customer(app: &TestApp, email: &str, nickname: &str) -> String {
    account(app, email, nickname, "CUSTOMER").await
}

/// An account of `role` (CUSTOMER or SELLER) with a password; its user id.
async fn account(app: &TestApp, email: &str, nickname: &str, role: &str) -> String {
    let res = app
        .post(
            "/api/v1/auth/email-verification",
            &json!({"email": email}),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let code = code_for(app, email).await;
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({"email": email, "verificationToken": code}),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let res = app
        .post(
            "/api/v1/auth/signup",
            &json!({"email": email, "password": PASSWORD, "nickname": nickname, "role": role}),
            None,
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    id_of(&res, "userId")
}

/// Another shopper buys `qty` of `product` through the API.
async fn api_buy(app: &TestApp, product: &str, qty: i64) -> Value {
    let (_, token) = app.token(Role::Customer);
    let res = app
        .post(
            "/api/v1/address",
            &json!({"zipNum": "04524", "city": "Seoul", "district": "Jung-gu", "streetName": "Sejong-daero",
                    "streetNum": "110", "detailAddr": "3F"}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let address = id_of(&res, "addressId");
    let res = app
        .post(
            "/api/v1/orders",
            &json!({"items": [{"productId": product, "quantity": qty}], "addressId": address}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.body
}

/// Add an address in the checkout's address form.
async fn fill_address(b: &Browser) {
    b.find("[data-role=address-form]").await;
    for (field, value) in [
        ("zipNum", "06236"),
        ("city", "Seoul"),
        ("district", "Gangnam-gu"),
        ("streetName", "Teheran-ro"),
        ("streetNum", "152"),
        ("detailAddr", "12F"),
    ] {
        b.fill(
            &format!("[data-role=address-form] input[name={field}]"),
            value,
        )
        .await;
    }
    b.click("[data-role=address-form] button[type=submit]")
        .await;
}

async fn log_in(b: &Browser, email: &str) {
    b.fill("[data-role=login-form] input[name=email]", email)
        .await;
    b.fill("[data-role=login-form] input[name=password]", PASSWORD)
        .await;
    b.click("[data-role=login-form] button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; CI runs it"]
async fn a_shopper_signs_up_waits_for_the_sale_buys_and_pays() {
    let app = spawn().await;
    let ids = products(
        &app,
        &[("Cast-iron pan", 40_000, 50), ("Chef's knife", 60_000, 20)],
    )
    .await;
    let (pan, knife) = (ids[0].clone(), ids[1].clone());
    let now = app.state.now_ms();
    // Another sale later today, so the page shows an upcoming countdown too.
    sale(&app, &knife, now + 3_600_000, now + 7_200_000, 45_000, 10).await;
    app.open_campaign(500).await;
    let base = app.address.clone();
    let Some((b, _one)) = open().await else {
        return;
    };
    let app = &app;
    let outcome = AssertUnwindSafe(async {
        let b = &b;
        // Sign up with the emailed code.
        b.goto(&format!("{base}/#/signup")).await;
        let email = "shopper@example.com";
        b.fill("[data-role=signup-email] input[name=email]", email)
            .await;
        b.click("[data-role=signup-email] button").await;
        let code = code_for(app, email).await;
        b.fill("[data-role=signup-code] input[name=code]", &code)
            .await;
        b.click("[data-role=signup-code] button").await;
        b.fill(
            "[data-role=signup-account] input[name=nickname]",
            "shopper1",
        )
        .await;
        b.fill("[data-role=signup-account] input[name=password]", PASSWORD)
            .await;
        b.click("[data-role=signup-account] button[type=submit]")
            .await;
        b.until_text("[data-role=who]", "the shopper is logged in", |t| {
            t == email
        })
        .await;

        // A sale that starts in a few seconds.
        let start = app.state.now_ms() + 6_000;
        let promotion = sale(app, &pan, start, start + 3_600_000, 30_000, 10).await;
        b.goto(&format!("{base}/#/")).await;
        b.client.refresh().await.expect("reloads");
        let card = format!("[data-promotion='{promotion}']");
        b.until_text(
            &format!("{card} [data-role=countdown]"),
            "the countdown runs",
            |t| t.starts_with("Starts in"),
        )
        .await;
        assert!(
            !b.enabled(&format!("{card} [data-role=buy]")).await,
            "buying before the start"
        );
        assert_eq!(
            b.text(&format!("{card} [data-role=stock]")).await,
            "10 of 10 left"
        );

        // The countdown reaches zero: the sale opens.
        b.until("the buy button opens", || async {
            b.enabled(&format!("{card} [data-role=buy]")).await
        })
        .await;
        assert!(
            app.state.now_ms() >= start - 500,
            "the page opened the sale early"
        );
        b.until_text(
            &format!("{card} [data-role=countdown]"),
            "the end counts down",
            |t| t.starts_with("Ends in"),
        )
        .await;

        // The counter drops while someone else buys through the API.
        api_buy(app, &pan, 2).await;
        b.until_text(
            &format!("{card} [data-role=stock]"),
            "the stock drops to 8",
            |t| t == "8 of 10 left",
        )
        .await;

        // Buy one: checkout, a new address, place the order, pay with the fake provider.
        b.click(&format!("{card} [data-role=buy]")).await;
        fill_address(b).await;
        b.find("input[name=addressId]:checked").await;
        b.click("[data-role=place-order]").await;
        b.until_text("[data-role=order-status]", "the order is paid", |t| {
            t == "COMPLETE"
        })
        .await;
        assert_eq!(b.text("[data-role=pay-amount]").await, "30,000 won");
        b.fill(
            "[data-role=review-form] input[name=review]",
            "Heavy, heats evenly.",
        )
        .await;
        b.click("[data-role=review-form] button[type=submit]").await;
        b.until_text(
            "[data-role=review-form] .msg",
            "the review is posted",
            |t| t == "Thank you for your review.",
        )
        .await;

        // Back on the deals page: one more sold.
        b.goto(&format!("{base}/#/")).await;
        b.until_text(
            &format!("{card} [data-role=stock]"),
            "the stock shows 7",
            |t| t == "7 of 10 left",
        )
        .await;
        let later = format!("[data-product='{knife}'][data-promotion] [data-role=countdown]");
        b.until_text(&later, "the later sale counts down", |t| {
            t.starts_with("Starts in")
        })
        .await;
        // A phone-sized screen: one column, nothing wider than the screen.
        b.client.set_window_size(390, 844).await.expect("resizes");
        b.until("the page fits a phone screen", || async {
            b.script("return document.documentElement.scrollWidth <= window.innerWidth")
                .await
                .as_bool()
                .unwrap_or(false)
        })
        .await;
        b.screenshot("storefront-phone").await;
        b.client.set_window_size(1280, 1000).await.expect("resizes");

        // A refund gives the unit back to the sale.
        b.goto(&format!("{base}/#/orders")).await;
        b.click("li[data-order] [data-role=refund]").await;
        b.until_text("li[data-order]", "the order is refunded", |t| {
            t.contains("REFUND")
        })
        .await;
        b.goto(&format!("{base}/#/")).await;
        b.until_text(
            &format!("{card} [data-role=stock]"),
            "the stock shows 8",
            |t| t == "8 of 10 left",
        )
        .await;
    })
    .catch_unwind()
    .await;
    finish(b, "storefront-sale", outcome).await;
    let orders = app.get("/api/v1/promotions?status=IN_PROGRESS", None).await;
    assert_eq!(
        orders.data()["content"][0]["remaining"],
        8,
        "{:?}",
        orders.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; CI runs it"]
async fn coupon_claims_show_issued_already_yours_and_sold_out() {
    let app = spawn().await;
    let plenty = app.open_campaign(100).await;
    let last_one = app.open_campaign(1).await;
    let kettle = products(&app, &[("Kettle", 25_000, 10)]).await.remove(0);
    let email = "claimer@example.com";
    customer(&app, email, "claimer1").await;
    let base = app.address.clone();
    let Some((b, _one)) = open().await else {
        return;
    };
    let app = &app;
    let outcome = AssertUnwindSafe(async {
        let b = &b;
        b.goto(&format!("{base}/#/login")).await;
        log_in(b, email).await;
        b.until_text("[data-role=who]", "the shopper is logged in", |t| {
            t == email
        })
        .await;
        let card = format!("[data-campaign='{plenty}']");
        b.until_text(
            &format!("{card} [data-role=remaining]"),
            "the campaign is listed",
            |t| t == "100 of 100 left",
        )
        .await;
        b.click(&format!("{card} [data-role=claim]")).await;
        b.until_text(
            &format!("{card} [data-role=outcome]"),
            "the coupon is issued",
            |t| t.starts_with("Issued"),
        )
        .await;
        b.until_text(
            &format!("{card} [data-role=remaining]"),
            "the count drops",
            |t| t == "99 of 100 left",
        )
        .await;
        // The second claim from the keyboard: the button takes Enter.
        b.press_enter(&format!("{card} [data-role=claim]")).await;
        b.until_text(
            &format!("{card} [data-role=outcome]"),
            "a second claim is refused",
            |t| t.starts_with("Already yours"),
        )
        .await;

        // Someone else takes the last coupon of the other campaign.
        let other = format!("[data-campaign='{last_one}']");
        b.until_text(
            &format!("{other} [data-role=remaining]"),
            "the last coupon is listed",
            |t| t == "1 of 1 left",
        )
        .await;
        let (_, token) = app.token(Role::Customer);
        let res = app
            .post(
                "/api/v1/coupons/issue",
                &json!({"couponInfoId": last_one}),
                Some(&token),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        b.until_text(
            &format!("{other} [data-role=remaining]"),
            "it shows sold out",
            |t| t.starts_with("Sold out"),
        )
        .await;
        assert!(!b.enabled(&format!("{other} [data-role=claim]")).await);

        // My coupons lists the one issued.
        b.goto(&format!("{base}/#/coupons")).await;
        b.find("[data-role=my-coupons] tbody tr").await;
        let rows = b
            .script("return document.querySelectorAll('[data-role=my-coupons] tbody tr').length")
            .await;
        assert_eq!(rows, json!(1));

        // Spend it: a product in the basket, ordered with the coupon.
        b.goto(&format!("{base}/#/")).await;
        let product = format!("#products [data-product='{kettle}']");
        b.click(&format!("{product} .actions button.secondary"))
            .await;
        b.until_text(
            &format!("{product} [data-role=outcome]"),
            "it is in the basket",
            |t| t == "Added to your basket.",
        )
        .await;
        b.goto(&format!("{base}/#/basket")).await;
        b.find("li[data-basket]").await;
        b.click("[data-role=order-basket]").await;
        fill_address(b).await;
        b.find("input[name=addressId]:checked").await;
        b.click("[data-role=coupon] option:nth-child(2)").await;
        b.until_text("[data-role=estimate]", "the coupon is counted", |t| {
            t.contains("24,000 won")
        })
        .await;
        b.click("[data-role=place-order]").await;
        b.until_text("[data-role=order-status]", "the order is paid", |t| {
            t == "COMPLETE"
        })
        .await;
        assert_eq!(b.text("[data-role=pay-amount]").await, "24,000 won");
    })
    .catch_unwind()
    .await;
    finish(b, "storefront-coupons", outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; CI runs it"]
async fn the_console_shows_the_claims_of_a_short_load_run() {
    let app = helpers::spawn_app_with(
        |c| {
            c.admin_email = Some("ops@example.com".into());
            c.admin_password = Some(PASSWORD.into());
        },
        Arc::new(SystemClock),
    )
    .await;
    let campaign = app.open_campaign(150).await;
    let base = app.address.clone();
    let Some((b, _one)) = open().await else {
        return;
    };
    let app = &app;
    let outcome = AssertUnwindSafe(async {
        let b = &b;
        b.goto(&format!("{base}/console")).await;
        log_in(b, "ops@example.com").await;
        b.find("#live[data-samples]").await;
        let samples = || async {
            b.script("return Number(document.querySelector('#live').dataset.samples)")
                .await
                .as_i64()
                .unwrap_or(0)
        };
        b.until("the console has a baseline", || async {
            samples().await >= 2
        })
        .await;

        let (issued_before, sold_out_before) = (
            outcome_count(b, "issued").await,
            outcome_count(b, "sold_out").await,
        );

        // The load run: 200 shoppers race for 150 coupons.
        let campaign = &campaign;
        let tokens: Vec<String> = (0..200).map(|_| app.token(Role::Customer).1).collect();
        let answers: Vec<u16> = futures::stream::iter(tokens)
            .map(|t| async move {
                app.post(
                    "/api/v1/coupons/issue",
                    &json!({"couponInfoId": campaign}),
                    Some(&t),
                )
                .await
                .status
            })
            .buffer_unordered(16)
            .collect()
            .await;
        assert_eq!(answers.iter().filter(|s| **s == 201).count(), 150);
        assert_eq!(answers.iter().filter(|s| **s == 409).count(), 50);

        b.until("the console counts the issued coupons", || async {
            outcome_count(b, "issued").await >= issued_before + 150
        })
        .await;
        b.until("the console counts the sold-out answers", || async {
            outcome_count(b, "sold_out").await >= sold_out_before + 50
        })
        .await;
        b.until("the claims chart shows the burst", || async {
            b.script(
                "return Number(document.querySelector('[data-metric=claims]').dataset.peak || 0)",
            )
            .await
            .as_f64()
            .unwrap_or(0.0)
                > 0.0
        })
        .await;
        b.until_text(
            "[data-role=engine]",
            "the engine view shows the durability",
            |t| t.contains("sync"),
        )
        .await;

        // A snapshot taken from the page is listed.
        b.click("[data-role=take-snapshot]").await;
        b.find("[data-role=snapshots] tr[data-snapshot]").await;
        b.click("[data-role=run-audit]").await;
        b.until_text("[data-role=audit]", "the audit ran", |t| {
            t.contains("campaigns")
        })
        .await;
        b.client
            .execute("window.scrollTo(0, 0)", vec![])
            .await
            .expect("scrolls");
    })
    .catch_unwind()
    .await;
    finish(b, "console", outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; CI runs it"]
async fn swagger_ui_lists_the_operations_offline() {
    let app = spawn().await;
    let base = app.address.clone();
    let Some((b, _one)) = open().await else {
        return;
    };
    let outcome = AssertUnwindSafe(async {
        let b = &b;
            b.goto(&format!("{base}/swagger-ui")).await;
            b.find(".opblock").await;
            let paths = b
                .script("return [...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent)")
                .await;
            let paths: Vec<String> = paths
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap_or("").replace('\u{200b}', ""))
                .collect();
            assert!(paths.len() >= 50, "{paths:?}");
            for path in ["/api/v1/coupons/issue", "/api/v1/orders", "/api/v1/live"] {
                assert!(paths.iter().any(|p| p == path), "{path} not listed: {paths:?}");
            }
            // Everything the page loaded came from this server.
            let loaded = b
                .script("return performance.getEntriesByType('resource').map(e => e.name)")
                .await;
            for url in loaded.as_array().unwrap() {
                let url = url.as_str().unwrap_or("");
                assert!(url.starts_with(&base), "loaded from elsewhere: {url}");
            }
    })
    .catch_unwind()
    .await;
    finish(b, "swagger-ui", outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; CI runs it"]
async fn tokens_refresh_unnoticed_and_an_expired_session_logs_in_and_comes_back() {
    let app = helpers::spawn_app_with(|c| c.access_token_ttl_s = 1, Arc::new(SystemClock)).await;
    let email = "returner@example.com";
    let user = customer(&app, email, "returner").await;
    let base = app.address.clone();
    let Some((b, _one)) = open().await else {
        return;
    };
    let app = &app;
    let outcome = AssertUnwindSafe(async {
        let b = &b;
        let token = || async {
            b.script("return JSON.parse(localStorage.getItem('hotdeal.session') || 'null')?.accessToken || ''")
                .await
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        let expired = || async {
            b.script(
                "const s = JSON.parse(localStorage.getItem('hotdeal.session') || 'null'); \
                 if (!s) return true; \
                 const c = JSON.parse(atob(s.accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))); \
                 return c.exp * 1000 < Date.now();",
            )
            .await
            .as_bool()
            .unwrap_or(false)
        };

        // A refused login keeps what was typed and shows the API's message.
        b.goto(&format!("{base}/#/login?next=%23%2Forders")).await;
        b.fill("[data-role=login-form] input[name=email]", email).await;
        b.fill("[data-role=login-form] input[name=password]", "Wrong123!").await;
        b.click("[data-role=login-form] button[type=submit]").await;
        b.until_text("[data-role=login-form] .msg", "the refusal is shown", |t| {
            t.contains("WRONG_EMAIL_OR_PASSWORD")
        })
        .await;
        let typed = b
            .script("return document.querySelector('[data-role=login-form] input[name=email]').value")
            .await;
        assert_eq!(typed, json!(email));

        log_in(b, email).await;
        b.until_text("main h1", "the orders page opens", |t| t == "My orders").await;
        let first = token().await;

        // The access token expires: the next page refreshes it without a word.
        b.until("the access token expired", || async { expired().await }).await;
        b.goto(&format!("{base}/#/coupons")).await;
        b.until_text("main h1", "my coupons open", |t| t == "My coupons").await;
        b.until("the token was refreshed", || async {
            let now = token().await;
            !now.is_empty() && now != first
        })
        .await;
        assert_eq!(b.text("#banner").await, "");

        // The session ends on the server (logged out elsewhere): log in again, come back.
        let user = hotdeal::domain::ids::UserId(user.parse().unwrap());
        let res = app
            .post("/api/v1/auth/logout", &json!({}), Some(&app.token_for(user, Role::Customer)))
            .await;
        assert_eq!(res.status, 200, "{:?}", res.body);
        b.until("the access token expired again", || async { expired().await }).await;
        b.goto(&format!("{base}/#/addresses")).await;
        b.until_text("#banner", "the shopper is told", |t| t.contains("session has expired")).await;
        let hash = b.script("return location.hash").await;
        assert_eq!(hash, json!("#/login?next=%23%2Faddresses"));
        log_in(b, email).await;
        b.until_text("main h1", "back where the shopper was", |t| t == "Addresses").await;
    })
    .catch_unwind()
    .await;
    finish(b, "session", outcome).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver; CI runs it"]
async fn a_seller_registers_adds_a_product_and_watches_a_sale_sell() {
    let app = spawn().await;
    let email = "seller@example.com";
    account(&app, email, "seller1", "SELLER").await;
    let base = app.address.clone();
    let Some((b, _one)) = open().await else {
        return;
    };
    let app = &app;
    let outcome = AssertUnwindSafe(async {
        let b = &b;
        b.goto(&format!("{base}/seller")).await;
        log_in(b, email).await;
        b.until_text("main h1", "the seller pages open", |t| t == "Seller pages").await;

        // Register a company; a MASTER approves it.
        b.click("#companies details summary").await;
        b.fill("[data-role=company-form] input[name=brn]", "2208162517").await;
        b.fill("[data-role=company-form] input[name=phone]", "0212345678").await;
        b.fill("[data-role=company-form] input[name=brandName]", "Kitchen Co").await;
        b.fill("[data-role=company-form] input[name=companyEmail]", "kitchen@example.com").await;
        b.click("[data-role=company-form] button[type=submit]").await;
        let company = b.attr("tr[data-company]", "data-company").await;
        b.until_text(&format!("tr[data-company='{company}']"), "the company is requested", |t| {
            t.contains("REQUESTED")
        })
        .await;
        let (_, master) = app.token(Role::Master);
        let res = app
            .request(
                reqwest::Method::PATCH,
                &format!("/api/v1/companies/{company}/status"),
                Some(&json!({"status": "APPROVED"})),
                Some(&master),
            )
            .await;
        assert_eq!(res.status, 200, "{:?}", res.body);
        b.client.refresh().await.expect("reloads");
        b.until_text(&format!("tr[data-company='{company}']"), "the company is approved", |t| {
            t.contains("APPROVED")
        })
        .await;

        // Add a product with image URLs.
        b.click("#products details summary").await;
        let image = app.url("/assets/img/product.svg");
        b.fill("[data-role=product-form] input[name=name]", "Stock pot").await;
        b.fill("[data-role=product-form] input[name=price]", "20000").await;
        b.fill("[data-role=product-form] input[name=quantity]", "30").await;
        b.fill("[data-role=product-form] input[name=thumbImg]", &image).await;
        b.fill("[data-role=product-form] textarea[name=detailImgs]", &image).await;
        b.click("[data-role=product-form] button[type=submit]").await;
        let product = b.attr("tr[data-product]", "data-product").await;
        b.until_text(&format!("tr[data-product='{product}'] [data-role=available]"), "the stock shows", |t| t == "30")
            .await;

        // A time sale starting in a few seconds.
        b.click("#sales details summary").await;
        b.script(
            "const at = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 19); \
             const f = document.querySelector('[data-role=sale-form]'); \
             f.start.value = at(Date.now() + 3000); f.end.value = at(Date.now() + 3600000); return 1",
        )
        .await;
        b.fill("[data-role=sale-form] input[name=discountPrice]", "15000").await;
        b.fill("[data-role=sale-form] input[name=quantity]", "5").await;
        b.click("[data-role=sale-form] button[type=submit]").await;
        b.until_text("[data-role=sale-form] .msg", "the sale is created", |t| t == "Time sale created.").await;
        b.until_text("tr[data-promotion] [data-role=sell-through]", "nothing sold yet", |t| {
            t.starts_with("0 of 5 taken")
        })
        .await;

        // Shoppers buy once it opens: the sell-through moves live.
        let (_, master) = app.token(Role::Master);
        b.until("the sale opens", || async {
            let res = app.get(&format!("/api/v1/promotions?productIds={product}"), Some(&master)).await;
            res.data()["content"][0]["status"] == "IN_PROGRESS"
        })
        .await;
        api_buy(app, &product, 2).await;
        b.until_text("tr[data-promotion] [data-role=sell-through]", "two are sold", |t| {
            t == "2 of 5 taken (40%): 0 paid, 2 awaiting payment"
        })
        .await;
    })
    .catch_unwind()
    .await;
    finish(b, "seller", outcome).await;
}

/// A claim outcome's total in the console.
async fn outcome_count(b: &Browser, outcome: &str) -> i64 {
    let t = b.text(&format!("[data-outcome={outcome}]")).await;
    t.replace(',', "").parse::<i64>().unwrap_or(0)
}

async fn spawn() -> TestApp {
    helpers::spawn_app().await
}
