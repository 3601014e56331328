//! `hotdeal serve --demo` (`HOTDEAL_DEMO=true`): a demo store in an empty database, so a newcomer
//! has something to look at and to buy at once.
//!
//! On a database without any company, product, campaign, order or user (the configured admin
//! aside), [`seed`] creates a shopper, a seller and, when `HOTDEAL_ADMIN_EMAIL` is not set, a
//! MASTER, all with fixed demo passwords; then, through the API itself (the in-process router,
//! with tokens for those accounts), an approved company, [`PRODUCTS`] with images, a time sale
//! starting [`SALE_DELAY_MS`] after start, an open coupon campaign and the shopper's address. The
//! accounts are made with the functions signup uses (verified email, argon2 hash, one user row);
//! everything else is exactly what a client of the API would make. A database that holds data is
//! never touched, so a second start changes nothing.
//!
//! The product images are small SVGs inside the binary, served under [`IMAGE_PATH`] by
//! [`routes`] (mounted by `hotdeal serve` whether or not `--demo` is given), so the demo works
//! offline.

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::accounts::repo;
use crate::domain::ids::UserId;
use crate::http::AppState;
use crate::http::auth::Role;

/// The demo shopper (CUSTOMER).
pub const SHOPPER_EMAIL: &str = "shopper@hotdeal.demo";
/// The demo shopper's password.
pub const SHOPPER_PASSWORD: &str = "Shopper123!";
/// The demo seller (SELLER, manager of the demo company).
pub const SELLER_EMAIL: &str = "seller@hotdeal.demo";
/// The demo seller's password.
pub const SELLER_PASSWORD: &str = "Seller123!";
/// The demo MASTER, created when `HOTDEAL_ADMIN_EMAIL` is not set.
pub const ADMIN_EMAIL: &str = "admin@hotdeal.demo";
/// The demo MASTER's password.
pub const ADMIN_PASSWORD: &str = "Admin123!";

/// How long after start the demo time sale begins, in milliseconds.
pub const SALE_DELAY_MS: i64 = 60_000;
/// How long the demo time sale lasts, in milliseconds.
pub const SALE_LENGTH_MS: i64 = 2 * 3_600_000;

/// Where the demo images are served.
pub const IMAGE_PATH: &str = "/demo/img";

/// A demo product: `(image name, name, category, price, stock, description, colour)`.
type DemoProduct = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    &'static str,
    &'static str,
);

/// The demo catalogue; the first one gets the time sale.
pub const PRODUCTS: [DemoProduct; 5] = [
    (
        "sneakers",
        "Red Canvas Sneakers",
        "FASHION",
        89_000,
        50,
        "Limited run of hand-stitched red canvas sneakers.",
        "#e53935",
    ),
    (
        "earbuds",
        "Wireless Earbuds",
        "APPLIANCES",
        129_000,
        100,
        "Noise-cancelling earbuds with a 24-hour charging case.",
        "#3949ab",
    ),
    (
        "coffee",
        "Single-Origin Coffee Beans 1 kg",
        "FOOD",
        32_000,
        200,
        "Medium roast, roasted to order.",
        "#6d4c41",
    ),
    (
        "lamp",
        "Oak Desk Lamp",
        "HOME_INTERIOR",
        54_000,
        30,
        "Warm LED desk lamp on an oak base.",
        "#f9a825",
    ),
    (
        "yogamat",
        "Cork Yoga Mat",
        "SPORTS",
        45_000,
        80,
        "Non-slip cork mat, 4 mm.",
        "#43a047",
    ),
];

/// What the demo made (or found), for the banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoOutcome {
    /// The store was seeded now.
    Seeded(DemoStore),
    /// The demo store was seeded by an earlier start: nothing changed.
    AlreadySeeded,
    /// The database holds other data: nothing changed.
    LeftAlone,
}

