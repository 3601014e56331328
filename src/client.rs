//! `hotdeal::client`: the typed HTTP client of the hotdeal API, used by `hotdeal load`, the
//! benches and the tests.
//!
//! One [`Client`] owns one pooled keep-alive connection set-up (pool size, timeouts, no proxy,
//! no redirects followed: see [`ClientOptions`]) and a base URL; [`Client::with_token`] gives a
//! cheap copy that sends a bearer token (the pool is shared). Every typed method returns a
//! [`Call`]: awaiting it sends the request and gives a [`Response`] (the status, the headers and
//! the JSON body, with the `{message, data}` envelope's data and the `{timestamp, code, message}`
//! error at hand); [`Call::ok`] and [`Call::data`] turn a non-2xx answer into an [`Error`], and
//! [`Call::brief`] reads only the status, the error code and `Retry-After` (the load generators'
//! hot path: no JSON tree is built). [`Client::request`] is the escape hatch: any method, path,
//! header or body, with the client's base URL and token.
//!
//! An error is a transport failure or an answer that was not wanted; a refusal such as `CO005`
//! is an answer, and a [`Response`] like any other until the caller asks for success.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use reqwest::Method;
pub use reqwest::header;

/// The `Idempotency-Key` header (order creation and coupon issue: a retry gets the first answer).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How a [`Client`] connects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Idle keep-alive connections kept per host: the concurrency a load generator runs at, so
    /// no request waits for a new connection once the pool is warm.
    pub pool_max_idle_per_host: usize,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// A whole request, from sending to the last byte of the answer.
    pub timeout: Duration,
    /// Establishing one TCP connection.
    pub connect_timeout: Duration,
    /// Follow 3xx answers (off by default: an API client sees the redirect itself).
    pub follow_redirects: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            pool_max_idle_per_host: 64,
            pool_idle_timeout: Duration::from_secs(90),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            follow_redirects: false,
        }
    }
}

impl ClientOptions {
    /// The defaults with a pool of `connections` idle connections.
    pub fn pooled(connections: usize) -> Self {
        ClientOptions {
            pool_max_idle_per_host: connections.max(1),
            ..ClientOptions::default()
        }
    }
}

