//! One node per database unless `--cluster`: [`acquire`] makes this node the only one serving
//! its database, before migrations or recovery touch anything, and refuses to start otherwise.
//!
//! Two nodes deciding over one database each believe they own every item: both sell the last
//! unit. So a node holds three things for its lifetime:
//! - an OS file lock on `<data dir>/node.lock`: one process per data dir (the journal and the
//!   node id live there);
//! - an exclusive lock on the database, which the operating system or the database server drops
//!   by itself when the process dies, so a restart after `kill -9` never waits for a lease to lapse:
//!   on SQLite an OS file lock on `<database file>.lock` (released by the kernel); on MySQL/MariaDB
//!   `GET_LOCK` on a dedicated connection (released by the server when that connection ends; its
//!   idle timeout is set to three lease lengths, so the lock of a machine that vanished without
//!   closing its connection lapses too);
//! - the lease row `hd_lease` named [`DATABASE_LEASE`]: who holds the database (node id, host, pid,
//!   advertise URL, since when; shown to a node that is refused), its epoch (incremented by every
//!   acquisition), and whether the holder released it cleanly.
//!
//! A node whose database lock is free takes the lease when there is none, when it was released
//! (a clean stop, everything decided already in the database), or when it is this node's own
//! (the same node id: a restart after a crash, whose journal is in this data dir). A lease left
//! unreleased by another node id is not taken: that node's journal may hold acknowledged
//! decisions the database has not seen, or that node may still be running, cut off from the
//! database. The operator restarts that node, or takes its place with `--node-id`.
//!
//! While running on MySQL, a keeper task confirms the lease on the lock connection every third
//! of `--lease-ttl-ms`. When the connection is lost, the node logs it, fails `/readyz` and
//! reconnects; claims go on meanwhile, from the journal, like through any database outage: no
//! other node can take a lease that was not released. If the lease's epoch has moved on (another
//! node took this node's place), the node has lost its database for good: the engine refuses
//! claims with 503 `NODE_LOCK_LOST` from then on.
//!
//! The lease row has the columns cluster mode needs (`owner`, `epoch`, `expires_at`), one row per
//! partition there.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row};
use tokio::sync::oneshot;

use super::{Db, Dialect};
use crate::config::Config;

/// The name of the lease row of the single-node lock.
pub const DATABASE_LEASE: &str = "database";

/// The shortest accepted `--lease-ttl-ms`.
pub const MIN_LEASE_TTL_MS: u64 = 300;

/// The longest accepted node id, in bytes.
pub const MAX_NODE_ID_LEN: usize = 64;

const HELD: u8 = 0;
const UNCONFIRMED: u8 = 1;
const LOST: u8 = 2;

/// This node's hold on its database as the engine and readiness see it. Cheap to clone; every
/// clone sees the same state.
#[derive(Debug, Clone)]
pub struct LockStatus(Arc<AtomicU8>);

impl LockStatus {
    /// A hold that is confirmed.
    pub fn held() -> LockStatus {
        LockStatus(Arc::new(AtomicU8::new(HELD)))
    }

    /// The lock is held and was confirmed last time it was checked.
    pub fn is_held(&self) -> bool {
        self.0.load(Ordering::Acquire) == HELD
    }

    /// Another node took the database over: this node must not decide anything any more.
    pub fn is_lost(&self) -> bool {
        self.0.load(Ordering::Acquire) == LOST
    }

    fn set(&self, state: u8) {
        // Lost is final.
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                (now != LOST).then_some(state)
            });
        metrics::gauge!("hotdeal_node_lock_held").set(if self.is_held() { 1.0 } else { 0.0 });
    }
}

/// A lease row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub owner: String,
    pub epoch: i64,
    pub host: String,
    pub pid: i64,
    pub advertise_url: String,
    pub acquired_at: i64,
    pub renewed_at: i64,
    pub expires_at: Option<i64>,
    pub released_at: Option<i64>,
    pub connection_id: Option<i64>,
}

