//! Operations: `/metrics`, the MASTER-only operator actions and their audit log, rate limits
//! (memory, and Redis shared by two nodes; Redis down failing open is a unit test in
//! `ops::ratelimit`), and no secrets in the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use hotdeal::domain::campaign::CampaignStatus;
use hotdeal::domain::clock::SystemClock;
use hotdeal::domain::ids::{CampaignId, ItemId, UserId};
use hotdeal::domain::item::SalePhase;
use hotdeal::http::auth::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestResponse, spawn_app, spawn_app_with};

// ------------------------------------------------------------------------------------ helpers

/// A product row with `stock` units, as the catalog would have written it. The engine loads it
/// on first use.
async fn seed_product(app: &TestApp, stock: i64) -> ItemId {
    let id = ItemId::new();
    let now = chrono::Utc::now().timestamp_millis();
    sqlx::query(
        "INSERT INTO p_product (id, name, price, quantity, available, reserved, sold, category, \
         company_id, status, created_at, updated_at) VALUES (?, 'ops item', 10000, ?, ?, 0, 0, 'ETC', ?, 'ON_SALE', ?, ?)",
    )
    .bind(id.to_string())
    .bind(stock)
    .bind(stock)
    .bind(Uuid::now_v7().to_string())
    .bind(now)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .expect("product row");
    id
}

/// A time sale on `item` running from an hour ago to an hour from now.
async fn seed_sale(app: &TestApp, item: ItemId, quantity: i64) -> Uuid {
    let id = Uuid::now_v7();
    let now = chrono::Utc::now().timestamp_millis();
    sqlx::query(
        "INSERT INTO p_promotion (id, product_id, start_at, end_at, discount_rate, discount_price, \
         quantity, remaining, per_user_limit, status, created_at, updated_at) \
         VALUES (?, ?, ?, ?, 10, 9000, ?, ?, NULL, 'IN_PROGRESS', ?, ?)",
    )
    .bind(id.to_string())
    .bind(item.to_string())
    .bind(now - 3_600_000)
    .bind(now + 3_600_000)
    .bind(quantity)
    .bind(quantity)
    .bind(now)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .expect("promotion row");
    id
}

async fn issue(app: &TestApp, campaign: &str, token: &str) -> TestResponse {
    app.with_token(token).issue_coupon(campaign).await.unwrap()
}

fn retry_after(res: &TestResponse) -> u64 {
    res.headers
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("whole seconds")
}

// ------------------------------------------------------------------------------------ metrics

