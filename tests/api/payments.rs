//! Payment providers: the KakaoPay adapter against a wiremock KakaoPay (exact method, path,
//! `Authorization` header and JSON body per call; error mapping), and the fake provider's
//! ready/approve/cancel rules.

use std::sync::Arc;
use std::time::Duration;

use hotdeal::config::{Config, PaymentProviderKind};
use hotdeal::payments::{
    self, ApproveRequest, CancelRequest, FakeProvider, PaymentError, PaymentProvider, ReadyRequest,
};
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