impl Holder {
    /// `node "n1" (host h, pid 42, http://h:8080), holding it since 2026-01-01T00:00:00Z`.
    fn describe(&self) -> String {
        let mut s = format!(
            "node \"{}\" (host {}, pid {}, {}), holding it since {}",
            self.owner,
            self.host,
            self.pid,
            self.advertise_url,
            rfc3339(self.acquired_at)
        );
        if self.renewed_at != self.acquired_at {
            s.push_str(&format!(", last confirmed {}", rfc3339(self.renewed_at)));
        }
        s
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Why a node may not start on its database.
#[derive(Debug, thiserror::Error)]
pub enum NodeLockError {
    /// Another live process uses the same data dir.
    #[error(
        "the data dir {} is in use by another hotdeal process ({holder}); each node needs a data \
         dir of its own",
        dir.display()
    )]
    DataDirInUse { dir: PathBuf, holder: String },
    /// Another live node holds the database lock.
    #[error(
        "{database} is in use by another hotdeal node: {}. Only one node may serve a database: \
         stop that node first, or run several nodes on one MySQL database in cluster mode \
         (--cluster). This node exits without having changed anything",
        holder.as_ref().map(Holder::describe).unwrap_or_else(|| "one that has not recorded itself yet".into())
    )]
    InUse {
        database: String,
        holder: Option<Holder>,
    },
    /// The lease was left unreleased by another node id.
    #[error(
        "{database} was left held by {}, which did not release it: {}stopped without a clean \
         shutdown (a crash, kill -9), and its journal, in its data dir, may hold acknowledged \
         decisions the database does not have yet. Restart that node with its data dir; if it \
         and its data dir are gone for good, start this node with --node-id {} to take its place \
         (what only that journal held is then lost). Several nodes on one database need cluster \
         mode (--cluster)",
        holder.describe(),
        if *may_still_run { "either it still runs but has lost its database connection, or it " } else { "it " },
        holder.owner
    )]
    NotReleased {
        database: String,
        holder: Holder,
        /// Whether the holder may be alive (MySQL: its lock connection may just be cut; SQLite:
        /// a free file lock means its process is gone).
        may_still_run: bool,
    },
}

/// Who this node is, as recorded in the lease row.
#[derive(Debug, Clone)]
struct Identity {
    node_id: String,
    host: String,
    pid: i64,
    advertise_url: String,
}

/// This node's hold on its data dir and its database; see the module doc. Dropping it lets the
/// locks go without marking the lease released (as a crash would); [`NodeLock::release`] is the
/// clean stop.
pub struct NodeLock {
    node_id: String,
    epoch: i64,
    status: LockStatus,
    db: Db,
    keeper: Option<Keeper>,
    /// Whether this node holds [`DATABASE_LEASE`] (not in cluster mode, where partitions have
    /// leases of their own).
    database_lease: bool,
    _database_file_lock: Option<File>,
    _data_dir_lock: File,
}

struct Keeper {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Option<AnyConnection>>,
}

impl std::fmt::Debug for NodeLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeLock")
            .field("node_id", &self.node_id)
            .field("epoch", &self.epoch)
            .field("status", &self.status)
            .finish()
    }
}

impl NodeLock {
    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The epoch of this node's lease (incremented by every acquisition).
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// The hold as the engine and readiness see it.
    pub fn status(&self) -> LockStatus {
        self.status.clone()
    }

    /// Give the database up at a clean stop. With `caught_up` (the write-behind has applied
    /// everything journaled), the lease is marked released and any node may take the database
    /// next; otherwise it stays this node's, since its journal holds what the database lacks.
    pub async fn release(mut self, caught_up: bool) {
        let connection = match self.keeper.take() {
            Some(keeper) => {
                let _ = keeper.stop.send(());
                keeper.task.await.ok().flatten()
            }
            None => None,
        };
        if !self.database_lease {
            // cluster mode: the partition leases are released by the cluster keeper
        } else if self.status.is_lost() {
            tracing::error!(
                node_id = %self.node_id,
                "stopping without the database lease: another node took it over"
            );
        } else if caught_up {
            let now = now_ms();
            let released = tokio::time::timeout(
                Duration::from_secs(5),
                sqlx::query(
                    "UPDATE hd_lease SET released_at = ?, expires_at = ? \
                     WHERE name = ? AND owner = ? AND epoch = ?",
                )
                .bind(now)
                .bind(now)
                .bind(DATABASE_LEASE)
                .bind(&self.node_id)
                .bind(self.epoch)
                .execute(&self.db.pool),
            )
            .await;
            match released {
                Ok(Ok(r)) if r.rows_affected() == 1 => {
                    tracing::info!(node_id = %self.node_id, epoch = self.epoch, "database lease released")
                }
                Ok(Ok(_)) => tracing::error!(
                    node_id = %self.node_id,
                    "the database lease was no longer this node's at stop"
                ),
                Ok(Err(err)) => tracing::warn!(
                    error = %err,
                    "could not mark the database lease released; only this node id may take it next"
                ),
                Err(_) => tracing::warn!(
                    "marking the database lease released timed out; only this node id may take it next"
                ),
            }
        } else {
            tracing::warn!(
                node_id = %self.node_id,
                "keeping the database lease: some journaled events are not in the database yet; \
                 restart this node with its data dir to write them"
            );
        }
        if let Some(connection) = connection {
            // Ends the connection, and so its GET_LOCK.
            let _ = sqlx::Connection::close(connection).await;
        }
    }
}

