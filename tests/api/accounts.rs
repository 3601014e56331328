//! Accounts API: email verification, signup, login, refresh rotation, logout, users, addresses,
//! the admin account, bad input. The key-value store and accounts SQL contracts are in
//! `storage/`.

use std::sync::Arc;

use hotdeal::domain::clock::SystemClock;
use hotdeal::http::auth::Role;
use hotdeal::kv::RedisKv;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, spawn_app, spawn_app_in, spawn_app_with};

// ------------------------------------------------------------------------------- helpers

pub(crate) fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

pub(crate) fn new_email() -> String {
    format!("u{}@example.com", unique())
}

pub(crate) fn new_nickname() -> String {
    format!("n{}", unique())
}

pub(crate) const PASSWORD: &str = "Secret12!";

/// The token without the `Bearer ` prefix the API puts on access tokens.
pub(crate) fn bare(token: &str) -> String {
    token.strip_prefix("Bearer ").unwrap_or(token).to_string()
}

pub(crate) async fn request_code(app: &TestApp, email: &str) -> String {
    let res = app
        .post(
            "/api/v1/auth/email-verification",
            &json!({ "email": email }),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    app.state
        .accounts
        .last_code(email)
        .expect("the log mailer keeps the code")
}

pub(crate) async fn verify_email(app: &TestApp, email: &str) {
    let code = request_code(app, email).await;
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": code }),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
}

pub(crate) async fn signup_as(
    app: &TestApp,
    email: &str,
    nickname: &str,
    role: &str,
) -> TestResponse {
    app.client
        .sign_up(&hotdeal::client::SignUp {
            email,
            password: PASSWORD,
            nickname,
            role,
        })
        .await
        .expect("request sent")
}

pub(crate) async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.client
        .login(email, password)
        .await
        .expect("request sent")
}

/// A signed-up, logged-in user: (user id, email, access token without prefix, refresh token).
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) access: String,
    pub(crate) refresh: String,
}

pub(crate) async fn new_account(app: &TestApp, role: &str) -> Account {
    let email = new_email();
    verify_email(app, &email).await;
    let res = signup_as(app, &email, &new_nickname(), role).await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let id = res.data()["userId"].as_str().unwrap().to_string();
    let res = login(app, &email, PASSWORD).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    Account {
        id,
        email,
        access: bare(res.data()["accessToken"].as_str().unwrap()),
        refresh: res.data()["refreshToken"].as_str().unwrap().to_string(),
    }
}

pub(crate) async fn refresh(app: &TestApp, token: &str) -> TestResponse {
    app.post(
        "/api/v1/auth/refresh",
        &json!({ "refreshToken": token }),
        None,
    )
    .await
}

pub(crate) fn assert_error(res: &TestResponse, status: u16, code: &str) {
    assert_eq!(
        (res.status, res.code()),
        (status, code),
        "body: {:?}",
        res.body
    );
    assert!(
        res.body["timestamp"].is_string() && res.body["message"].is_string(),
        "error envelope: {:?}",
        res.body
    );
}

pub(crate) fn address(detail: &str) -> Value {
    json!({
        "zipNum": "06236", "city": "Seoul", "district": "Gangnam-gu",
        "streetName": "Teheran-ro", "streetNum": "152", "detailAddr": detail
    })
}

pub(crate) async fn create_address(app: &TestApp, token: &str, detail: &str) -> String {
    let res = app
        .post("/api/v1/address", &address(detail), Some(token))
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    res.data()["addressId"].as_str().unwrap().to_string()
}

// ------------------------------------------------------------------------------- journey