/// A client of one hotdeal server: a shared connection pool, the base URL, and optionally the
/// bearer token it sends. Cloning (and [`Client::with_token`]) shares the pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Without a trailing slash.
    base: Arc<str>,
    /// `Bearer <token>`, marked sensitive.
    token: Option<HeaderValue>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8080`) with the default options.
    pub fn new(base_url: &str) -> Result<Client, Error> {
        Client::with_options(base_url, &ClientOptions::default())
    }

    /// A client of the server at `base_url` with `options`.
    pub fn with_options(base_url: &str, options: &ClientOptions) -> Result<Client, Error> {
        let base = base_url.trim_end_matches('/');
        check_base(base_url, base)?;
        let redirects = if options.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(options.pool_max_idle_per_host)
            .pool_idle_timeout(options.pool_idle_timeout)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(redirects)
            .build()
            .map_err(Error::Build)?;
        Ok(Client {
            http,
            base: base.into(),
            token: None,
        })
    }

    /// This client sending `token` as its bearer token (the pool is shared, nothing is
    /// connected anew).
    pub fn with_token(&self, token: &str) -> Client {
        let mut value = HeaderValue::try_from(format!("Bearer {token}")).unwrap_or_else(|_| {
            // A token with bytes a header cannot carry: sent as nothing the server accepts.
            HeaderValue::from_static("Bearer invalid")
        });
        value.set_sensitive(true);
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            token: Some(value),
        }
    }

    /// This client's pool and token against another server (a restarted one on a new port).
    pub fn with_base_url(&self, base_url: &str) -> Result<Client, Error> {
        let base = base_url.trim_end_matches('/');
        check_base(base_url, base)?;
        Ok(Client {
            base: base.into(),
            ..self.clone()
        })
    }

    /// This client without a token.
    pub fn anonymous(&self) -> Client {
        Client {
            token: None,
            ..self.clone()
        }
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `path` (`/api/v1/...`).
    pub fn url(&self, path: &str) -> String {
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }

    /// The pooled reqwest client underneath (for a URL that is not the server's, such as a
    /// payment provider's redirect).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The escape hatch: `method` on `path` with the base URL and the token; add headers or a
    /// body with [`Call::header`], [`Call::json`], [`Call::body`], or anything reqwest can do
    /// with [`Call::map`].
    pub fn request(&self, method: Method, path: impl Into<Cow<'static, str>>) -> Call {
        let path = path.into();
        let mut req = self.http.request(method.clone(), self.url(&path));
        if let Some(token) = &self.token {
            req = req.header(AUTHORIZATION, token.clone());
        }
        Call { req, method, path }
    }

    /// `GET path`.
    pub fn get(&self, path: impl Into<Cow<'static, str>>) -> Call {
        self.request(Method::GET, path)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: impl Into<Cow<'static, str>>, body: &impl Serialize) -> Call {
        self.request(Method::POST, path).json(body)
    }

    /// `PUT path` with a JSON body.
    pub fn put(&self, path: impl Into<Cow<'static, str>>, body: &impl Serialize) -> Call {
        self.request(Method::PUT, path).json(body)
    }

    /// `PATCH path` with a JSON body.
    pub fn patch(&self, path: impl Into<Cow<'static, str>>, body: &impl Serialize) -> Call {
        self.request(Method::PATCH, path).json(body)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: impl Into<Cow<'static, str>>) -> Call {
        self.request(Method::DELETE, path)
    }

    // -----------------------------------------------------------------------------------------
    // Health

    /// `GET /healthz`: the process answers.
    pub fn health(&self) -> Call {
        self.get("/healthz")
    }

    /// `GET /readyz`: recovered and serving (503 with the reasons when not).
    pub fn ready(&self) -> Call {
        self.get("/readyz")
    }

    /// `GET /metrics` (Prometheus text: read it with [`Response::text`]).
    pub fn metrics(&self) -> Call {
        self.get("/metrics")
    }

    // -----------------------------------------------------------------------------------------
    // Accounts

    /// `POST /api/v1/auth/signup`.
    pub fn sign_up(&self, body: &SignUp<'_>) -> Call {
        self.post("/api/v1/auth/signup", body)
    }

    /// `POST /api/v1/auth/login`: the data is a [`TokenPair`].
    pub fn login(&self, email: &str, password: &str) -> Call {
        self.post(
            "/api/v1/auth/login",
            &serde_json::json!({ "email": email, "password": password }),
        )
    }

    /// `POST /api/v1/auth/refresh`: a new [`TokenPair`] for a refresh token.
    pub fn refresh(&self, refresh_token: &str) -> Call {
        self.post(
            "/api/v1/auth/refresh",
            &serde_json::json!({ "refreshToken": refresh_token }),
        )
    }

    /// `POST /api/v1/address`: the data is `{addressId}`.
    pub fn create_address(&self, body: &NewAddress<'_>) -> Call {
        self.post("/api/v1/address", body)
    }

    // -----------------------------------------------------------------------------------------
    // Coupons

    /// `POST /api/v1/coupon-infos`: a campaign, PENDING; the data is `{couponId}`.
    pub fn create_campaign(&self, body: &NewCampaign<'_>) -> Call {
        self.post("/api/v1/coupon-infos", body)
    }

    /// `PATCH /api/v1/coupon-infos/{id}/status` (`ISSUED` opens it).
    pub fn set_campaign_status(&self, campaign: impl std::fmt::Display, status: &str) -> Call {
        self.patch(
            format!("/api/v1/coupon-infos/{campaign}/status"),
            &serde_json::json!({ "status": status }),
        )
    }

    /// Create a campaign and open it (both must succeed); its id.
    pub async fn open_campaign(&self, body: &NewCampaign<'_>) -> Result<Uuid, Error> {
        let created: CampaignCreated = self.create_campaign(body).data().await?;
        self.set_campaign_status(created.coupon_id, "ISSUED")
            .ok()
            .await?;
        Ok(created.coupon_id)
    }

    /// `GET /api/v1/coupon-infos/{id}`: a campaign with its live `issuedCount`.
    pub fn campaign(&self, campaign: impl std::fmt::Display) -> Call {
        self.get(format!("/api/v1/coupon-infos/{campaign}"))
    }

    /// `POST /api/v1/coupons/issue` for `campaign` (anything that serializes as its id: a
    /// `Uuid` or its text); 201 with `{couponId}`, or a refusal (`CO005` sold out, `CO006`
    /// already issued, `CO004` not open, ...). Add a key with [`Call::idempotency_key`].
    pub fn issue_coupon(&self, campaign: impl Serialize) -> Call {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Issue<C> {
            coupon_info_id: C,
        }
        self.post(
            "/api/v1/coupons/issue",
            &Issue {
                coupon_info_id: campaign,
            },
        )
    }

    // -----------------------------------------------------------------------------------------
    // Catalog

    /// `POST /api/v1/companies`: the data is `{companyId}`.
    pub fn create_company(&self, body: &NewCompany<'_>) -> Call {
        self.post("/api/v1/companies", body)
    }

    /// `PATCH /api/v1/companies/{id}/status` (`APPROVED` lets it sell).
    pub fn set_company_status(&self, company: impl std::fmt::Display, status: &str) -> Call {
        self.patch(
            format!("/api/v1/companies/{company}/status"),
            &serde_json::json!({ "status": status }),
        )
    }

    /// `POST /api/v1/products`: the data is `{productId}`.
    pub fn create_product(&self, body: &NewProduct<'_>) -> Call {
        self.post("/api/v1/products", body)
    }

    /// `POST /api/v1/promotions` (a time sale): the data is `{promotionId}`.
    pub fn create_promotion(&self, body: &NewPromotion) -> Call {
        self.post("/api/v1/promotions", body)
    }

    /// `GET /api/v1/promotions/{id}`: a time sale with its live `remaining`.
    pub fn promotion(&self, promotion: impl std::fmt::Display) -> Call {
        self.get(format!("/api/v1/promotions/{promotion}"))
    }

    // -----------------------------------------------------------------------------------------
    // Orders and payments

    /// `POST /api/v1/orders`: 201 with the order, or a refusal (`P022` / `OP004` sold out,
    /// `LIMIT_EXCEEDED`, ...). Add a key with [`Call::idempotency_key`].
    pub fn place_order(&self, body: &NewOrder) -> Call {
        self.post("/api/v1/orders", body)
    }

    /// Buy now: an order of `quantity` units of one product, delivered to `address`.
    pub fn buy_now(&self, product: Uuid, quantity: i64, address: Uuid) -> Call {
        self.place_order(&NewOrder::buy_now(product, quantity, address))
    }

    /// `GET /api/v1/orders/{id}`.
    pub fn order(&self, order: impl std::fmt::Display) -> Call {
        self.get(format!("/api/v1/orders/{order}"))
    }

    /// `POST /api/v1/payments`: ready a payment of an order; the data has the provider's
    /// `nextRedirectPcUrl`.
    pub fn ready_payment(&self, order: impl Serialize) -> Call {
        self.post("/api/v1/payments", &serde_json::json!({ "orderId": order }))
    }

    // -----------------------------------------------------------------------------------------
    // Operations

    /// `POST /api/v1/admin/snapshots` (MASTER): write a snapshot now.
    pub fn create_snapshot(&self) -> Call {
        self.request(Method::POST, "/api/v1/admin/snapshots")
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// `POST /api/v1/auth/signup`. `role` is CUSTOMER or SELLER.
#[derive(Debug, Clone, Serialize)]
pub struct SignUp<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub nickname: &'a str,
    pub role: &'a str,
}

/// A coupon campaign. [`NewCampaign::first_come`] fills in the usual fields.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCampaign<'a> {
    pub name: &'a str,
    pub quantity: i64,
    /// `FIRST_COME_FIRST_SERVE`, `DAILY_COUPON`, ...
    pub coupon_type: &'a str,
    pub discount_amount: i64,
    pub min_order_amount: i64,
    /// `YYYY-MM-DD`.
    pub expiration_date: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_id: Option<Uuid>,
    /// Epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_start_at: Option<i64>,
    /// Epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue_end_at: Option<i64>,
}

impl<'a> NewCampaign<'a> {
    /// A first-come-first-served campaign of `quantity` coupons worth 1000 off, no minimum
    /// order, valid until 2099-12-31.
    pub fn first_come(name: &'a str, quantity: i64) -> Self {
        NewCampaign {
            name,
            quantity,
            coupon_type: "FIRST_COME_FIRST_SERVE",
            discount_amount: 1000,
            min_order_amount: 0,
            expiration_date: "2099-12-31",
            company_id: None,
            issue_start_at: None,
            issue_end_at: None,
        }
    }
}

/// A company (a seller's brand); it sells once APPROVED.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCompany<'a> {
    /// Ten digits, unique (`CA006` when taken).
    pub business_registration_number: i64,
    pub company_phone_number: i64,
    pub manager_id: Uuid,
    pub brand_name: &'a str,
    pub company_email: &'a str,
}

/// A product of a company.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewProduct<'a> {
    pub name: &'a str,
    pub price: i64,
    pub quantity: i64,
    /// `FOOD`, ...
    pub category: &'a str,
    pub company_id: Uuid,
    pub description: Option<&'a str>,
    pub thumb_img: &'a str,
    pub detail_imgs: &'a [&'a str],
}

/// A time sale of a product.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPromotion {
    pub product_id: Uuid,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    pub discount_price: i64,
    pub quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_user_limit: Option<i64>,
}

/// A delivery address.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAddress<'a> {
    pub zip_num: &'a str,
    pub city: &'a str,
    pub district: &'a str,
    pub street_name: &'a str,
    pub street_num: &'a str,
    pub detail_addr: &'a str,
}

impl<'a> NewAddress<'a> {
    /// An address in Seoul with `detail` as its last line.
    pub fn seoul(detail: &'a str) -> Self {
        NewAddress {
            zip_num: "06236",
            city: "Seoul",
            district: "Gangnam-gu",
            street_name: "Teheran-ro",
            street_num: "1",
            detail_addr: detail,
        }
    }
}

/// An order: bought now (`items`) or from basket lines (`basketList`), with an optional coupon.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<OrderLine>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basket_list: Option<Vec<Uuid>>,
    pub address_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<Uuid>,
}

impl NewOrder {
    /// `quantity` units of one product.
    pub fn buy_now(product: Uuid, quantity: i64, address: Uuid) -> Self {
        NewOrder {
            items: Some(vec![OrderLine {
                product_id: product,
                quantity,
            }]),
            basket_list: None,
            address_id: address,
            coupon_id: None,
        }
    }
}

/// One line of a buy-now order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: Uuid,
    pub quantity: i64,
}

// ---------------------------------------------------------------------------------------------
// Response data

/// `{couponId}` of a new campaign.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignCreated {
    pub coupon_id: Uuid,
}

/// `{couponId}` of an issued coupon.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponIssued {
    pub coupon_id: Uuid,
}

/// A campaign's counters (part of `GET /api/v1/coupon-infos/{id}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignCounts {
    pub quantity: i64,
    pub issued_count: i64,
    pub status: String,
}

