//! HTTP claims benchmark: one in-process hotdeal server, one HTTP client, one request shape.
//!
//! `cargo bench --bench http_claims [-- --full] [-- --connections N]`
//!
//! The server runs on its own multi-threaded tokio runtime (as `hotdeal serve` does); the client
//! is a single-threaded tokio runtime on the main thread holding `--connections` keep-alive
//! HTTP/1.1 connections (hyper), closed loop, on the same two cores. Each row sends the same
//! request shape (`POST` with a bearer token and a small JSON body; every row mints its own tokens,
//! so every request's token is verified in full, as a first request would be) and reports requests/s,
//! p50 / p99 / p99.9 latency, the requests that did not get the expected answer, and the ratios
//! to (a) the HTTP ceiling and (c) the Redis baseline measured in the same run:
//!
//! - (a) `GET /healthz`: the server's cheapest endpoint, the HTTP ceiling;
//! - (b) `POST /api/v1/coupons/issue` on the engine (a campaign big enough never to sell out);
//! - (c) the same endpoint shape backed by a Redis Lua script (check-and-decrement plus a
//!   per-user set, the usual flash-sale design); skipped with the reason when Redis is not
//!   reachable (`TEST_REDIS_URL`, default `redis://127.0.0.1:6379`);
//! - (d) backed by a database row lock: `UPDATE ... SET issued_count = issued_count + 1 WHERE id
//!   = ? AND issued_count < quantity` plus an insert in one transaction (the seed's design), on
//!   the server's database: a fresh MariaDB database when `TEST_MYSQL_URL` is set, else SQLite;
//! - (e) the sold-out path (every claim answered `CO005`);
//! - (f) time-sale buy-now orders (`POST /api/v1/orders`, one unit).
//!
//! The set-up (campaigns, the sale, the buyers' addresses) goes through `hotdeal::client`; the
//! measured requests go over bare hyper connections, one per worker, so that the client's own
//! work on the shared cores stays as small as it can be.
//!
//! The engine rows run twice, with `--durability sync` and `none` (a fresh server each); the
//! baselines do not depend on the journal and run once, on the `sync` server. Sizes are small by
//! default, `--full` runs long, and `CI` set scales everything down. Nothing here asserts a
//! timing: it prints tables.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::routing::post;
use hdrhistogram::Histogram;
use hotdeal::client::{
    AddressCreated, Brief, Client, CompanyCreated, NewAddress, NewCampaign, NewCompany, NewProduct,
    NewPromotion, ProductCreated,
};
use hotdeal::config::{Config, Durability};
use hotdeal::domain::ids::{CampaignId, UserId, coupon_id_for};
use hotdeal::error_code::ErrorCode;
use hotdeal::http::auth::{AuthUser, JwtKeys, Role};
use hotdeal::http::coupons::{IssueBody, Issued};
use hotdeal::http::ops::ClientIp;
use hotdeal::http::{ApiError, ApiJson, ApiResult, AppState, Reply};
use hotdeal::persistence::{Db, ScratchDatabase};
use hotdeal::startup::Application;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::json;
use uuid::Uuid;

/// The servers' JWT secret (the client mints its tokens with it).
const SECRET: &str = "http-claims-bench-secret-0123456789";

// ---------------------------------------------------------------------------------------------
// Sizes

#[derive(Clone, Copy)]
struct Sizes {
    name: &'static str,
    /// Measured requests per row (a row also stops at `max_time`).
    requests: u64,
    /// Unmeasured requests first, per row.
    warmup: u64,
    /// A row stops measuring after this long (slow baselines).
    max_time: Duration,
    /// Users with an address who place the buy-now orders.
    order_users: usize,
    connections: usize,
    /// Row letters to run (`--rows a,b`), all when empty.
    rows: &'static str,
}

