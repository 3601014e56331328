//! Catalog API: companies, products, time sales and reviews over HTTP, a role x endpoint
//! authorization matrix, bad input, and a time sale driven through its phases by a manual clock.

use hotdeal::domain::ids::{ItemId, OrderId, UserId};
use hotdeal::engine::{LineRequest, OrderReservation};
use hotdeal::http::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, spawn_app, spawn_app_with_clock};

// ------------------------------------------------------------------------------- fixtures

fn brn() -> i64 {
    1_000_000_000 + (uuid::Uuid::new_v4().as_u128() % 8_999_999_999) as i64
}

fn company_body() -> Value {
    json!({
        "businessRegistrationNumber": brn(), "companyPhoneNumber": 212345678,
        "brandName": "Hot Brand", "companyEmail": "shop@brand.co.kr", "status": "APPROVED"
    })
}

fn product_body(company: &str, price: i64, quantity: i64) -> Value {
    json!({
        "name": "Flash Sneakers", "price": price, "quantity": quantity, "category": "FASHION",
        "companyId": company, "description": "limited run of red sneakers",
        "thumbImg": "https://cdn.example.com/thumb.png",
        "detailImgs": ["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"]
    })
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> TestResponse {
    app.request(method, path, body, token).await
}

async fn patch(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> TestResponse {
    send(app, Method::PATCH, path, Some(body), token).await
}

async fn put(app: &TestApp, path: &str, body: &Value, token: Option<&str>) -> TestResponse {
    send(app, Method::PUT, path, Some(body), token).await
}

async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> TestResponse {
    send(app, Method::DELETE, path, None, token).await
}

/// A company registered by `seller` (REQUESTED).
async fn requested_company(app: &TestApp, seller: &str) -> String {
    let res = app
        .post("/api/v1/companies", &company_body(), Some(seller))
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.data()["companyId"].as_str().unwrap().to_string()
}

/// A company registered by `seller` and approved by a MASTER.
async fn approved_company(app: &TestApp, seller: &str) -> String {
    let id = requested_company(app, seller).await;
    let (_, master) = app.token(Role::Master);
    let res = patch(
        app,
        &format!("/api/v1/companies/{id}/status"),
        &json!({"status": "APPROVED"}),
        Some(&master),
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    id
}

async fn new_product(
    app: &TestApp,
    token: &str,
    company: &str,
    price: i64,
    quantity: i64,
) -> String {
    let res = app
        .post(
            "/api/v1/products",
            &product_body(company, price, quantity),
            Some(token),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.data()["productId"].as_str().unwrap().to_string()
}

/// A seller with an approved company and one product (price 10,000, 10 units).
struct Shop {
    seller: String,
    company: String,
    product: String,
}

async fn shop(app: &TestApp) -> Shop {
    let (_, seller) = app.token(Role::Seller);
    let company = approved_company(app, &seller).await;
    let product = new_product(app, &seller, &company, 10_000, 10).await;
    Shop {
        seller,
        company,
        product,
    }
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn promotion_body(product: &str, start_ms: i64, end_ms: i64, price: i64, quantity: i64) -> Value {
    json!({"productId": product, "start": at(start_ms), "end": at(end_ms),
           "discountPrice": price, "quantity": quantity})
}

/// A COMPLETE (or other status) order of `user` for `product`, written as the orders feature
/// would write it.
async fn order_with(app: &TestApp, user: UserId, product: &str, status: &str) -> String {
    let order = uuid::Uuid::now_v7().to_string();
    let now = app.state.now_ms();
    sqlx::query(
        "INSERT INTO p_order (id, user_id, address_id, status, total_amount, discount_amount, \
         pay_amount, name, created_at, updated_at) VALUES (?, ?, ?, ?, 10000, 0, 10000, 'order', ?, ?)",
    )
    .bind(&order)
    .bind(user.to_string())
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(status)
    .bind(now)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO p_order_product (id, order_id, product_id, product_name, quantity, price, \
         created_at, updated_at) VALUES (?, ?, ?, 'Flash Sneakers', 1, 10000, ?, ?)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&order)
    .bind(product)
    .bind(now)
    .bind(now)
    .execute(&app.state.db.pool)
    .await
    .unwrap();
    order
}

fn review_body(order: &str, product: &str, rating: f64) -> Value {
    json!({"orderId": order, "productId": product, "rating": rating, "review": "great shoes",
           "reviewImgs": ["https://cdn.example.com/r.png"]})
}

// ------------------------------------------------------------------------------ companies

#[tokio::test]
async fn companies_start_requested_are_decided_once_and_stay_with_their_manager() {
    let app = spawn_app().await;
    let (seller_id, seller) = app.token(Role::Seller);
    let (_, other) = app.token(Role::Seller);
    let (_, manager) = app.token(Role::Manager);
    let body = company_body();
    let res = app.post("/api/v1/companies", &body, Some(&seller)).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let id = res.data()["companyId"].as_str().unwrap().to_string();

    // the body said APPROVED: ignored; the id is in the view; the manager is the caller
    let got = app
        .get(&format!("/api/v1/companies/{id}"), Some(&seller))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.data()["companyId"], id.as_str());
    assert_eq!(got.data()["status"], "REQUESTED");
    assert_eq!(got.data()["managerId"], seller_id.to_string().as_str());
    assert_eq!(
        got.data()["businessRegistrationNumber"],
        body["businessRegistrationNumber"]
    );

    // duplicate registration number
    let dup = app.post("/api/v1/companies", &body, Some(&other)).await;
    assert_eq!((dup.status, dup.code()), (409, "CA006"));

    // decision: only APPROVED or REJECTED, only once
    let status_path = format!("/api/v1/companies/{id}/status");
    let bad = patch(
        &app,
        &status_path,
        &json!({"status": "PENDING"}),
        Some(&manager),
    )
    .await;
    assert_eq!((bad.status, bad.code()), (400, "CA002"));
    let ok = patch(
        &app,
        &status_path,
        &json!({"status": "approved"}),
        Some(&manager),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.data()["status"], "APPROVED");
    let again = patch(
        &app,
        &status_path,
        &json!({"status": "REJECTED"}),
        Some(&manager),
    )
    .await;
    assert_eq!((again.status, again.code()), (409, "CA009"));

    // edits: the manager yes, another seller no, a seller cannot hand it over
    let path = format!("/api/v1/companies/{id}");
    let edit = patch(
        &app,
        &path,
        &json!({"brandName": "Hotter Brand", "companyPhoneNumber": 3100}),
        Some(&seller),
    )
    .await;
    assert_eq!(edit.status, 200, "{:?}", edit.body);
    assert_eq!(edit.data()["brandName"], "Hotter Brand");
    assert_eq!(edit.data()["companyPhoneNumber"], 3100);
    assert_eq!(edit.data()["status"], "APPROVED");
    let foreign = patch(&app, &path, &json!({"brandName": "Mine now"}), Some(&other)).await;
    assert_eq!((foreign.status, foreign.code()), (403, "CA005"));
    let handover = patch(
        &app,
        &path,
        &json!({"managerId": uuid::Uuid::now_v7()}),
        Some(&seller),
    )
    .await;
    assert_eq!((handover.status, handover.code()), (403, "CA005"));
    assert_eq!(app.get(&path, Some(&other)).await.status, 403);

    // lists: a seller sees their own, staff see all, status filter, pagination
    let second = requested_company(&app, &seller).await;
    requested_company(&app, &other).await;
    let mine = app
        .get("/api/v1/companies?size=1&sort=createdAt,asc", Some(&seller))
        .await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.data()["totalElements"], 2);
    assert_eq!(mine.data()["totalPages"], 2);
    assert_eq!(mine.data()["content"][0]["companyId"], id.as_str());
    let page1 = app
        .get(
            "/api/v1/companies?size=1&page=1&sort=createdAt,asc",
            Some(&seller),
        )
        .await;
    assert_eq!(page1.data()["content"][0]["companyId"], second.as_str());
    let all = app.get("/api/v1/companies", Some(&manager)).await;
    assert_eq!(all.data()["totalElements"], 3);
    let requested = app
        .get("/api/v1/companies?status=REQUESTED", Some(&manager))
        .await;
    assert_eq!(requested.data()["totalElements"], 2);
    let approved = app
        .get("/api/v1/companies?status=APPROVED", Some(&seller))
        .await;
    assert_eq!(approved.data()["totalElements"], 1);

    // unknown ids
    let missing = app
        .get(
            &format!("/api/v1/companies/{}", uuid::Uuid::now_v7()),
            Some(&manager),
        )
        .await;
    assert_eq!((missing.status, missing.code()), (404, "CA001"));
}

// ------------------------------------------------------------------------------- products

#[tokio::test]
async fn products_are_created_updated_through_the_engine_and_deleted() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let path = format!("/api/v1/products/{}", s.product);

    let got = app.get(&path, None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let d = got.data();
    assert_eq!(d["productId"], s.product.as_str());
    assert_eq!(
        (d["price"].as_i64(), d["quantity"].as_i64()),
        (Some(10_000), Some(10))
    );
    assert_eq!(d["category"], "FASHION");
    assert_eq!(d["companyId"], s.company.as_str());
    assert_eq!(d["status"], "ON_SALE");
    assert_eq!(d["thumbImg"], "https://cdn.example.com/thumb.png");
    assert_eq!(d["detailImgs"].as_array().unwrap().len(), 2);
    assert_eq!(
        (d["rating"].as_f64(), d["reviewCnt"].as_i64()),
        (Some(0.0), Some(0))
    );
    assert!(d["discountPrice"].is_null());

    // live stock after a stock change in the engine (an order would do the same)
    let item = ItemId(s.product.parse().unwrap());
    app.state.engine.adjust_stock(item, -3).await.unwrap();
    assert_eq!(app.get(&path, None).await.data()["quantity"], 7);

    // partial update: details to the row, price/status through the engine, quantity as an adjustment
    let res = put(
        &app,
        &path,
        &json!({"name": "Flash Sneakers 2", "price": 12_000, "quantity": 20, "description": "now blue",
                "detailImgs": ["https://cdn.example.com/3.png"]}),
        Some(&s.seller),
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let d = res.data();
    assert_eq!(d["name"], "Flash Sneakers 2");
    assert_eq!(d["price"], 12_000);
    assert_eq!(d["quantity"], 20);
    assert_eq!(d["description"], "now blue");
    assert_eq!(d["detailImgs"], json!(["https://cdn.example.com/3.png"]));
    assert_eq!(d["thumbImg"], "https://cdn.example.com/thumb.png");
    let live = app.state.engine.item_view(item).await.unwrap();
    assert_eq!(
        (live.config.price, live.levels.total, live.config.on_sale),
        (12_000, 20, true)
    );

    // reserve 5: the total cannot go below what is held
    let order = OrderId::new();
    let r = app
        .state
        .engine
        .reserve_order(
            order,
            UserId::new(),
            &[LineRequest { item, qty: 5 }],
            app.state.now_ms() + 60_000,
        )
        .await
        .unwrap();
    assert!(matches!(r, OrderReservation::Reserved { .. }), "{r:?}");
    assert_eq!(app.get(&path, None).await.data()["quantity"], 15);
    let too_low = put(&app, &path, &json!({"quantity": 4}), Some(&s.seller)).await;
    assert_eq!((too_low.status, too_low.code()), (400, "P021"));

    // status: a seller may stop sales; MASTER patches status
    let stopped = put(&app, &path, &json!({"status": "INACTIVE"}), Some(&s.seller)).await;
    assert_eq!(stopped.data()["status"], "INACTIVE");
    assert!(
        !app.state
            .engine
            .item_view(item)
            .await
            .unwrap()
            .config
            .on_sale
    );
    let (_, master) = app.token(Role::Master);
    let on = patch(&app, &path, &json!({"status": "ON_SALE"}), Some(&master)).await;
    assert_eq!(on.status, 200, "{:?}", on.body);
    assert_eq!(on.data()["status"], "ON_SALE");
    assert!(
        app.state
            .engine
            .item_view(item)
            .await
            .unwrap()
            .config
            .on_sale
    );
    let bad_status = patch(&app, &path, &json!({"status": "FREE"}), Some(&master)).await;
    assert_eq!((bad_status.status, bad_status.code()), (400, "P003"));

    // delete: gone from reads, and the item stops taking orders
    let del = delete(&app, &path, Some(&s.seller)).await;
    assert_eq!(del.status, 200, "{:?}", del.body);
    assert_eq!(app.get(&path, None).await.code(), "P002");
    assert!(
        !app.state
            .engine
            .item_view(item)
            .await
            .unwrap()
            .config
            .on_sale
    );
    assert_eq!(delete(&app, &path, Some(&s.seller)).await.status, 404);
    let list = app.get("/api/v1/products", None).await;
    assert_eq!(list.data()["totalElements"], 0);
}

#[tokio::test]
async fn product_creation_needs_an_approved_company_of_the_seller() {
    let app = spawn_app().await;
    let (_, seller) = app.token(Role::Seller);
    let (_, other) = app.token(Role::Seller);
    let (_, manager) = app.token(Role::Manager);
    let requested = requested_company(&app, &seller).await;
    let res = app
        .post(
            "/api/v1/products",
            &product_body(&requested, 1_000, 1),
            Some(&seller),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "PC016"));
    let approved = approved_company(&app, &seller).await;
    let res = app
        .post(
            "/api/v1/products",
            &product_body(&approved, 1_000, 1),
            Some(&other),
        )
        .await;
    assert_eq!((res.status, res.code()), (403, "P006"));
    let res = app
        .post(
            "/api/v1/products",
            &product_body(&uuid::Uuid::now_v7().to_string(), 1_000, 1),
            Some(&seller),
        )
        .await;
    assert_eq!((res.status, res.code()), (404, "PC017"));
    // staff may create for any approved company
    new_product(&app, &manager, &approved, 1_000, 1).await;
    // bounds
    for (price, quantity) in [
        (0, 1),
        (1, 0),
        (2_100_000_001, 1),
        (1, 2_100_000_001),
        (-5, 1),
    ] {
        let res = app
            .post(
                "/api/v1/products",
                &product_body(&approved, price, quantity),
                Some(&seller),
            )
            .await;
        assert_eq!(
            (res.status, res.code()),
            (400, "P003"),
            "{price} {quantity}"
        );
    }
    let mut body = product_body(&approved, 1_000, 1);
    body["category"] = json!("WEAPONS");
    assert_eq!(
        app.post("/api/v1/products", &body, Some(&seller))
            .await
            .code(),
        "P003"
    );
    let mut body = product_body(&approved, 1_000, 1);
    body["thumbImg"] = json!("not a url");
    assert_eq!(
        app.post("/api/v1/products", &body, Some(&seller))
            .await
            .code(),
        "P003"
    );
    let mut body = product_body(&approved, 1_000, 1);
    body["detailImgs"] = json!(["https://ok.example.com/a.png", "javascript:alert(1)"]);
    assert_eq!(
        app.post("/api/v1/products", &body, Some(&seller))
            .await
            .code(),
        "P003"
    );
}

#[tokio::test]
async fn the_product_list_filters_searches_sorts_and_pages() {
    let app = spawn_app().await;
    let (_, seller) = app.token(Role::Seller);
    let company = approved_company(&app, &seller).await;
    let other_company = approved_company(&app, &seller).await;
    let mut ids = Vec::new();
    for (i, (name, price, category)) in [
        ("Red Sneakers", 30_000, "FASHION"),
        ("Blue 50% Mug", 10_000, "KITCHEN"),
        ("Green Sneakers", 20_000, "FASHION"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = product_body(if i == 2 { &other_company } else { &company }, price, 5);
        body["name"] = json!(name);
        body["category"] = json!(category);
        body["description"] = json!(format!("item {i}"));
        let res = app.post("/api/v1/products", &body, Some(&seller)).await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        ids.push(res.data()["productId"].as_str().unwrap().to_string());
    }
    let names = |res: &TestResponse| -> Vec<String> {
        res.data()["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = app.get("/api/v1/products?sort=price,asc", None).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(
        names(&all),
        ["Blue 50% Mug", "Green Sneakers", "Red Sneakers"]
    );
    assert_eq!(all.data()["content"][0]["quantity"], 5);
    let search = app
        .get("/api/v1/products?search=sneakers&sort=price,desc", None)
        .await;
    assert_eq!(names(&search), ["Red Sneakers", "Green Sneakers"]);
    // LIKE wildcards are literal
    let pct = app.get("/api/v1/products?search=50%25", None).await;
    assert_eq!(names(&pct), ["Blue 50% Mug"]);
    assert_eq!(
        app.get("/api/v1/products?search=%25", None).await.data()["totalElements"],
        1
    );
    let desc = app.get("/api/v1/products?search=ITEM%201", None).await;
    assert_eq!(names(&desc), ["Blue 50% Mug"]);
    let kitchen = app.get("/api/v1/products?category=KITCHEN", None).await;
    assert_eq!(names(&kitchen), ["Blue 50% Mug"]);
    let by_company = app
        .get(&format!("/api/v1/products?companyId={other_company}"), None)
        .await;
    assert_eq!(names(&by_company), ["Green Sneakers"]);
    let csv = app
        .get(
            &format!(
                "/api/v1/products?productIds={},{}&sort=price,asc",
                ids[0], ids[1]
            ),
            None,
        )
        .await;
    assert_eq!(names(&csv), ["Blue 50% Mug", "Red Sneakers"]);
    let repeated = app
        .get(
            &format!(
                "/api/v1/products?productIds={}&productIds={}",
                ids[0], ids[2]
            ),
            None,
        )
        .await;
    assert_eq!(repeated.data()["totalElements"], 2);
    let page = app
        .get("/api/v1/products?size=2&page=1&sort=price,asc", None)
        .await;
    assert_eq!(names(&page), ["Red Sneakers"]);
    assert_eq!(
        (
            page.data()["totalPages"].as_i64(),
            page.data()["last"].as_bool()
        ),
        (Some(2), Some(true))
    );
    // status filter
    let (_, master) = app.token(Role::Master);
    patch(
        &app,
        &format!("/api/v1/products/{}", ids[0]),
        &json!({"status": "SOLD_OUT"}),
        Some(&master),
    )
    .await;
    let sold_out = app.get("/api/v1/products?status=SOLD_OUT", None).await;
    assert_eq!(names(&sold_out), ["Red Sneakers"]);
    let on_sale = app.get("/api/v1/products?status=on_sale", None).await;
    assert_eq!(on_sale.data()["totalElements"], 2);
}

// ----------------------------------------------------------------------------- time sales

#[tokio::test]
async fn a_time_sale_moves_pending_in_progress_completed_with_the_clock() {
    let t0 = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    let (app, clock) = spawn_app_with_clock(t0).await;
    let s = shop(&app).await;
    let item = ItemId(s.product.parse().unwrap());
    let product_path = format!("/api/v1/products/{}", s.product);

    let mut body = promotion_body(&s.product, t0 + 60_000, t0 + 120_000, 7_000, 3);
    body["perUserLimit"] = json!(2);
    let res = app.post("/api/v1/promotions", &body, Some(&s.seller)).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let promo = res.data()["promotionId"].as_str().unwrap().to_string();
    let path = format!("/api/v1/promotions/{promo}");

    let got = app.get(&path, None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    let d = got.data();
    assert_eq!(d["status"], "PENDING");
    assert_eq!(
        (d["remaining"].as_i64(), d["quantity"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        (d["discountPrice"].as_i64(), d["discountRate"].as_i64()),
        (Some(7_000), Some(30))
    );
    assert_eq!(d["perUserLimit"], 2);
    assert_eq!(d["start"], at(t0 + 60_000).as_str());
    assert_eq!(d["end"], at(t0 + 120_000).as_str());
    assert!(app.get(&product_path, None).await.data()["discountPrice"].is_null());
    // installed in the item actor
    let sale = app
        .state
        .engine
        .item_view(item)
        .await
        .unwrap()
        .sale
        .unwrap();
    assert_eq!(sale.config.promotion_id.to_string(), promo);

    // exact start instant: IN_PROGRESS, the product shows the sale price
    clock.set(t0 + 60_000);
    assert_eq!(app.get(&path, None).await.data()["status"], "IN_PROGRESS");
    assert_eq!(
        app.get(&product_path, None).await.data()["discountPrice"],
        7_000
    );
    let listed = app.get("/api/v1/promotions?status=IN_PROGRESS", None).await;
    assert_eq!(listed.data()["totalElements"], 1);
    assert_eq!(
        app.get("/api/v1/promotions?status=PENDING", None)
            .await
            .data()["totalElements"],
        0
    );
    // running sales are not edited or deleted
    let edit = put(&app, &path, &json!({"quantity": 2}), Some(&s.seller)).await;
    assert_eq!((edit.status, edit.code()), (400, "P014"));
    assert_eq!(delete(&app, &path, Some(&s.seller)).await.code(), "P014");

    // an order takes 2 at the sale price: live remaining and stock
    let r = app
        .state
        .engine
        .reserve_order(
            OrderId::new(),
            UserId::new(),
            &[LineRequest { item, qty: 2 }],
            t0 + 100_000,
        )
        .await
        .unwrap();
    match r {
        OrderReservation::Reserved { lines } => assert_eq!(lines[0].unit_price, 7_000),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.get(&path, None).await.data()["remaining"], 1);
    assert_eq!(app.get(&product_path, None).await.data()["quantity"], 8);
    let list = app
        .get(
            &format!("/api/v1/promotions?productIds={}", s.product),
            None,
        )
        .await;
    assert_eq!(list.data()["content"][0]["remaining"], 1);

    // the end instant: COMPLETED, regular price again
    clock.set(t0 + 120_000);
    let done = app.get(&path, None).await;
    assert_eq!(done.data()["status"], "COMPLETED");
    assert_eq!(done.data()["remaining"], 1);
    assert!(app.get(&product_path, None).await.data()["discountPrice"].is_null());
    assert_eq!(
        put(&app, &path, &json!({"quantity": 2}), Some(&s.seller))
            .await
            .code(),
        "PROMOTION_COMPLETED"
    );
    assert_eq!(
        app.get("/api/v1/promotions?status=COMPLETED", None)
            .await
            .data()["totalElements"],
        1
    );

    // two more sales: a later one, then an earlier one that takes its place in the actor;
    // the later one is installed once the earlier is over
    let now = t0 + 120_000;
    let later = app
        .post(
            "/api/v1/promotions",
            &promotion_body(&s.product, now + 1_000_000, now + 1_100_000, 6_000, 2),
            Some(&s.seller),
        )
        .await;
    assert_eq!(later.status, 201, "{:?}", later.body);
    let later = later.data()["promotionId"].as_str().unwrap().to_string();
    let earlier = app
        .post(
            "/api/v1/promotions",
            &promotion_body(&s.product, now + 500_000, now + 600_000, 5_000, 2),
            Some(&s.seller),
        )
        .await;
    assert_eq!(earlier.status, 201, "{:?}", earlier.body);
    let earlier = earlier.data()["promotionId"].as_str().unwrap().to_string();
    let held = app
        .state
        .engine
        .item_view(item)
        .await
        .unwrap()
        .sale
        .unwrap();
    assert_eq!(held.config.promotion_id.to_string(), earlier);
    clock.set(now + 500_000);
    assert_eq!(
        app.get(&product_path, None).await.data()["discountPrice"],
        5_000
    );
    clock.set(now + 600_000);
    // the next sale is installed when the current one ends, before anyone reads the product
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let held = app
            .state
            .engine
            .item_view(item)
            .await
            .unwrap()
            .sale
            .unwrap();
        if held.config.promotion_id.to_string() == later {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the next sale was never installed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(app.get(&product_path, None).await.data()["discountPrice"].is_null());
    let held = app
        .state
        .engine
        .item_view(item)
        .await
        .unwrap()
        .sale
        .unwrap();
    assert_eq!(held.config.promotion_id.to_string(), later);
    clock.set(now + 1_000_000);
    let list = app.get("/api/v1/products", None).await;
    assert_eq!(list.data()["content"][0]["discountPrice"], 6_000);
    let promo_later = app.get(&format!("/api/v1/promotions/{later}"), None).await;
    assert_eq!(
        (
            promo_later.data()["status"].as_str(),
            promo_later.data()["remaining"].as_i64()
        ),
        (Some("IN_PROGRESS"), Some(2))
    );
}

#[tokio::test]
async fn promotions_are_validated_updated_and_deleted() {
    let t0 = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
    let (app, _clock) = spawn_app_with_clock(t0).await;
    let s = shop(&app).await;
    let p = |start: i64, end: i64, price: i64, qty: i64| {
        promotion_body(&s.product, t0 + start, t0 + end, price, qty)
    };
    let create = |body: Value| {
        let app = &app;
        let token = s.seller.clone();
        async move { app.post("/api/v1/promotions", &body, Some(&token)).await }
    };
    for (body, code) in [
        (p(-1_000, 60_000, 7_000, 1), "P023"),
        (p(60_000, 60_000, 7_000, 1), "P023"),
        (p(90_000, 60_000, 7_000, 1), "P023"),
        (p(60_000, 120_000, 10_000, 1), "P011"),
        (p(60_000, 120_000, 7_000, 11), "P010"),
        (p(60_000, 120_000, 0, 1), "P003"),
        (p(60_000, 120_000, 7_000, -1), "P003"),
        (
            promotion_body(&uuid::Uuid::now_v7().to_string(), t0 + 1, t0 + 2, 1, 1),
            "P002",
        ),
    ] {
        let res = create(body.clone()).await;
        assert_eq!(res.code(), code, "{body} -> {:?}", res.body);
        assert!(res.status == 400 || res.status == 404);
    }
    let mut limited = p(60_000, 120_000, 7_000, 1);
    limited["perUserLimit"] = json!(0);
    assert_eq!(create(limited).await.code(), "P003");
    let mut unparseable = p(60_000, 120_000, 7_000, 1);
    unparseable["start"] = json!("next tuesday");
    assert_eq!(create(unparseable).await.code(), "P023");
    // a local date-time without offset is read as UTC
    let mut local = p(0, 0, 7_000, 1);
    local["start"] = json!("2999-01-01T10:00:00");
    local["end"] = json!("2999-01-01T11:00:00");
    let res = create(local).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let far = res.data()["promotionId"].as_str().unwrap().to_string();
    let got = app.get(&format!("/api/v1/promotions/{far}"), None).await;
    assert_eq!(got.data()["start"], "2999-01-01T10:00:00.000Z");

    let res = create(p(60_000, 120_000, 7_000, 5)).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let id = res.data()["promotionId"].as_str().unwrap().to_string();
    // overlap with another, touching windows are fine
    assert_eq!(create(p(100_000, 200_000, 7_000, 1)).await.code(), "P013");
    assert_eq!(create(p(0, 61_000, 7_000, 1)).await.code(), "P013");
    let touching = create(p(120_000, 180_000, 8_000, 1)).await;
    assert_eq!(touching.status, 201, "{:?}", touching.body);
    let touching = touching.data()["promotionId"].as_str().unwrap().to_string();

    // update: overlap check excludes itself; quantity resets remaining; price recomputes the rate
    let path = format!("/api/v1/promotions/{id}");
    let res = put(
        &app,
        &path,
        &json!({"start": at(t0 + 30_000), "discountPrice": 9_000, "quantity": 4}),
        Some(&s.seller),
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let d = res.data();
    assert_eq!(
        (
            d["quantity"].as_i64(),
            d["remaining"].as_i64(),
            d["discountRate"].as_i64()
        ),
        (Some(4), Some(4), Some(10))
    );
    assert_eq!(d["start"], at(t0 + 30_000).as_str());
    let sale = app
        .state
        .engine
        .item_view(ItemId(s.product.parse().unwrap()))
        .await
        .unwrap()
        .sale
        .unwrap();
    assert_eq!(
        (
            sale.config.sale_price,
            sale.config.quantity,
            sale.config.start_ms
        ),
        (9_000, 4, t0 + 30_000)
    );
    let overlap = put(
        &app,
        &path,
        &json!({"end": at(t0 + 150_000)}),
        Some(&s.seller),
    )
    .await;
    assert_eq!(overlap.code(), "P013");
    let moved = put(
        &app,
        &path,
        &json!({"productId": uuid::Uuid::now_v7()}),
        Some(&s.seller),
    )
    .await;
    assert_eq!(moved.code(), "P003");
    let unknown = put(
        &app,
        &format!("/api/v1/promotions/{}", uuid::Uuid::now_v7()),
        &json!({"quantity": 1}),
        Some(&s.seller),
    )
    .await;
    assert_eq!((unknown.status, unknown.code()), (404, "P012"));

    // delete the installed one: the next one takes its place in the actor
    let del = delete(&app, &path, Some(&s.seller)).await;
    assert_eq!(del.status, 200, "{:?}", del.body);
    assert_eq!(app.get(&path, None).await.code(), "P012");
    let sale = app
        .state
        .engine
        .item_view(ItemId(s.product.parse().unwrap()))
        .await
        .unwrap()
        .sale
        .unwrap();
    assert_eq!(sale.config.promotion_id.to_string(), touching);
    // list filters and sorting
    let list = app
        .get(
            &format!("/api/v1/promotions?productIds={}&sort=start,asc", s.product),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.data()["totalElements"], 2);
    assert_eq!(list.data()["content"][0]["promotionId"], touching.as_str());
    assert_eq!(
        app.get("/api/v1/promotions?status=PENDING", None)
            .await
            .data()["totalElements"],
        2
    );
}

// -------------------------------------------------------------------------------- reviews

#[tokio::test]
async fn only_buyers_of_complete_orders_review_and_counters_stay_consistent() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let (buyer_id, buyer) = app.token(Role::Customer);
    let (other_id, other) = app.token(Role::Customer);
    let (_, manager) = app.token(Role::Manager);
    let product_path = format!("/api/v1/products/{}", s.product);

    let complete = order_with(&app, buyer_id, &s.product, "COMPLETE").await;
    let pending = order_with(&app, buyer_id, &s.product, "PENDING").await;
    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&pending, &s.product, 4.0),
            Some(&buyer),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "ORDER_NOT_COMPLETE"));
    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&complete, &s.product, 4.0),
            Some(&other),
        )
        .await;
    assert_eq!((res.status, res.code()), (404, "O019"));
    let another = new_product(&app, &s.seller, &s.company, 5_000, 5).await;
    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&complete, &another, 4.0),
            Some(&buyer),
        )
        .await;
    assert_eq!((res.status, res.code()), (400, "PRODUCT_NOT_IN_ORDER"));
    for bad in [0.0, 0.5, 5.5, 4.3, -1.0] {
        let res = app
            .post(
                "/api/v1/reviews",
                &review_body(&complete, &s.product, bad),
                Some(&buyer),
            )
            .await;
        assert_eq!((res.status, res.code()), (400, "P003"), "{bad}");
    }

    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&complete, &s.product, 4.5),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let first = res.data()["reviewId"].as_str().unwrap().to_string();
    let again = app
        .post(
            "/api/v1/reviews",
            &review_body(&complete, &s.product, 3.0),
            Some(&buyer),
        )
        .await;
    assert_eq!((again.status, again.code()), (409, "P007"));
    let second_order = order_with(&app, buyer_id, &s.product, "COMPLETE").await;
    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&second_order, &s.product, 4.0),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let other_order = order_with(&app, other_id, &s.product, "COMPLETE").await;
    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&other_order, &s.product, 4.0),
            Some(&other),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let third = res.data()["reviewId"].as_str().unwrap().to_string();
    // (4.5 + 4 + 4) / 3 = 4.1666 -> 4.2
    let p = app.get(&product_path, None).await;
    assert_eq!(
        (p.data()["rating"].as_f64(), p.data()["reviewCnt"].as_i64()),
        (Some(4.2), Some(3))
    );

    // reads are public
    let path = format!("/api/v1/reviews/{first}");
    let got = app.get(&path, None).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(
        (got.data()["rating"].as_f64(), got.data()["review"].as_str()),
        (Some(4.5), Some("great shoes"))
    );
    assert_eq!(got.data()["userId"], buyer_id.to_string().as_str());
    assert!(
        got.data()["nickname"]
            .as_str()
            .unwrap()
            .starts_with("user-")
    );

    // update: the author only; counters move by the difference
    let res = put(&app, &path, &json!({"rating": 2.5}), Some(&other)).await;
    assert_eq!((res.status, res.code()), (403, "P006"));
    let res = put(&app, &path, &json!({"rating": 2.5}), Some(&manager)).await;
    assert_eq!(res.status, 403);
    let res = put(
        &app,
        &path,
        &json!({"rating": 2.5, "review": "sole came off", "reviewImgs": []}),
        Some(&buyer),
    )
    .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        (res.data()["rating"].as_f64(), res.data()["review"].as_str()),
        (Some(2.5), Some("sole came off"))
    );
    assert_eq!(res.data()["reviewImgs"], json!([]));
    let p = app.get(&product_path, None).await;
    assert_eq!(
        (p.data()["rating"].as_f64(), p.data()["reviewCnt"].as_i64()),
        (Some(3.5), Some(3))
    );

    // delete: the author or staff; a deleted review is gone from reads
    assert_eq!(delete(&app, &path, Some(&other)).await.status, 403);
    assert_eq!(
        delete(&app, &format!("/api/v1/reviews/{third}"), Some(&manager))
            .await
            .status,
        200
    );
    assert_eq!(delete(&app, &path, Some(&buyer)).await.status, 200);
    assert_eq!(app.get(&path, None).await.code(), "P015");
    assert_eq!(delete(&app, &path, Some(&buyer)).await.status, 404);
    let p = app.get(&product_path, None).await;
    assert_eq!(
        (p.data()["rating"].as_f64(), p.data()["reviewCnt"].as_i64()),
        (Some(4.0), Some(1))
    );
    let list = app
        .get(&format!("/api/v1/reviews?productId={}", s.product), None)
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.data()["totalElements"], 1);
    let none = app
        .get(&format!("/api/v1/reviews?productId={another}"), None)
        .await;
    assert_eq!(none.data()["totalElements"], 0);
    // one review per order line, ever
    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&complete, &s.product, 5.0),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.code(), "P007");
}