/// `{companyId}` of a new company.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyCreated {
    pub company_id: Uuid,
}

/// `{productId}` of a new product.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductCreated {
    pub product_id: Uuid,
}

/// `{promotionId}` of a new time sale.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionCreated {
    pub promotion_id: Uuid,
}

/// A time sale's product and counters (part of `GET /api/v1/promotions/{id}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionCounts {
    pub product_id: Uuid,
    pub quantity: i64,
    pub remaining: i64,
}

/// `{addressId}` of a new address.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressCreated {
    pub address_id: Uuid,
}

/// `{orderId, ...}` of a new order.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    pub order_id: Uuid,
    pub status: String,
    pub pay_amount: i64,
}

/// An access and a refresh token (the access token as the server sends it, with its `Bearer `
/// prefix; [`TokenPair::access`] gives it without).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

impl TokenPair {
    /// The access token without its `Bearer ` prefix (what [`Client::with_token`] takes).
    pub fn access(&self) -> &str {
        self.access_token
            .strip_prefix("Bearer ")
            .unwrap_or(&self.access_token)
    }
}

// ---------------------------------------------------------------------------------------------
// Calls and answers

/// One request, ready to send: await it for a [`Response`], or ask for [`Call::ok`],
/// [`Call::data`] or [`Call::brief`].
#[must_use = "a call does nothing until it is awaited"]
pub struct Call {
    req: reqwest::RequestBuilder,
    method: Method,
    path: Cow<'static, str>,
}

