//! Coupon campaigns and first-come-first-served issuing over HTTP.

use hotdeal::http::auth::Role;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_in};

#[tokio::test]
async fn a_customer_gets_one_coupon_and_sees_it_at_once() {
    let app = spawn_app().await;
    let campaign = app.open_campaign(10).await;
    let (_, token) = app.token(Role::Customer);
    let res = app
        .post(
            "/api/v1/coupons/issue",
            &json!({"couponInfoId": campaign}),
            Some(&token),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let coupon = res.data()["couponId"].as_str().unwrap().to_string();
    let again = app
        .post(
            "/api/v1/coupons/issue",
            &json!({"couponInfoId": campaign}),
            Some(&token),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "CO006"));
    // read-your-writes: listed immediately
    let mine = app.get("/api/v1/coupons?isUsed=false", Some(&token)).await;
    assert_eq!(mine.status, 200);
    let list = mine.data().as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["couponId"], coupon.as_str());
    assert_eq!(list[0]["used"], false);
    let detail = app
        .get(&format!("/api/v1/coupons/{coupon}"), Some(&token))
        .await;
    assert_eq!(detail.status, 200);
    // another customer cannot see it
    let (_, other) = app.token(Role::Customer);
    assert_eq!(
        app.get(&format!("/api/v1/coupons/{coupon}"), Some(&other))
            .await
            .status,
        404
    );
    // live count
    let info = app
        .get(&format!("/api/v1/coupon-infos/{campaign}"), Some(&token))
        .await;
    assert_eq!(info.data()["issuedCount"], 1);
    assert_eq!(info.data()["status"], "ISSUED");
}

#[tokio::test]
async fn sold_out_pending_and_unknown_campaigns_are_refused_with_codes() {
    let app = spawn_app().await;
    let campaign = app.open_campaign(1).await;
    let (_, a) = app.token(Role::Customer);
    let (_, b) = app.token(Role::Customer);
    assert_eq!(
        app.post(
            "/api/v1/coupons/issue",
            &json!({"couponInfoId": campaign}),
            Some(&a)
        )
        .await
        .status,
        201
    );
    let res = app
        .post(
            "/api/v1/coupons/issue",
            &json!({"couponInfoId": campaign}),
            Some(&b),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "CO005"));
    let info = app
        .get(&format!("/api/v1/coupon-infos/{campaign}"), Some(&a))
        .await;
    assert_eq!(info.data()["status"], "OUT_OF_STOCK");
    let unknown = uuid::Uuid::new_v4();
    let res = app
        .post(
            "/api/v1/coupons/issue",
            &json!({"couponInfoId": unknown}),
            Some(&a),
        )
        .await;
    assert_eq!((res.status, res.code()), (404, "CO001"));
    // a campaign that is still PENDING
    let (_, admin) = app.token(Role::Master);
    let created = app
        .post(
            "/api/v1/coupon-infos",
            &json!({"name": "later", "quantity": 5, "couponType": "FIRST_COME_FIRST_SERVE",
                    "discountAmount": 500, "minOrderAmount": 0, "expirationDate": "2099-01-01"}),
            Some(&admin),
        )
        .await;
    let pending = created.data()["couponId"].as_str().unwrap();
    let res = app
        .post(
            "/api/v1/coupons/issue",
            &json!({"couponInfoId": pending}),
            Some(&a),
        )
        .await;
    assert_eq!((res.status, res.code()), (409, "CO004"));
}

#[tokio::test]
async fn only_staff_manage_campaigns_and_bad_input_gets_a_code() {
    let app = spawn_app().await;
    let (_, customer) = app.token(Role::Customer);
    let body = json!({"name": "x", "quantity": 5, "couponType": "FIRST_COME_FIRST_SERVE",
                      "discountAmount": 500, "minOrderAmount": 0, "expirationDate": "2099-01-01"});
    let res = app
        .post("/api/v1/coupon-infos", &body, Some(&customer))
        .await;
    assert_eq!((res.status, res.code()), (403, "FORBIDDEN"));
    assert_eq!(
        app.post("/api/v1/coupon-infos", &body, None).await.status,
        401
    );
    let (_, admin) = app.token(Role::Manager);
    for (bad, why) in [
        (
            json!({"name": "x", "quantity": -1, "couponType": "FIRST_COME_FIRST_SERVE", "discountAmount": 1, "minOrderAmount": 0, "expirationDate": "2099-01-01"}),
            "negative quantity",
        ),
        (
            json!({"name": "x", "quantity": 1, "couponType": "WEEKLY", "discountAmount": 1, "minOrderAmount": 0, "expirationDate": "2099-01-01"}),
            "unknown type",
        ),
        (
            json!({"name": "x", "quantity": 1, "couponType": "FIRST_COME_FIRST_SERVE", "discountAmount": 1, "minOrderAmount": 0, "expirationDate": "2001-01-01"}),
            "expired",
        ),
        (json!({"name": "x", "quantity": "many"}), "wrong types"),
        (json!({}), "missing fields"),
    ] {
        let res = app.post("/api/v1/coupon-infos", &bad, Some(&admin)).await;
        assert_eq!(res.status, 400, "{why}: {:?}", res.body);
        assert!(!res.code().is_empty(), "{why}");
    }
    let res = app
        .post_raw(
            "/api/v1/coupons/issue",
            "application/json",
            b"{not json".to_vec(),
            Some(&customer),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "INVALID_JSON"));
    let huge = vec![b' '; 2 * 1024 * 1024];
    let res = app
        .post_raw(
            "/api/v1/coupons/issue",
            "application/json",
            huge,
            Some(&customer),
        )
        .await;
    assert_eq!(res.status, 413);
    let res = app
        .post_raw(
            "/api/v1/coupons/issue",
            "text/plain",
            b"{}".to_vec(),
            Some(&customer),
        )
        .await;
    assert_eq!(res.status, 415);
    // an expired or foreign-signed token
    let res = app
        .post(
            "/api/v1/coupons/issue",
            &json!({"couponInfoId": uuid::Uuid::new_v4()}),
            Some("abc.def.ghi"),
        )
        .await;
    assert_eq!((res.status, res.code()), (401, "UNAUTHORIZED"));
}