// ------------------------------------------------------------------ authorization matrix

/// The callers of the matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anonymous,
    Customer,
    OwnSeller,
    OtherSeller,
    Manager,
    Master,
}

const EVERYONE: [Who; 6] = [
    Who::Anonymous,
    Who::Customer,
    Who::OwnSeller,
    Who::OtherSeller,
    Who::Manager,
    Who::Master,
];

struct Matrix {
    app: TestApp,
    own: String,
    other: String,
    shop: Shop,
}

impl Matrix {
    fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::Anonymous => None,
            Who::Customer => Some(self.app.token(Role::Customer).1),
            Who::OwnSeller => Some(self.own.clone()),
            Who::OtherSeller => Some(self.other.clone()),
            Who::Manager => Some(self.app.token(Role::Manager).1),
            Who::Master => Some(self.app.token(Role::Master).1),
        }
    }

    async fn fresh_product(&self) -> String {
        new_product(&self.app, &self.own, &self.shop.company, 10_000, 100).await
    }

    async fn fresh_promotion(&self, product: &str, slot: i64) -> String {
        let start = self.app.state.now_ms() + 3_600_000 * (slot + 1);
        let res = self
            .app
            .post(
                "/api/v1/promotions",
                &promotion_body(product, start, start + 60_000, 5_000, 1),
                Some(&self.own),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        res.data()["promotionId"].as_str().unwrap().to_string()
    }
}