/// The ids of a freshly seeded demo store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoStore {
    pub company: Uuid,
    pub products: Vec<Uuid>,
    pub promotion: Uuid,
    pub sale_start_ms: i64,
    pub campaign: Uuid,
    /// The MASTER's email: the demo one, or `HOTDEAL_ADMIN_EMAIL`.
    pub admin_email: String,
    /// Whether the MASTER is the demo one (with [`ADMIN_PASSWORD`]).
    pub demo_admin: bool,
}

/// Seed the demo store when the database is empty (see the module doc).
pub async fn seed(state: &AppState) -> anyhow::Result<DemoOutcome> {
    let configured_admin = configured_admin(state);
    if state.store.holds_data(configured_admin.as_deref()).await? {
        let seeded = repo::find_user_by_email(&state.db, SHOPPER_EMAIL)
            .await?
            .is_some();
        return Ok(if seeded {
            DemoOutcome::AlreadySeeded
        } else {
            DemoOutcome::LeftAlone
        });
    }
    let now = state.now_ms();
    let shopper = create_user(
        state,
        SHOPPER_EMAIL,
        SHOPPER_PASSWORD,
        "demo-shopper",
        Role::Customer,
    )
    .await?;
    let seller = create_user(
        state,
        SELLER_EMAIL,
        SELLER_PASSWORD,
        "demo-seller",
        Role::Seller,
    )
    .await?;
    let (admin_email, admin, demo_admin) = match configured_admin {
        Some(email) => {
            let user = repo::find_user_by_email(&state.db, &email)
                .await?
                .context("the configured admin account is missing")?;
            (email, UserId(user.user_id), false)
        }
        None => {
            let hash = state.accounts.passwords.hash(ADMIN_PASSWORD).await?;
            let id = repo::ensure_master(&state.db, ADMIN_EMAIL, &hash, now).await?;
            (ADMIN_EMAIL.to_string(), UserId(id), true)
        }
    };
    let api = Api {
        router: crate::http::router(state.clone()),
        shopper: state
            .keys
            .mint_access(shopper, SHOPPER_EMAIL, Role::Customer, now, 600)?,
        seller: state
            .keys
            .mint_access(seller, SELLER_EMAIL, Role::Seller, now, 600)?,
        admin: state
            .keys
            .mint_access(admin, &admin_email, Role::Master, now, 600)?,
    };

    let company = api
        .call(
            Who::Seller,
            Method::POST,
            "/api/v1/companies",
            json!({
                "businessRegistrationNumber": 1_234_567_890_i64,
                "companyPhoneNumber": 212_345_678,
                "brandName": "Hotdeal Demo Shop",
                "companyEmail": "shop@hotdeal.demo",
            }),
        )
        .await?;
    let company = id_at(&company, "companyId")?;
    api.call(
        Who::Admin,
        Method::PATCH,
        &format!("/api/v1/companies/{company}/status"),
        json!({"status": "APPROVED"}),
    )
    .await?;

    let base = reachable_base(state);
    let mut products = Vec::new();
    for (image, name, category, price, quantity, description, _) in PRODUCTS {
        let url = format!("{base}{IMAGE_PATH}/{image}.svg");
        let created = api
            .call(
                Who::Seller,
                Method::POST,
                "/api/v1/products",
                json!({
                    "name": name, "price": price, "quantity": quantity, "category": category,
                    "companyId": company, "description": description,
                    "thumbImg": url, "detailImgs": [url],
                }),
            )
            .await?;
        products.push(id_at(&created, "productId")?);
    }

    let sale_start_ms = now + SALE_DELAY_MS;
    let (_, _, _, price, _, _, _) = PRODUCTS[0];
    let promotion = api
        .call(
            Who::Seller,
            Method::POST,
            "/api/v1/promotions",
            json!({
                "productId": products[0],
                "start": crate::domain::clock::rfc3339(sale_start_ms),
                "end": crate::domain::clock::rfc3339(sale_start_ms + SALE_LENGTH_MS),
                "discountPrice": price * 2 / 3 / 1000 * 1000,
                "quantity": 20,
                "perUserLimit": 1,
            }),
        )
        .await?;
    let promotion = id_at(&promotion, "promotionId")?;

    let campaign = api
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/coupon-infos",
            json!({
                "name": "Welcome coupon: 5,000 off orders of 30,000 or more",
                "quantity": 100,
                "couponType": "FIRST_COME_FIRST_SERVE",
                "discountAmount": 5_000,
                "minOrderAmount": 30_000,
                "expirationDate": "2099-12-31",
            }),
        )
        .await?;
    let campaign = id_at(&campaign, "couponId")?;
    api.call(
        Who::Admin,
        Method::PATCH,
        &format!("/api/v1/coupon-infos/{campaign}/status"),
        json!({"status": "ISSUED"}),
    )
    .await?;

    api.call(
        Who::Shopper,
        Method::POST,
        "/api/v1/address",
        json!({
            "zipNum": "06236", "city": "Seoul", "district": "Gangnam-gu",
            "streetName": "Teheran-ro", "streetNum": "152", "detailAddr": "Demo tower 8F",
        }),
    )
    .await?;

    tracing::info!(%company, products = products.len(), %promotion, %campaign, "demo store seeded");
    Ok(DemoOutcome::Seeded(DemoStore {
        company,
        products,
        promotion,
        sale_start_ms,
        campaign,
        admin_email,
        demo_admin,
    }))
}

