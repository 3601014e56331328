//! A headless Chromium driven through chromedriver (WebDriver), one per test: a fresh profile,
//! no network beyond this machine (every other host fails to resolve), console messages kept
//! so a test can check the page logged no error, and screenshots under `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a wait for the page gives up after.
pub const WAIT: Duration = Duration::from_secs(20);

/// The flags of every run.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    // Offline: only this machine answers.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];

fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// The Chromium and chromedriver to use, or why the browser tests cannot run. In CI (`CI`
/// set) a missing browser is a failure, not a skip.
pub fn programs() -> Option<(PathBuf, PathBuf)> {
    let chromium = find_program(
        "CHROME_BIN",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = find_program("CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must run the browser tests: install chromium and chromium-driver")
        }
        _ => {
            eprintln!(
                "skipped: chromium and chromedriver are not installed \
                 (apt-get install chromium chromium-driver, or set CHROME_BIN and CHROMEDRIVER)"
            );
            None
        }
    }
}

/// `POST /session/{id}/se/log {"type": "browser"}`: chromedriver's console log (taken entries
/// are not returned again).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}

/// A browser session and the chromedriver serving it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    pub async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let caps = caps.as_object().expect("object").clone();
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen: retry the session until it answers.
        let deadline = Instant::now() + WAIT;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// End the session (Chromium quits) and chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    /// The first element matching `css`, waiting for it.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// The value of attribute `name` on the first element matching `css`,
    /// waiting for one that has it. Looked up afresh on every try, so a table
    /// that re-renders between the lookup and the read (a stale element) is
    /// simply read again.
    pub async fn attr(&self, css: &str, name: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(Some(v)) = e.attr(name).await
            {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {css} with {name}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until `check` says yes (polled every 50 ms), or fail with `what`.
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + WAIT;
        while !check().await {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first element matching `css` ("" when there is none).
    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Wait until the text of `css` satisfies `pred`; returns it.
    pub async fn until_text(&self, css: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let t = self.text(css).await;
            if pred(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what} ({css} reads {t:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the element matching `css` is enabled (false when missing).
    pub async fn enabled(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.is_enabled().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Type `text` into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clears");
        e.send_keys(text).await.expect("types");
    }

    /// Click the element matching `css` once it is enabled. The element is
    /// looked up afresh on every try, so a re-render in between is not a failure.
    pub async fn click(&self, css: &str) {
        self.act(css, "click", |e| async move { e.click().await.map(|_| ()) })
            .await;
    }

    /// Press Enter on the element matching `css` once it is enabled.
    pub async fn press_enter(&self, css: &str) {
        self.act(css, "press Enter on", |e| async move {
            e.send_keys("\u{E007}").await
        })
        .await;
    }

    async fn act<F, Fut>(&self, css: &str, what: &str, mut act: F)
    where
        F: FnMut(Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + WAIT;
        let mut last = String::from("no such element");
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                match e.is_enabled().await {
                    Ok(true) => match act(e).await {
                        Ok(()) => return,
                        Err(err) => last = err.to_string(),
                    },
                    Ok(false) => last = "disabled".into(),
                    Err(err) => last = err.to_string(),
                }
            }
            assert!(Instant::now() < deadline, "could not {what} {css}: {last}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn script(&self, js: &str) -> Value {
        self.client.execute(js, vec![]).await.expect("script runs")
    }

    /// Save a screenshot as `target/screenshots/NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
            .join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// Console errors logged since the last call. Refusals of the API (4xx answers the page
    /// shows as messages) are expected; anything else (a script error, a missing asset, a
    /// blocked load, a 5xx) is an error.
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("chromedriver returns the console log");
        let mut found = Vec::new();
        for entry in log.as_array().into_iter().flatten() {
            let level = entry["level"].as_str().unwrap_or("");
            let message = entry["message"].as_str().unwrap_or("").to_string();
            let source = entry["source"].as_str().unwrap_or("");
            if level != "SEVERE" {
                continue;
            }
            let api_refusal = source == "network"
                && message.contains("/api/v1/")
                && message.contains("the server responded with a status of 4");
            if !api_refusal {
                found.push(message);
            }
        }
        found
    }
}