fn check(cell: &str, who: Who, res: &TestResponse, expected: u16) {
    assert_eq!(res.status, expected, "{cell} as {who:?}: {:?}", res.body);
    if expected >= 400 {
        assert!(
            !res.code().is_empty(),
            "{cell} as {who:?}: no code in {:?}",
            res.body
        );
    }
}

#[tokio::test]
async fn authorization_matrix_for_every_catalog_endpoint() {
    let app = spawn_app().await;
    let (_, own) = app.token(Role::Seller);
    let (_, other) = app.token(Role::Seller);
    let company = approved_company(&app, &own).await;
    let product = new_product(&app, &own, &company, 10_000, 100).await;
    let m = Matrix {
        shop: Shop {
            seller: own.clone(),
            company,
            product,
        },
        app,
        own,
        other,
    };
    let app = &m.app;
    let s = &m.shop;
    // expected status per caller, in EVERYONE order
    type Row = [u16; 6];
    let public: Row = [200; 6];

    // companies
    let row: Row = [401, 403, 201, 201, 201, 201];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        check(
            "POST /companies",
            *who,
            &app.post("/api/v1/companies", &company_body(), t.as_deref())
                .await,
            exp,
        );
    }
    let company_path = format!("/api/v1/companies/{}", s.company);
    let row: Row = [401, 403, 200, 403, 200, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        check(
            "GET /companies/{id}",
            *who,
            &app.get(&company_path, t.as_deref()).await,
            exp,
        );
        check(
            "PATCH /companies/{id}",
            *who,
            &patch(app, &company_path, &json!({"brandName": "B"}), t.as_deref()).await,
            exp,
        );
    }
    let row: Row = [401, 403, 200, 200, 200, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        check(
            "GET /companies",
            *who,
            &app.get("/api/v1/companies", t.as_deref()).await,
            exp,
        );
    }
    let row: Row = [401, 403, 403, 403, 200, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let fresh = requested_company(app, &m.own).await;
        let t = m.token(*who);
        let res = patch(
            app,
            &format!("/api/v1/companies/{fresh}/status"),
            &json!({"status": "REJECTED"}),
            t.as_deref(),
        )
        .await;
        check("PATCH /companies/{id}/status", *who, &res, exp);
    }

    // products
    let row: Row = [401, 403, 201, 403, 201, 201];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        let res = app
            .post(
                "/api/v1/products",
                &product_body(&s.company, 1_000, 1),
                t.as_deref(),
            )
            .await;
        check("POST /products", *who, &res, exp);
    }
    let product_path = format!("/api/v1/products/{}", s.product);
    let row: Row = [401, 403, 200, 403, 200, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        check(
            "PUT /products/{id}",
            *who,
            &put(app, &product_path, &json!({"name": "N"}), t.as_deref()).await,
            exp,
        );
    }
    let row: Row = [401, 403, 403, 403, 403, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        check(
            "PATCH /products/{id}",
            *who,
            &patch(
                app,
                &product_path,
                &json!({"status": "ON_SALE"}),
                t.as_deref(),
            )
            .await,
            exp,
        );
    }
    let row: Row = [401, 403, 200, 403, 200, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let fresh = m.fresh_product().await;
        let t = m.token(*who);
        check(
            "DELETE /products/{id}",
            *who,
            &delete(app, &format!("/api/v1/products/{fresh}"), t.as_deref()).await,
            exp,
        );
    }
    for (who, exp) in EVERYONE.iter().zip(public) {
        let t = m.token(*who);
        check(
            "GET /products/{id}",
            *who,
            &app.get(&product_path, t.as_deref()).await,
            exp,
        );
        check(
            "GET /products",
            *who,
            &app.get("/api/v1/products", t.as_deref()).await,
            exp,
        );
    }

    // promotions
    let row: Row = [401, 403, 201, 403, 201, 201];
    for (i, (who, exp)) in EVERYONE.iter().zip(row).enumerate() {
        let start = app.state.now_ms() + 3_600_000 * (100 + i as i64);
        let t = m.token(*who);
        let res = app
            .post(
                "/api/v1/promotions",
                &promotion_body(&s.product, start, start + 60_000, 5_000, 1),
                t.as_deref(),
            )
            .await;
        check("POST /promotions", *who, &res, exp);
    }
    let promo = m.fresh_promotion(&s.product, 0).await;
    let promo_path = format!("/api/v1/promotions/{promo}");
    let row: Row = [401, 403, 200, 403, 200, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        check(
            "PUT /promotions/{id}",
            *who,
            &put(app, &promo_path, &json!({"quantity": 1}), t.as_deref()).await,
            exp,
        );
    }
    for (i, (who, exp)) in EVERYONE.iter().zip(row).enumerate() {
        let fresh = m.fresh_promotion(&s.product, 10 + i as i64).await;
        let t = m.token(*who);
        check(
            "DELETE /promotions/{id}",
            *who,
            &delete(app, &format!("/api/v1/promotions/{fresh}"), t.as_deref()).await,
            exp,
        );
    }
    for (who, exp) in EVERYONE.iter().zip(public) {
        let t = m.token(*who);
        check(
            "GET /promotions/{id}",
            *who,
            &app.get(&promo_path, t.as_deref()).await,
            exp,
        );
        check(
            "GET /promotions",
            *who,
            &app.get("/api/v1/promotions", t.as_deref()).await,
            exp,
        );
    }

    // reviews: the author is a customer with a COMPLETE order
    let (buyer_id, buyer) = app.token(Role::Customer);
    let review_of = |order: String| {
        let body = review_body(&order, &s.product, 4.0);
        let buyer = buyer.clone();
        async move {
            let res = app.post("/api/v1/reviews", &body, Some(&buyer)).await;
            assert_eq!(res.status, 201, "{:?}", res.body);
            res.data()["reviewId"].as_str().unwrap().to_string()
        }
    };
    let order = order_with(app, buyer_id, &s.product, "COMPLETE").await;
    let anon = app
        .post(
            "/api/v1/reviews",
            &review_body(&order, &s.product, 4.0),
            None,
        )
        .await;
    check("POST /reviews", Who::Anonymous, &anon, 401);
    let review = review_of(order).await;
    let review_path = format!("/api/v1/reviews/{review}");
    // non-buyers: every role but the author is refused (404 O019: no such order of theirs)
    for who in EVERYONE.into_iter().skip(1) {
        let order = order_with(app, buyer_id, &s.product, "COMPLETE").await;
        let t = m.token(who);
        let res = app
            .post(
                "/api/v1/reviews",
                &review_body(&order, &s.product, 4.0),
                t.as_deref(),
            )
            .await;
        check("POST /reviews (not the buyer)", who, &res, 404);
    }
    let row: Row = [401, 403, 403, 403, 403, 403];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let t = m.token(*who);
        check(
            "PUT /reviews/{id}",
            *who,
            &put(app, &review_path, &json!({"rating": 1}), t.as_deref()).await,
            exp,
        );
    }
    check(
        "PUT /reviews/{id}",
        Who::Customer,
        &put(app, &review_path, &json!({"rating": 1}), Some(&buyer)).await,
        200,
    );
    let row: Row = [401, 403, 403, 403, 200, 200];
    for (who, exp) in EVERYONE.iter().zip(row) {
        let fresh = review_of(order_with(app, buyer_id, &s.product, "COMPLETE").await).await;
        let t = m.token(*who);
        check(
            "DELETE /reviews/{id}",
            *who,
            &delete(app, &format!("/api/v1/reviews/{fresh}"), t.as_deref()).await,
            exp,
        );
    }
    for (who, exp) in EVERYONE.iter().zip(public) {
        let t = m.token(*who);
        check(
            "GET /reviews/{id}",
            *who,
            &app.get(&review_path, t.as_deref()).await,
            exp,
        );
        check(
            "GET /reviews",
            *who,
            &app.get("/api/v1/reviews", t.as_deref()).await,
            exp,
        );
    }
    check(
        "DELETE /reviews/{id}",
        Who::Customer,
        &delete(app, &review_path, Some(&buyer)).await,
        200,
    );
}

