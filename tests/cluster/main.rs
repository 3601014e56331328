//! Cluster tests: three real `hotdeal serve --cluster` nodes on loopback, one scratch MariaDB
//! database, driven over HTTP. Nodes are killed (`SIGKILL`) and paused (`SIGSTOP`) under load;
//! what clients were told is checked against the rows in the database.
//!
//! Every test needs MariaDB/MySQL at `TEST_MYSQL_URL` (e.g. `mysql://root@127.0.0.1:3306/mysql`)
//! and is `#[ignore]`d: run them with `cargo test --test cluster -- --include-ignored`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use hotdeal::client::{Client, ClientOptions, NewCampaign, Response};
use hotdeal::domain::ids::UserId;
use hotdeal::http::auth::{JwtKeys, Role};
use hotdeal::persistence::{Db, DbOptions, ScratchDatabase};
use rustix::process::{Pid, Signal, kill_process};
use serde::Deserialize;
use uuid::Uuid;

mod coupons;
mod membership;
mod orders;
mod spanning;

const SECRET: &str = "cluster-test-secret-cluster-test-secret";
/// Short leases, so failover tests take seconds.
const LEASE_TTL_MS: u64 = 1_000;
const PARTITIONS: u32 = 8;
const ADMIN_EMAIL: &str = "ops@cluster.test";
const ADMIN_PASSWORD: &str = "Cluster-Admin-12!";
/// The longest a whole test may take: every wait inside has its own, shorter, bound.
const TEST_BOUND: Duration = Duration::from_secs(240);

/// Run `test` on the MariaDB/MySQL server at `TEST_MYSQL_URL`, within [`TEST_BOUND`]; skipped
/// (with a line on stderr) when the variable is unset.
async fn with_mysql<F: Future<Output = ()>>(test: impl FnOnce(String) -> F) {
    let Ok(server) = std::env::var("TEST_MYSQL_URL") else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    tokio::time::timeout(TEST_BOUND, test(server))
        .await
        .expect("the test ran past its time bound");
}

