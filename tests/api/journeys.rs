//! Whole shopper journeys through the HTTP API only: accounts, a seller's shop, a time sale, a
//! coupon, an order, a payment (the fake provider, or KakaoPay through a mock server) and a review.

use std::sync::Arc;
use std::time::Duration;

use hotdeal::client::SignUp;
use hotdeal::config::PaymentProviderKind;
use hotdeal::domain::clock::SystemClock;
use hotdeal::domain::ids::ItemId;
use hotdeal::http::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, spawn_app_with, spawn_app_with_clock};

const PASSWORD: &str = "Secret12!";

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// Verify a new email, sign up with `role`, log in; returns `(user id, bare access token)`.
async fn sign_up(app: &TestApp, role: &str) -> (String, String) {
    let email = format!("j{}@example.com", unique());
    let res = app
        .post(
            "/api/v1/auth/email-verification",
            &json!({ "email": email }),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let code = app
        .state
        .accounts
        .last_code(&email)
        .expect("the log mailer keeps the code");
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": code }),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let nickname = format!("n{}", unique());
    let res = app
        .client
        .sign_up(&SignUp {
            email: &email,
            password: PASSWORD,
            nickname: &nickname,
            role,
        })
        .await
        .unwrap();
    assert_eq!(res.status, 201, "{:?}", res.body);
    let id = res.data()["userId"].as_str().unwrap().to_string();
    let res = app.client.login(&email, PASSWORD).await.unwrap();
    assert_eq!(res.status, 200, "{:?}", res.body);
    let access = res.data()["accessToken"].as_str().unwrap();
    let access = access.strip_prefix("Bearer ").unwrap_or(access).to_string();
    (id, access)
}

/// A customer who signed up, logged in and added an address: `(token, address id)`.
async fn customer(app: &TestApp) -> (String, String) {
    let (_, token) = sign_up(app, "CUSTOMER").await;
    let res = app
        .post(
            "/api/v1/address",
            &json!({
                "zipNum": "06236", "city": "Seoul", "district": "Gangnam-gu",
                "streetName": "Teheran-ro", "streetNum": "152", "detailAddr": "8F"
            }),
            Some(&token),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let address = res.data()["addressId"].as_str().unwrap().to_string();
    (token, address)
}

/// A seller who signed up, registered a company a MASTER approved, and created a product
/// (`price`, `quantity`): `(seller token, product id)`.
async fn shop(app: &TestApp, price: i64, quantity: i64) -> (String, String) {
    let (_, seller) = sign_up(app, "SELLER").await;
    let brn = 1_000_000_000 + (uuid::Uuid::new_v4().as_u128() % 8_999_999_999) as i64;
    let res = app
        .post(
            "/api/v1/companies",
            &json!({
                "businessRegistrationNumber": brn, "companyPhoneNumber": 212345678,
                "brandName": "Journey Brand", "companyEmail": "shop@brand.co.kr"
            }),
            Some(&seller),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let company = res.data()["companyId"].as_str().unwrap().to_string();
    let (_, master) = app.token(Role::Master);
    let res = app
        .request(
            Method::PATCH,
            &format!("/api/v1/companies/{company}/status"),
            Some(&json!({"status": "APPROVED"})),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let res = app
        .post(
            "/api/v1/products",
            &json!({
                "name": "Journey Sneakers", "price": price, "quantity": quantity,
                "category": "FASHION", "companyId": company,
                "description": "limited run of red sneakers",
                "thumbImg": "https://cdn.example.com/thumb.png",
                "detailImgs": ["https://cdn.example.com/1.png"]
            }),
            Some(&seller),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let product = res.data()["productId"].as_str().unwrap().to_string();
    (seller, product)
}

/// Issue a coupon of `campaign` to the holder of `token`.
async fn get_coupon(app: &TestApp, campaign: &str, token: &str) -> String {
    let res = app.with_token(token).issue_coupon(campaign).await.unwrap();
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.data()["couponId"].as_str().unwrap().to_string()
}

async fn order(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post("/api/v1/orders", body, Some(token)).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.data().clone()
}

async fn order_status(app: &TestApp, token: &str, order: &str) -> String {
    let res = app
        .get(&format!("/api/v1/orders/{order}"), Some(token))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    res.data()["orderStatus"].as_str().unwrap().to_string()
}

async fn unused_coupons(app: &TestApp, token: &str) -> usize {
    let res = app.get("/api/v1/coupons?isUsed=false", Some(token)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    res.data().as_array().unwrap().len()
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn a_shopper_buys_a_time_sale_item_with_a_coupon_pays_and_reviews_it() {
    let t0 = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    let (app, clock) = spawn_app_with_clock(t0).await;
    let (shopper, address) = customer(&app).await;
    let (seller, product) = shop(&app, 10_000, 10).await;
    let res = app
        .post(
            "/api/v1/promotions",
            &json!({"productId": product, "start": at(t0 + 60_000), "end": at(t0 + 3_600_000),
                    "discountPrice": 7_000, "quantity": 3}),
            Some(&seller),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let promotion = res.data()["promotionId"].as_str().unwrap().to_string();
    clock.set(t0 + 60_000);
    let res = app
        .get(&format!("/api/v1/promotions/{promotion}"), None)
        .await;
    assert_eq!(res.data()["status"], "IN_PROGRESS", "{:?}", res.body);

    let campaign = app.open_campaign(10).await;
    let coupon = get_coupon(&app, &campaign, &shopper).await;
    let d = order(
        &app,
        &shopper,
        &json!({"items": [{"productId": product, "quantity": 1}], "addressId": address, "couponId": coupon}),
    )
    .await;
    assert_eq!(
        (
            d["totalAmount"].as_i64(),
            d["discountAmount"].as_i64(),
            d["payAmount"].as_i64()
        ),
        (Some(7_000), Some(1_000), Some(6_000))
    );
    let order_id = d["orderId"].as_str().unwrap().to_string();

    let ready = app
        .with_token(&shopper)
        .ready_payment(&order_id)
        .await
        .unwrap();
    assert_eq!(ready.status, 201, "{:?}", ready.body);
    let url = ready.data()["nextRedirectPcUrl"].as_str().unwrap();
    let page = app.client.http().get(url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(order_status(&app, &shopper, &order_id).await, "COMPLETE");
    let sale = app
        .get(&format!("/api/v1/promotions/{promotion}"), None)
        .await;
    assert_eq!(sale.data()["remaining"], 2, "{:?}", sale.body);

    let res = app
        .post(
            "/api/v1/reviews",
            &json!({"orderId": order_id, "productId": product, "rating": 4.5,
                    "review": "great shoes", "reviewImgs": []}),
            Some(&shopper),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let p = app.get(&format!("/api/v1/products/{product}"), None).await;
    assert_eq!(
        (p.data()["rating"].as_f64(), p.data()["reviewCnt"].as_i64()),
        (Some(4.5), Some(1)),
        "{:?}",
        p.body
    );
}

#[tokio::test]
async fn a_cancelled_order_gives_the_stock_and_the_coupon_back() {
    let (app, _clock) = spawn_app_with_clock(chrono::Utc::now().timestamp_millis()).await;
    let (shopper, address) = customer(&app).await;
    let (_, product) = shop(&app, 10_000, 5).await;
    let item = ItemId(product.parse().unwrap());
    let campaign = app.open_campaign(10).await;
    let coupon = get_coupon(&app, &campaign, &shopper).await;
    let d = order(
        &app,
        &shopper,
        &json!({"items": [{"productId": product, "quantity": 2}], "addressId": address, "couponId": coupon}),
    )
    .await;
    let order_id = d["orderId"].as_str().unwrap().to_string();
    let available = |app: &TestApp| {
        let engine = app.state.engine.clone();
        async move { engine.item_view(item).await.unwrap().levels.available }
    };
    assert_eq!(available(&app).await, 3);
    assert_eq!(unused_coupons(&app, &shopper).await, 0);

    let res = app
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            &Value::Null,
            Some(&shopper),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(order_status(&app, &shopper, &order_id).await, "CANCEL");
    assert_eq!(available(&app).await, 5);
    assert_eq!(unused_coupons(&app, &shopper).await, 1);
    let p = app.get(&format!("/api/v1/products/{product}"), None).await;
    assert_eq!(p.data()["quantity"], 5, "{:?}", p.body);
}

#[tokio::test]
async fn a_kakaopay_approval_slower_than_the_timeout_cancels_the_order() {
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ready"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "tid": "T1234567890123456789",
            "next_redirect_pc_url": "https://mockup.kakaopay.test/pc",
            "next_redirect_mobile_url": "https://mockup.kakaopay.test/mobile",
            "next_redirect_app_url": "https://mockup.kakaopay.test/app",
            "created_at": "2026-01-07T10:00:00",
        })))
        .mount(&mock)
        .await;
    Mock::given(method("POST"))
        .and(path("/approve"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_secs(10)),
        )
        .mount(&mock)
        .await;
    let app = spawn_app_with(
        |c| {
            c.payment_provider = PaymentProviderKind::Kakaopay;
            c.kakaopay_base_url = mock.uri();
            c.kakaopay_secret_key = Some("SECRET_KEY x".into());
            c.payment_timeout_ms = 200;
        },
        Arc::new(SystemClock),
    )
    .await;
    let (shopper, address) = customer(&app).await;
    let (_, product) = shop(&app, 10_000, 5).await;
    let item = ItemId(product.parse().unwrap());
    let d = order(
        &app,
        &shopper,
        &json!({"items": [{"productId": product, "quantity": 2}], "addressId": address}),
    )
    .await;
    let order_id = d["orderId"].as_str().unwrap().to_string();
    assert_eq!(
        app.state
            .engine
            .item_view(item)
            .await
            .unwrap()
            .levels
            .reserved,
        2
    );
    let ready = app
        .with_token(&shopper)
        .ready_payment(&order_id)
        .await
        .unwrap();
    assert_eq!(ready.status, 201, "{:?}", ready.body);
    assert_eq!(
        ready.data()["nextRedirectPcUrl"],
        "https://mockup.kakaopay.test/pc"
    );
    let tid = ready.data()["tid"].as_str().unwrap().to_string();
    assert_eq!(tid, "T1234567890123456789");

    let res = app
        .post(
            "/api/v1/payments/confirm",
            &json!({"pgToken": "pg-token-1", "tid": tid}),
            Some(&shopper),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "PA005"), "{:?}", res.body);
    assert_eq!(order_status(&app, &shopper, &order_id).await, "CANCEL");
    let levels = app.state.engine.item_view(item).await.unwrap().levels;
    assert_eq!((levels.available, levels.reserved, levels.sold), (5, 0, 0));
}
