//! The browser pages over plain HTTP: pages and assets served from the binary with their types
//! and cache validators, Swagger UI without any other origin, the server clock, and the live
//! stock stream (first event, an update after a claim, the bound on open streams).

use std::time::Duration;

use hotdeal::domain::clock::SystemClock;
use hotdeal::http::auth::Role;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_with, spawn_app_with_clock};

async fn raw(app: &TestApp, path: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut req = app.client.http().get(app.url(path));
    if let Some(tag) = if_none_match {
        req = req.header("If-None-Match", tag);
    }
    req.send().await.expect("request sent")
}

#[tokio::test]
async fn pages_and_assets_come_from_the_binary_with_types_and_etags() {
    let app = spawn_app().await;
    for (path, ty) in [
        ("/", "text/html; charset=utf-8"),
        ("/seller", "text/html; charset=utf-8"),
        ("/console", "text/html; charset=utf-8"),
        ("/swagger-ui", "text/html; charset=utf-8"),
        ("/assets/js/store.js", "text/javascript; charset=utf-8"),
        ("/assets/css/app.css", "text/css; charset=utf-8"),
        ("/assets/img/product.svg", "image/svg+xml"),
        (
            "/assets/vendor/swagger-ui/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
        ),
        (
            "/assets/vendor/swagger-ui/swagger-ui.css",
            "text/css; charset=utf-8",
        ),
    ] {
        let res = raw(&app, path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        let h = res.headers().clone();
        assert_eq!(h["content-type"], ty, "{path}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        let etag = h["etag"].to_str().unwrap().to_string();
        if ty.starts_with("text/html") {
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        }
        assert!(!res.bytes().await.unwrap().is_empty(), "{path}");
        let again = raw(&app, path, Some(&etag)).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        assert_eq!(raw(&app, path, Some("\"0-0\"")).await.status(), 200);
    }
    let missing = app.get("/assets/js/nope.js", None).await;
    assert_eq!((missing.status, missing.code()), (404, "NOT_FOUND"));
}

#[tokio::test]
async fn swagger_ui_loads_nothing_from_another_origin() {
    let app = spawn_app().await;
    let html = raw(&app, "/swagger-ui", None).await.text().await.unwrap();
    assert!(html.contains("/assets/vendor/swagger-ui/swagger-ui-bundle.js"));
    assert!(html.contains("/assets/vendor/swagger-ui/swagger-ui.css"));
    assert!(!html.contains("https://"), "{html}");
    assert!(!html.contains("http://"), "{html}");
    let doc = app.get("/v3/api-docs", None).await;
    assert!(doc.body["paths"]["/api/v1/time"]["get"].is_object());
    assert!(doc.body["paths"]["/api/v1/live"]["get"].is_object());
}

#[tokio::test]
async fn the_server_clock_is_the_one_sales_use() {
    let (app, clock) = spawn_app_with_clock(1_700_000_000_000).await;
    let res = app.get("/api/v1/time", None).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.data()["nowMs"], 1_700_000_000_000_i64);
    clock.advance(1_234);
    let res = app.get("/api/v1/time", None).await;
    assert_eq!(res.data()["nowMs"], 1_700_000_001_234_i64);
    assert_eq!(res.headers["cache-control"], "no-store");
}

/// An open event stream: the `data` of its events one by one.
struct Events {
    res: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(app: &TestApp, query: &str) -> Events {
        let res = app
            .client
            .http()
            .get(app.url(&format!("/api/v1/live?{query}")))
            .send()
            .await
            .expect("stream opens");
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        Events {
            res,
            buf: String::new(),
        }
    }

    /// The next `stock` event's data (at most 10 s away).
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let event: String = self.buf.drain(..end + 2).collect();
                    if !event.contains("event: stock") {
                        continue;
                    }
                    let data: String = event
                        .lines()
                        .filter_map(|l| l.strip_prefix("data: "))
                        .collect();
                    return serde_json::from_str(&data).expect("JSON data");
                }
                let chunk = self.res.chunk().await.expect("stream read");
                let chunk = chunk.expect("stream still open");
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an event within 10 s")
    }
}

#[tokio::test]
async fn the_live_stream_sends_the_state_then_each_change() {
    let app = spawn_app().await;
    let campaign = app.open_campaign(3).await;
    let unknown = uuid::Uuid::new_v4();
    let mut events = Events::open(&app, &format!("couponInfoIds={campaign},{unknown}")).await;
    let first = events.next().await;
    let list = first["campaigns"].as_array().unwrap();
    assert_eq!(list.len(), 1, "the unknown campaign is left out: {first}");
    assert_eq!(list[0]["couponInfoId"], campaign.as_str());
    assert_eq!(list[0]["issuedCount"], 0);
    assert_eq!(list[0]["remaining"], 3);
    assert_eq!(list[0]["state"], "OPEN");
    for expected_issued in 1..=3 {
        let (_, token) = app.token(Role::Customer);
        let res = app
            .with_token(&token)
            .issue_coupon(&campaign)
            .await
            .unwrap();
        assert_eq!(res.status, 201);
        // Several claims may land between two reads; wait for this one to show.
        loop {
            let update = events.next().await;
            let c = &update["campaigns"][0];
            let issued = c["issuedCount"].as_i64().unwrap();
            assert!(issued <= expected_issued, "{update}");
            if issued == expected_issued {
                let state = if expected_issued == 3 {
                    "SOLD_OUT"
                } else {
                    "OPEN"
                };
                assert_eq!(c["state"], state, "{update}");
                break;
            }
        }
    }
}

#[tokio::test]
async fn live_streams_are_bounded_and_checked() {
    let app = spawn_app_with(|c| c.live_max_streams = 1, std::sync::Arc::new(SystemClock)).await;
    let campaign = app.open_campaign(1).await;
    let none = app.get("/api/v1/live", None).await;
    assert_eq!((none.status, none.code()), (400, "LIVE_BAD_IDS"));
    let bad = app.get("/api/v1/live?productIds=nope", None).await;
    assert_eq!((bad.status, bad.code()), (400, "LIVE_BAD_IDS"));
    let too_many: Vec<String> = (0..51).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let many = app
        .get(
            &format!("/api/v1/live?productIds={}", too_many.join(",")),
            None,
        )
        .await;
    assert_eq!((many.status, many.code()), (400, "LIVE_BAD_IDS"));

    let mut first = Events::open(&app, &format!("couponInfoIds={campaign}")).await;
    first.next().await;
    let refused = app
        .get(&format!("/api/v1/live?couponInfoIds={campaign}"), None)
        .await;
    assert_eq!((refused.status, refused.code()), (503, "LIVE_STREAMS_FULL"));
    assert!(refused.headers.contains_key("retry-after"));
    drop(first);
    // The slot comes back once the server notices the stream is gone.
    let reopened = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let res = app
                .client
                .http()
                .get(app.url(&format!("/api/v1/live?couponInfoIds={campaign}")))
                .send()
                .await
                .unwrap();
            if res.status() == 200 {
                return res;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the slot is released");
    drop(reopened);
}

#[tokio::test]
async fn a_stream_ends_after_its_lifetime() {
    let app = spawn_app_with(
        |c| c.live_stream_max_s = 1,
        std::sync::Arc::new(SystemClock),
    )
    .await;
    let campaign = app.open_campaign(1).await;
    let mut events = Events::open(&app, &format!("couponInfoIds={campaign}")).await;
    events.next().await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.res.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end");
}
