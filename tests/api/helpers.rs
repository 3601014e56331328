//! `spawn_app()`: the real application in-process on port 0, with a temp data dir and a temp
//! SQLite database, and the typed client of the API ([`hotdeal::client`]) pointed at it:
//! `app.client` (anonymous), `app.with_token(&token)`, and the short forms `app.get`,
//! `app.post`, `app.request`, `app.post_raw` that take an optional token.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use hotdeal::client::{Client, ClientOptions, NewCampaign};
use hotdeal::config::Config;
use hotdeal::domain::clock::{ManualClock, SharedClock, SystemClock};
use hotdeal::domain::ids::UserId;
use hotdeal::http::AppState;
use hotdeal::http::auth::Role;
use hotdeal::persistence::{Db, DbOptions, ScratchDatabase};
use hotdeal::startup::Application;
use serde_json::Value;
use tokio::sync::oneshot;

pub use hotdeal::client::Response as TestResponse;

/// A running app and a client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    /// The API client, without a token (redirects are not followed).
    pub client: Client,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
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
    let address = format!("http://127.0.0.1:{port}");
    TestApp {
        client: Client::with_options(&address, &ClientOptions::default()).expect("client"),
        address,
        port,
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

    /// The client sending `token`.
    pub fn with_token(&self, token: &str) -> Client {
        self.client.with_token(token)
    }

    /// The client sending `token` when there is one.
    pub fn client_for(&self, token: Option<&str>) -> Client {
        match token {
            Some(t) => self.client.with_token(t),
            None => self.client.clone(),
        }
    }

    /// Create a campaign as MASTER and open it; returns its id.
    pub async fn open_campaign(&self, quantity: i64) -> String {
        let (_, admin) = self.token(Role::Master);
        let admin = self.with_token(&admin);
        let res = admin
            .create_campaign(&NewCampaign::first_come("flash coupon", quantity))
            .await
            .expect("request sent");
        assert_eq!(res.status, 201, "{:?}", res.body);
        let id = res.data()["couponId"].as_str().unwrap().to_string();
        let res = admin
            .set_campaign_status(&id, "ISSUED")
            .await
            .expect("request sent");
        assert_eq!(res.status, 200, "{:?}", res.body);
        id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> TestResponse {
        self.request(reqwest::Method::GET, path, None, token).await
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
        let mut call = self.client_for(token).request(method, path.to_string());
        if let Some(b) = body {
            call = call.json(b);
        }
        call.await.expect("request sent")
    }

    /// Send raw bytes with a content type (bad-input tests).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> TestResponse {
        self.client_for(token)
            .request(reqwest::Method::POST, path.to_string())
            .body(content_type, body)
            .await
            .expect("request sent")
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