/// Verify, sign up, log in, use the token, rotate, reuse detection, log out.
async fn journey(app: &TestApp) {
    let email = new_email();
    let nickname = new_nickname();
    let res = app
        .post("/api/v1/auth/check-email", &json!({ "email": email }), None)
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert!(res.data().is_null());

    let code = request_code(app, &email).await;
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
    let wrong = if code == "AAAAAA" { "BBBBBB" } else { "AAAAAA" };
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": wrong }),
            None,
        )
        .await;
    assert_error(&res, 400, "WRONG_VERIFICATION_CODE");
    // Signing up before confirming is refused.
    assert_error(
        &signup_as(app, &email, &nickname, "CUSTOMER").await,
        400,
        "EMAIL_NOT_VERIFIED",
    );
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": code }),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    // The code is used up.
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": code }),
            None,
        )
        .await;
    assert_error(&res, 400, "WRONG_VERIFICATION_CODE");

    let res = signup_as(app, &email, &nickname, "customer").await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    let user_id = res.data()["userId"].as_str().unwrap().to_string();
    assert_error(
        &signup_as(app, &email, &new_nickname(), "CUSTOMER").await,
        409,
        "DUPLICATED_EMAIL",
    );
    let res = app
        .post(
            "/api/v1/auth/check-email",
            &json!({ "email": email.to_uppercase() }),
            None,
        )
        .await;
    assert_error(&res, 409, "DUPLICATED_EMAIL");
    let res = app
        .post(
            "/api/v1/auth/email-verification",
            &json!({ "email": email }),
            None,
        )
        .await;
    assert_error(&res, 409, "DUPLICATED_EMAIL");

    assert_error(
        &login(app, &email, "Wrong123!").await,
        401,
        "WRONG_EMAIL_OR_PASSWORD",
    );
    assert_error(
        &login(app, &new_email(), PASSWORD).await,
        401,
        "WRONG_EMAIL_OR_PASSWORD",
    );
    let res = login(app, &email, PASSWORD).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let access = res.data()["accessToken"].as_str().unwrap().to_string();
    assert!(
        access.starts_with("Bearer "),
        "the seed returns the prefix: {access}"
    );
    let refresh1 = res.data()["refreshToken"].as_str().unwrap().to_string();

    // The access token works as the seed's clients send it: the whole string as the header.
    let raw = app
        .client
        .get(format!("/api/v1/users/{user_id}"))
        .header("authorization", &access)
        .await
        .unwrap();
    assert_eq!(raw.status, 200);
    let res = app
        .get(&format!("/api/v1/users/{user_id}"), Some(&bare(&access)))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["email"], json!(email));
    assert_eq!(res.data()["nickname"], json!(nickname));
    assert_eq!(res.data()["role"], json!("CUSTOMER"));
    assert_eq!(res.data()["userId"], json!(user_id));
    assert!(res.data().get("password").is_none());

    // A refresh token is not an access token, and an access token is not a refresh token.
    assert_error(
        &app.get(&format!("/api/v1/users/{user_id}"), Some(&refresh1))
            .await,
        401,
        "UNAUTHORIZED",
    );
    assert_error(
        &refresh(app, &bare(&access)).await,
        401,
        "EXPIRED_REFRESH_TOKEN",
    );
    assert_error(
        &refresh(app, "not.a.jwt").await,
        401,
        "EXPIRED_REFRESH_TOKEN",
    );

    // Rotation: each refresh gives a new pair and uses up the presented token.
    let res = refresh(app, &refresh1).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let refresh2 = res.data()["refreshToken"].as_str().unwrap().to_string();
    assert_ne!(refresh2, refresh1);
    let access2 = res.data()["accessToken"].as_str().unwrap().to_string();
    assert!(access2.starts_with("Bearer "));
    assert_eq!(
        app.get(&format!("/api/v1/users/{user_id}"), Some(&bare(&access2)))
            .await
            .status,
        200
    );
    let res = refresh(app, &refresh2).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let refresh3 = res.data()["refreshToken"].as_str().unwrap().to_string();
    // The old token is refused, and presenting it revokes the current one too (reuse = leak).
    assert_error(&refresh(app, &refresh1).await, 401, "EXPIRED_REFRESH_TOKEN");
    assert_error(&refresh(app, &refresh3).await, 401, "EXPIRED_REFRESH_TOKEN");

    // Log out: the refresh token stops working.
    let res = login(app, &email, PASSWORD).await;
    let access4 = bare(res.data()["accessToken"].as_str().unwrap());
    let refresh4 = res.data()["refreshToken"].as_str().unwrap().to_string();
    assert_error(
        &app.post("/api/v1/auth/logout", &json!({}), None).await,
        401,
        "UNAUTHORIZED",
    );
    let res = app
        .post("/api/v1/auth/logout", &json!({}), Some(&access4))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_error(&refresh(app, &refresh4).await, 401, "EXPIRED_REFRESH_TOKEN");
}

