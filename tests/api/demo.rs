//! `hotdeal serve --demo`: the demo store on an empty database, nothing changed on a second start
//! or on a database that holds data, and the images it serves.

use std::sync::Arc;

use hotdeal::cli::demo::{
    self, ADMIN_EMAIL, ADMIN_PASSWORD, DemoOutcome, PRODUCTS, SALE_DELAY_MS, SELLER_EMAIL,
    SELLER_PASSWORD, SHOPPER_EMAIL, SHOPPER_PASSWORD,
};
use hotdeal::config::Config;
use hotdeal::domain::clock::SystemClock;
use hotdeal::http::auth::Role;
use hotdeal::startup::Application;
use serde_json::{Value, json};
use sqlx::Row;

use crate::helpers::{TestApp, spawn_app, spawn_app_in, spawn_app_with};

/// Log in; the bare access token, or the failed response's status.
async fn login(app: &TestApp, email: &str, password: &str) -> Result<String, u16> {
    let res = app
        .client
        .login(email, password)
        .await
        .expect("request sent");
    if res.status != 200 {
        return Err(res.status);
    }
    let token = res.data()["accessToken"].as_str().unwrap();
    Ok(token.trim_start_matches("Bearer ").to_string())
}

/// Rows per table, to show that nothing changed.
async fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "p_user",
        "p_email",
        "p_address",
        "p_companies",
        "p_product",
        "p_promotion",
        "p_coupon_info",
        "p_coupon",
        "p_order",
    ] {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        out.push((table, n));
    }
    out
}