impl Sizes {
    fn pick(args: &[String]) -> Sizes {
        let full = args.iter().any(|a| a == "--full");
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        let mut s = if full {
            Sizes {
                name: "full",
                requests: 300_000,
                warmup: 5_000,
                max_time: Duration::from_secs(60),
                order_users: 1_000,
                connections: 64,
                rows: "",
            }
        } else if ci {
            Sizes {
                name: "CI",
                requests: 4_000,
                warmup: 500,
                max_time: Duration::from_secs(5),
                order_users: 128,
                connections: 64,
                rows: "",
            }
        } else {
            Sizes {
                name: "default",
                requests: 40_000,
                warmup: 2_000,
                max_time: Duration::from_secs(15),
                order_users: 256,
                connections: 64,
                rows: "",
            }
        };
        if let Some(n) = args
            .iter()
            .position(|a| a == "--connections")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
        {
            s.connections = n;
        }
        if let Some(rows) = args
            .iter()
            .position(|a| a == "--rows")
            .and_then(|i| args.get(i + 1))
        {
            s.rows = rows.clone().leak();
        }
        s
    }

    fn runs(&self, row: char) -> bool {
        self.rows.is_empty() || self.rows.contains(row)
    }
}

// ---------------------------------------------------------------------------------------------
// The client: hyper HTTP/1.1 connections, closed loop.

/// The body a request carries.
enum Body {
    Empty,
    Fixed(Bytes),
    /// One per user (orders carry the user's address).
    PerUser(Vec<Bytes>),
}

/// One row's request: request `i` goes as user `i % tokens.len()`.
struct Shape {
    method: Method,
    path: String,
    tokens: Arc<Vec<HeaderValue>>,
    body: Body,
    /// The answer counted as success (status, and the error code when not 2xx).
    expect: (StatusCode, Option<&'static str>),
}

impl Shape {
    fn request(&self, i: u64) -> Request<Full<Bytes>> {
        let user = (i % self.tokens.len() as u64) as usize;
        let body = match &self.body {
            Body::Empty => Bytes::new(),
            Body::Fixed(b) => b.clone(),
            Body::PerUser(v) => v[user].clone(),
        };
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(self.path.as_str())
            .header(header::HOST, "127.0.0.1")
            .header(header::AUTHORIZATION, self.tokens[user].clone());
        if !body.is_empty() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        req.body(Full::new(body)).expect("a valid request")
    }

    fn is_expected(&self, status: StatusCode, body: &[u8]) -> bool {
        if status != self.expect.0 {
            return false;
        }
        match self.expect.1 {
            None => true,
            Some(code) => Brief::parse(status.as_u16(), body).code() == code,
        }
    }
}

/// What one row measured.
struct Measure {
    requests: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Measure {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Send requests `[from, to)` of `shape` over `connections` connections; `record` says whether
/// latencies count; stop early at `deadline`.
async fn drive(
    addr: SocketAddr,
    shape: Arc<Shape>,
    connections: usize,
    (from, to): (u64, u64),
    deadline: Option<Instant>,
) -> anyhow::Result<Measure> {
    let next = Arc::new(AtomicU64::new(from));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (shape, next) = (shape.clone(), next.clone());
        workers.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
            let conn = tokio::spawn(conn);
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut errors, mut first_error) = (0u64, None::<String>);
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    break;
                }
                let req = shape.request(i);
                let t0 = Instant::now();
                sender.ready().await?;
                let res = sender.send_request(req).await?;
                let status = res.status();
                let body = res.into_body().collect().await?.to_bytes();
                let us = t0.elapsed().as_micros().clamp(1, 60_000_000) as u64;
                hist.record(us)?;
                if !shape.is_expected(status, &body) {
                    errors += 1;
                    if first_error.is_none() {
                        first_error = Some(format!(
                            "{status} {}",
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ));
                    }
                }
            }
            drop(sender);
            let _ = conn.await;
            anyhow::Ok((hist, errors, first_error))
        });
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut errors, mut first_error) = (0, None);
    while let Some(done) = workers.join_next().await {
        let (h, e, f) = done.context("a client connection panicked")??;
        hist.add(h)?;
        errors += e;
        first_error = first_error.or(f);
    }
    Ok(Measure {
        requests: hist.len(),
        elapsed: started.elapsed(),
        hist,
        errors,
        first_error,
    })
}