#[tokio::test]
async fn full_journey_with_the_memory_store() {
    let app = spawn_app().await;
    journey(&app).await;
}

#[tokio::test]
#[ignore = "needs Redis: set TEST_REDIS_URL"]
async fn full_journey_with_redis() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        eprintln!("TEST_REDIS_URL not set; skipped");
        return;
    };
    let app = spawn_app_with(|c| c.redis_url = Some(url), Arc::new(SystemClock)).await;
    journey(&app).await;
}

#[tokio::test]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn full_journey_on_mysql() {
    let Some(db) = crate::helpers::TestDb::mysql().await else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    let url = db.url.clone();
    let app = spawn_app_with(|c| c.database_url = url, Arc::new(SystemClock)).await;
    journey(&app).await;
    let owner = new_account(&app, "SELLER").await;
    let a = create_address(&app, &owner.access, "1").await;
    let res = app
        .request(
            Method::PATCH,
            &format!("/api/v1/address-default/{a}"),
            None,
            Some(&owner.access),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let res = app
        .get("/api/v1/address-default", Some(&owner.access))
        .await;
    assert_eq!(res.data()["addressId"], json!(a));
    drop(app.stop().await);
}

// --------------------------------------------------------------------- verification/signup

#[tokio::test]
async fn verification_and_signup_rules() {
    let app = spawn_app().await;
    let email = new_email();

    // Confirming an email that never asked for a code.
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": "abc123" }),
            None,
        )
        .await;
    assert_error(&res, 400, "EMAIL_NOT_VERIFIED");
    // Signing up with an email that was never verified.
    assert_error(
        &signup_as(&app, &email, &new_nickname(), "CUSTOMER").await,
        400,
        "EMAIL_NOT_VERIFIED",
    );

    // Re-sending overwrites the code: the first one stops working.
    let first = request_code(&app, &email).await;
    let mut second = request_code(&app, &email).await;
    while second == first {
        second = request_code(&app, &email).await;
    }
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": first }),
            None,
        )
        .await;
    assert_error(&res, 400, "WRONG_VERIFICATION_CODE");
    let res = app
        .post(
            "/api/v1/auth/email-verification/confirm",
            &json!({ "email": email, "verificationToken": second }),
            None,
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);

    // Staff roles cannot sign up; unknown roles are bad input.
    for role in ["MASTER", "manager", "ROLE_MASTER"] {
        assert_error(
            &signup_as(&app, &email, &new_nickname(), role).await,
            403,
            "NOT_ALLOWED_ROLE",
        );
    }
    assert_error(
        &signup_as(&app, &email, &new_nickname(), "KING").await,
        400,
        "INVALID_VALUE",
    );
    // Field rules.
    let bad_bodies = [
        json!({ "email": email, "password": "short1!", "nickname": new_nickname(), "role": "SELLER" }),
        json!({ "email": email, "password": "waytoolongpassword1", "nickname": new_nickname(), "role": "SELLER" }),
        json!({ "email": email, "password": "has space12", "nickname": new_nickname(), "role": "SELLER" }),
        json!({ "email": email, "password": PASSWORD, "nickname": "abc", "role": "SELLER" }),
        json!({ "email": email, "password": PASSWORD, "nickname": "Upper123", "role": "SELLER" }),
        json!({ "email": email, "password": PASSWORD, "nickname": "toolongnick1", "role": "SELLER" }),
        json!({ "email": "not-an-email", "password": PASSWORD, "nickname": new_nickname(), "role": "SELLER" }),
        json!({ "email": "a@b.c", "password": PASSWORD, "nickname": new_nickname(), "role": "SELLER" }),
    ];
    for body in bad_bodies {
        let res = app.post("/api/v1/auth/signup", &body, None).await;
        assert_error(&res, 400, "INVALID_VALUE");
    }

    let nickname = new_nickname();
    let res = signup_as(&app, &email, &nickname, "SELLER").await;
    assert_eq!(res.status, 201, "{:?}", res.body);

    // A taken nickname.
    let other = new_email();
    verify_email(&app, &other).await;
    assert_error(
        &signup_as(&app, &other, &nickname, "CUSTOMER").await,
        409,
        "DUPLICATED_NICKNAME",
    );
    // A seller logs in with the SELLER role.
    let res = login(&app, &email, PASSWORD).await;
    let token = bare(res.data()["accessToken"].as_str().unwrap());
    let claims = app.state.keys.verify(&token).unwrap();
    assert_eq!(claims.role.as_deref(), Some("SELLER"));
    assert_eq!(claims.email.as_deref(), Some(email.as_str()));
}