impl Drop for NodeLock {
    fn drop(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            // Dropping the task's connection ends it, and the server drops its GET_LOCK.
            keeper.task.abort();
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The MySQL side of the lock: the connection holding `GET_LOCK`, for the process lifetime.
struct MysqlLock {
    connection: AnyConnection,
    lock_name: String,
    connection_id: i64,
}

/// Take this node's locks on its data dir and its database, apply the migrations under them,
/// and record this node as the holder of [`DATABASE_LEASE`]. Fails with a [`NodeLockError`]
/// (naming the holder) when another node has the database.
pub async fn acquire(config: &Config, db: &Db) -> anyhow::Result<NodeLock> {
    anyhow::ensure!(
        config.lease_ttl_ms >= MIN_LEASE_TTL_MS,
        "--lease-ttl-ms must be at least {MIN_LEASE_TTL_MS}"
    );
    let data_dir_lock = lock_data_dir(&config.data_dir)?;
    let me = Identity {
        node_id: load_or_create_node_id(config)?,
        host: host_name(),
        pid: i64::from(std::process::id()),
        advertise_url: config
            .advertise_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.http_addr)),
    };
    let ttl = Duration::from_millis(config.lease_ttl_ms);
    let (database, file_lock, mysql) = match db.dialect {
        Dialect::Sqlite => {
            let (database, file) = lock_sqlite(db).await?;
            (database, file, None)
        }
        Dialect::Mysql => {
            let (database, lock) = lock_mysql(db, &me, ttl).await?;
            (database, None, Some(lock))
        }
    };
    db.migrate().await?;
    if mysql.is_some() {
        refuse_if_cluster_alive(db, &database, ttl).await?;
    }
    // A lease held by a file lock lapses with its process: no expiry to renew.
    let expires_at = mysql.as_ref().map(|_| now_ms() + ttl.as_millis() as i64);
    let connection_id = mysql.as_ref().map(|m| m.connection_id);
    let (previous, epoch) = take_lease(db, &me, &database, expires_at, connection_id).await?;
    let status = LockStatus::held();
    // Publishes the gauge.
    status.set(HELD);
    tracing::info!(
        node_id = %me.node_id,
        epoch,
        previous_owner = previous.as_ref().map(|p| p.owner.as_str()).unwrap_or("none"),
        previous_released = previous.as_ref().is_none_or(|p| p.released_at.is_some()),
        "database lock taken"
    );
    let keeper = mysql.map(|lock| {
        let (stop, stopped) = oneshot::channel();
        let renewal = Renewal {
            db: db.clone(),
            connection: Some(lock.connection),
            lock_name: lock.lock_name,
            node_id: me.node_id.clone(),
            epoch,
            status: status.clone(),
            ttl,
        };
        Keeper {
            stop,
            task: tokio::spawn(renewal.run(stopped)),
        }
    });
    Ok(NodeLock {
        node_id: me.node_id,
        epoch,
        status,
        db: db.clone(),
        keeper,
        database_lease: true,
        _database_file_lock: file_lock,
        _data_dir_lock: data_dir_lock,
    })
}

