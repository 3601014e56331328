//! Crash tests: they run the real `hotdeal` binary, kill it with SIGKILL under load, restart it
//! on the same data, and check what clients were told against what survived.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotdeal::client::{Client, ClientOptions, Method, NewCampaign};
use hotdeal::domain::ids::UserId;
use hotdeal::http::auth::{JwtKeys, Role};
use hotdeal::persistence::{Db, DbOptions};
use serde_json::Value;

mod node_lock;

const SECRET: &str = "crash-test-secret-crash-test-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    base: String,
    /// The API client of this server (no token).
    api: Client,
}

impl Drop for Server {
    /// A failing test must not leave a server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path, extra_env: &[(&str, String)]) -> Server {
    let port = free_port();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotdeal"));
    cmd.env("HOTDEAL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("hotdeal.db").display()),
        )
        .env("HOTDEAL_DATA_DIR", dir.join("data"))
        .env("HOTDEAL_SNAPSHOT_DIR", dir.join("snapshots"))
        .env("HOTDEAL_JWT_SECRET", SECRET)
        .env("HOTDEAL_DURABILITY", "sync")
        .env("HOTDEAL_SNAPSHOT_INTERVAL_S", "1")
        .env("HOTDEAL_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("hotdeal starts");
    let base = format!("http://127.0.0.1:{port}");
    // 64 connections for the hammering workers; a request cut off by a kill fails within 20 s.
    let options = ClientOptions {
        timeout: Duration::from_secs(20),
        ..ClientOptions::pooled(64)
    };
    Server {
        child,
        api: Client::with_options(&base, &options).expect("client"),
        base,
    }
}

async fn wait_ready(server: &mut Server, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = server.api.ready().await
            && r.status == 200
        {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "server exited with {status}; log:\n{}",
                std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "server never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn token(user: UserId, role: Role) -> String {
    JwtKeys::new(SECRET)
        .mint_access(
            user,
            "crash@test.local",
            role,
            chrono::Utc::now().timestamp_millis(),
            3_600,
        )
        .unwrap()
}

/// `method path` with a JSON body as the holder of `token`: the status and the JSON body.
async fn send(
    api: &Client,
    method: Method,
    path: impl Into<std::borrow::Cow<'static, str>>,
    body: Value,
    token: &str,
) -> (u16, Value) {
    let res = api
        .with_token(token)
        .request(method, path)
        .json(&body)
        .await
        .expect("request");
    (res.status, res.body)
}

/// A coupon of `campaign` for the holder of `token`: the status and the JSON body.
async fn issue(api: &Client, campaign: &str, token: &str) -> (u16, Value) {
    let res = api
        .with_token(token)
        .issue_coupon(campaign)
        .await
        .expect("request");
    (res.status, res.body)
}

async fn create_open_campaign(api: &Client, quantity: i64) -> String {
    let admin = api.with_token(&token(UserId::new(), Role::Master));
    let res = admin
        .create_campaign(&NewCampaign::first_come("crash", quantity))
        .await
        .expect("request");
    let (status, body) = (res.status, res.body);
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["couponId"].as_str().unwrap().to_string();
    let res = admin
        .set_campaign_status(&id, "ISSUED")
        .await
        .expect("request");
    let (status, body) = (res.status, res.body);
    assert_eq!(status, 200, "{body}");
    id
}

#[derive(Default)]
struct Ledger {
    /// Users told "issued".
    acked: HashSet<UserId>,
    /// Users whose request got no answer (the crash cut it off).
    unknown: HashSet<UserId>,
    sold_out: usize,
}

/// Claim coupons for fresh users from `workers` concurrent clients until the server dies.
async fn hammer(api: Client, campaign: String, ledger: Arc<Mutex<Ledger>>, workers: usize) {
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (api, campaign, ledger) = (api.clone(), campaign.clone(), ledger.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let user = UserId::new();
                let res = api
                    .with_token(&token(user, Role::Customer))
                    .issue_coupon(&campaign)
                    .await;
                let res = match res {
                    Ok(r) => r,
                    Err(_) => {
                        ledger.lock().unwrap().unknown.insert(user);
                        return;
                    }
                };
                let status = res.status;
                let body: Value = res.body;
                let mut l = ledger.lock().unwrap();
                match (status, body["code"].as_str()) {
                    (201, _) => {
                        l.acked.insert(user);
                    }
                    (409, Some("CO005")) => l.sold_out += 1,
                    (503, _) => {
                        l.unknown.insert(user);
                    }
                    other => panic!("unexpected answer {other:?}: {body}"),
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn coupon_users(db_path: &Path, campaign: &str) -> Vec<UserId> {
    let db = Db::connect(
        &format!("sqlite://{}", db_path.display()),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT user_id FROM p_coupon WHERE coupon_info_id = ?")
            .bind(campaign)
            .fetch_all(&db.pool)
            .await
            .unwrap();
    db.pool.close().await;
    rows.into_iter().map(|s| s.parse().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_claims_survive_repeated_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let quantity = 8_000;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut campaign = None;
    let kills = 5;
    for round in 0..kills {
        let mut server = start_server(dir.path(), &[]);
        wait_ready(&mut server, dir.path()).await;
        let campaign_id = match &campaign {
            Some(c) => c,
            None => campaign.insert(create_open_campaign(&server.api, quantity).await),
        }
        .clone();
        let load = tokio::spawn(hammer(server.api.clone(), campaign_id, ledger.clone(), 32));
        // Kill at a random moment once claims are flowing.
        let kill_after = Duration::from_millis(300 + rand::random_range(0..700u64));
        tokio::time::sleep(kill_after).await;
        server.child.kill().expect("SIGKILL");
        let _ = server.child.wait();
        load.await.unwrap();
        let l = ledger.lock().unwrap();
        eprintln!(
            "round {round}: acked {} unknown {} sold-out answers {}",
            l.acked.len(),
            l.unknown.len(),
            l.sold_out
        );
    }

    // A last start: recovery, then the write-behind catches up; compare with what clients heard.
    let mut server = start_server(dir.path(), &[]);
    wait_ready(&mut server, dir.path()).await;
    let campaign = campaign.unwrap();
    let admin = token(UserId::new(), Role::Master);
    let (status, audit) = send(
        &server.api,
        Method::GET,
        "/api/v1/admin/audit",
        Value::Null,
        &admin,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(audit["data"]["caughtUp"], true, "{audit}");
    assert_eq!(
        audit["data"]["differences"].as_array().unwrap().len(),
        0,
        "engine and database disagree: {audit}"
    );
    let (_, info) = send(
        &server.api,
        Method::GET,
        format!("/api/v1/coupon-infos/{campaign}"),
        Value::Null,
        &admin,
    )
    .await;
    let issued = info["data"]["issuedCount"].as_i64().unwrap();

    let users = coupon_users(&dir.path().join("hotdeal.db"), &campaign).await;
    let distinct: HashSet<UserId> = users.iter().copied().collect();
    let l = ledger.lock().unwrap();
    assert_eq!(distinct.len(), users.len(), "a user was issued two coupons");
    assert_eq!(
        users.len() as i64,
        issued,
        "database rows differ from the engine's count"
    );
    assert!(
        issued <= quantity,
        "quantity exceeded: {issued} > {quantity}"
    );
    let lost: Vec<_> = l.acked.difference(&distinct).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged claims were lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    // Anything in the database was either acknowledged or cut off mid-flight, never invented.
    assert!(
        distinct
            .iter()
            .all(|u| l.acked.contains(u) || l.unknown.contains(u))
    );
    assert!(
        l.acked.len() > 50,
        "too few claims to mean anything: {}",
        l.acked.len()
    );
    drop(l);

    // Graceful stop.
    unsafe_sigterm(&server.child);
    let _ = server.child.wait();
}

fn unsafe_sigterm(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_corrupt_journal_tail_and_a_corrupt_newest_snapshot_fall_back_to_good_data() {
    let dir = tempfile::tempdir().unwrap();
    // No periodic snapshots: the test makes them itself.
    let env = [("HOTDEAL_SNAPSHOT_INTERVAL_S", "0".to_string())];
    let mut server = start_server(dir.path(), &env);
    wait_ready(&mut server, dir.path()).await;
    let campaign = create_open_campaign(&server.api, 1_000).await;
    let admin = token(UserId::new(), Role::Master);
    let claim = |user: UserId, api: Client, campaign: String| async move {
        issue(&api, &campaign, &token(user, Role::Customer)).await.0
    };
    let mut first = Vec::new();
    for _ in 0..10 {
        let u = UserId::new();
        assert_eq!(claim(u, server.api.clone(), campaign.clone()).await, 201);
        first.push(u);
    }
    // A good snapshot, then more claims, then a second snapshot that we will corrupt.
    let (s, _) = send(
        &server.api,
        Method::POST,
        "/api/v1/admin/snapshots",
        Value::Null,
        &admin,
    )
    .await;
    assert_eq!(s, 201);
    let mut second = Vec::new();
    for _ in 0..10 {
        let u = UserId::new();
        assert_eq!(claim(u, server.api.clone(), campaign.clone()).await, 201);
        second.push(u);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, newest) = send(
        &server.api,
        Method::POST,
        "/api/v1/admin/snapshots",
        Value::Null,
        &admin,
    )
    .await;
    assert_eq!(s, 201);
    server.child.kill().unwrap();
    let _ = server.child.wait();

    // Corrupt the newest snapshot's body and append a torn record to the journal.
    let newest_path = PathBuf::from(newest["data"]["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&newest_path).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 0xff;
    std::fs::write(&newest_path, bytes).unwrap();
    let journal_dir = dir.path().join("data").join("journal");
    let mut segments: Vec<_> = std::fs::read_dir(&journal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let last = segments.last().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    std::io::Write::write_all(&mut f, &[99, 0, 0, 0, 1, 2, 3]).unwrap();
    drop(f);

    let mut server = start_server(dir.path(), &env);
    wait_ready(&mut server, dir.path()).await;
    // Every acknowledged claim is back: from the older snapshot plus the journal.
    for u in first.iter().chain(&second) {
        let (status, body) = issue(&server.api, &campaign, &token(*u, Role::Customer)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("CO006")),
            "{body}"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        log.contains("skipping an unreadable snapshot"),
        "the skipped snapshot is logged"
    );
    assert!(
        log.contains("journal tail is torn or corrupt"),
        "the truncated tail is logged"
    );
    unsafe_sigterm(&server.child);
    let _ = server.child.wait();
}

/// Seed a product with a live time sale and `users` shoppers with an address each, straight into
/// the database the server will open.
async fn seed_orders_fixture(
    dir: &Path,
    users: usize,
) -> (hotdeal::domain::ids::ItemId, Vec<(UserId, String)>) {
    use hotdeal::domain::ids::{CompanyId, ItemId};
    use hotdeal::persistence::repo::{NewProduct, SqlStore};
    let db = Db::connect(
        &format!("sqlite://{}", dir.join("hotdeal.db").display()),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    db.migrate().await.unwrap();
    let store = SqlStore::new(db.clone());
    let item = ItemId::new();
    let now = chrono::Utc::now().timestamp_millis();
    store
        .insert_product(
            &NewProduct {
                id: item,
                company_id: CompanyId::new(),
                name: "crash sale".into(),
                price: 10_000,
                quantity: 100_000,
                category: "FOOD".into(),
                description: None,
                thumb_img: None,
                detail_imgs: vec![],
                created_by: None,
            },
            now,
        )
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO p_promotion (id, product_id, start_at, end_at, discount_rate, discount_price, quantity, remaining, \
         per_user_limit, status, created_at, updated_at) VALUES (?, ?, ?, ?, 50, 5000, 100000, 100000, NULL, 'IN_PROGRESS', ?, ?)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(item.to_string())
    .bind(now - 60_000)
    .bind(now + 3_600_000)
    .bind(now)
    .bind(now)
    .execute(&db.pool)
    .await
    .unwrap();
    let mut out = Vec::with_capacity(users);
    for _ in 0..users {
        let user = UserId::new();
        let address = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO p_address (address_id, user_id, zip_num, city, district, street_name, street_num, detail_addr, created_at, updated_at) \
             VALUES (?, ?, '1', 'c', 'd', 's', 'n', 'a', 0, 0)",
        )
        .bind(&address)
        .bind(user.to_string())
        .execute(&db.pool)
        .await
        .unwrap();
        out.push((user, address));
    }
    db.pool.close().await;
    (item, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_orders_and_their_reservations_survive_repeated_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (item, shoppers) = seed_orders_fixture(dir.path(), 64).await;
    let shoppers = Arc::new(shoppers);
    // order id -> quantity, for every 201; and how many requests got no answer.
    let acked: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let cut_off = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for round in 0..5 {
        let mut server = start_server(dir.path(), &[]);
        wait_ready(&mut server, dir.path()).await;
        let mut tasks = Vec::new();
        for w in 0..32usize {
            let (api, shoppers, acked, cut_off) = (
                server.api.clone(),
                shoppers.clone(),
                acked.clone(),
                cut_off.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let mut i = w;
                loop {
                    let (user, address) = &shoppers[i % shoppers.len()];
                    i += 32;
                    let qty = 1 + (i % 3) as i64;
                    let res = api
                        .with_token(&token(*user, Role::Customer))
                        .buy_now(item.0, qty, address.parse().unwrap())
                        .await;
                    let Ok(res) = res else {
                        cut_off.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    };
                    let status = res.status;
                    let body: Value = res.body;
                    match status {
                        201 => acked
                            .lock()
                            .unwrap()
                            .push((body["data"]["orderId"].as_str().unwrap().to_string(), qty)),
                        503 => {}
                        other => panic!("unexpected {other}: {body}"),
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + rand::random_range(0..700u64))).await;
        server.child.kill().unwrap();
        let _ = server.child.wait();
        for t in tasks {
            t.await.unwrap();
        }
        eprintln!(
            "round {round}: acknowledged orders {}",
            acked.lock().unwrap().len()
        );
    }

    let mut server = start_server(dir.path(), &[]);
    wait_ready(&mut server, dir.path()).await;
    let admin = token(UserId::new(), Role::Master);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few orders to mean anything: {}",
        acked.len()
    );
    let mut acked_units = 0;
    for (order, qty) in &acked {
        let (status, body) = send(
            &server.api,
            Method::GET,
            format!("/api/v1/orders/{order}"),
            Value::Null,
            &admin,
        )
        .await;
        assert_eq!(status, 200, "acknowledged order {order} lost: {body}");
        assert_eq!(body["data"]["orderStatus"], "CREATE");
        assert_eq!(
            body["data"]["productList"][0]["productQuantity"].as_i64(),
            Some(*qty)
        );
        assert_eq!(
            body["data"]["totalAmount"].as_i64(),
            Some(5_000 * qty),
            "sale price kept"
        );
        acked_units += qty;
    }
    // Stock: every acknowledged order still holds its units; orders cut off mid-flight either
    // made it whole or were released (never half an order, never more than was sold).
    let (_, audit) = send(
        &server.api,
        Method::GET,
        "/api/v1/admin/audit",
        Value::Null,
        &admin,
    )
    .await;
    assert_eq!(
        audit["data"]["differences"].as_array().unwrap().len(),
        0,
        "{audit}"
    );
    let db = Db::connect(
        &format!("sqlite://{}", dir.path().join("hotdeal.db").display()),
        &DbOptions::default(),
    )
    .await
    .unwrap();
    let reserved: i64 = sqlx::query_scalar("SELECT reserved FROM p_product WHERE id = ?")
        .bind(item.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let order_units: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(op.quantity), 0) AS SIGNED) FROM p_order_product op JOIN p_order o ON o.id = op.order_id WHERE o.status = 'CREATE'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap_or(0);
    if reserved != order_units {
        let statuses: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM p_order GROUP BY status")
                .fetch_all(&db.pool)
                .await
                .unwrap();
        let lines: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_order_product")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let orders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_order")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        let recov: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("recovery finished") || l.contains("engine state installed"))
            .collect();
        eprintln!(
            "statuses {statuses:?} lines {lines} orders {orders} acked {}\n{}",
            acked.len(),
            recov.join("\n")
        );
    }
    assert_eq!(
        reserved, order_units,
        "reserved stock equals the units of placed orders"
    );
    assert!(reserved >= acked_units);
    let remaining: i64 =
        sqlx::query_scalar("SELECT remaining FROM p_promotion WHERE product_id = ?")
            .bind(item.to_string())
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(remaining + reserved, 100_000, "the sale balances");
    eprintln!(
        "acknowledged {} orders, {} units; cut off {}",
        acked.len(),
        acked_units,
        cut_off.load(std::sync::atomic::Ordering::Relaxed)
    );
    unsafe_sigterm(&server.child);
    let _ = server.child.wait();
}