// ------------------------------------------------------------------------------ bad input

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_code_never_a_5xx() {
    let app = spawn_app().await;
    let s = shop(&app).await;
    let (_, master) = app.token(Role::Master);
    let token = Some(s.seller.as_str());
    let mut results: Vec<(String, TestResponse)> = Vec::new();

    // malformed JSON, wrong content type, huge body on every write endpoint
    // past the limit but within what the server drains, so the 413 comes on a kept connection
    let huge = vec![b' '; app.state.config.request_body_limit_bytes + 10];
    for path in [
        "/api/v1/companies",
        "/api/v1/products",
        "/api/v1/promotions",
        "/api/v1/reviews",
    ] {
        results.push((
            format!("{path} malformed"),
            app.post_raw(path, "application/json", b"{\"name\": ".to_vec(), token)
                .await,
        ));
        results.push((
            format!("{path} text/plain"),
            app.post_raw(path, "text/plain", b"{}".to_vec(), token)
                .await,
        ));
        results.push((
            format!("{path} empty object"),
            app.post(path, &json!({}), token).await,
        ));
        results.push((
            format!("{path} array"),
            app.post(path, &json!([1, 2]), token).await,
        ));
        let mut body = b"{\"name\": \"".to_vec();
        body.extend_from_slice(&huge);
        body.extend_from_slice(b"\"}");
        let res = app.post_raw(path, "application/json", body, token).await;
        assert_eq!(res.status, 413, "{path} huge: {:?}", res.body);
        results.push((format!("{path} huge"), res));
    }
    let long = "x".repeat(3_000);
    let product_path = format!("/api/v1/products/{}", s.product);
    let bad_product = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut b = product_body(&s.company, 1_000, 1);
        f(&mut b);
        (name.to_string(), b)
    };
    let products = [
        bad_product("price as string", &|b| b["price"] = json!("abc")),
        bad_product("price float", &|b| b["price"] = json!(1.5)),
        bad_product("price huge", &|b| b["price"] = json!(1e30)),
        bad_product("negative quantity", &|b| b["quantity"] = json!(-3)),
        bad_product("missing name", &|b| {
            b.as_object_mut().unwrap().remove("name");
        }),
        bad_product("blank name", &|b| b["name"] = json!("   ")),
        bad_product("long name", &|b| b["name"] = json!(long.clone())),
        bad_product("long description", &|b| {
            b["description"] = json!("d".repeat(6_000))
        }),
        bad_product("company not uuid", &|b| b["companyId"] = json!("nope")),
        bad_product("detail imgs not list", &|b| {
            b["detailImgs"] = json!("https://x.io/a.png")
        }),
        bad_product("too many imgs", &|b| {
            b["detailImgs"] = json!(vec!["https://x.io/a.png"; 21])
        }),
        bad_product("long url", &|b| {
            b["thumbImg"] = json!(format!("https://x.io/{}", "a".repeat(3_000)))
        }),
    ];
    for (name, body) in products {
        results.push((
            format!("POST product {name}"),
            app.post("/api/v1/products", &body, token).await,
        ));
    }
    for body in [
        json!({"price": -1}),
        json!({"quantity": -1}),
        json!({"name": long}),
        json!({"status": 3}),
        json!({"category": "X"}),
    ] {
        results.push((
            format!("PUT product {body}"),
            put(&app, &product_path, &body, token).await,
        ));
    }
    for body in [
        json!({"businessRegistrationNumber": 123, "companyPhoneNumber": 1, "brandName": "b", "companyEmail": "a@b.co"}),
        json!({"businessRegistrationNumber": "1234567890", "companyPhoneNumber": 1, "brandName": "b", "companyEmail": "a@b.co"}),
        json!({"businessRegistrationNumber": brn(), "companyPhoneNumber": -1, "brandName": "b", "companyEmail": "a@b.co"}),
        json!({"businessRegistrationNumber": brn(), "companyPhoneNumber": 1, "brandName": long, "companyEmail": "a@b.co"}),
        json!({"businessRegistrationNumber": brn(), "companyPhoneNumber": 1, "brandName": "b", "companyEmail": "nope"}),
    ] {
        results.push((
            format!("POST company {body}"),
            app.post("/api/v1/companies", &body, token).await,
        ));
    }
    let company_path = format!("/api/v1/companies/{}", s.company);
    results.push((
        "PATCH company status bogus".into(),
        patch(
            &app,
            &format!("{company_path}/status"),
            &json!({"status": "BOGUS"}),
            Some(&master),
        )
        .await,
    ));
    results.push((
        "PATCH company phone string".into(),
        patch(
            &app,
            &company_path,
            &json!({"companyPhoneNumber": "x"}),
            token,
        )
        .await,
    ));
    let now = app.state.now_ms();
    for body in [
        json!({"productId": s.product, "start": "x", "end": "y", "discountPrice": 1, "quantity": 1}),
        json!({"productId": s.product, "start": at(now + 10_000), "end": at(now + 20_000), "discountPrice": -1, "quantity": 1}),
        json!({"productId": s.product, "start": at(now + 10_000), "end": at(now + 20_000), "discountPrice": 1, "quantity": -1}),
        json!({"productId": s.product, "start": 5, "end": 6, "discountPrice": 1, "quantity": 1}),
        json!({"productId": "zzz", "start": at(now + 10_000), "end": at(now + 20_000), "discountPrice": 1, "quantity": 1}),
    ] {
        results.push((
            format!("POST promotion {body}"),
            app.post("/api/v1/promotions", &body, token).await,
        ));
    }
    let (_, customer) = app.token(Role::Customer);
    for body in [
        json!({"orderId": uuid::Uuid::now_v7(), "productId": s.product, "rating": 4, "review": ""}),
        json!({"orderId": uuid::Uuid::now_v7(), "productId": s.product, "rating": 4, "review": "r".repeat(2_001)}),
        json!({"orderId": uuid::Uuid::now_v7(), "productId": s.product, "rating": "five", "review": "ok"}),
        json!({"orderId": uuid::Uuid::now_v7(), "productId": s.product, "rating": 9, "review": "ok"}),
        json!({"orderId": uuid::Uuid::now_v7(), "productId": s.product, "rating": 4, "review": "ok"}),
        json!({"orderId": uuid::Uuid::now_v7(), "productId": uuid::Uuid::now_v7(), "rating": 4, "review": "ok"}),
        json!({"orderId": uuid::Uuid::now_v7(), "productId": s.product, "rating": 4, "review": "ok", "reviewImgs": ["ftp://x"]}),
    ] {
        results.push((
            format!("POST review {body}"),
            app.post("/api/v1/reviews", &body, Some(&customer)).await,
        ));
    }
    // unknown and malformed ids, bad paging
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/api/v1/products/{unknown}"),
        "/api/v1/products/not-a-uuid".to_string(),
        format!("/api/v1/promotions/{unknown}"),
        "/api/v1/promotions/1".to_string(),
        format!("/api/v1/reviews/{unknown}"),
        "/api/v1/reviews/%00".to_string(),
        "/api/v1/products?sort=password".to_string(),
        "/api/v1/products?sort=price,sideways".to_string(),
        "/api/v1/products?size=0".to_string(),
        "/api/v1/products?size=100000".to_string(),
        "/api/v1/products?page=-1".to_string(),
        "/api/v1/products?page=abc".to_string(),
        "/api/v1/products?productIds=nope".to_string(),
        "/api/v1/products?companyId=nope".to_string(),
        "/api/v1/products?category=nope".to_string(),
        format!("/api/v1/products?search={}", "s".repeat(200)),
        "/api/v1/promotions?status=SOON".to_string(),
        "/api/v1/promotions?sort=discountRate".to_string(),
        "/api/v1/reviews?productId=1".to_string(),
        "/api/v1/reviews?size=-5".to_string(),
    ] {
        results.push((format!("GET {path}"), app.get(&path, None).await));
    }
    results.push((
        "GET company unknown".into(),
        app.get(&format!("/api/v1/companies/{unknown}"), Some(&master))
            .await,
    ));
    results.push((
        "GET companies bad status".into(),
        app.get("/api/v1/companies?status=NOPE", Some(&master))
            .await,
    ));
    results.push((
        "GET companies bad sort".into(),
        app.get("/api/v1/companies?sort=managerId", Some(&master))
            .await,
    ));
    results.push((
        "PUT unknown product".into(),
        put(
            &app,
            &format!("/api/v1/products/{unknown}"),
            &json!({"name": "n"}),
            token,
        )
        .await,
    ));
    results.push((
        "DELETE unknown promotion".into(),
        delete(&app, &format!("/api/v1/promotions/{unknown}"), token).await,
    ));
    results.push((
        "DELETE unknown review".into(),
        delete(&app, &format!("/api/v1/reviews/{unknown}"), token).await,
    ));

    for (name, res) in &results {
        assert!(
            (400..500).contains(&res.status),
            "{name}: {} {:?}",
            res.status,
            res.body
        );
        assert!(!res.code().is_empty(), "{name}: no code in {:?}", res.body);
    }
    // nothing was created by any of it
    assert_eq!(
        app.get("/api/v1/products", None).await.data()["totalElements"],
        1
    );
    assert_eq!(
        app.get("/api/v1/promotions", None).await.data()["totalElements"],
        0
    );
    assert_eq!(
        app.get("/api/v1/reviews", None).await.data()["totalElements"],
        0
    );
}