/// Cluster mode's share of [`acquire`]: this node's data dir, the migrations (applied by one node
/// at a time), and a refusal when a node without `--cluster` serves the database or left it
/// unreleased (its journal may hold what the database lacks). The partitions are leased by
/// `crate::cluster`.
pub async fn acquire_for_cluster(config: &Config, db: &Db) -> anyhow::Result<NodeLock> {
    anyhow::ensure!(
        config.lease_ttl_ms >= MIN_LEASE_TTL_MS,
        "--lease-ttl-ms must be at least {MIN_LEASE_TTL_MS}"
    );
    anyhow::ensure!(
        db.dialect == Dialect::Mysql,
        "--cluster needs a MySQL/MariaDB database"
    );
    let data_dir_lock = lock_data_dir(&config.data_dir)?;
    let node_id = load_or_create_node_id(config)?;
    let ttl = Duration::from_millis(config.lease_ttl_ms);
    let mut connection = lock_connection(db, ttl).await?;
    let (name, database) = database_name(&mut connection).await?;
    let migrate_lock = format!("{}.migrate", mysql_lock_name(&name));
    anyhow::ensure!(
        get_lock(&mut connection, &migrate_lock, 60).await?,
        "another node kept the migration lock of {database} for a minute"
    );
    let single = mysql_lock_name(&name);
    let single_free = get_lock(&mut connection, &single, 0).await?;
    let checked = async {
        if !single_free {
            let holder = read_holder(&db.pool).await.ok().flatten();
            return Err(NodeLockError::InUse {
                database: database.clone(),
                holder,
            }
            .into());
        }
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(&single)
            .execute(&mut connection)
            .await?;
        db.migrate().await?;
        if let Some(holder) = read_holder(&db.pool).await?
            && holder.released_at.is_none()
        {
            return Err(NodeLockError::NotReleased {
                database: database.clone(),
                holder,
                may_still_run: true,
            }
            .into());
        }
        anyhow::Ok(())
    }
    .await;
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(&migrate_lock)
        .execute(&mut connection)
        .await;
    let _ = sqlx::Connection::close(connection).await;
    checked?;
    Ok(NodeLock {
        node_id,
        epoch: 0,
        status: LockStatus::held(),
        db: db.clone(),
        keeper: None,
        database_lease: false,
        _database_file_lock: None,
        _data_dir_lock: data_dir_lock,
    })
}

/// Refuse to serve a MySQL database alone while cluster nodes are alive on it (their heartbeat
/// in `hd_node` is recent).
async fn refuse_if_cluster_alive(db: &Db, database: &str, ttl: Duration) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT node_id, advertise_url FROM hd_node \
         WHERE heartbeat_at > CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) - ?",
    )
    .bind(3 * ttl.as_millis() as i64)
    .fetch_all(&db.pool)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let nodes: Vec<String> = rows
        .iter()
        .map(|r| {
            let id: String = r.try_get("node_id").unwrap_or_default();
            let url: String = r.try_get("advertise_url").unwrap_or_default();
            format!("\"{id}\" at {url}")
        })
        .collect();
    anyhow::bail!(
        "{database} is served by hotdeal nodes in cluster mode ({}); start this node with \
         --cluster to join them, or stop them first",
        nodes.join(", ")
    )
}

