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
        .with_token(&token)
        .issue_coupon(&campaign)
        .await
        .unwrap();
    assert_eq!(res.status, 201, "{:?}", res.body);
    let coupon = res.data()["couponId"].as_str().unwrap().to_string();
    let again = app
        .with_token(&token)
        .issue_coupon(&campaign)
        .await
        .unwrap();
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
        app.with_token(&a)
            .issue_coupon(&campaign)
            .await
            .unwrap()
            .status,
        201
    );
    let res = app.with_token(&b).issue_coupon(&campaign).await.unwrap();
    assert_eq!((res.status, res.code()), (409, "CO005"));
    let info = app
        .get(&format!("/api/v1/coupon-infos/{campaign}"), Some(&a))
        .await;
    assert_eq!(info.data()["status"], "OUT_OF_STOCK");
    let unknown = uuid::Uuid::new_v4();
    let res = app.with_token(&a).issue_coupon(unknown).await.unwrap();
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
    let res = app.with_token(&a).issue_coupon(pending).await.unwrap();
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
    // Just past the limit: the server drains it and answers 413 on a connection it keeps. (A
    // body too large to drain is refused with `Connection: close` while the client may still be
    // writing it; tests/api/protocol.rs checks that case on a raw socket.)
    let huge = vec![b' '; app.state.config.request_body_limit_bytes + 10];
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
        .with_token("abc.def.ghi")
        .issue_coupon(uuid::Uuid::new_v4())
        .await
        .unwrap();
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
            .with_token(&token)
            .issue_coupon(&campaign)
            .await
            .unwrap();
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
            .with_token(&token)
            .issue_coupon(&campaign)
            .await
            .unwrap();
        assert_eq!(res.code(), "CO006", "holder lost after restart");
    }
    // more claims, then a crash: no snapshot, recovery from the journal
    for _ in 0..10 {
        let (user, token) = app.token(Role::Customer);
        assert_eq!(
            app.with_token(&token)
                .issue_coupon(&campaign)
                .await
                .unwrap()
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
            .with_token(&token)
            .issue_coupon(&campaign)
            .await
            .unwrap();
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
    let client = app.with_token(&token);
    let send =
        |campaign: String, key: &'static str| client.issue_coupon(campaign).idempotency_key(key);
    let first = send(campaign.clone(), "k1").await.unwrap();
    assert_eq!(first.status, 201);
    let first: serde_json::Value = serde_json::from_slice(&first.raw).unwrap();
    let retry = send(campaign.clone(), "k1").await.unwrap();
    assert_eq!(
        retry.status, 201,
        "a retry is answered like the first time, not CO006"
    );
    let retry: serde_json::Value = serde_json::from_slice(&retry.raw).unwrap();
    assert_eq!(retry["data"]["couponId"], first["data"]["couponId"]);
    let other = app.open_campaign(10).await;
    assert_eq!(send(other, "k1").await.unwrap().status, 422);
    let info = app
        .get(&format!("/api/v1/coupon-infos/{campaign}"), Some(&token))
        .await;
    assert_eq!(info.data()["issuedCount"], 1);
}

fn campaign_body(name: &str, quantity: i64, discount: i64) -> serde_json::Value {
    json!({
        "name": name, "quantity": quantity, "couponType": "FIRST_COME_FIRST_SERVE",
        "discountAmount": discount, "minOrderAmount": 0, "expirationDate": "2099-12-31"
    })
}

#[tokio::test]
async fn a_pending_campaign_is_updated_through_the_engine_and_an_open_one_is_not() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Manager);
    let created = app
        .post(
            "/api/v1/coupon-infos",
            &campaign_body("spring", 5, 500),
            Some(&admin),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.data()["couponId"].as_str().unwrap().to_string();
    let path = format!("/api/v1/coupon-infos/{id}");
    let update = json!({
        "name": "summer", "quantity": 7, "couponType": "DAILY_COUPON",
        "discountAmount": 800, "minOrderAmount": 3000, "expirationDate": "2098-06-30",
        "issueStartAt": 1_000, "issueEndAt": 4_102_444_800_000_i64
    });
    let (_, customer) = app.token(Role::Customer);
    let res = app
        .request(reqwest::Method::PUT, &path, Some(&update), Some(&customer))
        .await;
    assert_eq!((res.status, res.code()), (403, "FORBIDDEN"));
    let mut bad = update.clone();
    bad["quantity"] = json!(0);
    let res = app
        .request(reqwest::Method::PUT, &path, Some(&bad), Some(&admin))
        .await;
    assert_eq!((res.status, res.code()), (400, "CO014"));
    let res = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/v1/coupon-infos/{}", uuid::Uuid::now_v7()),
            Some(&update),
            Some(&admin),
        )
        .await;
    assert_eq!((res.status, res.code()), (404, "CO001"));
    let res = app
        .request(reqwest::Method::PUT, &path, Some(&update), Some(&admin))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let d = app.get(&path, Some(&admin)).await.data().clone();
    assert_eq!(
        (
            d["name"].as_str(),
            d["quantity"].as_i64(),
            d["couponType"].as_str(),
            d["discountAmount"].as_i64(),
            d["minOrderAmount"].as_i64(),
            d["expirationDate"].as_str(),
            d["issueStartAt"].as_i64(),
            d["status"].as_str()
        ),
        (
            Some("summer"),
            Some(7),
            Some("DAILY_COUPON"),
            Some(800),
            Some(3000),
            Some("2098-06-30"),
            Some(1_000),
            Some("PENDING")
        )
    );
    // open it: no more edits
    let res = app
        .request(
            reqwest::Method::PATCH,
            &format!("{path}/status"),
            Some(&json!({"status": "ISSUED"})),
            Some(&admin),
        )
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .request(reqwest::Method::PUT, &path, Some(&update), Some(&admin))
        .await;
    assert_eq!((res.status, res.code()), (409, "CO004"));
}

