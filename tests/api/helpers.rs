//! `spawn_app()`: the real application in-process on port 0, with a temp data dir and a temp
//! SQLite database, plus typed request helpers.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use hotdeal::config::Config;
use hotdeal::domain::clock::{ManualClock, SharedClock, SystemClock};
use hotdeal::domain::ids::UserId;
use hotdeal::http::AppState;
use hotdeal::http::auth::Role;
use hotdeal::persistence::{Db, DbOptions, ScratchDatabase};
use hotdeal::startup::Application;
use serde_json::Value;
use tokio::sync::oneshot;

/// A running app and a client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A response: status, headers and the JSON body (Null when empty or not JSON).
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        hotdeal::telemetry::init(hotdeal::config::LogFormat::Text);
    }
}

/// The app on SQLite with the system clock.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}, Arc::new(SystemClock)).await
}

/// The app on an existing directory (a restart after a stop or a crash).
pub async fn spawn_app_in(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let mut config = Config::for_tests(dir.path());
    tweak(&mut config);
    let app = Application::build_with_clock(config, Arc::new(SystemClock))
        .await
        .expect("app builds");
    start(app, dir)
}

fn start(app: Application, dir: tempfile::TempDir) -> TestApp {
    let port = app.port();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        state,
        dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// The app with a manual clock starting at `start_ms`.
pub async fn spawn_app_with_clock(start_ms: i64) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(start_ms);
    let app = spawn_app_with(|_| {}, Arc::new(clock.clone())).await;
    (app, clock)
}

/// The app with a tweaked configuration and a given clock.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config), clock: SharedClock) -> TestApp {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path());
    tweak(&mut config);
    let app = Application::build_with_clock(config, clock)
        .await
        .expect("app builds");
    start(app, dir)
}

impl TestApp {
    /// An access token for a new user with `role`.
    pub fn token(&self, role: Role) -> (UserId, String) {
        let user = UserId::new();
        (user, self.token_for(user, role))
    }

    /// An access token for `user` with `role`.
    pub fn token_for(&self, user: UserId, role: Role) -> String {
        self.state
            .keys
            .mint_access(
                user,
                &format!("{user}@test.local"),
                role,
                self.state.now_ms(),
                600,
            )
            .expect("token")
    }

    /// Create a campaign as MASTER and open it; returns its id.
    pub async fn open_campaign(&self, quantity: i64) -> String {
        let (_, admin) = self.token(Role::Master);
        let res = self
            .post(
                "/api/v1/coupon-infos",
                &serde_json::json!({
                    "name": "flash coupon", "quantity": quantity, "couponType": "FIRST_COME_FIRST_SERVE",
                    "discountAmount": 1000, "minOrderAmount": 0, "expirationDate": "2099-12-31"
                }),
                Some(&admin),
            )
            .await;
        assert_eq!(res.status, 201, "{:?}", res.body);
        let id = res.data()["couponId"].as_str().unwrap().to_string();
        let res = self
            .request(
                reqwest::Method::PATCH,
                &format!("/api/v1/coupon-infos/{id}/status"),
                Some(&serde_json::json!({"status": "ISSUED"})),
                Some(&admin),
            )
            .await;
        assert_eq!(res.status, 200, "{:?}", res.body);
        id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> TestResponse {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body read");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> TestResponse {
        self.request(reqwest::Method::POST, path, Some(body), token)
            .await
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> TestResponse {
        let mut req = self.client.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// Send raw bytes with a content type (bad-input tests).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> TestResponse {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// Stop serving gracefully (snapshot, write-behind drained) and hand back the directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    /// Stop abruptly, as close to a crash as an in-process test gets: no snapshot, no drain,
    /// the journal as the writer left it. Hands back the directory.
    pub async fn crash(mut self) -> tempfile::TempDir {
        self.shutdown.take();
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        self.state.engine.journal().close();
        self.state.engine.shutdown();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A fresh, empty database for a storage test: SQLite in a temp dir, or a new MySQL database
/// on the server of `TEST_MYSQL_URL` (dropped when the guard goes).
pub struct TestDb {
    pub db: Db,
    /// The database's URL.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    mysql_drop: Option<ScratchDatabase>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url, &DbOptions::default())
            .await
            .expect("sqlite");
        db.migrate().await.expect("migrations");
        TestDb {
            db,
            url,
            _dir: Some(dir),
            mysql_drop: None,
        }
    }

    /// `None` when `TEST_MYSQL_URL` is not set.
    pub async fn mysql() -> Option<TestDb> {
        let server = std::env::var("TEST_MYSQL_URL").ok()?;
        let scratch = ScratchDatabase::create(&server, "hd_t")
            .await
            .expect("TEST_MYSQL_URL reachable");
        let url = scratch.url.clone();
        let db = Db::connect(&url, &DbOptions::default())
            .await
            .expect("connect test database");
        db.migrate().await.expect("migrations");
        Some(TestDb {
            db,
            url,
            _dir: None,
            mysql_drop: Some(scratch),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(scratch) = self.mysql_drop.take() {
            // Drop the database on a thread of its own: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    let _ = rt.block_on(scratch.remove());
                }
            })
            .join();
        }
    }
}

/// Run a storage contract test on SQLite (always) and MySQL (when `TEST_MYSQL_URL` is set).
#[macro_export]
macro_rules! contract_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let t = $crate::helpers::TestDb::sqlite().await;
                super::$name(&t.db).await;
            }

            #[tokio::test]
            #[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
            async fn mysql() {
                match $crate::helpers::TestDb::mysql().await {
                    Some(t) => super::$name(&t.db).await,
                    None => eprintln!("TEST_MYSQL_URL not set; skipped"),
                }
            }
        }
    };
}