impl Call {
    /// With a header.
    pub fn header(self, name: impl AsRef<str>, value: impl AsRef<str>) -> Call {
        // A name or value a header cannot carry is reported by reqwest when the call is sent.
        let req = self.req.header(name.as_ref(), value.as_ref());
        Call { req, ..self }
    }

    /// With an `Idempotency-Key` (order creation, coupon issue).
    pub fn idempotency_key(self, key: &str) -> Call {
        self.header(IDEMPOTENCY_KEY, key)
    }

    /// With `token` as the bearer token instead of the client's.
    pub fn bearer(self, token: &str) -> Call {
        let req = self.req.bearer_auth(token);
        Call { req, ..self }
    }

    /// With a JSON body.
    pub fn json(self, body: &impl Serialize) -> Call {
        let req = self.req.json(body);
        Call { req, ..self }
    }

    /// With a raw body and its content type (for odd inputs).
    pub fn body(self, content_type: &str, body: impl Into<reqwest::Body>) -> Call {
        let req = self
            .req
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        Call { req, ..self }
    }

    /// Anything else reqwest can do to the request (query strings, timeouts, ...).
    pub fn map(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Call {
        let req = f(self.req);
        Call { req, ..self }
    }

    /// Send it; any answer is a [`Response`] (a transport failure is an [`Error`]).
    pub async fn send(self) -> Result<Response, Error> {
        let Call { req, method, path } = self;
        let mut res = req
            .send()
            .await
            .map_err(|e| Error::transport(&method, &path, e))?;
        let status = res.status().as_u16();
        let headers = std::mem::take(res.headers_mut());
        let raw = res
            .bytes()
            .await
            .map_err(|e| Error::transport(&method, &path, e))?;
        Ok(Response::new(status, headers, raw))
    }

    /// Send it and require a 2xx answer.
    pub async fn ok(self) -> Result<Response, Error> {
        let (method, path) = (self.method.clone(), self.path.clone());
        self.send().await?.error_for_status(&method, &path)
    }

    /// Send it, require a 2xx answer, and decode the envelope's data as `T`.
    pub async fn data<T: DeserializeOwned>(self) -> Result<T, Error> {
        let (method, path) = (self.method.clone(), self.path.clone());
        let res = self.send().await?.error_for_status(&method, &path)?;
        res.data_as().map_err(|reason| Error::Decode {
            method,
            path: path.into_owned(),
            reason,
        })
    }

    /// Send it and read only what a load generator counts: the status, the error code and
    /// `Retry-After` (the body is scanned for `code`, no JSON tree is built).
    pub async fn brief(self) -> Result<Brief, Error> {
        let Call { req, method, path } = self;
        let res = req
            .send()
            .await
            .map_err(|e| Error::transport(&method, &path, e))?;
        let status = res.status().as_u16();
        let retry_after_s = retry_after_s(res.headers());
        let raw = res
            .bytes()
            .await
            .map_err(|e| Error::transport(&method, &path, e))?;
        Ok(Brief {
            retry_after_s,
            ..Brief::parse(status, &raw)
        })
    }
}

impl IntoFuture for Call {
    type Output = Result<Response, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

/// An answer: its status, headers and JSON body (`Null` when empty or not JSON; the bytes are
/// kept in [`Response::raw`]).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    /// The whole JSON body: `{message, data}` on success, `{timestamp, code, message}` on error.
    pub body: Value,
    /// The body as sent.
    pub raw: bytes::Bytes,
}

impl Response {
    /// An answer from its parts (the body is parsed as JSON when it is JSON).
    pub fn new(status: u16, headers: HeaderMap, raw: bytes::Bytes) -> Response {
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Response {
            status,
            headers,
            body,
            raw,
        }
    }

    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The envelope's `data` (`Null` when there is none).
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The body's `message` (success and error bodies both have one), `""` when absent.
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// The error body's `code`, `""` when there is none.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The error body of a non-2xx answer that has one.
    pub fn error(&self) -> Option<ErrorBody> {
        if self.is_success() {
            return None;
        }
        ErrorBody::from_value(&self.body)
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After`, in seconds (503 and 429 answers carry it).
    pub fn retry_after_s(&self) -> Option<u64> {
        retry_after_s(&self.headers)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }

    /// The envelope's data decoded as `T`.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(self.data()).map_err(|e| format!("{e} in {}", self.body))
    }

    /// This answer when it is 2xx, else an [`Error::Status`] naming `method path`.
    pub fn error_for_status(self, method: &Method, path: &str) -> Result<Response, Error> {
        if self.is_success() {
            return Ok(self);
        }
        Err(Error::Status {
            method: method.clone(),
            path: path.to_string(),
            status: self.status,
            error: self.error().map(Box::new),
            retry_after_s: self.retry_after_s(),
            body: truncated(&self.text(), 500),
        })
    }
}

/// The error body `{timestamp, code, message}` (`code` as text whatever its JSON type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    pub timestamp: String,
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    /// The error body in `v`, when it has a `code`.
    pub fn from_value(v: &Value) -> Option<ErrorBody> {
        let text = |field: &str| match &v[field] {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        Some(ErrorBody {
            code: text("code")?,
            timestamp: text("timestamp").unwrap_or_default(),
            message: text("message").unwrap_or_default(),
        })
    }
}

/// What a load generator counts of an answer: its status, its error code and `Retry-After`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Brief {
    pub status: u16,
    /// The error body's `code`, `None` on success or without one.
    pub code: Option<String>,
    pub retry_after_s: Option<u64>,
}

impl Brief {
    /// The status and error code of an answer body (no headers: `retry_after_s` is `None`).
    pub fn parse(status: u16, body: &[u8]) -> Brief {
        /// Only `code` is kept; the rest of the body is skipped without being built.
        #[derive(Deserialize)]
        struct CodeOnly<'a> {
            #[serde(borrow, default)]
            code: Option<Cow<'a, str>>,
        }
        let code = if (200..300).contains(&status) || body.is_empty() {
            None
        } else {
            serde_json::from_slice::<CodeOnly<'_>>(body)
                .ok()
                .and_then(|c| c.code)
                .map(Cow::into_owned)
        };
        Brief {
            status,
            code,
            retry_after_s: None,
        }
    }

    /// A 2xx answer.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error code, `""` when there is none.
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL cannot be used.
    #[error("invalid server URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
    /// No answer: connecting, sending or reading failed, or the request timed out.
    #[error("{method} {path}: {source}")]
    Transport {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that was not 2xx where success was asked for.
    #[error("{method} {path}: the server answered {status}: {body}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        /// Boxed: an error stays small on the happy path's `Result`.
        error: Option<Box<ErrorBody>>,
        retry_after_s: Option<u64>,
        /// The body as text (at most 500 characters).
        body: String,
    },
    /// A 2xx answer whose data is not what was expected.
    #[error("{method} {path}: unexpected data: {reason}")]
    Decode {
        method: Method,
        path: String,
        reason: String,
    },
}

impl Error {
    fn transport(method: &Method, path: &str, source: reqwest::Error) -> Error {
        Error::Transport {
            method: method.clone(),
            path: path.to_string(),
            source,
        }
    }

    /// The answer's status, for [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The answer's error body, for [`Error::Status`].
    pub fn error_body(&self) -> Option<&ErrorBody> {
        match self {
            Error::Status { error, .. } => error.as_deref(),
            _ => None,
        }
    }

    /// The answer's error code, for [`Error::Status`] with an error body.
    pub fn code(&self) -> Option<&str> {
        self.error_body().map(|e| e.code.as_str())
    }
}

/// An http(s) URL that paths can be appended to.
fn check_base(given: &str, base: &str) -> Result<(), Error> {
    let parsed = reqwest::Url::parse(base).map_err(|e| Error::BaseUrl {
        url: given.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
        return Err(Error::BaseUrl {
            url: given.to_string(),
            reason: "not an http(s) URL".into(),
        });
    }
    Ok(())
}

fn retry_after_s(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn truncated(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn server() -> (MockServer, Client) {
        let server = MockServer::start().await;
        let client = Client::new(&server.uri()).unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn a_success_keeps_its_status_headers_and_the_envelopes_data() {
        let (server, client) = server().await;
        let campaign = Uuid::now_v7();
        let coupon = Uuid::now_v7();
        Mock::given(method("POST"))
            .and(path("/api/v1/coupons/issue"))
            .and(header("authorization", "Bearer t0k"))
            .and(header("idempotency-key", "k1"))
            .and(body_json(serde_json::json!({ "couponInfoId": campaign })))
            .respond_with(
                ResponseTemplate::new(201)
                    .insert_header("idempotent-replayed", "true")
                    .set_body_json(serde_json::json!({
                        "message": "issued", "data": { "couponId": coupon }
                    })),
            )
            .mount(&server)
            .await;
        let res = client
            .with_token("t0k")
            .issue_coupon(campaign)
            .idempotency_key("k1")
            .await
            .unwrap();
        assert_eq!(res.status, 201);
        assert!(res.is_success());
        assert_eq!(res.message(), "issued");
        assert_eq!(res.data()["couponId"], coupon.to_string());
        assert_eq!(res.code(), "");
        assert!(res.error().is_none());
        assert_eq!(res.header("idempotent-replayed"), Some("true"));
        let issued: CouponIssued = res.data_as().unwrap();
        assert_eq!(issued.coupon_id, coupon);

        let data: CouponIssued = client
            .with_token("t0k")
            .issue_coupon(campaign.to_string())
            .idempotency_key("k1")
            .data()
            .await
            .unwrap();
        assert_eq!(data.coupon_id, coupon);
    }

    #[tokio::test]
    async fn an_error_keeps_its_body_code_and_retry_after() {
        let (server, client) = server().await;
        Mock::given(path("/busy"))
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("retry-after", "2")
                    .set_body_json(serde_json::json!({
                        "timestamp": "2026-12-02T01:00:00Z", "code": "ENGINE_BUSY",
                        "message": "try again"
                    })),
            )
            .mount(&server)
            .await;
        Mock::given(path("/numeric"))
            .respond_with(ResponseTemplate::new(409).set_body_json(serde_json::json!({
                "timestamp": "t", "code": 5005, "message": "sold out"
            })))
            .mount(&server)
            .await;

        let res = client.get("/busy").await.unwrap();
        assert_eq!(res.status, 503);
        assert_eq!(res.code(), "ENGINE_BUSY");
        assert_eq!(res.retry_after_s(), Some(2));
        assert_eq!(
            res.error(),
            Some(ErrorBody {
                timestamp: "2026-12-02T01:00:00Z".into(),
                code: "ENGINE_BUSY".into(),
                message: "try again".into(),
            })
        );

        let err = client.get("/busy").ok().await.unwrap_err();
        assert_eq!(err.status(), Some(503));
        assert_eq!(err.code(), Some("ENGINE_BUSY"));
        assert!(matches!(
            err,
            Error::Status {
                retry_after_s: Some(2),
                ..
            }
        ));
        let shown = err.to_string();
        assert!(
            shown.starts_with("GET /busy: the server answered 503"),
            "{shown}"
        );

        let brief = client.get("/busy").brief().await.unwrap();
        assert_eq!(
            brief,
            Brief {
                status: 503,
                code: Some("ENGINE_BUSY".into()),
                retry_after_s: Some(2),
            }
        );

        let res = client.get("/numeric").await.unwrap();
        assert_eq!(res.error().unwrap().code, "5005");
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_kept_as_bytes() {
        let (server, client) = server().await;
        Mock::given(path("/metrics"))
            .respond_with(ResponseTemplate::new(200).set_body_string("hotdeal_up 1\n"))
            .mount(&server)
            .await;
        Mock::given(path("/gone"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        let res = client.metrics().await.unwrap();
        assert_eq!(res.body, Value::Null);
        assert_eq!(res.text(), "hotdeal_up 1\n");
        let res = client.get("/gone").await.unwrap();
        assert_eq!((res.status, res.code()), (404, ""));
        assert!(res.error().is_none());
        assert_eq!(Brief::parse(404, b"").code(), "");
        assert_eq!(Brief::parse(400, b"{not json").code, None);
        assert_eq!(Brief::parse(201, br#"{"code":"x"}"#).code, None);
    }

    #[tokio::test]
    async fn wrong_data_and_no_server_are_errors_that_name_the_call() {
        let (server, client) = server().await;
        Mock::given(path("/api/v1/coupon-infos"))
            .respond_with(
                ResponseTemplate::new(201)
                    .set_body_json(serde_json::json!({ "message": "ok", "data": { "x": 1 } })),
            )
            .mount(&server)
            .await;
        let err = client
            .open_campaign(&NewCampaign::first_come("c", 1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Decode { path, .. } if path == "/api/v1/coupon-infos"),
            "{err}"
        );

        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let gone = Client::new(&format!("http://{addr}/")).unwrap();
        assert_eq!(gone.base_url(), format!("http://{addr}"));
        let err = gone.health().await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err}");
        assert!(err.to_string().starts_with("GET /healthz: "), "{err}");
        assert!(matches!(
            Client::new("127.0.0.1:8080"),
            Err(Error::BaseUrl { .. })
        ));
    }

    #[tokio::test]
    async fn the_escape_hatch_sends_any_body_with_the_token() {
        let (server, client) = server().await;
        Mock::given(method("POST"))
            .and(path("/raw"))
            .and(header("authorization", "Bearer abc"))
            .and(header("content-type", "text/plain"))
            .respond_with(ResponseTemplate::new(415))
            .mount(&server)
            .await;
        let res = client
            .with_token("abc")
            .request(Method::POST, "/raw")
            .body("text/plain", b"{}".to_vec())
            .await
            .unwrap();
        assert_eq!(res.status, 415);
        let anonymous = client.with_token("abc").anonymous();
        assert!(format!("{anonymous:?}").contains("token: None"));
    }
}