#[tokio::test]
async fn the_openapi_document_lists_the_catalog() {
    let app = spawn_app().await;
    let doc = app.get("/v3/api-docs", None).await;
    assert_eq!(doc.status, 200);
    for path in [
        "/api/v1/companies",
        "/api/v1/companies/{id}",
        "/api/v1/companies/{id}/status",
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/promotions",
        "/api/v1/promotions/{id}",
        "/api/v1/reviews",
        "/api/v1/reviews/{id}",
    ] {
        assert!(
            doc.body["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc.body["paths"]["/api/v1/products/{id}"]["put"].is_object());
    assert!(doc.body["components"]["schemas"]["ProductView"].is_object());
}

/// The whole catalog flow on MySQL/MariaDB through the real app.
#[tokio::test]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn the_catalog_works_on_mysql() {
    let Some(t) = crate::helpers::TestDb::mysql().await else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    let url = t.url.clone();
    let app = crate::helpers::spawn_app_with(
        move |c| c.database_url = url,
        std::sync::Arc::new(hotdeal::domain::clock::SystemClock),
    )
    .await;
    let s = shop(&app).await;
    let now = app.state.now_ms();
    let res = app
        .post(
            "/api/v1/promotions",
            &promotion_body(&s.product, now + 60_000, now + 120_000, 7_000, 3),
            Some(&s.seller),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let list = app
        .get(
            &format!(
                "/api/v1/products?search=SNEAKERS&productIds={}&sort=price,desc",
                s.product
            ),
            None,
        )
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.data()["totalElements"], 1);
    let promos = app.get("/api/v1/promotions?status=PENDING", None).await;
    assert_eq!(promos.data()["content"][0]["remaining"], 3);
    let (buyer_id, buyer) = app.token(Role::Customer);
    let order = order_with(&app, buyer_id, &s.product, "COMPLETE").await;
    let res = app
        .post(
            "/api/v1/reviews",
            &review_body(&order, &s.product, 3.5),
            Some(&buyer),
        )
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let again = app
        .post(
            "/api/v1/reviews",
            &review_body(&order, &s.product, 3.5),
            Some(&buyer),
        )
        .await;
    assert_eq!(again.code(), "P007");
    let p = app
        .get(&format!("/api/v1/products/{}", s.product), None)
        .await;
    assert_eq!(
        (p.data()["rating"].as_f64(), p.data()["reviewCnt"].as_i64()),
        (Some(3.5), Some(1))
    );
    let companies = app
        .get("/api/v1/companies?status=APPROVED", Some(&s.seller))
        .await;
    assert_eq!(companies.data()["totalElements"], 1);
}