/// [`seed`], then print what there is and where to look (on stdout, beside the log).
pub async fn seed_and_print(state: &AppState) -> anyhow::Result<DemoOutcome> {
    let outcome = seed(state).await.context("seeding the demo store")?;
    println!("{}", banner(state, &outcome));
    Ok(outcome)
}

/// The text printed after seeding.
pub fn banner(state: &AppState, outcome: &DemoOutcome) -> String {
    let base = reachable_base(state);
    let mut out = String::from("\n== hotdeal demo ==\n");
    match outcome {
        DemoOutcome::LeftAlone => {
            out.push_str(
                "The database already holds data, so no demo store was added (the demo only \
                 seeds an empty database).\n",
            );
            return out;
        }
        DemoOutcome::AlreadySeeded => {
            out.push_str("The demo store from an earlier start is still there (nothing changed).\n")
        }
        DemoOutcome::Seeded(s) => {
            out.push_str(&format!(
                "Seeded: an approved company, {} products, a time sale on \"{}\" starting at {} \
                 (a minute from now), and an open coupon campaign {}.\n",
                s.products.len(),
                PRODUCTS[0].1,
                crate::domain::clock::rfc3339(s.sale_start_ms),
                s.campaign
            ));
        }
    }
    let admin = match outcome {
        DemoOutcome::Seeded(s) if !s.demo_admin => {
            format!(
                "  MASTER   {}  (the HOTDEAL_ADMIN_PASSWORD you set)\n",
                s.admin_email
            )
        }
        _ if configured_admin(state).is_some() => {
            "  MASTER   HOTDEAL_ADMIN_EMAIL  (the HOTDEAL_ADMIN_PASSWORD you set)\n".to_string()
        }
        _ => format!("  MASTER   {ADMIN_EMAIL}  {ADMIN_PASSWORD}\n"),
    };
    out.push_str(&format!(
        "Log in (POST {base}/api/v1/auth/login) with these demo accounts; their passwords are \
         public, so keep a demo server off the internet:\n\
         \x20 shopper  {SHOPPER_EMAIL}  {SHOPPER_PASSWORD}\n\
         \x20 seller   {SELLER_EMAIL}  {SELLER_PASSWORD}\n\
         {admin}\
         Where to look:\n\
         \x20 storefront  {base}/\n\
         \x20 seller      {base}/seller\n\
         \x20 console     {base}/console\n\
         \x20 API docs    {base}/swagger-ui  ({base}/v3/api-docs)\n\
         \x20 products    {base}/api/v1/products\n\
         \x20 time sales  {base}/api/v1/promotions\n\
         \x20 metrics     {base}/metrics\n\
         The README's quick-start walks through a whole purchase with curl.\n"
    ));
    out
}