#[tokio::test]
async fn issued_coupons_survive_a_graceful_restart_and_a_crash() {
    let app = spawn_app().await;
    let campaign = app.open_campaign(100).await;
    let mut holders = Vec::new();
    for _ in 0..20 {
        let (user, token) = app.token(Role::Customer);
        let res = app
            .post(
                "/api/v1/coupons/issue",
                &json!({"couponInfoId": campaign}),
                Some(&token),
            )
            .await;
        assert_eq!(res.status, 201);
        holders.push(user);
    }
    // graceful: snapshot at shutdown, then recovery from it
    let dir = app.stop().await;
    assert!(
        std::fs::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .count()
            >= 1
    );
    let app = spawn_app_in(dir, |_| {}).await;
    for user in &holders[..20] {
        let token = app.token_for(*user, Role::Customer);
        let res = app
            .post(
                "/api/v1/coupons/issue",
                &json!({"couponInfoId": campaign}),
                Some(&token),
            )
            .await;
        assert_eq!(res.code(), "CO006", "holder lost after restart");
    }
    // more claims, then a crash: no snapshot, recovery from the journal
    for _ in 0..10 {
        let (user, token) = app.token(Role::Customer);
        assert_eq!(
            app.post(
                "/api/v1/coupons/issue",
                &json!({"couponInfoId": campaign}),
                Some(&token)
            )
            .await
            .status,
            201
        );
        holders.push(user);
    }
    let dir = app.crash().await;
    let app = spawn_app_in(dir, |_| {}).await;
    let (_, admin) = app.token(Role::Master);
    let info = app
        .get(&format!("/api/v1/coupon-infos/{campaign}"), Some(&admin))
        .await;
    assert_eq!(info.data()["issuedCount"], 30);
    for user in &holders {
        let token = app.token_for(*user, Role::Customer);
        let res = app
            .post(
                "/api/v1/coupons/issue",
                &json!({"couponInfoId": campaign}),
                Some(&token),
            )
            .await;
        assert_eq!(res.code(), "CO006");
    }
    // the database agrees once the write-behind caught up
    let audit = app.get("/api/v1/admin/audit", Some(&admin)).await;
    assert_eq!(audit.status, 200, "{:?}", audit.body);
    assert_eq!(audit.data()["caughtUp"], true);
    assert_eq!(
        audit.data()["differences"].as_array().unwrap().len(),
        0,
        "{:?}",
        audit.body
    );
}

#[tokio::test]
async fn an_idempotent_retry_of_an_issue_gets_the_first_answer() {
    let app = spawn_app().await;
    let campaign = app.open_campaign(10).await;
    let (_, token) = app.token(Role::Customer);
    let send = |campaign: String, key: &'static str| {
        app.client
            .post(app.url("/api/v1/coupons/issue"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&json!({"couponInfoId": campaign}))
            .send()
    };
    let first = send(campaign.clone(), "k1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let retry = send(campaign.clone(), "k1").await.unwrap();
    assert_eq!(
        retry.status(),
        201,
        "a retry is answered like the first time, not CO006"
    );
    let retry: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(retry["data"]["couponId"], first["data"]["couponId"]);
    let other = app.open_campaign(10).await;
    assert_eq!(send(other, "k1").await.unwrap().status(), 422);
    let info = app
        .get(&format!("/api/v1/coupon-infos/{campaign}"), Some(&token))
        .await;
    assert_eq!(info.data()["issuedCount"], 1);
}