#[tokio::test]
async fn on_an_empty_database_the_demo_seeds_a_store_to_shop_in() {
    let app = spawn_app().await;
    let started = app.state.now_ms();
    let DemoOutcome::Seeded(store) = demo::seed(&app.state).await.expect("demo seeds") else {
        panic!("an empty database is seeded");
    };

    // Five products with images served by this binary.
    let res = app.get("/api/v1/products?size=20", None).await;
    assert_eq!(
        res.data()["totalElements"],
        PRODUCTS.len(),
        "{:?}",
        res.body
    );
    for p in res.data()["content"].as_array().unwrap() {
        let thumb = p["thumbImg"].as_str().unwrap();
        assert!(
            thumb.starts_with(&format!("{}/demo/img/", app.address)) && thumb.ends_with(".svg"),
            "{thumb}"
        );
    }
    assert_eq!(store.products.len(), PRODUCTS.len());

    // The company is approved; the MASTER is the demo one.
    assert!(store.demo_admin);
    let admin = login(&app, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await
        .expect("the demo MASTER logs in");
    let res = app
        .get(
            &format!("/api/v1/companies/{}", store.company),
            Some(&admin),
        )
        .await;
    assert_eq!(res.data()["status"], "APPROVED", "{:?}", res.body);

    // The time sale starts a minute after start.
    let res = app
        .get(&format!("/api/v1/promotions/{}", store.promotion), None)
        .await;
    assert_eq!(res.data()["status"], "PENDING", "{:?}", res.body);
    assert_eq!(res.data()["productId"], store.products[0].to_string());
    let start = chrono::DateTime::parse_from_rfc3339(res.data()["start"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert!(
        (started + SALE_DELAY_MS..started + SALE_DELAY_MS + 5_000).contains(&start),
        "starts at {start}, {} ms after {started}",
        start - started
    );

    // The campaign is open: the demo shopper claims a coupon at once, and has an address.
    let shopper = login(&app, SHOPPER_EMAIL, SHOPPER_PASSWORD)
        .await
        .expect("the demo shopper logs in");
    let res = app
        .with_token(&shopper)
        .issue_coupon(store.campaign)
        .await
        .unwrap();
    assert_eq!(res.status, 201, "{:?}", res.body);
    let res = app.get("/api/v1/address", Some(&shopper)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        res.data()["content"]
            .as_array()
            .or(res.data().as_array())
            .map(Vec::len),
        Some(1),
        "{:?}",
        res.body
    );

    // The seller manages the company's products.
    let seller = login(&app, SELLER_EMAIL, SELLER_PASSWORD)
        .await
        .expect("the demo seller logs in");
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/products/{}", store.products[1]),
            Some(&json!({"price": 119_000})),
            Some(&seller),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);

    let banner = demo::banner(&app.state, &DemoOutcome::Seeded(store));
    for line in [
        SHOPPER_EMAIL,
        SHOPPER_PASSWORD,
        SELLER_PASSWORD,
        ADMIN_PASSWORD,
        "/swagger-ui",
    ] {
        assert!(banner.contains(line), "no {line} in {banner}");
    }
}

#[tokio::test]
async fn a_second_start_with_the_demo_changes_nothing() {
    let app = spawn_app().await;
    assert!(matches!(
        demo::seed(&app.state).await.unwrap(),
        DemoOutcome::Seeded(_)
    ));
    let before = row_counts(&app).await;
    let products = app.get("/api/v1/products?size=20", None).await.body;
    let dir = app.stop().await;

    let app = spawn_app_in(dir, |_| {}).await;
    assert_eq!(
        demo::seed(&app.state).await.unwrap(),
        DemoOutcome::AlreadySeeded
    );
    assert_eq!(row_counts(&app).await, before);
    let again = app.get("/api/v1/products?size=20", None).await.body;
    assert_eq!(again["data"], products["data"]);
    login(&app, SHOPPER_EMAIL, SHOPPER_PASSWORD)
        .await
        .expect("the same shopper");
}

#[tokio::test]
async fn a_database_that_holds_data_is_left_alone() {
    let app = spawn_app().await;
    app.open_campaign(10).await;
    let before = row_counts(&app).await;
    assert_eq!(
        demo::seed(&app.state).await.unwrap(),
        DemoOutcome::LeftAlone
    );
    assert_eq!(row_counts(&app).await, before);
    assert_eq!(
        login(&app, SHOPPER_EMAIL, SHOPPER_PASSWORD).await,
        Err(401),
        "no demo account"
    );
    let banner = demo::banner(&app.state, &DemoOutcome::LeftAlone);
    assert!(banner.contains("no demo store was added"), "{banner}");
}

#[tokio::test]
async fn with_a_configured_admin_the_demo_makes_no_master_of_its_own() {
    let app = spawn_app_with(
        |c| {
            c.admin_email = Some("ops@example.com".into());
            c.admin_password = Some("Ops-pass12".into());
        },
        Arc::new(SystemClock),
    )
    .await;
    // The configured admin exists already; the database still counts as empty.
    let DemoOutcome::Seeded(store) = demo::seed(&app.state).await.unwrap() else {
        panic!("a database with only the configured admin is seeded");
    };
    assert!(!store.demo_admin);
    assert_eq!(store.admin_email, "ops@example.com");
    assert_eq!(login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await, Err(401));
    let (_, master) = app.token(Role::Master);
    let res = app
        .get(
            &format!("/api/v1/coupon-infos/{}", store.campaign),
            Some(&master),
        )
        .await;
    assert_eq!(res.data()["status"], "ISSUED", "{:?}", res.body);
}

#[tokio::test]
async fn the_demo_images_are_served_by_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let app = Application::build(Config::for_tests(dir.path()))
        .await
        .expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_with_routes(demo::routes(), async move {
        let _ = rx.await;
    }));
    for (image, title, ..) in PRODUCTS {
        let res = reqwest::get(format!("{base}/demo/img/{image}.svg"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{image}");
        assert_eq!(res.headers()["content-type"], "image/svg+xml");
        let svg = res.text().await.unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        let first_word = title.split_whitespace().next().unwrap();
        assert!(svg.contains(first_word), "{svg}");
    }
    let res = reqwest::get(format!("{base}/demo/img/nothing.svg"))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "NOT_FOUND");
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn the_demo_seeds_mysql_once() {
    let Some(db) = crate::helpers::TestDb::mysql().await else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    let url = db.url.clone();
    let app = spawn_app_with(|c| c.database_url = url.clone(), Arc::new(SystemClock)).await;
    assert!(matches!(
        demo::seed(&app.state).await.unwrap(),
        DemoOutcome::Seeded(_)
    ));
    let before = row_counts(&app).await;
    let dir = app.stop().await;
    let app = spawn_app_in(dir, |c| c.database_url = url).await;
    assert_eq!(
        demo::seed(&app.state).await.unwrap(),
        DemoOutcome::AlreadySeeded
    );
    assert_eq!(row_counts(&app).await, before);
    login(&app, SHOPPER_EMAIL, SHOPPER_PASSWORD)
        .await
        .expect("the demo shopper logs in");
}
