//! Payment providers: the KakaoPay adapter against a wiremock KakaoPay (exact method, path,
//! `Authorization` header and JSON body per call; error mapping), and the fake provider's
//! ready/approve/cancel rules; then the app's payment result pages, which change nothing without
//! proof of the payment.

use std::sync::Arc;
use std::time::Duration;

use hotdeal::config::{Config, PaymentProviderKind};
use hotdeal::domain::ids::ItemId;
use hotdeal::http::auth::Role;
use hotdeal::payments::{
    self, ApproveRequest, CancelRequest, FakeProvider, PaymentError, PaymentProvider, ReadyRequest,
};
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{TestApp, spawn_app};
use crate::orders::{Shopper, product, shopper};

const SECRET: &str = "SECRET_KEY DEV-test-key-123";
const CID: &str = "TC0ONETIME";
const BASE_PATH: &str = "/online/v1/payment";

/// A KakaoPay provider pointed at `server`, built through `payments::build` like the app does.
fn kakaopay(server: &MockServer, timeout_ms: u64) -> (tempfile::TempDir, Arc<dyn PaymentProvider>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.payment_provider = PaymentProviderKind::Kakaopay;
    // A trailing slash must not produce `//ready`.
    config.kakaopay_base_url = format!("{}{BASE_PATH}/", server.uri());
    config.kakaopay_secret_key = Some(SECRET.into());
    config.kakaopay_cid = CID.into();
    config.payment_timeout_ms = timeout_ms;
    let provider = payments::build(&config).expect("kakaopay provider");
    assert_eq!(provider.name(), "kakaopay");
    (dir, provider)
}

fn ready_request(order_id: Uuid, user_id: Uuid, amount: i64) -> ReadyRequest {
    ReadyRequest {
        order_id,
        user_id,
        item_name: "Hot deal keyboard and 1 more".into(),
        quantity: 3,
        total_amount: amount,
        approval_url: "http://shop.test/payment/success".into(),
        cancel_url: "http://shop.test/payment/cancel".into(),
        fail_url: "http://shop.test/payment/fail".into(),
    }
}

/// The pg_token query parameter of a fake provider's redirect URL.
fn pg_token_of(url: &str) -> String {
    let url = reqwest::Url::parse(url).expect("redirect is a URL");
    url.query_pairs()
        .find(|(k, _)| k == "pg_token")
        .map(|(_, v)| v.into_owned())
        .expect("redirect carries pg_token")
}

fn assert_declined(result: Result<impl std::fmt::Debug, PaymentError>, contains: &str) {
    match result {
        Err(PaymentError::Declined(reason)) => {
            assert!(
                reason.contains(contains),
                "reason {reason:?} lacks {contains:?}"
            )
        }
        other => panic!("expected Declined({contains:?}), got {other:?}"),
    }
}

// ---------------------------------------------------------------- KakaoPay adapter

