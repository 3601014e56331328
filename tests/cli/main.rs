//! The `hotdeal` binary as a person (or a script) uses it: each subcommand's `--help`, the client
//! commands finding the server and its secret, `snapshot restore` refusing a database that does
//! not match, the README's quick-start run against a fresh `serve --demo`, and (ignored, for CI
//! with Debian's `prometheus`) every query of the Grafana dashboard against a real Prometheus.
//!
//! Every server here is the debug binary on a free port in a temp dir, killed when its guard
//! drops; every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hotdeal::client::Client;
use hotdeal::http::auth::JwtKeys;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hotdeal");
const SECRET: &str = "cli-test-secret-cli-test-secret";

/// A `hotdeal` command with none of the caller's hotdeal settings, run in `cwd`.
fn hotdeal(cwd: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(cwd).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("HOTDEAL_")
            || key.starts_with("KAKAOPAY_")
            || ["DATABASE_URL", "REDIS_URL", "SMTP_URL", "RUST_LOG"].contains(&key.as_str())
        {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_BACKTRACE", "0");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("hotdeal runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `hotdeal <args> --help`.
fn help(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run(hotdeal(dir.path()).args(args).arg("--help"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// A server process in `dir`, logging to `dir/<log>`; killed on drop.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Start `hotdeal <args>` on a free port with its data under `dir` and `env` on top; wait
    /// for its listen address in the log.
    fn start(dir: &Path, args: &[&str], log: &str, env: &[(&str, &str)]) -> Server {
        let log = dir.join(log);
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = hotdeal(dir);
        cmd.args(args)
            .env("HOTDEAL_HTTP_ADDR", "127.0.0.1:0")
            .env("HOTDEAL_SNAPSHOT_INTERVAL_S", "0")
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("hotdeal starts");
        let mut server = Server {
            child,
            base: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = server.log_text();
            if let Some(at) = log.find("hotdeal ready addr=") {
                let addr = log[at + "hotdeal ready addr=".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
                server.base = format!("http://{addr}");
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("hotdeal exited with {status}:\n{log}");
            }
            assert!(Instant::now() < deadline, "hotdeal did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The listen address (`127.0.0.1:PORT`), as `HOTDEAL_HTTP_ADDR` would give it.
    fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The API client of this server.
    fn api(&self) -> Client {
        Client::new(&self.base).expect("client")
    }

    /// Wait until `/readyz` answers (any status); its status and body.
    async fn readyz(&self) -> (u16, Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let api = self.api();
        loop {
            if let Ok(res) = api.ready().await {
                return (res.status, res.body);
            }
            assert!(
                Instant::now() < deadline,
                "no /readyz:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `hotdeal token` with `env` in `cwd`.
fn token(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = hotdeal(cwd);
    cmd.arg("token").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[test]
fn each_subcommand_shows_only_its_own_options() {
    let server_only = [
        "--durability",
        "--database-url",
        "--mailbox-capacity",
        "--demo",
    ];
    let top = help(&[]);
    let token = help(&["token"]);
    let load = help(&["load"]);
    let list = help(&["snapshot", "list"]);
    let create = help(&["snapshot", "create"]);
    let migrate = help(&["migrate"]);
    for (name, text) in [
        ("hotdeal", &top),
        ("token", &token),
        ("load", &load),
        ("snapshot list", &list),
        ("snapshot create", &create),
    ] {
        for flag in server_only {
            assert!(
                !text.contains(flag),
                "`hotdeal {name} --help` shows {flag}:\n{text}"
            );
        }
    }
    for flag in ["--count", "--role", "--jwt-secret", "--data-dir"] {
        assert!(token.contains(flag), "token --help lacks {flag}:\n{token}");
    }
    for flag in [
        "--url",
        "--duration-s",
        "--jwt-secret",
        "--data-dir",
        "--scenario",
    ] {
        assert!(load.contains(flag), "load --help lacks {flag}:\n{load}");
    }
    assert!(
        create.contains("--url") && create.contains("--jwt-secret"),
        "{create}"
    );
    assert!(list.contains("--snapshot-dir"), "{list}");
    assert!(migrate.contains("--database-url") && !migrate.contains("--durability"));
    let serve = help(&["serve"]);
    for flag in server_only.iter().chain(&["--http-addr", "--jwt-secret"]) {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
    let restore = help(&["snapshot", "restore"]);
    for flag in ["--file", "--force", "--database-url", "--durability"] {
        assert!(
            restore.contains(flag),
            "snapshot restore --help lacks {flag}"
        );
    }
}

#[test]
fn token_signs_with_the_secret_serve_would_use_and_creates_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    // No secret anywhere: a clear error naming the places looked at, and no stray data dir.
    let out = token(cwd.path(), &[], &[]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    for hint in [
        "jwt_secret",
        "--data-dir",
        "HOTDEAL_DATA_DIR",
        "--jwt-secret",
        "HOTDEAL_JWT_SECRET",
    ] {
        assert!(err.contains(hint), "no {hint} in: {err}");
    }
    assert!(!cwd.path().join("data").exists(), "a client created data/");

    // The secret a server generated in its data dir, found with --data-dir or HOTDEAL_DATA_DIR.
    let server_dir = cwd.path().join("srv");
    std::fs::create_dir(&server_dir).unwrap();
    std::fs::write(server_dir.join("jwt_secret"), "generated-secret\n").unwrap();
    let keys = JwtKeys::new("generated-secret");
    let dir_arg = server_dir.to_str().unwrap();
    for out in [
        token(cwd.path(), &["--data-dir", dir_arg], &[]),
        token(cwd.path(), &[], &[("HOTDEAL_DATA_DIR", dir_arg)]),
    ] {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let t = text(&out.stdout);
        keys.verify(t.trim())
            .expect("signed with the data dir's secret");
        assert!(
            text(&out.stderr).contains("srv/jwt_secret"),
            "{}",
            text(&out.stderr)
        );
    }

    // HOTDEAL_JWT_SECRET wins, as it does for serve; the bench script's two calls keep working.
    let env = [
        ("HOTDEAL_JWT_SECRET", SECRET),
        ("HOTDEAL_DATA_DIR", dir_arg),
    ];
    let keys = JwtKeys::new(SECRET);
    let out = token(
        cwd.path(),
        &["--role", "MASTER", "--email", "bench@hotdeal.local"],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let claims = keys
        .verify(text(&out.stdout).trim())
        .expect("signed with HOTDEAL_JWT_SECRET");
    assert_eq!(claims.role.as_deref(), Some("MASTER"));
    assert_eq!(claims.email.as_deref(), Some("bench@hotdeal.local"));
    let out = token(cwd.path(), &["--count", "3"], &env);
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3);
    let users: std::collections::HashSet<_> = lines
        .iter()
        .map(|t| keys.verify(t).unwrap().user_id)
        .collect();
    assert_eq!(users.len(), 3, "one user per token");
    assert!(!cwd.path().join("data").exists(), "a client created data/");
}

#[tokio::test]
async fn clients_find_the_server_from_its_environment_and_name_the_secret_on_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    // A server that generated its own secret in its data dir.
    let server = Server::start(dir.path(), &["serve"], "server.log", &[]);
    assert_eq!(server.readyz().await.0, 200);
    let client_dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_dir = data_dir.to_str().unwrap();

    // The same environment as serve: HOTDEAL_HTTP_ADDR and HOTDEAL_DATA_DIR, no --url.
    let env = [
        ("HOTDEAL_HTTP_ADDR", server.addr()),
        ("HOTDEAL_DATA_DIR", data_dir),
    ];
    let mut cmd = hotdeal(client_dir.path());
    cmd.args(["snapshot", "create"]).envs(env);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let snapshot: Value = serde_json::from_slice(&out.stdout).expect("the snapshot as JSON");
    assert!(snapshot["path"].is_string(), "{snapshot}");

    let mut cmd = hotdeal(client_dir.path());
    cmd.args([
        "load",
        "--setup",
        "--requests",
        "300",
        "--users",
        "50",
        "--quantity",
        "20",
    ])
    .envs(env);
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let table = text(&out.stdout);
    let throughput = table
        .lines()
        .find(|l| l.contains("throughput"))
        .unwrap_or_else(|| panic!("{table}"));
    let rate = throughput.split("throughput").nth(1).unwrap().trim();
    let (number, unit) = rate.split_once(' ').unwrap();
    assert_eq!(unit, "req/s", "{throughput}");
    assert!(
        number.chars().all(|c| c.is_ascii_digit() || c == ','),
        "not a whole number: {throughput}"
    );
    assert!(table.contains("verdict: PASS"), "{table}");

    // The wrong secret: the error says which one was used and how to pass the right one.
    let wrong = [("HOTDEAL_JWT_SECRET", "not-the-servers-secret")];
    for args in [
        vec!["snapshot", "create", "--url", &server.base],
        vec!["load", "--url", &server.base, "--setup", "--requests", "10"],
    ] {
        let mut cmd = hotdeal(client_dir.path());
        cmd.args(&args).envs(wrong);
        let out = run(&mut cmd);
        assert!(
            !out.status.success(),
            "{args:?} succeeded with the wrong secret"
        );
        let err = text(&out.stderr);
        for hint in [
            "invalid token signature",
            "signed with the secret from --jwt-secret / HOTDEAL_JWT_SECRET",
            "--data-dir",
        ] {
            assert!(err.contains(hint), "{args:?}: no {hint:?} in {err}");
        }
    }
    assert!(
        !client_dir.path().join("data").exists(),
        "a client created data/"
    );
}

#[tokio::test]
async fn a_timed_load_reports_the_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["serve"],
        "server.log",
        &[("HOTDEAL_JWT_SECRET", SECRET)],
    );
    assert_eq!(server.readyz().await.0, 200);
    let mut cmd = hotdeal(dir.path());
    cmd.args([
        "load",
        "--url",
        &server.base,
        "--setup",
        "--duration-s",
        "3",
        "--users",
        "20",
    ])
    .args(["--concurrency", "2", "--jwt-secret", SECRET]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Without a terminal the bar's line is printed now and then (every second on a short run).
    let progress = text(&out.stderr);
    let line = progress
        .lines()
        .find(|l| l.starts_with("hotdeal load: ") && l.contains(" s left · "))
        .unwrap_or_else(|| panic!("no progress line with the time left in: {progress}"));
    assert!(line.contains(" req/s · "), "{line}");
}

/// A snapshot of a server with a campaign and a product, taken through the CLI; returns it.
async fn snapshot_of_a_store(dir: &Path) -> PathBuf {
    let server = Server::start(
        dir,
        &["serve"],
        "first.log",
        &[("HOTDEAL_JWT_SECRET", SECRET)],
    );
    assert_eq!(server.readyz().await.0, 200);
    let mut cmd = hotdeal(dir);
    cmd.args([
        "load",
        "--url",
        &server.base,
        "--setup",
        "--scenario",
        "mixed",
    ])
    .args([
        "--requests",
        "40",
        "--users",
        "10",
        "--quantity",
        "5",
        "--jwt-secret",
        SECRET,
    ]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut cmd = hotdeal(dir);
    cmd.args([
        "snapshot",
        "create",
        "--url",
        &server.base,
        "--jwt-secret",
        SECRET,
    ]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let snapshot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let path = PathBuf::from(snapshot["path"].as_str().unwrap());
    dir.join(path)
}

#[tokio::test]
async fn restore_refuses_a_database_without_the_snapshots_data_and_force_is_reported_not_ready() {
    let first = tempfile::tempdir().unwrap();
    let snapshot = snapshot_of_a_store(first.path()).await;
    assert!(snapshot.exists(), "{}", snapshot.display());

    // Another directory: a fresh database and an empty journal.
    let other = tempfile::tempdir().unwrap();
    let mut cmd = hotdeal(other.path());
    cmd.args(["snapshot", "restore", "--file", snapshot.to_str().unwrap()])
        .env("HOTDEAL_HTTP_ADDR", "127.0.0.1:0")
        .env("HOTDEAL_JWT_SECRET", SECRET);
    let out = run(&mut cmd);
    assert!(
        !out.status.success(),
        "restore served a database without the snapshot's data"
    );
    let err = text(&out.stderr);
    for what in [
        "refusing to restore",
        "no row for 1 of the snapshot's 1 campaigns",
        "items (products)",
        "can never be written to the database",
        "--force",
        "--database-url",
    ] {
        assert!(err.contains(what), "no {what:?} in: {err}");
    }

    // --force serves, loudly not ready.
    let server = Server::start(
        other.path(),
        &[
            "snapshot",
            "restore",
            "--force",
            "--file",
            snapshot.to_str().unwrap(),
        ],
        "forced.log",
        &[("HOTDEAL_JWT_SECRET", SECRET)],
    );
    let (status, body) = server.readyz().await;
    assert_eq!(status, 503, "{body}");
    let problems = body["problems"].as_array().expect("problems listed");
    assert!(problems.len() >= 2, "{body}");
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().unwrap().contains("campaigns")),
        "{body}"
    );
    let metrics = server.api().metrics().await.unwrap().text().into_owned();
    let gauge = metrics
        .lines()
        .find(|l| l.starts_with("hotdeal_recovery_problems "))
        .unwrap_or_else(|| panic!("no hotdeal_recovery_problems in {metrics}"));
    assert_eq!(
        gauge,
        format!("hotdeal_recovery_problems {}", problems.len())
    );
    let log = server.log_text();
    assert!(
        log.contains("ERROR") && log.contains("does not match the snapshot or journal"),
        "{log}"
    );
    drop(server);

    // The snapshot's own directory restores without complaint.
    let server = Server::start(
        first.path(),
        &["snapshot", "restore", "--file", snapshot.to_str().unwrap()],
        "restored.log",
        &[("HOTDEAL_JWT_SECRET", SECRET)],
    );
    let (status, body) = server.readyz().await;
    assert_eq!(status, 200, "{body}\n{}", server.log_text());
    assert_eq!(body["problems"], serde_json::json!([]));
}

/// The fenced ```sh block after `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let at = readme
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in README.md"));
    let rest = &readme[at + marker.len()..];
    let start = rest
        .find("```sh\n")
        .expect("a ```sh block after the marker")
        + "```sh\n".len();
    let end = rest[start..].find("```").expect("the block ends") + start;
    rest[start..end].to_string()
}

#[tokio::test]
async fn the_readme_quick_start_runs_against_a_fresh_demo_server() {
    // The server command as the README gives it: `.../hotdeal ARGS 2>&1 | tee LOG`.
    let server_block = readme_block("<!-- quickstart-server -->");
    let line = server_block
        .lines()
        .find(|l| l.contains("hotdeal serve"))
        .expect("the README starts hotdeal serve");
    let after = line.split("hotdeal ").nth(1).unwrap();
    let (args, pipe) = after.split_once(" 2>&1").expect("the log is captured");
    let args: Vec<&str> = args.split_whitespace().collect();
    assert_eq!(args, ["serve", "--demo"], "{line}");
    let log = pipe
        .split("tee ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .expect("the log goes to a file with tee");
    let journey = readme_block("<!-- quickstart -->");
    assert!(
        journey.contains(&format!("LOG=${{LOG:-{log}}}")),
        "the journey reads another log than the server writes"
    );

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &args, log, &[]);
    assert_eq!(server.readyz().await.0, 200);
    assert!(
        server.log_text().contains("== hotdeal demo =="),
        "{}",
        server.log_text()
    );

    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &journey])
        .current_dir(dir.path())
        .env("BASE", &server.base)
        .env("LOG", server.log.to_str().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the quick-start failed ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- server log (tail)\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr),
        server
            .log_text()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let printed = text(&out.stdout);
    assert!(printed.contains(r#""payAmount":17000"#), "{printed}");
    assert!(printed.contains(r#""orderStatus":"CANCEL""#), "{printed}");
    assert!(printed.contains(r#""reviewCnt":1"#), "{printed}");
}

/// A free TCP port on loopback (bound then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every `expr` of the dashboard's panels (rows included).
fn dashboard_exprs(v: &Value, out: &mut Vec<(String, String)>) {
    if let Some(panels) = v["panels"].as_array() {
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((p["title"].as_str().unwrap_or("").to_string(), e.to_string()));
                }
            }
            dashboard_exprs(p, out);
        }
    }
}

#[tokio::test]
#[ignore = "needs Debian's prometheus binary (CI installs it); runs about a minute"]
async fn dashboard_queries_return_data() {
    let prometheus = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["serve"],
        "server.log",
        &[
            ("HOTDEAL_JWT_SECRET", SECRET),
            // Orders left unpaid expire within the test, after the load has read its verdict.
            ("HOTDEAL_RESERVATION_TTL_MS", "3000"),
            ("HOTDEAL_TICK_INTERVAL_MS", "100"),
        ],
    );
    assert_eq!(server.readyz().await.0, 200);

    let port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: hotdeal\n    static_configs:\n      - targets: [\"{}\"]\n",
            server.addr()
        ),
    )
    .unwrap();
    let prom_log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(&prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(prom_log.try_clone().unwrap())
        .stderr(prom_log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{prometheus} does not start ({e}): apt-get install prometheus")
        });
    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prometheus = Killed(child);
    let prom = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("{prom}/-/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "prometheus did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A short load: claims (issued, then sold out and repeats), a few orders left unpaid (they
    // expire), a snapshot.
    for (scenario, requests, users, quantity) in [
        ("coupon", "1500", "200", "100"),
        ("order", "20", "20", "10"),
    ] {
        let mut cmd = hotdeal(dir.path());
        cmd.args(["load", "--url", &server.base, "--setup", "--quiet"])
            .args([
                "--scenario",
                scenario,
                "--requests",
                requests,
                "--users",
                users,
            ])
            .args([
                "--quantity",
                quantity,
                "--concurrency",
                "8",
                "--jwt-secret",
                SECRET,
            ]);
        let out = run(&mut cmd);
        assert!(out.status.success(), "{scenario}: {}", text(&out.stderr));
    }
    let mut cmd = hotdeal(dir.path());
    cmd.args([
        "snapshot",
        "create",
        "--url",
        &server.base,
        "--jwt-secret",
        SECRET,
    ]);
    assert!(run(&mut cmd).status.success());

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/grafana/dashboards/hotdeal.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut exprs);
    assert!(exprs.len() > 30, "{exprs:?}");
    // The `job` variable's query, and a check that expiries are counted where the panel reads.
    exprs.push((
        "$job variable".into(),
        "count by (job) (hotdeal_http_requests_total)".into(),
    ));
    let expired = r#"sum(hotdeal_orders_total{job="hotdeal",outcome="expired"}) > 0"#;
    exprs.push(("expired orders counted".into(), expired.into()));

    let query = |expr: String| {
        let client = client.clone();
        let prom = prom.clone();
        async move {
            let res = client
                .get(format!("{prom}/api/v1/query"))
                .query(&[("query", expr.as_str())])
                .send()
                .await
                .ok()?;
            let v: Value = res.json().await.ok()?;
            assert_eq!(v["status"], "success", "{expr}: {v}");
            Some(
                v["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty()),
            )
        }
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    let empty = loop {
        let mut empty = Vec::new();
        for (title, expr) in &exprs {
            let expr = expr
                .replace("$job", "hotdeal")
                .replace("$__rate_interval", "1m");
            if query(expr.clone()).await != Some(true) {
                empty.push(format!("{title}: {expr}"));
            }
        }
        if empty.is_empty() || Instant::now() > deadline {
            break empty;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );
}