/// Warm up (unmeasured), then measure up to `sizes.requests` requests or `sizes.max_time`.
async fn run_row(addr: SocketAddr, shape: Shape, sizes: Sizes) -> anyhow::Result<Measure> {
    let shape = Arc::new(shape);
    let warm = sizes.warmup;
    drive(addr, shape.clone(), sizes.connections, (0, warm), None).await?;
    let deadline = Instant::now() + sizes.max_time;
    drive(
        addr,
        shape,
        sizes.connections,
        (warm, warm + sizes.requests),
        Some(deadline),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Setup through the API (`hotdeal::client`, as MASTER; not measured).

/// An open campaign of `quantity` coupons.
async fn open_campaign(api: &Client, quantity: u64) -> anyhow::Result<Uuid> {
    Ok(api
        .open_campaign(&NewCampaign::first_come("http bench", quantity as i64))
        .await?)
}

/// A company, a product of `quantity` units and a live time sale of all of them without a
/// per-user limit; returns the product id once the sale has started.
async fn open_sale(api: &Client, master_id: UserId, quantity: u64) -> anyhow::Result<Uuid> {
    let brn = 1_000_000_000 + (Uuid::new_v4().as_u128() % 9_000_000_000) as i64;
    let company: CompanyCreated = api
        .create_company(&NewCompany {
            business_registration_number: brn,
            company_phone_number: 212345678,
            manager_id: master_id.0,
            brand_name: "http bench",
            company_email: "bench@hotdeal.local",
        })
        .data()
        .await?;
    api.set_company_status(company.company_id, "APPROVED")
        .ok()
        .await?;
    let product: ProductCreated = api
        .create_product(&NewProduct {
            name: "http bench product",
            price: 10000,
            quantity: quantity as i64,
            category: "FOOD",
            company_id: company.company_id,
            description: Some("http bench"),
            thumb_img: "https://example.com/bench.png",
            detail_imgs: &[],
        })
        .data()
        .await?;
    let now = chrono::Utc::now().timestamp_millis();
    let start = now + 500;
    api.create_promotion(&NewPromotion {
        product_id: product.product_id,
        start: hotdeal::domain::clock::rfc3339(start),
        end: hotdeal::domain::clock::rfc3339(now + 3_600_000),
        discount_price: 5000,
        quantity: quantity as i64,
        per_user_limit: None,
    })
    .ok()
    .await?;
    // Wait for the sale to be live: one probe order by a throwaway user would cost a unit, so
    // wait for the promotion's start on the clock instead (the engine installs it at start).
    let wait = start + 100 - chrono::Utc::now().timestamp_millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    Ok(product.product_id)
}

// ---------------------------------------------------------------------------------------------
// Baselines mounted beside the API.

/// KEYS[1] remaining, KEYS[2] holders; ARGV[1] user. 1 issued, 0 sold out, -1 already issued.
const CLAIM_LUA: &str = r"
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -1 end
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
";

#[derive(Clone)]
struct RedisBaseline {
    conn: redis::aio::ConnectionManager,
    script: Arc<redis::Script>,
    prefix: String,
}

async fn connect_redis(url: &str, prefix: String) -> anyhow::Result<RedisBaseline> {
    let client = redis::Client::open(url)?;
    let conn = tokio::time::timeout(
        Duration::from_secs(2),
        redis::aio::ConnectionManager::new(client),
    )
    .await
    .context("timed out")??;
    Ok(RedisBaseline {
        conn,
        script: Arc::new(redis::Script::new(CLAIM_LUA)),
        prefix,
    })
}

impl RedisBaseline {
    fn keys(&self, campaign: Uuid) -> (String, String) {
        (
            format!("{}:{campaign}:left", self.prefix),
            format!("{}:{campaign}:holders", self.prefix),
        )
    }

    async fn open(&self, campaign: Uuid, quantity: u64) -> anyhow::Result<()> {
        let (left, holders) = self.keys(campaign);
        let mut conn = self.conn.clone();
        redis::pipe()
            .set_ex(&left, quantity, 3600)
            .del(&holders)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn close(&self, campaign: Uuid) {
        let (left, holders) = self.keys(campaign);
        let mut conn = self.conn.clone();
        let _ = redis::pipe()
            .del(&left)
            .del(&holders)
            .query_async::<()>(&mut conn)
            .await;
    }
}

async fn redis_issue(
    State(state): State<AppState>,
    redis_state: RedisBaseline,
    user: AuthUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<IssueBody>,
) -> ApiResult<Reply<Issued>> {
    state.ops.check_rate(user.user_id, ip.0).await?;
    let (left, holders) = redis_state.keys(body.coupon_info_id);
    let mut conn = redis_state.conn.clone();
    let outcome: i64 = redis_state
        .script
        .key(left)
        .key(holders)
        .arg(user.user_id.0.to_string())
        .invoke_async(&mut conn)
        .await
        .map_err(|e| ApiError::coded(ErrorCode::ServiceUnavailable, e.to_string()))?;
    issued_or_refused(outcome, body.coupon_info_id, user.user_id)
}

fn issued_or_refused(outcome: i64, campaign: Uuid, user: UserId) -> ApiResult<Reply<Issued>> {
    match outcome {
        1 => Ok(Reply::created(
            "선착순 쿠폰이 발급되었습니다.",
            Issued {
                coupon_id: coupon_id_for(CampaignId(campaign), user).0,
            },
        )),
        0 => Err(ErrorCode::CouponsSoldOut.into()),
        _ => Err(ErrorCode::CouponAlreadyIssued.into()),
    }
}

const ROWLOCK_SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS bench_rowlock_campaign (id CHAR(36) NOT NULL PRIMARY KEY, \
     quantity BIGINT NOT NULL, issued_count BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_rowlock_coupon (campaign_id CHAR(36) NOT NULL, \
     user_id CHAR(36) NOT NULL, coupon_id CHAR(36) NOT NULL, created_at BIGINT NOT NULL, \
     PRIMARY KEY (campaign_id, user_id))",
];

async fn rowlock_open(db: &Db, campaign: Uuid, quantity: u64) -> anyhow::Result<()> {
    for ddl in ROWLOCK_SCHEMA {
        sqlx::query(ddl).execute(&db.pool).await?;
    }
    sqlx::query("INSERT INTO bench_rowlock_campaign (id, quantity, issued_count) VALUES (?, ?, 0)")
        .bind(campaign.to_string())
        .bind(quantity as i64)
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn rowlock_issue(
    State(state): State<AppState>,
    user: AuthUser,
    ip: ClientIp,
    ApiJson(body): ApiJson<IssueBody>,
) -> ApiResult<Reply<Issued>> {
    state.ops.check_rate(user.user_id, ip.0).await?;
    let outcome = rowlock_claim(&state.db, body.coupon_info_id, user.user_id)
        .await
        .map_err(|e| ApiError::coded(ErrorCode::ServiceUnavailable, format!("{e:#}")))?;
    issued_or_refused(outcome, body.coupon_info_id, user.user_id)
}

async fn rowlock_claim(db: &Db, campaign: Uuid, user: UserId) -> anyhow::Result<i64> {
    let mut tx = db.pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE bench_rowlock_campaign SET issued_count = issued_count + 1 \
         WHERE id = ? AND issued_count < quantity",
    )
    .bind(campaign.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        tx.rollback().await?;
        return Ok(0);
    }
    let inserted = sqlx::query(
        "INSERT INTO bench_rowlock_coupon (campaign_id, user_id, coupon_id, created_at) \
         VALUES (?, ?, ?, ?)",
    )
    .bind(campaign.to_string())
    .bind(user.0.to_string())
    .bind(coupon_id_for(CampaignId(campaign), user).0.to_string())
    .bind(chrono::Utc::now().timestamp_millis())
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {
            tx.commit().await?;
            Ok(1)
        }
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            tx.rollback().await?;
            Ok(-1)
        }
        Err(e) => Err(e.into()),
    }
}

fn baseline_routes(redis: Option<RedisBaseline>) -> Router<AppState> {
    let mut r = Router::new().route("/bench/rowlock/coupons/issue", post(rowlock_issue));
    if let Some(redis) = redis {
        r = r.route(
            "/bench/redis/coupons/issue",
            post(
                move |state: State<AppState>,
                      user: AuthUser,
                      ip: ClientIp,
                      body: ApiJson<IssueBody>| {
                    let redis = redis.clone();
                    async move { redis_issue(state, redis, user, ip, body).await }
                },
            ),
        );
    }
    r
}

// ---------------------------------------------------------------------------------------------
// The server

struct Server {
    addr: SocketAddr,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

/// The database the server (and the row-lock baseline) uses: a fresh database per server on the
/// MySQL/MariaDB server of `TEST_MYSQL_URL` when it is set, else SQLite in the server's temp dir.
fn mysql_url() -> Option<String> {
    std::env::var("TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

async fn start_server(
    rt: &tokio::runtime::Runtime,
    durability: Durability,
    mysql: Option<&str>,
    redis: Option<RedisBaseline>,
) -> anyhow::Result<(Server, Option<ScratchDatabase>)> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_tests(dir.path());
    config.durability = durability;
    config.jwt_secret = Some(SECRET.into());
    let mut scratch = None;
    if let Some(url) = mysql {
        let db = ScratchDatabase::create(url, "hd_bench_http").await?;
        config.database_url = db.url.clone();
        scratch = Some(db);
    }
    let app = rt
        .spawn(async move { Application::build(config).await })
        .await??;
    let addr = SocketAddr::from(([127, 0, 0, 1], app.port()));
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let routes = baseline_routes(redis);
    let done = rt.spawn(async move {
        app.run_with_routes(routes, async {
            let _ = stopped.await;
        })
        .await
    });
    Ok((
        Server {
            addr,
            state,
            stop: Some(stop),
            done,
            _dir: dir,
        },
        scratch,
    ))
}

impl Server {
    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.done.await??;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The run

struct Row {
    label: &'static str,
    mode: &'static str,
    m: Option<Measure>,
    /// Why a row was skipped.
    skipped: Option<String>,
    /// Records per fsync during the row (engine rows in `sync`).
    per_fsync: Option<f64>,
}

/// What every row of one server needs.
struct Ctx<'a> {
    server: &'a Server,
    /// The API client with a MASTER token.
    api: Client,
    sizes: Sizes,
    mode: &'static str,
    master_id: UserId,
}

impl Ctx<'_> {
    fn per_row(&self) -> u64 {
        self.sizes.warmup + self.sizes.requests
    }

    /// A claim on `path` for `campaign`, one new user per request.
    fn claim(
        &self,
        path: &str,
        campaign: Uuid,
        expect: (StatusCode, Option<&'static str>),
    ) -> anyhow::Result<Shape> {
        Ok(Shape {
            method: Method::POST,
            path: path.to_string(),
            tokens: mint_tokens(self.per_row() as usize)?,
            body: Body::Fixed(Bytes::from(json!({ "couponInfoId": campaign }).to_string())),
            expect,
        })
    }

    fn fsyncs(&self) -> (u64, u64) {
        let s = self.server.state.engine.journal().stats();
        (
            s.records.load(Ordering::Relaxed),
            s.fsyncs.load(Ordering::Relaxed),
        )
    }

    /// Run `shape` and label the result; `journaled` rows report records per fsync.
    async fn row(
        &self,
        label: &'static str,
        mode: &'static str,
        shape: Shape,
        journaled: bool,
    ) -> anyhow::Result<Row> {
        let before = self.fsyncs();
        let m = run_row(self.server.addr, shape, self.sizes).await?;
        let after = self.fsyncs();
        Ok(Row {
            label,
            mode,
            m: Some(m),
            skipped: None,
            per_fsync: if journaled {
                records_per_fsync(before, after)
            } else {
                None
            },
        })
    }

    /// (a) The ceiling.
    async fn ceiling(&self) -> anyhow::Result<Row> {
        let shape = Shape {
            method: Method::GET,
            path: "/healthz".into(),
            tokens: mint_tokens(self.per_row() as usize)?,
            body: Body::Empty,
            expect: (StatusCode::OK, None),
        };
        self.row("(a) GET /healthz (HTTP ceiling)", self.mode, shape, false)
            .await
    }

    /// (b) The engine, then how long the write-behind needs to catch up.
    async fn engine_claims(&self) -> anyhow::Result<Row> {
        let campaign = open_campaign(&self.api, self.per_row()).await?;
        let shape = self.claim("/api/v1/coupons/issue", campaign, CREATED)?;
        let row = self
            .row("(b) coupon issue, engine", self.mode, shape, true)
            .await?;
        let lag = Instant::now();
        let caught_up = self
            .server
            .state
            .engine
            .journal()
            .wait_applied(Duration::from_secs(60))
            .await;
        println!(
            "  [{}] write-behind caught up {:.2} s after the engine row{}",
            self.mode,
            lag.elapsed().as_secs_f64(),
            if caught_up { "" } else { " (NOT within 60 s)" }
        );
        Ok(row)
    }

    /// (c) Redis Lua.
    async fn redis_claims(
        &self,
        redis: &Option<RedisBaseline>,
        why_not: &str,
    ) -> anyhow::Result<Row> {
        let label = "(c) coupon issue, Redis Lua";
        let Some(r) = redis else {
            return Ok(Row {
                label,
                mode: "-",
                m: None,
                skipped: Some(why_not.to_string()),
                per_fsync: None,
            });
        };
        let campaign = Uuid::new_v4();
        r.open(campaign, self.per_row()).await?;
        let shape = self.claim("/bench/redis/coupons/issue", campaign, CREATED)?;
        let row = self.row(label, "-", shape, false).await;
        r.close(campaign).await;
        row
    }

    /// (d) Row lock.
    async fn rowlock_claims(&self) -> anyhow::Result<Row> {
        let campaign = Uuid::new_v4();
        rowlock_open(&self.server.state.db, campaign, self.per_row()).await?;
        let shape = self.claim("/bench/rowlock/coupons/issue", campaign, CREATED)?;
        self.row("(d) coupon issue, DB row lock", "-", shape, false)
            .await
    }

    /// (e) Sold out: a campaign of one coupon, taken before the row.
    async fn sold_out(&self) -> anyhow::Result<Row> {
        let campaign = open_campaign(&self.api, 1).await?;
        let taker = self.server.state.keys.mint_access(
            UserId::new(),
            "taker@hotdeal.local",
            Role::Customer,
            now_ms(),
            3600,
        )?;
        self.api
            .with_token(&taker)
            .issue_coupon(campaign)
            .ok()
            .await?;
        let shape = self.claim(
            "/api/v1/coupons/issue",
            campaign,
            (StatusCode::CONFLICT, Some("CO005")),
        )?;
        self.row("(e) coupon issue, sold out", self.mode, shape, false)
            .await
    }

    /// (f) Buy-now orders on a live time sale, by users with an address each.
    async fn orders(&self) -> anyhow::Result<Row> {
        let product = open_sale(&self.api, self.master_id, self.per_row()).await?;
        let buyers = mint_tokens(self.sizes.order_users)?;
        let n = buyers.len();
        let mut bodies = Vec::with_capacity(n);
        for token in buyers.iter() {
            let bearer = token.to_str()?.trim_start_matches("Bearer ");
            let address: AddressCreated = self
                .api
                .with_token(bearer)
                .create_address(&NewAddress::seoul("bench"))
                .data()
                .await?;
            let address = address.address_id;
            bodies.push(Bytes::from(
                json!({ "items": [{ "productId": product, "quantity": 1 }], "addressId": address })
                    .to_string(),
            ));
        }
        let shape = Shape {
            method: Method::POST,
            path: "/api/v1/orders".into(),
            tokens: buyers,
            body: Body::PerUser(bodies),
            expect: CREATED,
        };
        self.row("(f) buy-now order, engine", self.mode, shape, true)
            .await
    }
}

const CREATED: (StatusCode, Option<&str>) = (StatusCode::CREATED, None);

/// Run the selected rows on one server (the baselines only when `baselines` is given).
async fn run_server_rows(
    ctx: &Ctx<'_>,
    baselines: Option<(&Option<RedisBaseline>, &str)>,
) -> anyhow::Result<Vec<Row>> {
    let runs = |c| ctx.sizes.runs(c);
    let mut rows = Vec::new();
    if runs('a') {
        rows.push(ctx.ceiling().await?);
    }
    if runs('b') {
        rows.push(ctx.engine_claims().await?);
    }
    if let Some((redis, why_not)) = baselines {
        if runs('c') {
            rows.push(ctx.redis_claims(redis, why_not).await?);
        }
        if runs('d') {
            rows.push(ctx.rowlock_claims().await?);
        }
    }
    if runs('e') {
        rows.push(ctx.sold_out().await?);
    }
    if runs('f') {
        rows.push(ctx.orders().await?);
    }
    Ok(rows)
}

/// `n` access tokens of new customers, as `Authorization` values. Every row gets its own, so no
/// row finds its tokens already verified by an earlier one.
fn mint_tokens(n: usize) -> anyhow::Result<Arc<Vec<HeaderValue>>> {
    let keys = JwtKeys::new(SECRET);
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let t = keys.mint_access(
            UserId::new(),
            &format!("bench-{i}@hotdeal.local"),
            Role::Customer,
            now_ms(),
            3600,
        )?;
        tokens.push(HeaderValue::try_from(format!("Bearer {t}"))?);
    }
    Ok(Arc::new(tokens))
}

fn records_per_fsync(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let fsyncs = after.1.saturating_sub(before.1);
    (fsyncs > 0).then(|| after.0.saturating_sub(before.0) as f64 / fsyncs as f64)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn print_table(rows: &[Row], sizes: Sizes) {
    let rate_of = |label: &str, mode: &str| {
        rows.iter()
            .find(|r| r.label.starts_with(label) && (r.mode == mode || r.mode == "-"))
            .and_then(|r| r.m.as_ref())
            .map(Measure::rate)
    };
    println!(
        "\n## HTTP claims: {} connections, closed loop, one client thread, same 2 cores",
        sizes.connections
    );
    println!(
        "{:<34} {:>5} {:>8} {:>10} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7} {:>9}",
        "row",
        "dur.",
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "errors",
        "x (a)",
        "x (c)",
        "rec/fsync"
    );
    for r in rows {
        let Some(m) = &r.m else {
            println!(
                "{:<34} {:>5} skipped: {}",
                r.label,
                r.mode,
                r.skipped.as_deref().unwrap_or("")
            );
            continue;
        };
        let ceiling_mode = if r.mode == "-" { "sync" } else { r.mode };
        let ratio = |base: Option<f64>| match base {
            Some(b) if b > 0.0 => format!("{:.2}", m.rate() / b),
            _ => "-".into(),
        };
        println!(
            "{:<34} {:>5} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>9.2} {:>7} {:>7} {:>7} {:>9}",
            r.label,
            r.mode,
            m.requests,
            m.rate(),
            m.ms(0.50),
            m.ms(0.99),
            m.ms(0.999),
            m.errors,
            ratio(rate_of("(a)", ceiling_mode)),
            ratio(rate_of("(c)", "-")),
            r.per_fsync.map(|x| format!("{x:.1}")).unwrap_or("-".into())
        );
        if let Some(e) = &m.first_error {
            println!("{:<34}   first unexpected answer: {e}", "");
        }
    }

    println!("\n## Targets");
    let target = |name: &str, got: Option<f64>, want: f64| match got {
        Some(x) => println!(
            "{name:<52} {x:>8.2} (target {want}) {}",
            if x >= want { "met" } else { "MISSED" }
        ),
        None => println!("{name:<52} {:>8} (target {want})", "-"),
    };
    let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let b_none = rate_of("(b)", "none");
    let b_sync = rate_of("(b)", "sync");
    target(
        "engine claims / HTTP ceiling (none)",
        div(b_none, rate_of("(a)", "none")),
        0.90,
    );
    target(
        "engine claims / HTTP ceiling (sync)",
        div(b_sync, rate_of("(a)", "sync")),
        0.90,
    );
    target(
        "engine (sync) / Redis Lua",
        div(b_sync, rate_of("(c)", "-")),
        1.0,
    );
    target(
        "engine (sync) / DB row lock",
        div(b_sync, rate_of("(d)", "-")),
        20.0,
    );
    target("engine claims sync / none", div(b_sync, b_none), 0.8);
    for mode in ["sync", "none"] {
        if let Some(m) = rows
            .iter()
            .find(|r| r.label.starts_with("(b)") && r.mode == mode)
            .and_then(|r| r.m.as_ref())
        {
            let p99 = m.ms(0.99);
            println!(
                "{:<52} {p99:>8.2} (target <= 5 ms) {}",
                format!(
                    "engine claim p99 ms at {} connections ({mode})",
                    sizes.connections
                ),
                if p99 <= 5.0 { "met" } else { "MISSED" }
            );
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sizes = Sizes::pick(&args);
    let mysql = mysql_url();
    println!(
        "# HTTP claims benchmark ({} sizes: {} requests per row after {} warm-up, at most {:.0} s; {} connections; database {})",
        sizes.name,
        sizes.requests,
        sizes.warmup,
        sizes.max_time.as_secs_f64(),
        sizes.connections,
        if mysql.is_some() {
            "MariaDB/MySQL (fresh database)"
        } else {
            "SQLite (WAL, temp file)"
        }
    );
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("server")
        .build()?;
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    client_rt.block_on(async {
        let keys = JwtKeys::new(SECRET);
        let master_id = UserId::new();
        let master = keys.mint_access(
            master_id,
            "bench-master@hotdeal.local",
            Role::Master,
            now_ms(),
            3600,
        )?;

        let redis_url = std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
        let prefix = format!("hd:bench:{}", &Uuid::new_v4().simple().to_string()[..8]);
        let (redis, redis_skip) = match connect_redis(&redis_url, prefix).await {
            Ok(r) => (Some(r), String::new()),
            Err(e) => (
                None,
                format!("no Redis at {redis_url} ({e:#}); set TEST_REDIS_URL"),
            ),
        };

        let mut rows = Vec::new();
        for (durability, mode) in [(Durability::Sync, "sync"), (Durability::None, "none")] {
            let (server, scratch) =
                start_server(&server_rt, durability, mysql.as_deref(), redis.clone()).await?;
            println!("server up ({mode}) on {}", server.addr);
            let baselines = (mode == "sync").then_some((&redis, redis_skip.as_str()));
            let ctx = Ctx {
                server: &server,
                api: Client::new(&format!("http://{}", server.addr))?.with_token(&master),
                sizes,
                mode,
                master_id,
            };
            let result = run_server_rows(&ctx, baselines).await;
            server.stop().await?;
            if let Some(db) = scratch {
                db.remove().await?;
            }
            rows.extend(result?);
        }
        // Keep rows grouped by letter, sync before none.
        rows.sort_by_key(|r| (r.label, r.mode != "sync"));
        print_table(&rows, sizes);
        anyhow::Ok(())
    })?;
    server_rt.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}