#[tokio::test]
async fn kakaopay_ready_sends_the_documented_body_and_parses_the_answer() {
    let server = MockServer::start().await;
    let (order_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/ready")))
        .and(header("Authorization", SECRET))
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({
            "cid": CID,
            "partner_order_id": order_id.to_string(),
            "partner_user_id": user_id.to_string(),
            "item_name": "Hot deal keyboard and 1 more",
            "quantity": 3,
            "total_amount": 45000,
            "tax_free_amount": 0,
            "approval_url": "http://shop.test/payment/success",
            "cancel_url": "http://shop.test/payment/cancel",
            "fail_url": "http://shop.test/payment/fail",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "tid": "T1234567890123456789",
            "next_redirect_app_url": "https://mockup.kakaopay.test/app",
            "next_redirect_mobile_url": "https://mockup.kakaopay.test/mobile",
            "next_redirect_pc_url": "https://mockup.kakaopay.test/pc",
            "android_app_scheme": "kakaotalk://x",
            "ios_app_scheme": "kakaotalk://y",
            "created_at": "2025-01-07T10:00:00",
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, provider) = kakaopay(&server, 2_000);

    let ready = provider
        .ready(ready_request(order_id, user_id, 45_000))
        .await
        .expect("ready");

    assert_eq!(ready.tid, "T1234567890123456789");
    assert_eq!(ready.redirect_pc_url, "https://mockup.kakaopay.test/pc");
    assert_eq!(
        ready.redirect_mobile_url,
        "https://mockup.kakaopay.test/mobile"
    );
    assert_eq!(ready.created_at, "2025-01-07T10:00:00");
}

#[tokio::test]
async fn kakaopay_approve_sends_the_documented_body_and_parses_the_answer() {
    let server = MockServer::start().await;
    let (order_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
    let answer = json!({
        "aid": "A5678901234567890123",
        "tid": "T1234567890123456789",
        "cid": CID,
        "partner_order_id": order_id.to_string(),
        "partner_user_id": user_id.to_string(),
        "payment_method_type": "CARD",
        "item_name": "Hot deal keyboard and 1 more",
        "quantity": 3,
        "amount": { "total": 45000, "tax_free": 0, "vat": 4091, "point": 0, "discount": 0, "green_deposit": 0 },
        "created_at": "2025-01-07T10:00:00",
        "approved_at": "2025-01-07T10:00:30",
    });
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/approve")))
        .and(header("Authorization", SECRET))
        .and(body_json(json!({
            "cid": CID,
            "tid": "T1234567890123456789",
            "partner_order_id": order_id.to_string(),
            "partner_user_id": user_id.to_string(),
            "pg_token": "pgtoken123",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, provider) = kakaopay(&server, 2_000);

    let approved = provider
        .approve(ApproveRequest {
            tid: "T1234567890123456789".into(),
            order_id,
            user_id,
            pg_token: "pgtoken123".into(),
        })
        .await
        .expect("approve");

    assert_eq!(approved.aid, "A5678901234567890123");
    assert_eq!(approved.tid, "T1234567890123456789");
    assert_eq!(approved.amount_total, 45_000);
    assert_eq!(approved.payment_method_type, "CARD");
    assert_eq!(approved.approved_at, "2025-01-07T10:00:30");
    assert_eq!(approved.raw, answer);
}

#[tokio::test]
async fn kakaopay_cancel_sends_the_documented_body_and_parses_the_answer() {
    let server = MockServer::start().await;
    let amount = |total: i64| json!({ "total": total, "tax_free": 0, "vat": 0, "point": 0, "discount": 0, "green_deposit": 0 });
    let answer = json!({
        "tid": "T1234567890123456789",
        "cid": CID,
        "status": "CANCEL_PAYMENT",
        "partner_order_id": "o",
        "partner_user_id": "u",
        "payment_method_type": "MONEY",
        "item_name": "Hot deal keyboard",
        "quantity": 3,
        "amount": amount(45000),
        "approved_cancel_amount": amount(45000),
        "canceled_amount": amount(45000),
        "cancel_available_amount": amount(0),
        "created_at": "2025-01-07T10:00:00",
        "approved_at": "2025-01-07T10:00:30",
        "canceled_at": "2025-01-07T11:00:00",
    });
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/cancel")))
        .and(header("Authorization", SECRET))
        .and(body_json(json!({
            "cid": CID,
            "tid": "T1234567890123456789",
            "cancel_amount": 45000,
            "cancel_tax_free_amount": 0,
            "cancel_vat_amount": 0,
            "cancel_available_amount": 45000,
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, provider) = kakaopay(&server, 2_000);

    let canceled = provider
        .cancel(CancelRequest {
            tid: "T1234567890123456789".into(),
            cancel_amount: 45_000,
        })
        .await
        .expect("cancel");

    assert_eq!(canceled.tid, "T1234567890123456789");
    assert_eq!(canceled.canceled_amount, 45_000);
    assert_eq!(canceled.canceled_at, "2025-01-07T11:00:00");
    assert_eq!(canceled.raw, answer);
}

#[tokio::test]
async fn kakaopay_4xx_is_declined_with_the_provider_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/approve")))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error_code": -780,
            "error_message": "approval failure!",
            "extras": { "method_result_code": "USER_LOCKED", "method_result_message": "payment in progress" },
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, provider) = kakaopay(&server, 2_000);

    let result = provider
        .approve(ApproveRequest {
            tid: "T1".into(),
            order_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            pg_token: "wrong".into(),
        })
        .await;

    assert_declined(result, "approval failure!: payment in progress");
}

#[tokio::test]
async fn kakaopay_answer_slower_than_the_timeout_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/ready")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "tid": "T1", "next_redirect_pc_url": "x" }))
                .set_delay(Duration::from_secs(10)),
        )
        .mount(&server)
        .await;
    let (_dir, provider) = kakaopay(&server, 150);

    let started = std::time::Instant::now();
    let result = provider
        .ready(ready_request(Uuid::now_v7(), Uuid::now_v7(), 1_000))
        .await;

    assert!(
        matches!(result, Err(PaymentError::Timeout)),
        "got {result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout did not cut the call short"
    );
}

#[tokio::test]
async fn kakaopay_5xx_is_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/cancel")))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal error"))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, provider) = kakaopay(&server, 2_000);

    let result = provider
        .cancel(CancelRequest {
            tid: "T1".into(),
            cancel_amount: 100,
        })
        .await;

    match result {
        Err(PaymentError::Unavailable(reason)) => {
            assert!(reason.contains("500"), "reason {reason:?}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn kakaopay_rate_limit_and_malformed_answers_are_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/ready")))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json!({"error_message": "slow down"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{BASE_PATH}/approve")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "aid": "A1" })))
        .mount(&server)
        .await;
    let (_dir, provider) = kakaopay(&server, 2_000);

    let ready = provider
        .ready(ready_request(Uuid::now_v7(), Uuid::now_v7(), 1_000))
        .await;
    assert!(
        matches!(ready, Err(PaymentError::Unavailable(_))),
        "got {ready:?}"
    );
    let approve = provider
        .approve(ApproveRequest {
            tid: "T1".into(),
            order_id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            pg_token: "t".into(),
        })
        .await;
    assert!(
        matches!(approve, Err(PaymentError::Unavailable(_))),
        "got {approve:?}"
    );
}

#[tokio::test]
async fn kakaopay_unreachable_is_unavailable() {
    // A port that was free a moment ago: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.payment_provider = PaymentProviderKind::Kakaopay;
    config.kakaopay_base_url = format!("http://127.0.0.1:{port}{BASE_PATH}");
    config.kakaopay_secret_key = Some(SECRET.into());
    config.payment_timeout_ms = 2_000;
    let provider = payments::build(&config).expect("provider");

    let result = provider
        .ready(ready_request(Uuid::now_v7(), Uuid::now_v7(), 1_000))
        .await;

    assert!(
        matches!(result, Err(PaymentError::Unavailable(_))),
        "got {result:?}"
    );
}

#[test]
fn build_picks_the_configured_provider_and_needs_a_kakaopay_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    assert_eq!(config.payment_provider, PaymentProviderKind::Fake);
    assert_eq!(payments::build(&config).expect("fake").name(), "fake");

    config.payment_provider = PaymentProviderKind::Kakaopay;
    for key in [None, Some(""), Some("   ")] {
        config.kakaopay_secret_key = key.map(String::from);
        let err = payments::build(&config)
            .err()
            .expect("kakaopay without a secret key is refused");
        assert!(
            format!("{err:#}").contains("KAKAOPAY_SECRET_KEY"),
            "error {err:#}"
        );
    }
    config.kakaopay_secret_key = Some(SECRET.into());
    config.kakaopay_base_url = "not a url".into();
    assert!(payments::build(&config).is_err());
}

#[tokio::test]
async fn kakaopay_debug_output_hides_the_secret_key() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    config.kakaopay_base_url = server.uri();
    config.kakaopay_secret_key = Some(SECRET.into());
    let provider = payments::KakaoPayProvider::new(&config).expect("provider");
    let shown = format!("{provider:?}");
    assert!(!shown.contains("DEV-test-key"), "{shown}");
}

// ---------------------------------------------------------------- fake provider

#[tokio::test]
async fn fake_ready_approve_cancel_round_trip() {
    let fake = FakeProvider::new();
    assert_eq!(fake.name(), "fake");
    let (order_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());

    let ready = fake
        .ready(ready_request(order_id, user_id, 30_000))
        .await
        .expect("ready");
    assert_eq!(ready.tid.len(), 21);
    assert!(ready.tid.starts_with('T'));
    assert!(ready.tid[1..].chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        ready
            .redirect_pc_url
            .starts_with("http://shop.test/payment/success?pg_token="),
        "{}",
        ready.redirect_pc_url
    );
    assert_eq!(ready.redirect_mobile_url, ready.redirect_pc_url);
    chrono::DateTime::parse_from_rfc3339(&ready.created_at).expect("created_at is RFC 3339");
    let pg_token = pg_token_of(&ready.redirect_pc_url);

    let approved = fake
        .approve(ApproveRequest {
            tid: ready.tid.clone(),
            order_id,
            user_id,
            pg_token,
        })
        .await
        .expect("approve");
    assert_eq!(approved.tid, ready.tid);
    assert!(!approved.aid.is_empty());
    assert_eq!(approved.amount_total, 30_000);
    assert_eq!(approved.payment_method_type, "MONEY");
    chrono::DateTime::parse_from_rfc3339(&approved.approved_at).expect("approved_at is RFC 3339");

    // More than was approved is refused; the full amount goes through once.
    let too_much = fake
        .cancel(CancelRequest {
            tid: ready.tid.clone(),
            cancel_amount: 30_001,
        })
        .await;
    assert_declined(too_much, "cancel_amount");
    let canceled = fake
        .cancel(CancelRequest {
            tid: ready.tid.clone(),
            cancel_amount: 30_000,
        })
        .await
        .expect("cancel");
    assert_eq!(canceled.tid, ready.tid);
    assert_eq!(canceled.canceled_amount, 30_000);
    chrono::DateTime::parse_from_rfc3339(&canceled.canceled_at).expect("canceled_at is RFC 3339");
    let again = fake
        .cancel(CancelRequest {
            tid: ready.tid.clone(),
            cancel_amount: 30_000,
        })
        .await;
    assert_declined(again, "cannot be canceled");
}

#[tokio::test]
async fn fake_wrong_pg_token_or_owner_is_declined() {
    let fake = FakeProvider::new();
    let (order_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
    let ready = fake
        .ready(ready_request(order_id, user_id, 1_000))
        .await
        .expect("ready");
    let approve = |tid: &str, order_id, user_id, pg_token: &str| ApproveRequest {
        tid: tid.into(),
        order_id,
        user_id,
        pg_token: pg_token.into(),
    };
    let token = pg_token_of(&ready.redirect_pc_url);

    let wrong = fake
        .approve(approve(&ready.tid, order_id, user_id, "nope"))
        .await;
    assert_declined(wrong, "pg_token");
    let stranger = fake
        .approve(approve(&ready.tid, order_id, Uuid::now_v7(), &token))
        .await;
    assert_declined(stranger, "does not match");
    let unknown = fake
        .approve(approve("T00000000000000000000", order_id, user_id, &token))
        .await;
    assert_declined(unknown, "unknown tid");
    // A ready (not approved) payment cannot be canceled.
    let cancel_ready = fake
        .cancel(CancelRequest {
            tid: ready.tid.clone(),
            cancel_amount: 1_000,
        })
        .await;
    assert_declined(cancel_ready, "cannot be canceled");

    // The failed attempts left the payment ready: the right token still works.
    fake.approve(approve(&ready.tid, order_id, user_id, &token))
        .await
        .expect("approve with the right token");
}

#[tokio::test]
async fn fake_double_approve_is_declined() {
    let fake = FakeProvider::new();
    let (order_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
    let ready = fake
        .ready(ready_request(order_id, user_id, 5_000))
        .await
        .expect("ready");
    let request = ApproveRequest {
        tid: ready.tid.clone(),
        order_id,
        user_id,
        pg_token: pg_token_of(&ready.redirect_pc_url),
    };

    fake.approve(request.clone()).await.expect("first approve");
    let second = fake.approve(request).await;

    assert_declined(second, "not ready");
}

#[tokio::test]
async fn fake_fail_next_approve_declines_once() {
    let fake = FakeProvider::new();
    let (order_id, user_id) = (Uuid::now_v7(), Uuid::now_v7());
    let ready = fake
        .ready(ready_request(order_id, user_id, 5_000))
        .await
        .expect("ready");
    let request = ApproveRequest {
        tid: ready.tid.clone(),
        order_id,
        user_id,
        pg_token: pg_token_of(&ready.redirect_pc_url),
    };

    fake.fail_next_approve("insufficient balance");
    let failed = fake.approve(request.clone()).await;
    assert_declined(failed, "insufficient balance");

    // Only the next one fails.
    let approved = fake
        .approve(request)
        .await
        .expect("approve after the failure");
    assert_eq!(approved.amount_total, 5_000);
}

#[tokio::test]
async fn fake_keeps_existing_query_parameters_and_refuses_bad_amounts() {
    let fake = FakeProvider::new();
    let mut request = ready_request(Uuid::now_v7(), Uuid::now_v7(), 1_000);
    request.approval_url = "http://shop.test/payment/success?orderId=42".into();
    let ready = fake.ready(request.clone()).await.expect("ready");
    assert!(
        ready
            .redirect_pc_url
            .starts_with("http://shop.test/payment/success?orderId=42&pg_token="),
        "{}",
        ready.redirect_pc_url
    );

    request.total_amount = -1;
    assert_declined(fake.ready(request.clone()).await, "total_amount");
    request.total_amount = 1_000;
    request.quantity = 0;
    assert_declined(fake.ready(request).await, "quantity");
}

// ---------------------------------------------------------------- the result pages (the app)

/// An order of 2 units (of 5) readied for payment with the fake provider: its id, and the URL
/// the provider sends the browser to after paying (`/payment/success?orderId&nonce&pg_token`).
async fn readied_order(app: &TestApp, s: &Shopper, item: ItemId) -> (String, reqwest::Url, String) {
    let res = app
        .post(
            "/api/v1/orders",
            &json!({"items": [{"productId": item.to_string(), "quantity": 2}], "addressId": s.address}),
            Some(&s.token),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let order = res.data()["orderId"].as_str().unwrap().to_string();
    let ready = app
        .with_token(&s.token)
        .ready_payment(&order)
        .await
        .unwrap();
    assert_eq!(ready.status, 201, "{:?}", ready.body);
    let url = reqwest::Url::parse(ready.data()["nextRedirectPcUrl"].as_str().unwrap()).unwrap();
    let tid = ready.data()["tid"].as_str().unwrap().to_string();
    (order, url, tid)
}

fn query_param(url: &reqwest::Url, key: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {key}"))
}

/// GET a result page (no redirects followed): status and body text.
async fn open_page(app: &TestApp, path: &str, token: Option<&str>) -> (u16, String) {
    let res = app.client_for(token).get(path.to_string()).await.unwrap();
    (res.status, String::from_utf8(res.raw.to_vec()).unwrap())
}

async fn status_of(app: &TestApp, s: &Shopper, order: &str) -> String {
    let res = app
        .get(&format!("/api/v1/orders/{order}"), Some(&s.token))
        .await;
    res.data()["orderStatus"].as_str().unwrap().to_string()
}

/// (available, reserved, sold) of `item`.
async fn levels(app: &TestApp, item: ItemId) -> (i64, i64, i64) {
    let l = app.state.engine.item_view(item).await.unwrap().levels;
    (l.available, l.reserved, l.sold)
}

#[tokio::test]
async fn result_pages_without_proof_of_the_payment_change_nothing() {
    let app = spawn_app().await;
    let s = shopper(&app).await;
    let item = product(&app, 5, 1_000).await;
    let (order, url, tid) = readied_order(&app, &s, item).await;
    let nonce = query_param(&url, "nonce");
    assert_eq!(nonce.len(), 32, "a 128-bit nonce: {url}");
    let (_, stranger) = app.token(Role::Customer);
    let unchanged = |what: &'static str| {
        let (app, s, order) = (&app, &s, order.clone());
        async move {
            assert_eq!(status_of(app, s, &order).await, "PENDING", "{what}");
            assert_eq!(levels(app, item).await, (3, 2, 0), "{what}");
        }
    };

    // Knowing the order id is not enough, for any page, with or without someone's session.
    for path in [
        format!("/payment/cancel?orderId={order}"),
        format!("/payment/fail?orderId={order}"),
        format!("/payment/cancel?orderId={order}&nonce=00000000000000000000000000000000"),
        format!("/payment/fail?orderId={order}&nonce={}", &nonce[..31]),
        format!("/payment/success?orderId={order}&pg_token=wrong"),
    ] {
        assert_eq!(open_page(&app, &path, None).await.0, 404, "{path}");
        assert_eq!(
            open_page(&app, &path, Some(&stranger)).await.0,
            404,
            "{path}"
        );
        unchanged("after a page opened without proof").await;
    }
    // The right nonce with a wrong pg_token: refused by the provider, and nothing changes.
    let (status, body) = open_page(
        &app,
        &format!("/payment/success?orderId={order}&nonce={nonce}&pg_token=wrong"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    unchanged("after a wrong pg_token on the success page").await;
    let res = app
        .post(
            "/api/v1/payments/confirm",
            &json!({"pgToken": "wrong", "tid": tid}),
            Some(&s.token),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "PA005"), "{:?}", res.body);
    unchanged("after a wrong pgToken on confirm").await;
    // Someone else's session cannot confirm it either.
    let res = app
        .post(
            "/api/v1/payments/confirm",
            &json!({"pgToken": query_param(&url, "pg_token"), "tid": tid}),
            Some(&stranger),
        )
        .await;
    assert_eq!((res.status, res.code()), (404, "PA001"), "{:?}", res.body);
    unchanged("after a stranger's confirm").await;

    // With the nonce the provider put in the URL, the cancel page works.
    let (status, body) = open_page(
        &app,
        &format!("/payment/cancel?orderId={order}&nonce={nonce}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_of(&app, &s, &order).await, "CANCEL");
    assert_eq!(levels(&app, item).await, (5, 0, 0));
    // Again: nothing left to cancel.
    let (status, _) = open_page(
        &app,
        &format!("/payment/cancel?orderId={order}&nonce={nonce}"),
        None,
    )
    .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn the_fail_page_with_the_nonce_or_the_owner_session_cancels() {
    let app = spawn_app().await;
    let s = shopper(&app).await;
    let item = product(&app, 5, 1_000).await;
    let (order, url, _) = readied_order(&app, &s, item).await;
    let nonce = query_param(&url, "nonce");
    let (status, body) = open_page(
        &app,
        &format!("/payment/fail?orderId={order}&nonce={nonce}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_of(&app, &s, &order).await, "CANCEL");
    assert_eq!(levels(&app, item).await, (5, 0, 0));

    // The owner's session is proof enough, without the nonce.
    let (order, _, _) = readied_order(&app, &s, item).await;
    assert_eq!(levels(&app, item).await, (3, 2, 0));
    let (status, body) = open_page(
        &app,
        &format!("/payment/cancel?orderId={order}"),
        Some(&s.token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_of(&app, &s, &order).await, "CANCEL");
    assert_eq!(levels(&app, item).await, (5, 0, 0));
}

#[tokio::test]
async fn a_repeated_confirmation_of_an_approved_payment_answers_the_same_success() {
    let app = spawn_app().await;
    let s = shopper(&app).await;
    let item = product(&app, 5, 1_000).await;

    // The success page, opened twice (a reload, a second tab).
    let (order, url, _) = readied_order(&app, &s, item).await;
    let path = format!("{}?{}", url.path(), url.query().unwrap());
    let first = open_page(&app, &path, None).await;
    assert_eq!(first.0, 200, "{}", first.1);
    let again = open_page(&app, &path, None).await;
    assert_eq!(again, first);
    assert_eq!(status_of(&app, &s, &order).await, "COMPLETE");
    assert_eq!(levels(&app, item).await, (3, 0, 2));
    // Another pg_token is not a repetition, and it changes nothing either.
    let other = url.as_str().replace("pg_token=", "pg_token=x");
    let other = reqwest::Url::parse(&other).unwrap();
    let (status, _) = open_page(
        &app,
        &format!("{}?{}", other.path(), other.query().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(status_of(&app, &s, &order).await, "COMPLETE");

    // POST /payments/confirm, twice: the same answer.
    let (order, url, tid) = readied_order(&app, &s, item).await;
    let body = json!({"pgToken": query_param(&url, "pg_token"), "tid": tid});
    let first = app
        .post("/api/v1/payments/confirm", &body, Some(&s.token))
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.data()["status"], "COMPLETE");
    assert_eq!(first.data()["orderId"], order.as_str());
    let again = app
        .post("/api/v1/payments/confirm", &body, Some(&s.token))
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.data(), first.data());
    // The success page of the same payment agrees.
    let path = format!("{}?{}", url.path(), url.query().unwrap());
    assert_eq!(open_page(&app, &path, None).await.0, 200);
    assert_eq!(levels(&app, item).await, (1, 0, 4), "confirmed once each");
    let payments = app.get("/api/v1/payments", Some(&s.token)).await;
    assert_eq!(payments.data()["totalElements"], 2);
}

/// The seed's client opens the success page (which approves on the server) and then calls
/// `POST /payments/confirm` itself: that follow-up answers the same approval, not 409.
#[tokio::test]
async fn a_seed_style_confirm_after_the_success_page_answers_the_same_success() {
    let app = spawn_app().await;
    let s = shopper(&app).await;
    let item = product(&app, 5, 1_000).await;
    let (order, url, tid) = readied_order(&app, &s, item).await;
    let before = app
        .get(&format!("/api/v1/orders/{order}"), Some(&s.token))
        .await;
    assert!(
        before.data()["expiresAt"].is_string(),
        "a waiting order shows its deadline: {:?}",
        before.body
    );
    let page = format!("{}?{}", url.path(), url.query().unwrap());
    assert_eq!(open_page(&app, &page, None).await.0, 200);
    let body = json!({"pgToken": query_param(&url, "pg_token"), "tid": tid});
    let confirm = app
        .post("/api/v1/payments/confirm", &body, Some(&s.token))
        .await;
    assert_eq!(confirm.status, 200, "{:?}", confirm.body);
    assert_eq!(confirm.data()["status"], "COMPLETE");
    assert_eq!(confirm.data()["orderId"], order.as_str());
    assert_eq!(confirm.data()["amount"]["total"], 2_000);
    assert_eq!(levels(&app, item).await, (3, 0, 2), "sold once");
    let paid = app
        .get(&format!("/api/v1/orders/{order}"), Some(&s.token))
        .await;
    assert_eq!(paid.data()["orderStatus"], "COMPLETE");
    assert_eq!(
        paid.data()["expiresAt"],
        json!(null),
        "a paid order has no deadline: {:?}",
        paid.body
    );
}

/// `POST /api/v1/payments/cancel?orderId=` and `/payments/refund?orderId=` (the seed's paths)
/// cancel a pending payment with its order and refund a paid one, with the order's own checks.
#[tokio::test]
async fn the_seed_payment_cancel_and_refund_paths_are_served() {
    let app = spawn_app().await;
    let s = shopper(&app).await;
    let (_, stranger) = app.token(Role::Customer);
    let item = product(&app, 5, 1_000).await;
    let order_of = |order: &str| {
        let (app, token) = (&app, s.token.clone());
        let path = format!("/api/v1/orders/{order}");
        async move { app.get(&path, Some(&token)).await }
    };

    // A pending payment: not refundable, cancelled with its order.
    let (pending, _, _) = readied_order(&app, &s, item).await;
    let cancel = format!("/api/v1/payments/cancel?orderId={pending}");
    let refund = format!("/api/v1/payments/refund?orderId={pending}");
    let res = app.post(&refund, &json!({}), Some(&s.token)).await;
    assert_eq!((res.status, res.code()), (409, "PA004"), "{:?}", res.body);
    let res = app.post(&cancel, &json!({}), Some(&stranger)).await;
    assert_eq!((res.status, res.code()), (404, "O001"), "{:?}", res.body);
    assert_eq!(levels(&app, item).await, (3, 2, 0), "nothing changed yet");
    let res = app.post(&cancel, &json!({}), Some(&s.token)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data(), &json!({"orderId": pending}));
    let cancelled = order_of(&pending).await;
    assert_eq!(cancelled.data()["orderStatus"], "CANCEL");
    assert_eq!(cancelled.data()["expiresAt"], json!(null));
    assert_eq!(levels(&app, item).await, (5, 0, 0), "stock released");
    let res = app.post(&cancel, &json!({}), Some(&s.token)).await;
    assert_eq!((res.status, res.code()), (409, "PA003"), "{:?}", res.body);

    // A paid order: its payment is not cancellable (the answer names the refund path), and it
    // is refunded through the seed's path like through the order's.
    let (paid, url, _) = readied_order(&app, &s, item).await;
    let page = format!("{}?{}", url.path(), url.query().unwrap());
    assert_eq!(open_page(&app, &page, None).await.0, 200);
    assert_eq!(levels(&app, item).await, (3, 0, 2));
    let res = app
        .post(
            &format!("/api/v1/payments/cancel?orderId={paid}"),
            &json!({}),
            Some(&s.token),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "PA003"), "{:?}", res.body);
    assert!(
        res.body["message"]
            .as_str()
            .unwrap()
            .contains("/api/v1/payments/refund?orderId="),
        "{:?}",
        res.body
    );
    let refund = format!("/api/v1/payments/refund?orderId={paid}");
    let res = app.post(&refund, &json!({}), Some(&stranger)).await;
    assert_eq!((res.status, res.code()), (404, "O001"), "{:?}", res.body);
    let res = app.post(&refund, &json!({}), Some(&s.token)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["orderId"], paid.as_str());
    assert_eq!(res.data()["paymentStatus"], "REFUND");
    assert_eq!(res.data()["refundAmount"], 2_000);
    let refunded = order_of(&paid).await;
    assert_eq!(refunded.data()["orderStatus"], "REFUND");
    assert_eq!(refunded.data()["expiresAt"], json!(null));
    assert_eq!(levels(&app, item).await, (5, 0, 0), "restocked");
    let res = app.post(&refund, &json!({}), Some(&s.token)).await;
    assert_eq!((res.status, res.code()), (409, "PA004"), "{:?}", res.body);

    let res = app
        .post("/api/v1/payments/refund", &json!({}), Some(&s.token))
        .await;
    assert_eq!(
        (res.status, res.code()),
        (400, "INVALID_QUERY"),
        "{:?}",
        res.body
    );
}

#[tokio::test]
async fn a_paid_order_leaves_memory_once_in_the_database_and_is_refunded_from_there() {
    let app = spawn_app().await;
    let s = shopper(&app).await;
    let item = product(&app, 5, 1_000).await;
    let engine = &app.state.engine;

    let (paid, url, _) = readied_order(&app, &s, item).await;
    let page = format!("{}?{}", url.path(), url.query().unwrap());
    assert_eq!(open_page(&app, &page, None).await.0, 200);
    assert_eq!(levels(&app, item).await, (3, 0, 2));
    // Settled and written behind: the sweeper drops it from memory (every order of this app
    // is settled, so none stays).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while engine.orders_in_memory() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the paid order is still in memory"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Read back from the database: the same order, refundable as before.
    let order = app
        .get(&format!("/api/v1/orders/{paid}"), Some(&s.token))
        .await;
    assert_eq!(order.status, 200, "{:?}", order.body);
    assert_eq!(order.data()["orderStatus"], "COMPLETE", "{:?}", order.body);
    let refund = format!("/api/v1/payments/refund?orderId={paid}");
    let res = app.post(&refund, &json!({}), Some(&s.token)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["refundAmount"], 2_000);
    assert_eq!(levels(&app, item).await, (5, 0, 0), "stock back on sale");
    let res = app.post(&refund, &json!({}), Some(&s.token)).await;
    assert_eq!(
        (res.status, res.code()),
        (409, "PA004"),
        "once: {:?}",
        res.body
    );
}