fn host_name() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Lock `<data dir>/node.lock` and write who holds it into it (for the next process's message).
fn lock_data_dir(dir: &Path) -> anyhow::Result<File> {
    super::create_private_dir(dir)?;
    let path = dir.join("node.lock");
    let mut file = super::private_file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(NodeLockError::DataDirInUse {
                dir: dir.to_path_buf(),
                holder: if holder.is_empty() {
                    "unknown".into()
                } else {
                    holder.to_string()
                },
            }
            .into());
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
    }
    let line = format!(
        "pid {} on host {} since {}\n",
        std::process::id(),
        host_name(),
        rfc3339(now_ms())
    );
    file.set_len(0)
        .and_then(|()| file.seek(SeekFrom::Start(0)))
        .and_then(|_| file.write_all(line.as_bytes()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(file)
}

/// Whether `id` is a valid node id: 1 to [`MAX_NODE_ID_LEN`] bytes of ASCII letters, digits,
/// `.`, `_` and `-` (it goes into logs, the lease row and an HTTP header in cluster mode).
pub fn is_valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_NODE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// This node's id: `--node-id`, or the one kept in `<data dir>/node_id` (generated there, 0600,
/// at the first start: `<host>-<8 hex digits>`).
pub fn load_or_create_node_id(config: &Config) -> anyhow::Result<String> {
    if let Some(id) = &config.node_id {
        anyhow::ensure!(
            is_valid_node_id(id),
            "--node-id must be 1 to {MAX_NODE_ID_LEN} letters, digits, '.', '_' or '-': {id:?}"
        );
        return Ok(id.clone());
    }
    let path = config.data_dir.join("node_id");
    match std::fs::read_to_string(&path) {
        Ok(id) => {
            let id = id.trim().to_string();
            anyhow::ensure!(
                is_valid_node_id(&id),
                "{} does not hold a valid node id ({id:?}); fix or remove it",
                path.display()
            );
            return Ok(id);
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    }
    let host: String = host_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_NODE_ID_LEN - 9)
        .collect();
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let id = if host.is_empty() {
        format!("node-{}", &suffix[..8])
    } else {
        format!("{host}-{}", &suffix[..8])
    };
    let mut file = super::private_file_options()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(format!("{id}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}

/// Lock `<database file>.lock`. An in-memory database is private to this process: no lock.
async fn lock_sqlite(db: &Db) -> anyhow::Result<(String, Option<File>)> {
    let rows = sqlx::query("PRAGMA database_list")
        .fetch_all(&db.pool)
        .await
        .context("reading the SQLite file name")?;
    let mut file = String::new();
    for row in rows {
        let name: String = row.try_get("name")?;
        if name == "main" {
            file = row.try_get("file")?;
        }
    }
    if file.is_empty() {
        return Ok(("the in-memory SQLite database".into(), None));
    }
    let database = format!("the SQLite database {file}");
    let path = PathBuf::from(format!("{file}.lock"));
    let lock = super::private_file_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok((database, Some(lock))),
        Err(std::fs::TryLockError::WouldBlock) => {
            // The holder applied the migrations before recording itself; a holder this early
            // has not recorded itself yet.
            let holder = read_holder(&db.pool).await.ok().flatten();
            Err(NodeLockError::InUse { database, holder }.into())
        }
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// The `GET_LOCK` name of `database`: locks are per server, so the name carries the database's
/// (hashed when it would not fit MySQL's 64 characters).
fn mysql_lock_name(database: &str) -> String {
    let name = format!("hotdeal.{database}");
    if name.len() <= 64 {
        name
    } else {
        let hash = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, database.as_bytes());
        format!("hotdeal.{}", hash.simple())
    }
}

/// How long the server keeps the lock connection while it says nothing, in seconds: three lease
/// lengths (it is confirmed every third of one), at least 2.
fn lock_connection_idle_timeout_s(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64 * 3).div_ceil(1000).max(2)
}

/// A dedicated connection (out of the pool) with the lock connection's idle timeout.
async fn lock_connection(db: &Db, ttl: Duration) -> anyhow::Result<AnyConnection> {
    let mut connection = db.pool.acquire().await?.detach();
    sqlx::query(AssertSqlSafe(format!(
        "SET SESSION wait_timeout = {}",
        lock_connection_idle_timeout_s(ttl)
    )))
    .execute(&mut connection)
    .await
    .context("setting the lock connection's idle timeout")?;
    Ok(connection)
}

async fn get_lock(connection: &mut AnyConnection, name: &str, wait_s: u64) -> anyhow::Result<bool> {
    let got: Option<i64> = sqlx::query_scalar("SELECT CAST(GET_LOCK(?, ?) AS SIGNED)")
        .bind(name)
        .bind(wait_s as i64)
        .fetch_one(connection)
        .await
        .context("GET_LOCK")?;
    Ok(got == Some(1))
}

/// The connection's database and how messages name it.
async fn database_name(connection: &mut AnyConnection) -> anyhow::Result<(String, String)> {
    let name: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(connection)
        .await?;
    let name = name.context("DATABASE_URL names no database")?;
    let database = format!("the MySQL database `{name}`");
    Ok((name, database))
}

/// `GET_LOCK` on a dedicated connection. When it is taken by this node's own id (its previous
/// process, whose connection the server has not dropped yet), wait for the server to drop it.
async fn lock_mysql(db: &Db, me: &Identity, ttl: Duration) -> anyhow::Result<(String, MysqlLock)> {
    let mut connection = lock_connection(db, ttl).await?;
    let (name, database) = database_name(&mut connection).await?;
    let lock_name = mysql_lock_name(&name);
    let mut got = get_lock(&mut connection, &lock_name, 0).await?;
    if !got {
        let holder = read_holder(&db.pool).await.ok().flatten();
        match holder {
            Some(h) if h.owner == me.node_id => {
                let wait_s = lock_connection_idle_timeout_s(ttl) + 2;
                tracing::info!(
                    node_id = %me.node_id,
                    wait_s,
                    "the database lock is still held by this node id's previous connection; \
                     waiting for the server to drop it"
                );
                got = get_lock(&mut connection, &lock_name, wait_s).await?;
                if !got {
                    return Err(NodeLockError::InUse {
                        database,
                        holder: Some(h),
                    }
                    .into());
                }
            }
            holder => return Err(NodeLockError::InUse { database, holder }.into()),
        }
    }
    let connection_id: i64 = sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
        .fetch_one(&mut connection)
        .await?;
    Ok((
        database,
        MysqlLock {
            connection,
            lock_name,
            connection_id,
        },
    ))
}

const HOLDER_COLUMNS: &str = "owner, epoch, host, pid, advertise_url, acquired_at, renewed_at, \
                              expires_at, released_at, connection_id";

/// The lease row of the single-node lock, if any.
pub async fn read_holder<'c, E>(executor: E) -> anyhow::Result<Option<Holder>>
where
    E: sqlx::Executor<'c, Database = Any>,
{
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {HOLDER_COLUMNS} FROM hd_lease WHERE name = ?"
    )))
    .bind(DATABASE_LEASE)
    .fetch_optional(executor)
    .await?;
    row.map(|r| {
        Ok(Holder {
            owner: r.try_get("owner")?,
            epoch: r.try_get("epoch")?,
            host: r.try_get("host")?,
            pid: r.try_get("pid")?,
            advertise_url: r.try_get("advertise_url")?,
            acquired_at: r.try_get("acquired_at")?,
            renewed_at: r.try_get("renewed_at")?,
            expires_at: r.try_get("expires_at")?,
            released_at: r.try_get("released_at")?,
            connection_id: r.try_get("connection_id")?,
        })
    })
    .transpose()
}

/// Record this node as the holder (the database lock is held, so no other node writes the row
/// meanwhile). Returns the previous holder and the new epoch.
async fn take_lease(
    db: &Db,
    me: &Identity,
    database: &str,
    expires_at: Option<i64>,
    connection_id: Option<i64>,
) -> anyhow::Result<(Option<Holder>, i64)> {
    let previous = read_holder(&db.pool)
        .await
        .context("reading the database lease")?;
    let now = now_ms();
    let epoch = match &previous {
        None => {
            sqlx::query(
                "INSERT INTO hd_lease (name, owner, epoch, expires_at, released_at, host, pid, \
                 advertise_url, acquired_at, renewed_at, connection_id) \
                 VALUES (?, ?, 1, ?, NULL, ?, ?, ?, ?, ?, ?)",
            )
            .bind(DATABASE_LEASE)
            .bind(&me.node_id)
            .bind(expires_at)
            .bind(&me.host)
            .bind(me.pid)
            .bind(&me.advertise_url)
            .bind(now)
            .bind(now)
            .bind(connection_id)
            .execute(&db.pool)
            .await
            .context("recording the database lease")?;
            1
        }
        Some(p) if p.owner == me.node_id || p.released_at.is_some() => {
            let updated = sqlx::query(
                "UPDATE hd_lease SET owner = ?, epoch = ?, expires_at = ?, released_at = NULL, \
                 host = ?, pid = ?, advertise_url = ?, acquired_at = ?, renewed_at = ?, \
                 connection_id = ? WHERE name = ? AND epoch = ?",
            )
            .bind(&me.node_id)
            .bind(p.epoch + 1)
            .bind(expires_at)
            .bind(&me.host)
            .bind(me.pid)
            .bind(&me.advertise_url)
            .bind(now)
            .bind(now)
            .bind(connection_id)
            .bind(DATABASE_LEASE)
            .bind(p.epoch)
            .execute(&db.pool)
            .await
            .context("recording the database lease")?;
            anyhow::ensure!(
                updated.rows_affected() == 1,
                "the database lease changed while this node took it"
            );
            p.epoch + 1
        }
        Some(p) => {
            return Err(NodeLockError::NotReleased {
                database: database.to_string(),
                holder: p.clone(),
                may_still_run: db.dialect == Dialect::Mysql,
            }
            .into());
        }
    };
    Ok((previous, epoch))
}

/// The keeper of a MySQL lease: confirms it on the lock connection every third of a lease,
/// reconnects and takes `GET_LOCK` again when the connection is lost, and marks the hold lost
/// when the lease's epoch has moved on.
struct Renewal {
    db: Db,
    connection: Option<AnyConnection>,
    lock_name: String,
    node_id: String,
    epoch: i64,
    status: LockStatus,
    ttl: Duration,
}

/// What one confirmation found.
#[derive(Debug)]
enum Confirmed {
    Held,
    /// The lease belongs to another epoch: another node took this node's place.
    Superseded(Option<Holder>),
    /// The lock connection is gone or the lock is busy; this node tries again.
    Unconfirmed(String),
}

impl Renewal {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) -> Option<AnyConnection> {
        let every = self.ttl / 3;
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut unconfirmed_since: Option<Instant> = None;
        let mut last_warned = Instant::now();
        loop {
            tokio::select! {
                _ = &mut stop => return self.connection.take(),
                _ = ticks.tick() => {}
            }
            let confirmed = match tokio::time::timeout(every, self.confirm()).await {
                Ok(c) => c,
                Err(_) => {
                    // A query cut off midway leaves its connection unusable.
                    self.connection = None;
                    Confirmed::Unconfirmed(format!("no answer within {} ms", every.as_millis()))
                }
            };
            match confirmed {
                Confirmed::Held => {
                    if let Some(since) = unconfirmed_since.take() {
                        metrics::counter!("hotdeal_node_lock_reacquired_total").increment(1);
                        tracing::warn!(
                            node_id = %self.node_id,
                            epoch = self.epoch,
                            unconfirmed_ms = since.elapsed().as_millis() as u64,
                            "the database lock is held again"
                        );
                    }
                    self.status.set(HELD);
                }
                Confirmed::Unconfirmed(why) => {
                    self.status.set(UNCONFIRMED);
                    if unconfirmed_since.is_none() {
                        unconfirmed_since = Some(Instant::now());
                        last_warned = Instant::now();
                        tracing::error!(
                            node_id = %self.node_id,
                            reason = %why,
                            "lost the database lock connection; claims go on from the journal \
                             (no other node may take an unreleased lease), /readyz fails until \
                             the lock is confirmed again"
                        );
                    } else if last_warned.elapsed() >= Duration::from_secs(10) {
                        last_warned = Instant::now();
                        tracing::error!(
                            node_id = %self.node_id,
                            reason = %why,
                            unconfirmed_ms = unconfirmed_since.map(|s| s.elapsed().as_millis() as u64),
                            "the database lock is still not confirmed"
                        );
                    }
                }
                Confirmed::Superseded(holder) => {
                    self.status.set(LOST);
                    metrics::counter!("hotdeal_node_lock_lost_total").increment(1);
                    tracing::error!(
                        node_id = %self.node_id,
                        epoch = self.epoch,
                        holder = holder.as_ref().map(Holder::describe).unwrap_or_else(|| "nobody".into()),
                        "another node has taken this database over: this node refuses every \
                         claim from now on; stop it"
                    );
                    // Dropping the connection gives GET_LOCK up to the new holder.
                    return None;
                }
            }
        }
    }

    async fn confirm(&mut self) -> Confirmed {
        if self.connection.is_none() {
            match self.reconnect().await {
                Ok(None) => {}
                Ok(Some(outcome)) => return outcome,
                Err(err) => return Confirmed::Unconfirmed(format!("{err:#}")),
            }
        }
        let Some(connection) = self.connection.as_mut() else {
            return Confirmed::Unconfirmed("no connection".into());
        };
        let now = now_ms();
        let renewed = sqlx::query(
            "UPDATE hd_lease SET renewed_at = ?, expires_at = ?, \
             connection_id = CAST(CONNECTION_ID() AS SIGNED) \
             WHERE name = ? AND owner = ? AND epoch = ?",
        )
        .bind(now)
        .bind(now + self.ttl.as_millis() as i64)
        .bind(DATABASE_LEASE)
        .bind(&self.node_id)
        .bind(self.epoch)
        .execute(&mut *connection)
        .await;
        match renewed {
            Ok(r) if r.rows_affected() == 1 => Confirmed::Held,
            Ok(_) => Confirmed::Superseded(read_holder(&mut *connection).await.ok().flatten()),
            Err(err) => {
                self.connection = None;
                Confirmed::Unconfirmed(format!("{err:#}"))
            }
        }
    }

    /// A new lock connection and `GET_LOCK` on it. `Some` when this attempt decided the outcome.
    async fn reconnect(&mut self) -> anyhow::Result<Option<Confirmed>> {
        let mut connection = lock_connection(&self.db, self.ttl).await?;
        if get_lock(&mut connection, &self.lock_name, 0).await? {
            self.connection = Some(connection);
            return Ok(None);
        }
        // Someone else holds GET_LOCK: a node that took this node's place (the epoch moved on),
        // or one that is starting and will refuse (it finds the lease unreleased).
        let holder = read_holder(&mut connection).await?;
        match holder {
            Some(h) if h.owner == self.node_id && h.epoch == self.epoch => Ok(Some(
                Confirmed::Unconfirmed("the database lock is held by another connection".into()),
            )),
            other => Ok(Some(Confirmed::Superseded(other))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_fit_mysql_and_differ_per_database() {
        assert_eq!(mysql_lock_name("shop"), "hotdeal.shop");
        let long = "d".repeat(64);
        let a = mysql_lock_name(&long);
        let b = mysql_lock_name(&format!("{}e", "d".repeat(63)));
        assert!(a.len() <= 64, "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn node_ids_are_checked() {
        assert!(is_valid_node_id("node-1.eu_west"));
        assert!(!is_valid_node_id(""));
        assert!(!is_valid_node_id("a b"));
        assert!(!is_valid_node_id("ünïcode"));
        assert!(!is_valid_node_id(&"x".repeat(MAX_NODE_ID_LEN + 1)));
    }

    #[test]
    fn the_idle_timeout_covers_three_lease_lengths() {
        assert_eq!(
            lock_connection_idle_timeout_s(Duration::from_millis(3_000)),
            9
        );
        assert_eq!(
            lock_connection_idle_timeout_s(Duration::from_millis(300)),
            2
        );
        assert_eq!(
            lock_connection_idle_timeout_s(Duration::from_millis(1_001)),
            4
        );
    }

    #[test]
    fn a_lost_hold_stays_lost() {
        let status = LockStatus::held();
        status.set(UNCONFIRMED);
        assert!(!status.is_held() && !status.is_lost());
        status.set(LOST);
        status.set(HELD);
        assert!(status.is_lost());
    }

    #[test]
    fn the_refusal_names_the_holder_and_cluster_mode() {
        let holder = Holder {
            owner: "n1".into(),
            epoch: 3,
            host: "box".into(),
            pid: 42,
            advertise_url: "http://box:8080".into(),
            acquired_at: 0,
            renewed_at: 0,
            expires_at: None,
            released_at: None,
            connection_id: None,
        };
        let in_use = NodeLockError::InUse {
            database: "the SQLite database /x.db".into(),
            holder: Some(holder.clone()),
        }
        .to_string();
        for part in [
            "\"n1\"",
            "host box",
            "pid 42",
            "http://box:8080",
            "1970-01-01T00:00:00Z",
            "--cluster",
        ] {
            assert!(in_use.contains(part), "{part} missing from: {in_use}");
        }
        let unreleased = NodeLockError::NotReleased {
            database: "the SQLite database /x.db".into(),
            holder,
            may_still_run: false,
        }
        .to_string();
        assert!(unreleased.contains("--node-id n1"), "{unreleased}");
        assert!(unreleased.contains("--cluster"), "{unreleased}");
    }
}