#[tokio::test]
async fn the_campaign_list_pages_filters_and_hides_unopened_ones_from_shoppers() {
    let app = spawn_app().await;
    let (_, admin) = app.token(Role::Master);
    let open = app.open_campaign(3).await;
    let pending = app
        .post(
            "/api/v1/coupon-infos",
            &campaign_body("Quiet Pending Deal", 5, 2_000),
            Some(&admin),
        )
        .await
        .data()["couponId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, customer) = app.token(Role::Customer);
    app.with_token(&customer).issue_coupon(&open).await.unwrap();

    let all = app.get("/api/v1/coupon-infos", Some(&admin)).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(all.data()["totalElements"], 2);
    let sorted = app
        .get(
            "/api/v1/coupon-infos?sort=discountAmount,desc&size=1",
            Some(&admin),
        )
        .await;
    assert_eq!(sorted.data()["content"][0]["couponId"], pending.as_str());
    assert_eq!(sorted.data()["totalPages"], 2);
    let searched = app
        .get("/api/v1/coupon-infos?search=quiet", Some(&admin))
        .await;
    assert_eq!(searched.data()["totalElements"], 1);
    let by_status = app
        .get("/api/v1/coupon-infos?couponStatus=PENDING", Some(&admin))
        .await;
    assert_eq!(by_status.data()["content"][0]["couponId"], pending.as_str());

    // shoppers and sellers only see ISSUED campaigns, with live counters
    for role in [Role::Customer, Role::Seller] {
        let (_, token) = app.token(role);
        let list = app.get("/api/v1/coupon-infos", Some(&token)).await;
        assert_eq!(list.data()["totalElements"], 1, "{:?}", list.body);
        let row = &list.data()["content"][0];
        assert_eq!(row["couponId"], open.as_str());
        assert_eq!(
            (row["issuedCount"].as_i64(), row["status"].as_str()),
            (Some(1), Some("ISSUED"))
        );
        let hidden = app
            .get("/api/v1/coupon-infos?couponStatus=PENDING", Some(&token))
            .await;
        assert_eq!(hidden.data()["totalElements"], 0);
    }

    for bad in ["sort=name,asc", "couponStatus=GONE", "size=0", "page=-1"] {
        let res = app
            .get(&format!("/api/v1/coupon-infos?{bad}"), Some(&admin))
            .await;
        assert_eq!((res.status, res.code()), (400, "CO014"), "{bad}");
    }
    assert_eq!(app.get("/api/v1/coupon-infos", None).await.status, 401);
}

#[tokio::test]
async fn staff_soft_delete_an_issued_coupon_and_it_stays_counted() {
    let app = spawn_app().await;
    let campaign = app.open_campaign(5).await;
    let (_, customer) = app.token(Role::Customer);
    let coupon = app
        .with_token(&customer)
        .issue_coupon(&campaign)
        .await
        .unwrap()
        .data()["couponId"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/coupons/{coupon}");
    let res = app
        .request(reqwest::Method::DELETE, &path, None, Some(&customer))
        .await;
    assert_eq!((res.status, res.code()), (403, "FORBIDDEN"));
    let (_, manager) = app.token(Role::Manager);
    let res = app
        .request(reqwest::Method::DELETE, &path, None, Some(&manager))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(app.get(&path, Some(&customer)).await.status, 404);
    let mine = app.get("/api/v1/coupons", Some(&customer)).await;
    assert_eq!(mine.data().as_array().unwrap().len(), 0);
    let again = app
        .request(reqwest::Method::DELETE, &path, None, Some(&manager))
        .await;
    assert_eq!((again.status, again.code()), (404, "CO002"));
    let bad = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/coupons/not-a-uuid",
            None,
            Some(&manager),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (400, "CO014"));
    // still counted as issued, and the holder cannot get a second one
    let info = app
        .get(&format!("/api/v1/coupon-infos/{campaign}"), Some(&manager))
        .await;
    assert_eq!(info.data()["issuedCount"], 1);
    let second = app
        .with_token(&customer)
        .issue_coupon(&campaign)
        .await
        .unwrap();
    assert_eq!((second.status, second.code()), (409, "CO006"));
}

#[tokio::test]
async fn an_unpublished_campaign_is_only_shown_to_staff() {
    let app = spawn_app().await;
    let (_, manager) = app.token(Role::Manager);
    let created = app
        .post(
            "/api/v1/coupon-infos",
            &campaign_body("not yet", 5, 500),
            Some(&manager),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.data()["couponId"].as_str().unwrap().to_string();
    let path = format!("/api/v1/coupon-infos/{id}");
    let (_, customer) = app.token(Role::Customer);
    let (_, seller) = app.token(Role::Seller);
    let (_, master) = app.token(Role::Master);
    for token in [&customer, &seller] {
        let res = app.get(&path, Some(token)).await;
        assert_eq!((res.status, res.code()), (404, "CO001"), "{:?}", res.body);
        let list = app.get("/api/v1/coupon-infos?size=100", Some(token)).await;
        assert_eq!(list.status, 200, "{:?}", list.body);
        assert!(
            !list.data()["content"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["couponId"] == id.as_str()),
            "listed to a shopper: {:?}",
            list.body
        );
    }
    assert_eq!(app.get(&path, None).await.status, 401);
    for token in [&manager, &master] {
        let res = app.get(&path, Some(token)).await;
        assert_eq!(res.status, 200, "{:?}", res.body);
        assert_eq!(res.data()["status"], "PENDING");
    }
    // Published: everyone signed in sees it.
    let res = app
        .request(
            reqwest::Method::PATCH,
            &format!("{path}/status"),
            Some(&json!({"status": "ISSUED"})),
            Some(&manager),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    for token in [&customer, &seller] {
        assert_eq!(app.get(&path, Some(token)).await.status, 200);
    }
    // Back to PENDING: hidden again.
    let res = app
        .request(
            reqwest::Method::PATCH,
            &format!("{path}/status"),
            Some(&json!({"status": "PENDING"})),
            Some(&manager),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(app.get(&path, Some(&customer)).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_racing_the_opening_of_a_campaign_never_lands_after_it() {
    use hotdeal::domain::campaign::CampaignStatus;
    use hotdeal::domain::event::Event;

    const ROUNDS: usize = 60;
    let app = spawn_app().await;
    let (_, manager) = app.token(Role::Manager);
    let mut rounds = Vec::new();
    for i in 0..ROUNDS {
        let created = app
            .post(
                "/api/v1/coupon-infos",
                &campaign_body(&format!("race {i}"), 5, 500),
                Some(&manager),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let id = created.data()["couponId"].as_str().unwrap().to_string();
        let path = format!("/api/v1/coupon-infos/{id}");
        // The campaign actor is loaded before the race, so both requests reach it at once.
        assert_eq!(app.get(&path, Some(&manager)).await.status, 200);
        let update = campaign_body(&format!("race {i} updated"), 7, 600);
        let open = json!({"status": "ISSUED"});
        let status_path = format!("{path}/status");
        let (put, patch) = tokio::join!(
            app.request(reqwest::Method::PUT, &path, Some(&update), Some(&manager)),
            app.request(
                reqwest::Method::PATCH,
                &status_path,
                Some(&open),
                Some(&manager)
            ),
        );
        assert_eq!(patch.status, 200, "{:?}", patch.body);
        assert!(
            put.status == 200 || (put.status, put.code()) == (409, "CO004"),
            "{:?}",
            put.body
        );
        rounds.push((id.parse::<uuid::Uuid>().unwrap(), put.status));
    }
    // The journal holds each campaign's decisions in the order its actor took them.
    let dir = app.crash().await;
    let mut events: Vec<Event> = Vec::new();
    hotdeal::persistence::journal::read_journal(&dir.path().join("data/journal"), 0, |_, e| {
        events.push(e)
    })
    .unwrap();
    let (mut updated, mut refused) = (0, 0);
    for (id, put_status) in rounds {
        let mut opened = false;
        let mut configured = 0;
        for e in &events {
            match e {
                Event::CampaignStatusSet {
                    campaign, status, ..
                } if campaign.0 == id && *status == CampaignStatus::Issued => opened = true,
                Event::CampaignConfigured { campaign, .. } if campaign.0 == id => {
                    assert!(!opened, "campaign {id} was changed after it opened");
                    configured += 1;
                }
                _ => {}
            }
        }
        assert!(opened, "campaign {id} never opened");
        if put_status == 200 {
            assert_eq!(configured, 1, "campaign {id}");
            updated += 1;
        } else {
            assert_eq!(configured, 0, "a refused update changed campaign {id}");
            refused += 1;
        }
    }
    assert_eq!(updated + refused, ROUNDS);
}