#[tokio::test]
async fn metrics_expose_http_and_engine_series_by_route_template() {
    hotdeal::ops::metrics::install();
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz", None).await.status, 200);
    assert_eq!(app.get("/no/such/endpoint", None).await.status, 404);
    let campaign = app.open_campaign(5).await;
    let (_, shopper) = app.token(Role::Customer);
    assert_eq!(issue(&app, &campaign, &shopper).await.status, 201);

    let res = app.client.metrics().await.expect("scrape");
    assert_eq!(res.status, 200);
    let content_type = res.headers["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let body = res.text().into_owned();
    for series in [
        r#"hotdeal_http_requests_total{method="GET",route="/healthz",status="200"}"#,
        r#"route="/api/v1/coupon-infos/{id}/status""#,
        r#"hotdeal_http_requests_total{method="GET",route="unmatched",status="404"}"#,
        r#"hotdeal_http_request_duration_seconds_bucket{method="POST",route="/api/v1/coupons/issue",le="0.005"}"#,
        r#"hotdeal_claims_total{outcome="issued"}"#,
        r#"hotdeal_engine_actors{kind="campaign"}"#,
        "hotdeal_journal_appended_seq",
        "hotdeal_journal_durable_seq",
        "hotdeal_journal_applied_seq",
        "hotdeal_journal_backlog_events",
        "hotdeal_journal_records_per_fsync",
        "hotdeal_journal_fsync_seconds_bucket",
        "hotdeal_recovery_seconds",
    ] {
        assert!(body.contains(series), "missing {series} in:\n{body}");
    }
    assert!(
        !body.contains(&campaign),
        "raw ids must not become labels (cardinality)"
    );
}

// -------------------------------------------------------------------------------------- admin

#[tokio::test]
async fn operator_actions_are_master_only() {
    let app = spawn_app().await;
    let item = seed_product(&app, 10).await;
    let campaign = app.open_campaign(3).await;
    let stock = format!("/api/v1/admin/items/{item}/stock");
    let body = json!({"delta": 5, "reason": "restock"});
    let empty = json!({});
    let calls: Vec<(reqwest::Method, String, Option<&Value>)> = vec![
        (reqwest::Method::POST, stock.clone(), Some(&body)),
        (
            reqwest::Method::POST,
            format!("/api/v1/admin/items/{item}/sale/close"),
            Some(&empty),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/admin/campaigns/{campaign}/open"),
            Some(&empty),
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/admin/campaigns/{campaign}/close"),
            Some(&empty),
        ),
        (reqwest::Method::GET, "/api/v1/admin/audit-log".into(), None),
    ];
    for role in [Role::Customer, Role::Seller, Role::Manager] {
        let (_, token) = app.token(role);
        for (method, path, body) in &calls {
            let res = app.request(method.clone(), path, *body, Some(&token)).await;
            assert_eq!(
                (res.status, res.code()),
                (403, "FORBIDDEN"),
                "{role:?} {path}"
            );
        }
    }
    for (method, path, body) in &calls {
        let res = app.request(method.clone(), path, *body, None).await;
        assert_eq!(res.status, 401, "{path}");
    }
    // Nothing changed, nothing audited.
    let view = app.state.engine.item_view(item).await.unwrap();
    assert_eq!(view.levels.total, 10);
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hd_audit_log")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn stock_deltas_at_the_edges_of_i64_are_refused_not_wrapped() {
    let app = spawn_app().await;
    let item = seed_product(&app, 10).await;
    let (_, master) = app.token(Role::Master);
    let path = format!("/api/v1/admin/items/{item}/stock");
    let max = hotdeal::http::admin_ops::MAX_STOCK_DELTA;
    // i64::MIN.abs() overflows (and wraps to i64::MIN, below the bound, in release builds).
    for delta in [i64::MIN, i64::MIN + 1, i64::MAX, max + 1, -max - 1] {
        let res = app
            .post(
                &path,
                &json!({"delta": delta, "reason": "edge"}),
                Some(&master),
            )
            .await;
        assert_eq!(
            (res.status, res.code()),
            (400, "INVALID_VALUE"),
            "delta {delta}: {:?}",
            res.body
        );
    }
    let view = app.state.engine.item_view(item).await.unwrap();
    assert_eq!((view.levels.total, view.levels.available), (10, 10));
    let res = app
        .post(
            &path,
            &json!({"delta": max, "reason": "edge"}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["total"], 10 + max);
    let res = app
        .post(
            &path,
            &json!({"delta": -max, "reason": "edge"}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["total"], 10);
}

#[tokio::test]
async fn stock_adjustments_go_through_the_engine_and_are_audited() {
    let app = spawn_app().await;
    let item = seed_product(&app, 10).await;
    let (master_id, master) = app.token(Role::Master);
    let path = format!("/api/v1/admin/items/{item}/stock");

    let res = app
        .post(
            &path,
            &json!({"delta": 5, "reason": "supplier delivery"}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["total"], 15);
    assert_eq!(res.data()["available"], 15);
    let view = app.state.engine.item_view(item).await.unwrap();
    assert_eq!((view.levels.total, view.levels.available), (15, 15));

    let res = app
        .post(
            &path,
            &json!({"delta": -3, "reason": "damaged"}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["available"], 12);

    // Refusals change nothing and write no audit row.
    let res = app
        .post(
            &path,
            &json!({"delta": -13, "reason": "too many"}),
            Some(&master),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "STOCK_BELOW_ZERO"));
    let res = app
        .post(
            &path,
            &json!({"delta": 0, "reason": "nothing"}),
            Some(&master),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "INVALID_VALUE"));
    let res = app
        .post(&path, &json!({"delta": 1, "reason": "  "}), Some(&master))
        .await;
    assert_eq!((res.status, res.code()), (400, "INVALID_VALUE"));
    let res = app
        .post(&path, &json!({"delta": "many"}), Some(&master))
        .await;
    assert_eq!(res.status, 400);
    let res = app
        .post(
            "/api/v1/admin/items/not-a-uuid/stock",
            &json!({"delta": 1, "reason": "x"}),
            Some(&master),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "INVALID_VALUE"));
    let res = app
        .post(
            &format!("/api/v1/admin/items/{}/stock", Uuid::now_v7()),
            &json!({"delta": 1, "reason": "x"}),
            Some(&master),
        )
        .await;
    assert_eq!((res.status, res.code()), (404, "P002"));
    let view = app.state.engine.item_view(item).await.unwrap();
    assert_eq!((view.levels.total, view.levels.available), (12, 12));

    // The audit log, newest first.
    let res = app.get("/api/v1/admin/audit-log", Some(&master)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let page = res.data();
    assert_eq!(page["totalElements"], 2);
    let first = &page["content"][0];
    assert_eq!(first["action"], "ITEM_STOCK_ADJUSTED");
    assert_eq!(first["entityType"], "item");
    assert_eq!(first["entityId"], item.to_string());
    assert_eq!(first["actorUserId"], master_id.to_string());
    assert_eq!(first["detail"]["delta"], -3);
    assert_eq!(first["detail"]["reason"], "damaged");
    assert_eq!(page["content"][1]["detail"]["delta"], 5);
    let res = app
        .get(
            "/api/v1/admin/audit-log?sort=createdAt,asc&size=1",
            Some(&master),
        )
        .await;
    assert_eq!(res.data()["content"][0]["detail"]["delta"], 5);
    assert_eq!(res.data()["totalPages"], 2);
    let res = app
        .get("/api/v1/admin/audit-log?sort=password", Some(&master))
        .await;
    assert_eq!((res.status, res.code()), (400, "INVALID_SORT"));

    // The database follows through the write-behind, never by the endpoint's own SQL.
    let journal = app.state.engine.journal().clone();
    let target = journal.appended();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while journal.applied() < target && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (quantity, available): (i64, i64) =
        sqlx::query_as("SELECT quantity, available FROM p_product WHERE id = ?")
            .bind(item.to_string())
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert_eq!((quantity, available), (12, 12));
}

#[tokio::test]
async fn campaigns_open_and_close_through_the_engine() {
    let app = spawn_app().await;
    let campaign = app.open_campaign(10).await;
    let (_, master) = app.token(Role::Master);
    let (_, shopper) = app.token(Role::Customer);

    let res = app
        .post(
            &format!("/api/v1/admin/campaigns/{campaign}/close"),
            &json!({}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["status"], "OUT_OF_STOCK");
    let id = CampaignId(campaign.parse().unwrap());
    let (view, _) = app.state.engine.campaign_view(id, None).await.unwrap();
    assert_eq!(view.status, CampaignStatus::OutOfStock);
    let refused = issue(&app, &campaign, &shopper).await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);

    let res = app
        .post(
            &format!("/api/v1/admin/campaigns/{campaign}/open"),
            &json!({}),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["status"], "ISSUED");
    assert_eq!(issue(&app, &campaign, &shopper).await.status, 201);

    let res = app
        .post(
            &format!("/api/v1/admin/campaigns/{}/open", Uuid::now_v7()),
            &json!({}),
            Some(&master),
        )
        .await;
    assert_eq!((res.status, res.code()), (404, "CO001"));

    let res = app
        .get(
            &format!("/api/v1/admin/audit-log?entityType=campaign&entityId={campaign}"),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let actions: Vec<&str> = res.data()["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["CAMPAIGN_OPENED", "CAMPAIGN_CLOSED"]);
}

#[tokio::test]
async fn closing_a_sale_ends_it_now() {
    let app = spawn_app().await;
    let item = seed_product(&app, 20).await;
    let promotion = seed_sale(&app, item, 5).await;
    let (_, master) = app.token(Role::Master);
    let before = app.state.engine.item_view(item).await.unwrap();
    let sale = before.sale.expect("sale loaded");
    assert_eq!(sale.phase, SalePhase::InProgress);

    let path = format!("/api/v1/admin/items/{item}/sale/close");
    let res = app.post(&path, &json!({}), Some(&master)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["promotionId"], promotion.to_string());
    assert_eq!(res.data()["changed"], true);
    let after = app.state.engine.item_view(item).await.unwrap();
    let sale = after.sale.expect("sale kept, ended");
    assert_eq!(sale.phase, SalePhase::Completed);
    assert!(sale.config.end_ms <= chrono::Utc::now().timestamp_millis());
    assert_eq!(after.unit_price, 10_000, "back to the regular price");

    // Again: already over, nothing changes, nothing more is audited.
    let res = app.post(&path, &json!({}), Some(&master)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["changed"], false);
    let res = app
        .get("/api/v1/admin/audit-log?action=SALE_CLOSED", Some(&master))
        .await;
    assert_eq!(res.data()["totalElements"], 1);
    assert_eq!(
        res.data()["content"][0]["detail"]["promotionId"],
        promotion.to_string()
    );

    // A product without a sale.
    let plain = seed_product(&app, 1).await;
    let res = app
        .post(
            &format!("/api/v1/admin/items/{plain}/sale/close"),
            &json!({}),
            Some(&master),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "NO_SALE"));
}

// -------------------------------------------------------------------------------- rate limits

/// Send `send` until it answers 429 (at most `max` times); returns how many were let through
/// and the refusal.
async fn until_limited<F, Fut>(max: usize, mut send: F) -> (usize, TestResponse)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = TestResponse>,
{
    for i in 0..max {
        let res = send(i).await;
        if res.status == 429 {
            return (i, res);
        }
        assert!(res.status < 500, "{:?}", res.body);
    }
    panic!("no 429 after {max} requests");
}

#[tokio::test]
async fn coupon_issue_is_rate_limited_per_user_with_retry_after() {
    let app = spawn_app_with(|c| c.rate_limit_user_per_s = 2, Arc::new(SystemClock)).await;
    let campaign = app.open_campaign(100).await;
    let (_, shopper) = app.token(Role::Customer);
    let (allowed, refused) = until_limited(20, |_| issue(&app, &campaign, &shopper)).await;
    // Burst = 2 x rate = 4 (plus what refilled while the requests ran).
    assert!((4..=8).contains(&allowed), "{allowed} let through");
    assert_eq!(refused.code(), "RATE_LIMITED");
    assert!(retry_after(&refused) >= 1);
    // Another user has a budget of their own.
    let (_, other) = app.token(Role::Customer);
    assert_eq!(issue(&app, &campaign, &other).await.status, 201);
}

#[tokio::test]
async fn coupon_issue_is_rate_limited_per_ip() {
    let app = spawn_app_with(|c| c.rate_limit_ip_per_s = 1, Arc::new(SystemClock)).await;
    let campaign = app.open_campaign(100).await;
    let (allowed, refused) = until_limited(20, |_| {
        let (_, token) = app.token(Role::Customer);
        let app = &app;
        let campaign = campaign.clone();
        async move { issue(app, &campaign, &token).await }
    })
    .await;
    assert!((2..=5).contains(&allowed), "{allowed} let through");
    assert_eq!(refused.code(), "RATE_LIMITED");
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn redis_rate_limit_is_shared_by_two_nodes() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL not set; skipped");
        return;
    };
    let node = |url: String| {
        spawn_app_with(
            move |c| {
                c.redis_url = Some(url);
                c.rate_limit_user_per_s = 1;
            },
            Arc::new(SystemClock),
        )
    };
    let a = node(url.clone()).await;
    let b = node(url).await;
    // Both nodes share the test JWT secret, so one token works on both.
    let user = UserId::new();
    let token = a.token_for(user, Role::Customer);
    let missing = Uuid::now_v7().to_string();
    let (allowed, refused) = until_limited(10, |i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let (token, missing) = (token.clone(), missing.clone());
        async move { issue(node, &missing, &token).await }
    })
    .await;
    // One budget: a burst of 2 across both nodes (separate budgets would let 4 through).
    assert!((2..=3).contains(&allowed), "{allowed} let through");
    assert_eq!(refused.code(), "RATE_LIMITED");
    assert!(retry_after(&refused) >= 1);
}

// ---------------------------------------------------------------------------------------- logs

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Signup and login bodies carry a password, requests carry bearer tokens: the service's JSON
/// logs, at every level, show neither (nor the JWT secret), yet name the verified user.
#[test]
fn logs_never_contain_passwords_tokens_or_secrets() {
    const PASSWORD: &str = "Pw0rd!secret9";
    let sink = Captured::default();
    // tracing caches each callsite's interest globally. While only one dispatcher is registered,
    // a callsite first hit on another test's thread (which has no subscriber) is cached as "never"
    // and this test's subscriber would miss it; a second live dispatcher makes every callsite ask
    // the current thread's subscriber on each event instead.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let subscriber = hotdeal::telemetry::json_subscriber(
        tracing_subscriber::EnvFilter::new("trace"),
        sink.clone(),
    );
    let (user, token, secret) = tracing::subscriber::with_default(subscriber, || {
        // A current-thread runtime: the server's tasks run on this thread, under this subscriber
        // (so connections are served here too, not on the actor threads).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let app =
                spawn_app_with(|c| c.http_on_actor_threads = false, Arc::new(SystemClock)).await;
            let email = "loggy@example.com";
            app.client
                .sign_up(&hotdeal::client::SignUp {
                    email,
                    password: PASSWORD,
                    nickname: "loggy1",
                    role: "CUSTOMER",
                })
                .await
                .unwrap();
            app.client.login(email, PASSWORD).await.unwrap();
            let (user, token) = app.token(Role::Customer);
            let campaign = app.open_campaign(3).await;
            assert_eq!(issue(&app, &campaign, &token).await.status, 201);
            app.get("/api/v1/coupons", Some(&token)).await;
            let secret = app
                .state
                .config
                .jwt_secret
                .clone()
                .expect("tests set a secret");
            app.stop().await;
            (user, token, secret)
        })
    });
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains(r#""target":"hotdeal::access""#),
        "access log captured:\n{logs}"
    );
    assert!(
        logs.contains(r#""route":"/api/v1/coupons/issue""#),
        "route logged"
    );
    assert!(
        logs.contains(&format!(r#""user_id":"{user}""#)),
        "verified user id logged"
    );
    assert!(!logs.contains(PASSWORD), "password in the logs");
    assert!(!logs.contains(&token), "bearer token in the logs");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "token signature in the logs");
    assert!(!logs.contains(&secret), "JWT secret in the logs");
    for line in logs.lines() {
        serde_json::from_str::<Value>(line).expect("every line is one JSON object");
    }
}