/// Call `probe` every 50 ms until it gives a value `done` accepts, within `bound`; panics naming
/// `what` and the last value seen.
async fn poll<T: std::fmt::Debug, F: Future<Output = Option<T>>>(
    what: &str,
    bound: Duration,
    mut probe: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + bound;
    let mut last = None;
    loop {
        if let Some(value) = probe().await {
            if done(&value) {
                return value;
            }
            last = Some(value);
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {bound:?}; last seen {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn token(user: UserId, role: Role) -> String {
    JwtKeys::new(SECRET)
        .mint_access(
            user,
            "cluster@test.local",
            role,
            chrono::Utc::now().timestamp_millis(),
            3_600,
        )
        .unwrap()
}

fn master_token() -> String {
    token(UserId::new(), Role::Master)
}

/// One `hotdeal serve --cluster` process, its home directory (data dir, snapshots, `server.log`)
/// and a client of it.
struct Node {
    id: String,
    /// `http://127.0.0.1:PORT`, also its advertise URL.
    base: String,
    home: PathBuf,
    child: Child,
    api: Client,
}

impl Drop for Node {
    /// A failing test must not leave a node running (SIGKILL also ends a stopped process).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Start node `id` on `database_url` under `dir/id`, on a free port, with `extra` env
    /// (which overrides the defaults).
    fn spawn(dir: &Path, id: &str, database_url: &str, extra: &[(&str, String)]) -> Node {
        let home = dir.join(id);
        std::fs::create_dir_all(&home).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("server.log"))
            .unwrap();
        // HOTDEAL_TEST_BIN runs the nodes from another build (e.g. a release binary).
        let bin = std::env::var_os("HOTDEAL_TEST_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_hotdeal").into());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("HOTDEAL_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env("HOTDEAL_DATA_DIR", home.join("data"))
            .env("HOTDEAL_SNAPSHOT_DIR", home.join("snapshots"))
            .env("HOTDEAL_JWT_SECRET", SECRET)
            .env("HOTDEAL_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("HOTDEAL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("HOTDEAL_DURABILITY", "sync")
            .env("HOTDEAL_CLUSTER", "true")
            .env("HOTDEAL_NODE_ID", id)
            .env("HOTDEAL_ADVERTISE_URL", &base)
            .env("HOTDEAL_LEASE_TTL_MS", LEASE_TTL_MS.to_string())
            .env("HOTDEAL_PARTITIONS", PARTITIONS.to_string())
            .env("HOTDEAL_LOG_FORMAT", "json")
            .env("RUST_LOG", "info,sqlx=warn")
            .env_remove("REDIS_URL")
            .env_remove("HOTDEAL_DEMO")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("hotdeal starts");
        // Requests held up by a paused node must outlive the pause (a few seconds).
        let options = ClientOptions {
            timeout: Duration::from_secs(20),
            ..ClientOptions::pooled(64)
        };
        Node {
            id: id.to_string(),
            api: Client::with_options(&base, &options).expect("client"),
            base,
            home,
            child,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("server.log")).unwrap_or_default()
    }

    fn signal(&self, signal: Signal) {
        kill_process(Pid::from_child(&self.child), signal).expect("signal the node");
    }

    fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    /// Wait (at most 60 s) for `/readyz` to answer 200; panics with the log if the node exits.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.api.ready().await
                && r.status == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "node {} exited with {status}; log:\n{}",
                    self.id,
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "node {} never became ready; log:\n{}",
                self.id,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait (at most 10 s) for a node that must refuse to start: its exit status and log.
    async fn refused(&mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not exit within 10 s; log:\n{}",
                self.id,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `/metrics`: the sum of every sample of `name` (any labels), `None` when absent.
    async fn metric(&self, name: &str) -> Option<f64> {
        let res = self.api.metrics().await.ok()?;
        metric_sum(&res.text(), name)
    }
}

/// The sum of the samples of metric `name` in Prometheus text (`name 3`, `name{l="v"} 3`).
fn metric_sum(text: &str, name: &str) -> Option<f64> {
    let mut sum = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = match rest.chars().next() {
            Some(' ') => rest,
            Some('{') => rest.rsplit_once('}').map_or("", |(_, v)| v),
            _ => continue,
        };
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}

/// `data` of `GET /api/v1/admin/cluster`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterView {
    node_id: String,
    nodes: Vec<NodeView>,
    partitions: Vec<PartitionView>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeView {
    node_id: String,
    url: String,
    alive: bool,
    /// Partitions held.
    partitions: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PartitionView {
    partition: u32,
    owner: Option<String>,
    #[serde(default)]
    epoch: Option<i64>,
}

/// `data` of `GET /api/v1/admin/cluster/owner?couponInfoId=|productId=`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OwnerView {
    partition: u32,
    owner: Option<String>,
    owner_url: Option<String>,
    #[serde(default)]
    epoch: Option<i64>,
}

/// What a partition is looked up by.
#[derive(Debug, Clone, Copy)]
enum Entity {
    Campaign(Uuid),
    Product(Uuid),
}

impl ClusterView {
    /// Every partition `0..PARTITIONS` listed once and owned by one of `live`.
    fn all_owned_by(&self, live: &[&str]) -> bool {
        let mut seen = vec![false; PARTITIONS as usize];
        for p in &self.partitions {
            let Some(slot) = seen.get_mut(p.partition as usize) else {
                return false;
            };
            if *slot || !p.owner.as_deref().is_some_and(|o| live.contains(&o)) {
                return false;
            }
            *slot = true;
        }
        seen.iter().all(|s| *s)
    }

    /// Every partition owned by one of `live`, each holding its share (P / live, rounded down
    /// or up): the nodes have finished handing partitions over after starting together.
    fn balanced_over(&self, live: &[&str]) -> bool {
        let share = PARTITIONS as usize / live.len().max(1);
        self.all_owned_by(live)
            && live.iter().all(|n| {
                let held = self
                    .partitions
                    .iter()
                    .filter(|p| p.owner.as_deref() == Some(*n))
                    .count();
                held == share || held == share + 1
            })
    }
}

/// Three (or `n`) nodes on one scratch database, a direct pool on that database for checks, and
/// a MASTER token every node accepts.
struct Cluster {
    nodes: Vec<Node>,
    scratch: ScratchDatabase,
    db: Db,
    master: String,
    /// Homes of the nodes; kept until the end of the test.
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Start `n` nodes at once on a fresh database and wait until they are ready and every
    /// partition has an owner among them.
    async fn start(server: &str, n: usize) -> Cluster {
        let scratch = ScratchDatabase::create(server, "hd_cluster").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| Node::spawn(dir.path(), &format!("node{i}"), &scratch.url, &[]))
            .collect();
        for node in &mut nodes {
            node.wait_ready().await;
        }
        let db = Db::connect(&scratch.url, &DbOptions::default())
            .await
            .unwrap();
        let cluster = Cluster {
            nodes,
            scratch,
            db,
            master: master_token(),
            dir,
        };
        let ids: Vec<String> = cluster.nodes.iter().map(|n| n.id.clone()).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        // Nodes started together hand partitions over for a few lease rounds; tests start once
        // that settled, so their set-up requests meet no handover.
        poll(
            &format!("every partition owned, balanced over {ids:?}"),
            Duration::from_secs(30),
            || cluster.view(0),
            |v| v.balanced_over(&ids),
        )
        .await;
        cluster
    }

    fn index_of(&self, node_id: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == node_id)
            .unwrap_or_else(|| panic!("no node {node_id:?}"))
    }

    fn admin(&self, via: usize) -> Client {
        self.nodes[via].api.with_token(&self.master)
    }

    /// `GET /api/v1/admin/cluster` on node `via` (`None` if it does not answer 200).
    async fn view(&self, via: usize) -> Option<ClusterView> {
        let res = self.admin(via).get("/api/v1/admin/cluster").await.ok()?;
        (res.status == 200).then(|| res.data_as().expect("cluster view"))
    }

    /// `GET /api/v1/admin/cluster/owner` on node `via` (`None` if it does not answer 200).
    async fn owner(&self, via: usize, entity: Entity) -> Option<OwnerView> {
        let query = match entity {
            Entity::Campaign(id) => format!("couponInfoId={id}"),
            Entity::Product(id) => format!("productId={id}"),
        };
        let res = self
            .admin(via)
            .get(format!("/api/v1/admin/cluster/owner?{query}"))
            .await
            .ok()?;
        (res.status == 200).then(|| res.data_as().expect("owner view"))
    }

    /// Poll node `via` until `entity`'s partition is owned by a node `accept`s, within `bound`.
    async fn wait_owner(
        &self,
        via: usize,
        entity: Entity,
        bound: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> OwnerView {
        poll(
            &format!("an acceptable owner of {entity:?}"),
            bound,
            || self.owner(via, entity),
            |o| o.owner.as_deref().is_some_and(&accept),
        )
        .await
    }

    /// Poll the first of `live` until every partition is owned by one of `live`, within `bound`.
    async fn wait_all_owned(&self, live: &[usize], bound: Duration) -> ClusterView {
        let ids: Vec<&str> = live.iter().map(|&i| self.nodes[i].id.as_str()).collect();
        poll(
            &format!("every partition owned by one of {ids:?}"),
            bound,
            || self.view(live[0]),
            |v| v.all_owned_by(&ids),
        )
        .await
    }

    /// An approved company, made through node `via`.
    async fn approved_company(&self, via: usize) -> Uuid {
        let admin = self.admin(via);
        let brn = 1_000_000_000 + (Uuid::new_v4().as_u128() % 9_000_000_000) as i64;
        let company: hotdeal::client::CompanyCreated = admin
            .create_company(&hotdeal::client::NewCompany {
                business_registration_number: brn,
                company_phone_number: 212345678,
                manager_id: UserId::new().0,
                brand_name: "cluster",
                company_email: "cluster@hotdeal.local",
            })
            .data()
            .await
            .expect("company");
        admin
            .set_company_status(company.company_id, "APPROVED")
            .ok()
            .await
            .expect("approved");
        company.company_id
    }

    /// A first-come campaign of `quantity`, created and opened through node `via`.
    async fn open_campaign(&self, via: usize, quantity: i64) -> Uuid {
        self.admin(via)
            .open_campaign(&NewCampaign::first_come("cluster", quantity))
            .await
            .expect("campaign created and opened")
    }

    /// The users holding a coupon of `campaign`, as the database has them.
    async fn coupon_users(&self, campaign: Uuid) -> Vec<UserId> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT user_id FROM p_coupon WHERE coupon_info_id = ?")
                .bind(campaign.to_string())
                .fetch_all(&self.db.pool)
                .await
                .unwrap();
        rows.into_iter().map(|s| s.parse().unwrap()).collect()
    }

    /// `issued_count` of `campaign` in `p_coupon_info`.
    async fn issued_count(&self, campaign: Uuid) -> i64 {
        sqlx::query_scalar("SELECT issued_count FROM p_coupon_info WHERE coupon_info_id = ?")
            .bind(campaign.to_string())
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }

    /// Stop every node and drop the database.
    async fn finish(self) {
        let Cluster {
            nodes,
            scratch,
            db,
            dir,
            ..
        } = self;
        drop(nodes);
        db.pool.close().await;
        scratch.remove().await.unwrap();
        drop(dir);
    }
}

/// A claim's answer, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Issued,
    SoldOut,
    AlreadyIssued,
    /// 503 (no owner, fenced, busy): the claim may or may not have been decided.
    Unavailable,
    /// No answer (the node is dead or the request timed out): likewise unknown.
    NoAnswer,
}

/// `user` claims a coupon of `campaign` through `api`: the classified answer and the response.
async fn claim(api: &Client, campaign: Uuid, user: UserId) -> (Claim, Option<Response>) {
    let Ok(res) = api
        .with_token(&token(user, Role::Customer))
        .issue_coupon(campaign)
        .await
    else {
        return (Claim::NoAnswer, None);
    };
    let kind = match (res.status, res.code()) {
        (201, _) => Claim::Issued,
        (409, "CO005") => Claim::SoldOut,
        (409, "CO006") => Claim::AlreadyIssued,
        (503, code) => {
            assert!(
                code != "PARTITION_UNAVAILABLE" || res.retry_after_s().is_some(),
                "PARTITION_UNAVAILABLE without Retry-After: {}",
                res.body
            );
            Claim::Unavailable
        }
        (status, _) => panic!("unexpected answer {status} to a claim: {}", res.body),
    };
    (kind, Some(res))
}

/// The back-off after a 503: its `Retry-After`, capped so the test stays quick.
fn backoff(res: Option<&Response>) -> Duration {
    let asked = res
        .and_then(Response::retry_after_s)
        .map_or(100, |s| s * 1000);
    Duration::from_millis(asked.clamp(50, 250))
}

#[test]
fn metric_sum_reads_plain_and_labelled_samples() {
    let text = "# TYPE a counter\na 2\na_total 9\nb{p=\"1\"} 3\nb{p=\"2\"} 4.5\n";
    assert_eq!(metric_sum(text, "a"), Some(2.0));
    assert_eq!(metric_sum(text, "b"), Some(7.5));
    assert_eq!(metric_sum(text, "c"), None);
}