/// The base URL to print and to put in image URLs: the public one, with a wildcard listen
/// address (`0.0.0.0`, `[::]`) replaced by loopback, which a browser on this machine reaches.
fn reachable_base(state: &AppState) -> String {
    state
        .public_base_url
        .trim_end_matches('/')
        .replacen("://0.0.0.0:", "://127.0.0.1:", 1)
        .replacen("://[::]:", "://127.0.0.1:", 1)
}

/// The configured admin's email, when both `HOTDEAL_ADMIN_EMAIL` and `HOTDEAL_ADMIN_PASSWORD`
/// are set (the account the service creates at start).
fn configured_admin(state: &AppState) -> Option<String> {
    let email = state.config.admin_email.as_deref().map(str::trim)?;
    let password = state.config.admin_password.as_deref()?;
    (!email.is_empty() && !password.is_empty()).then(|| email.to_string())
}

/// A user with a verified email, made the way signup makes one.
async fn create_user(
    state: &AppState,
    email: &str,
    password: &str,
    nickname: &str,
    role: Role,
) -> anyhow::Result<UserId> {
    repo::mark_email_verified(&state.db, email).await?;
    let hash = state.accounts.passwords.hash(password).await?;
    let user_id = UserId::new();
    repo::insert_user(
        &state.db,
        &repo::NewUser {
            user_id: user_id.0,
            email,
            password_hash: &hash,
            nickname,
            role: role.as_str(),
        },
        state.now_ms(),
    )
    .await
    .with_context(|| format!("creating the demo account {email}"))?;
    Ok(user_id)
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Shopper,
    Seller,
    Admin,
}

/// The API, in process: each call goes through the same router, middleware and handlers as a
/// request from the network.
struct Api {
    router: Router,
    shopper: String,
    seller: String,
    admin: String,
}

impl Api {
    /// Send `body` as `who`; the response's `data`, or an error with the envelope.
    async fn call(
        &self,
        who: Who,
        method: Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let token = match who {
            Who::Shopper => &self.shopper,
            Who::Seller => &self.seller,
            Who::Admin => &self.admin,
        };
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))?;
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        anyhow::ensure!(
            status.is_success(),
            "demo seeding: {method} {path} answered {status}: {value}"
        );
        Ok(value["data"].clone())
    }
}

fn id_at(v: &Value, field: &str) -> anyhow::Result<Uuid> {
    v[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no {field} in {v}"))
}

/// `GET /demo/img/{name}.svg`: the demo product images.
pub fn routes() -> Router<AppState> {
    Router::new().route(&format!("{IMAGE_PATH}/{{file}}"), get(image))
}

async fn image(axum::extract::Path(file): axum::extract::Path<String>) -> axum::response::Response {
    let found = file
        .strip_suffix(".svg")
        .and_then(|name| PRODUCTS.iter().find(|p| p.0 == name));
    match found {
        Some((_, title, _, _, _, _, colour)) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            svg(title, colour),
        )
            .into_response(),
        None => crate::http::ApiError::coded(
            crate::error_code::ErrorCode::RouteNotFound,
            "no such demo image",
        )
        .into_response(),
    }
}

/// A 400 x 400 card: a coloured background with the product's name.
fn svg(title: &str, colour: &str) -> String {
    let lines: Vec<String> = wrap(title, 16)
        .iter()
        .enumerate()
        .map(|(i, line)| {
            format!(
                r##"<text x="200" y="{}" font-family="sans-serif" font-size="30" fill="#fff" text-anchor="middle">{line}</text>"##,
                190 + i * 40
            )
        })
        .collect();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" viewBox="0 0 400 400"><rect width="400" height="400" rx="24" fill="{colour}"/><circle cx="200" cy="110" r="44" fill="#ffffff33"/>{}<text x="200" y="370" font-family="sans-serif" font-size="18" fill="#ffffffcc" text-anchor="middle">hotdeal demo</text></svg>"##,
        lines.join("")
    )
}

/// Split `text` into lines of at most about `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.len() + 1 + word.len() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}