#[tokio::test]
async fn an_unreachable_mail_relay_answers_503() {
    let app = spawn_app_with(
        |c| c.smtp_url = Some("smtp://127.0.0.1:1".into()),
        Arc::new(SystemClock),
    )
    .await;
    let res = app
        .post(
            "/api/v1/auth/email-verification",
            &json!({ "email": new_email() }),
            None,
        )
        .await;
    assert_error(&res, 503, "SEND_EMAIL_ERROR");
    assert!(res.headers.contains_key("retry-after"));
}

// ------------------------------------------------------------------------------------ users

#[tokio::test]
async fn users_are_read_and_changed_by_themselves_or_a_master() {
    let app = spawn_app().await;
    let alice = new_account(&app, "CUSTOMER").await;
    let bob = new_account(&app, "CUSTOMER").await;
    let (_, master) = app.token(Role::Master);
    let (_, manager) = app.token(Role::Manager);
    let alice_path = format!("/api/v1/users/{}", alice.id);

    assert_error(&app.get(&alice_path, None).await, 401, "UNAUTHORIZED");
    assert_error(
        &app.get(&alice_path, Some("garbage")).await,
        401,
        "UNAUTHORIZED",
    );
    assert_error(
        &app.get(&alice_path, Some(&bob.access)).await,
        403,
        "FORBIDDEN",
    );
    assert_error(
        &app.get(&alice_path, Some(&manager)).await,
        403,
        "FORBIDDEN",
    );
    let res = app.get(&alice_path, Some(&master)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["email"], json!(alice.email));
    assert_error(
        &app.get(
            &format!("/api/v1/users/{}", uuid::Uuid::new_v4()),
            Some(&master),
        )
        .await,
        404,
        "USER_NOT_FOUND",
    );
    assert_error(
        &app.get("/api/v1/users/not-a-uuid", Some(&master)).await,
        400,
        "INVALID_VALUE",
    );

    // Nickname: self or MASTER, must be free (the seed did not re-check).
    let patch = |nickname: &str| json!({ "nickname": nickname });
    let bob_nick = app
        .get(&format!("/api/v1/users/{}", bob.id), Some(&bob.access))
        .await
        .data()["nickname"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .request(
            Method::PATCH,
            &alice_path,
            Some(&patch(&bob_nick)),
            Some(&alice.access),
        )
        .await;
    assert_error(&res, 409, "DUPLICATED_NICKNAME");
    let res = app
        .request(
            Method::PATCH,
            &alice_path,
            Some(&patch("BadNick")),
            Some(&alice.access),
        )
        .await;
    assert_error(&res, 400, "INVALID_VALUE");
    let res = app
        .request(
            Method::PATCH,
            &alice_path,
            Some(&patch("alicenew")),
            Some(&bob.access),
        )
        .await;
    assert_error(&res, 403, "FORBIDDEN");
    let new_nick = new_nickname();
    let res = app
        .request(
            Method::PATCH,
            &alice_path,
            Some(&patch(&new_nick)),
            Some(&alice.access),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["userId"], json!(alice.id));
    // Keeping one's own nickname is fine; a MASTER may change it too.
    let res = app
        .request(
            Method::PATCH,
            &alice_path,
            Some(&patch(&new_nick)),
            Some(&alice.access),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let by_master = new_nickname();
    let res = app
        .request(
            Method::PATCH,
            &alice_path,
            Some(&patch(&by_master)),
            Some(&master),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        app.get(&alice_path, Some(&alice.access)).await.data()["nickname"],
        json!(by_master)
    );

    // Password: self only (no MASTER reset), the current password is proven, the signup rule
    // applies, and the old tokens are revoked.
    let pw_path = format!("{alice_path}/password");
    let res = app
        .request(
            Method::PATCH,
            &pw_path,
            Some(&json!({ "password": "NewPass12!", "currentPassword": PASSWORD })),
            Some(&master),
        )
        .await;
    assert_error(&res, 403, "FORBIDDEN");
    let res = app
        .request(
            Method::PATCH,
            &pw_path,
            Some(&json!({ "password": "short", "currentPassword": PASSWORD })),
            Some(&alice.access),
        )
        .await;
    assert_error(&res, 400, "INVALID_VALUE");
    let res = app
        .request(
            Method::PATCH,
            &pw_path,
            Some(&json!({ "password": "NewPass12!", "currentPassword": PASSWORD })),
            Some(&alice.access),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_error(
        &login(&app, &alice.email, PASSWORD).await,
        401,
        "WRONG_EMAIL_OR_PASSWORD",
    );
    let res = login(&app, &alice.email, "NewPass12!").await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let alice_access = bare(res.data()["accessToken"].as_str().unwrap());
    assert_error(
        &refresh(&app, &alice.refresh).await,
        401,
        "EXPIRED_REFRESH_TOKEN",
    );

    // Delete: self or MASTER; soft delete; then the account is gone everywhere.
    let bob_path = format!("/api/v1/users/{}", bob.id);
    assert_error(
        &app.request(Method::DELETE, &bob_path, None, Some(&alice_access))
            .await,
        403,
        "FORBIDDEN",
    );
    let res = app
        .request(Method::DELETE, &bob_path, None, Some(&bob.access))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["userId"], json!(bob.id));
    assert_error(
        &app.get(&bob_path, Some(&master)).await,
        404,
        "USER_NOT_FOUND",
    );
    assert_error(
        &app.request(Method::DELETE, &bob_path, None, Some(&master))
            .await,
        404,
        "USER_NOT_FOUND",
    );
    assert_error(
        &login(&app, &bob.email, PASSWORD).await,
        404,
        "USER_NOT_FOUND",
    );
    assert_error(
        &refresh(&app, &bob.refresh).await,
        401,
        "EXPIRED_REFRESH_TOKEN",
    );
    // A MASTER deletes alice.
    let res = app
        .request(Method::DELETE, &alice_path, None, Some(&master))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let deleted_by: Option<String> =
        sqlx::query_scalar("SELECT deleted_by FROM p_user WHERE user_id = ?")
            .bind(&alice.id)
            .fetch_one(&app.state.db.pool)
            .await
            .unwrap();
    assert!(deleted_by.is_some());
}

// -------------------------------------------------------------------------------- addresses

#[tokio::test]
async fn addresses_belong_to_their_owner() {
    let app = spawn_app().await;
    let owner = new_account(&app, "CUSTOMER").await;
    let other = new_account(&app, "CUSTOMER").await;
    let t = owner.access.as_str();

    assert_error(
        &app.post("/api/v1/address", &address("101"), None).await,
        401,
        "UNAUTHORIZED",
    );
    assert_error(
        &app.get("/api/v1/address-default", Some(t)).await,
        404,
        "NOT_EXISTS_DEFAULT_ADDRESS",
    );
    let a1 = create_address(&app, t, "101").await;
    let a2 = create_address(&app, t, "202").await;
    let a3 = create_address(&app, t, "303").await;

    let res = app.get(&format!("/api/v1/address/{a1}"), Some(t)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["addressId"], json!(a1));
    assert_eq!(res.data()["detailAddr"], json!("101"));
    assert_eq!(res.data()["zipNum"], json!("06236"));

    // Someone else's address: 403 for every operation.
    let other_t = other.access.as_str();
    assert_error(
        &app.get(&format!("/api/v1/address/{a1}"), Some(other_t))
            .await,
        403,
        "NOT_ALLOWED_CONTENT",
    );
    assert_error(
        &app.request(
            Method::PATCH,
            &format!("/api/v1/address/{a1}"),
            Some(&address("hijack")),
            Some(other_t),
        )
        .await,
        403,
        "NOT_ALLOWED_CONTENT",
    );
    assert_error(
        &app.request(
            Method::DELETE,
            &format!("/api/v1/address/{a1}"),
            None,
            Some(other_t),
        )
        .await,
        403,
        "NOT_ALLOWED_CONTENT",
    );
    assert_error(
        &app.request(
            Method::PATCH,
            &format!("/api/v1/address-default/{a1}"),
            None,
            Some(other_t),
        )
        .await,
        403,
        "NOT_ALLOWED_CONTENT",
    );
    let (_, master) = app.token(Role::Master);
    assert_error(
        &app.get(&format!("/api/v1/address/{a1}"), Some(&master))
            .await,
        403,
        "NOT_ALLOWED_CONTENT",
    );
    assert_error(
        &app.get(
            &format!("/api/v1/address/{}", uuid::Uuid::new_v4()),
            Some(t),
        )
        .await,
        404,
        "ADDRESS_NOT_FOUND",
    );
    assert_error(
        &app.get("/api/v1/address/xyz", Some(t)).await,
        400,
        "INVALID_VALUE",
    );

    // List: own live addresses only, paginated, newest first by default.
    let res = app.get("/api/v1/address?size=2", Some(t)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["totalElements"], json!(3));
    assert_eq!(res.data()["totalPages"], json!(2));
    assert_eq!(res.data()["content"].as_array().unwrap().len(), 2);
    let res = app
        .get("/api/v1/address?page=1&size=2&sort=createdAt,asc", Some(t))
        .await;
    assert_eq!(res.data()["content"][0]["addressId"], json!(a3));
    assert_eq!(res.data()["last"], json!(true));
    let res = app.get("/api/v1/address", Some(other_t)).await;
    assert_eq!(res.data()["totalElements"], json!(0));
    assert_error(
        &app.get("/api/v1/address?sort=password", Some(t)).await,
        400,
        "INVALID_SORT",
    );
    assert_error(
        &app.get("/api/v1/address?page=abc", Some(t)).await,
        400,
        "INVALID_VALUE",
    );
    assert_error(
        &app.get("/api/v1/address?size=100000", Some(t)).await,
        400,
        "INVALID_SORT",
    );

    // Update overwrites all six fields.
    let mut changed = address("909");
    changed["city"] = json!("Busan");
    let res = app
        .request(
            Method::PATCH,
            &format!("/api/v1/address/{a2}"),
            Some(&changed),
            Some(t),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let res = app.get(&format!("/api/v1/address/{a2}"), Some(t)).await;
    assert_eq!(
        (res.data()["city"].clone(), res.data()["detailAddr"].clone()),
        (json!("Busan"), json!("909"))
    );

    // Default address.
    let res = app
        .request(
            Method::PATCH,
            &format!("/api/v1/address-default/{a2}"),
            None,
            Some(t),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let res = app.get("/api/v1/address-default", Some(t)).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.data()["addressId"], json!(a2));

    // Deleting a non-default address while a default exists, then the default itself.
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/address/{a1}"),
            None,
            Some(t),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(
        app.get("/api/v1/address-default", Some(t)).await.data()["addressId"],
        json!(a2)
    );
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/address/{a2}"),
            None,
            Some(t),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_error(
        &app.get("/api/v1/address-default", Some(t)).await,
        404,
        "NOT_EXISTS_DEFAULT_ADDRESS",
    );
    // With no default at all, deleting still works (the seed threw here).
    let res = app
        .request(
            Method::DELETE,
            &format!("/api/v1/address/{a3}"),
            None,
            Some(t),
        )
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);

    // Deleted addresses.
    for (method, path) in [
        (Method::GET, format!("/api/v1/address/{a2}")),
        (Method::DELETE, format!("/api/v1/address/{a2}")),
        (Method::PATCH, format!("/api/v1/address-default/{a2}")),
    ] {
        assert_error(
            &app.request(method, &path, None, Some(t)).await,
            404,
            "DELETED_ADDRESS",
        );
    }
    assert_error(
        &app.request(
            Method::PATCH,
            &format!("/api/v1/address/{a2}"),
            Some(&address("x")),
            Some(t),
        )
        .await,
        404,
        "DELETED_ADDRESS",
    );
    assert_eq!(
        app.get("/api/v1/address", Some(t)).await.data()["totalElements"],
        json!(0)
    );

    // Bad address bodies.
    let mut blank = address("1");
    blank["city"] = json!("   ");
    let mut long = address("1");
    long["detailAddr"] = json!("x".repeat(256));
    let mut missing = address("1");
    missing.as_object_mut().unwrap().remove("zipNum");
    let mut wrong_type = address("1");
    wrong_type["streetNum"] = json!(152);
    for body in [blank, long, missing, wrong_type] {
        assert_error(
            &app.post("/api/v1/address", &body, Some(t)).await,
            400,
            "INVALID_VALUE",
        );
    }
}

// -------------------------------------------------------------------------------- bad input

#[tokio::test]
async fn bad_input_is_refused_with_a_code() {
    let app = spawn_app().await;
    let res = app
        .post_raw(
            "/api/v1/auth/signup",
            "application/json",
            b"{\"email\": ".to_vec(),
            None,
        )
        .await;
    assert_error(&res, 400, "INVALID_JSON");
    let res = app
        .post_raw(
            "/api/v1/auth/login",
            "text/plain",
            b"email=a@b.co".to_vec(),
            None,
        )
        .await;
    assert_error(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    for (path, body) in [
        ("/api/v1/auth/signup", json!({ "email": "a@b.co" })),
        (
            "/api/v1/auth/signup",
            json!({ "email": 12, "password": PASSWORD, "nickname": "abcd", "role": "CUSTOMER" }),
        ),
        (
            "/api/v1/auth/login",
            json!({ "email": ["a"], "password": PASSWORD }),
        ),
        ("/api/v1/auth/check-email", json!({})),
        ("/api/v1/auth/email-verification", json!({ "email": null })),
        (
            "/api/v1/auth/email-verification/confirm",
            json!({ "email": "a@b.co" }),
        ),
        ("/api/v1/auth/refresh", json!({ "refreshToken": 5 })),
        (
            "/api/v1/auth/check-email",
            json!({ "email": format!("{}@example.com", "a".repeat(300)) }),
        ),
        (
            "/api/v1/auth/email-verification",
            json!({ "email": format!("a@{}.com", "b".repeat(300)) }),
        ),
        (
            "/api/v1/auth/email-verification/confirm",
            json!({ "email": "a@b.co", "verificationToken": "x".repeat(1000) }),
        ),
        (
            "/api/v1/auth/signup",
            json!({ "email": "a@b.co", "password": "a".repeat(10_000), "nickname": "abcd", "role": "CUSTOMER" }),
        ),
        (
            "/api/v1/auth/signup",
            json!({ "email": "a@b.co", "password": PASSWORD, "nickname": "n".repeat(5_000), "role": "CUSTOMER" }),
        ),
    ] {
        let res = app.post(path, &body, None).await;
        assert_error(&res, 400, "INVALID_VALUE");
    }
    // Login never hashes oversized input and never says which part was wrong.
    let res = login(&app, "a@b.co", &"p".repeat(100_000)).await;
    assert_error(&res, 401, "WRONG_EMAIL_OR_PASSWORD");
    let res = login(&app, "", "").await;
    assert_error(&res, 401, "WRONG_EMAIL_OR_PASSWORD");
    let res = refresh(&app, &"x".repeat(10_000)).await;
    assert_error(&res, 401, "EXPIRED_REFRESH_TOKEN");
    // A body past the size limit.
    let res = app
        .post_raw(
            "/api/v1/auth/login",
            "application/json",
            vec![b' '; app.state.config.request_body_limit_bytes + 10],
            None,
        )
        .await;
    assert_eq!(res.status, 413, "{:?}", res.body);
}

// ----------------------------------------------------------------------------------- admin

#[tokio::test]
async fn the_admin_account_is_created_and_its_password_updated_at_start() {
    let admin_email = new_email();
    let email = admin_email.clone();
    let app = spawn_app_with(
        move |c| {
            c.admin_email = Some(email);
            c.admin_password = Some("AdminPass1!".into());
        },
        Arc::new(SystemClock),
    )
    .await;
    let res = login(&app, &admin_email, "AdminPass1!").await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let token = bare(res.data()["accessToken"].as_str().unwrap());
    let claims = app.state.keys.verify(&token).unwrap();
    assert_eq!(claims.role.as_deref(), Some("MASTER"));
    // The MASTER reads any user.
    let someone = new_account(&app, "CUSTOMER").await;
    let res = app
        .get(&format!("/api/v1/users/{}", someone.id), Some(&token))
        .await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    // Nobody can sign up with the admin's email.
    let res = app
        .post(
            "/api/v1/auth/email-verification",
            &json!({ "email": admin_email }),
            None,
        )
        .await;
    assert_error(&res, 409, "DUPLICATED_EMAIL");

    // A restart with another password updates it.
    let dir = app.stop().await;
    let email = admin_email.clone();
    let app = spawn_app_in(dir, move |c| {
        c.admin_email = Some(email);
        c.admin_password = Some("Changed12!".into());
    })
    .await;
    assert_error(
        &login(&app, &admin_email, "AdminPass1!").await,
        401,
        "WRONG_EMAIL_OR_PASSWORD",
    );
    let res = login(&app, &admin_email, "Changed12!").await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    let masters: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_user WHERE role = 'MASTER'")
        .fetch_one(&app.state.db.pool)
        .await
        .unwrap();
    assert_eq!(masters, 1);
}

#[tokio::test]
async fn accounts_endpoints_are_in_the_openapi_document() {
    let app = spawn_app().await;
    let res = app.get("/v3/api-docs", None).await;
    assert_eq!(res.status, 200);
    for path in [
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/email-verification/confirm",
        "/api/v1/users/{user_id}",
        "/api/v1/users/{user_id}/password",
        "/api/v1/address",
        "/api/v1/address/{address_id}",
        "/api/v1/address-default",
        "/api/v1/address-default/{address_id}",
    ] {
        assert!(
            res.body["paths"].get(path).is_some(),
            "{path} missing from /v3/api-docs"
        );
    }
    // A password change names the current password as required, and its refusals.
    let body = &res.body["components"]["schemas"]["PasswordBody"];
    assert_eq!(
        body["required"],
        json!(["password", "currentPassword"]),
        "{body}"
    );
    assert_eq!(
        body["properties"]["currentPassword"]["type"],
        json!("string")
    );
    let responses = &res.body["paths"]["/api/v1/users/{user_id}/password"]["patch"]["responses"];
    for status in ["400", "401", "429", "503"] {
        assert!(responses.get(status).is_some(), "{status}: {responses}");
    }
    let login = &res.body["paths"]["/api/v1/auth/login"]["post"]["responses"];
    for status in ["429", "503"] {
        assert!(login.get(status).is_some(), "{status}: {login}");
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_an_infrastructure_error() {
    // Nothing listens on port 1: connecting fails, and the HTTP layer would answer 503.
    let err = RedisKv::connect("redis://127.0.0.1:1", "hotdeal-test:")
        .await
        .unwrap_err();
    let api = hotdeal::http::ApiError::from(err);
    assert_eq!(api.status().as_u16(), 503, "{api}");
}
