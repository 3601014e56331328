//! Storage: one sqlx pool over SQLite (embedded default) or MySQL/MariaDB, chosen by the URL's
//! scheme; repositories; and the engine's journal, write-behind and snapshots.
//!
//! Queries are written once and run on both backends through sqlx's `Any` driver: ids are
//! CHAR(36) text, timestamps BIGINT milliseconds (UTC), money and counts BIGINT. The few places
//! where the SQL dialects differ go through [`Dialect`].

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe, Executor};

pub mod audit;
pub mod baskets;
pub mod catalog;
pub mod cluster;
pub mod coupons;
pub mod idempotency;
pub mod journal;
pub mod node_lock;
pub mod orders;
pub mod page;
pub mod payments;
pub mod recovery;
pub mod repo;
pub mod snapshot;
pub mod writebehind;

/// The SQL dialect behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Mysql,
}

impl Dialect {
    /// `INSERT IGNORE` (MySQL) or `INSERT OR IGNORE` (SQLite).
    pub fn insert_ignore(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INSERT OR IGNORE",
            Dialect::Mysql => "INSERT IGNORE",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Mysql => "mysql",
        }
    }
}

/// A database pool and its dialect.
#[derive(Debug, Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static MYSQL_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/mysql");

/// Pool settings.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// Keep connections for the pool's whole life (no idle timeout, no maximum lifetime): the
    /// write-behind's own connection keeps its page cache warm this way.
    pub long_lived: bool,
    /// Cluster mode (MySQL/MariaDB): bound, in seconds, how long a statement waits for a row
    /// lock, and (MariaDB) how long the server keeps a connection idle inside a transaction. A
    /// paused node that was committing holds its partitions' lease rows locked; the server drops
    /// its connection after this long, so another node can take the partitions over.
    pub lock_bound_s: Option<u64>,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            long_lived: false,
            lock_bound_s: None,
        }
    }
}

impl Db {
    /// Connect to `url` (`sqlite://...` or `mysql://...`). For SQLite the file and its folder are
    /// created when missing, and the database runs in WAL mode.
    pub async fn connect(url: &str, options: &DbOptions) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let file = path.split('?').next().unwrap_or(path);
            if !file.is_empty()
                && file != ":memory:"
                && let Some(parent) = std::path::Path::new(file).parent()
                && !parent.as_os_str().is_empty()
            {
                create_private_dir(parent)?;
            }
            let creates = !path.contains("mode=") || path.contains("mode=rwc");
            if creates && !file.is_empty() && file != ":memory:" && !file.starts_with("file:") {
                create_private_file(std::path::Path::new(file))?;
            }
            let url = if path.contains("mode=") {
                format!("sqlite://{path}")
            } else if path.contains('?') {
                format!("sqlite://{path}&mode=rwc")
            } else {
                format!("sqlite://{path}?mode=rwc")
            };
            (Dialect::Sqlite, url)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            (Dialect::Mysql, url.replacen("mariadb://", "mysql://", 1))
        } else {
            anyhow::bail!("unsupported DATABASE_URL scheme (use sqlite:// or mysql://): {url}");
        };
        let connect_options = AnyConnectOptions::from_str(&url).context("parsing DATABASE_URL")?;
        let mut pool_options = AnyPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout);
        if options.long_lived {
            pool_options = pool_options.idle_timeout(None).max_lifetime(None);
        }
        let lock_bound_s = options.lock_bound_s;
        let pool = pool_options
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    match dialect {
                        Dialect::Sqlite => {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            // NORMAL: a commit reaches the WAL without an fsync; the WAL is
                            // synced at each checkpoint. Everything written here is also in the
                            // journal, and journal retention trusts only a synced checkpoint
                            // (`EngineStore::make_durable`), so a power loss costs a replay.
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            // The write-behind rewrites the same hot pages (counters, recent
                            // index leaves) batch after batch: keep them in memory (64 MiB of
                            // cache, reads through mmap) and checkpoint less often.
                            conn.execute("PRAGMA cache_size = -65536").await?;
                            conn.execute("PRAGMA mmap_size = 268435456").await?;
                            conn.execute("PRAGMA wal_autocheckpoint = 4000").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = OFF").await?;
                        }
                        Dialect::Mysql => {
                            conn.execute("SET time_zone = '+00:00'").await?;
                            if let Some(s) = lock_bound_s {
                                conn.execute(AssertSqlSafe(format!(
                                    "SET SESSION innodb_lock_wait_timeout = {s}"
                                )))
                                .await?;
                                // MariaDB only; MySQL 8 has no such bound (docs/cluster.md).
                                let _ = conn
                                    .execute(AssertSqlSafe(format!(
                                        "SET SESSION idle_transaction_timeout = {s}"
                                    )))
                                    .await;
                            }
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(connect_options)
            .await
            .with_context(|| format!("connecting to the {} database", dialect.name()))?;
        Ok(Db { pool, dialect })
    }

    /// Apply the migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATOR,
            Dialect::Mysql => &MYSQL_MIGRATOR,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying database migrations")?;
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Whether an error chain is storage being unreachable or overloaded (the database or its pool,
/// Redis, an I/O error) rather than a fault in the request or the code: the HTTP layer answers
/// 503 with `Retry-After` for these.
pub fn is_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        if let Some(sqlx_err) = e.downcast_ref::<sqlx::Error>() {
            return matches!(
                sqlx_err,
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            );
        }
        if let Some(redis_err) = e.downcast_ref::<redis::RedisError>() {
            return redis_err.is_io_error()
                || redis_err.is_timeout()
                || redis_err.is_connection_dropped();
        }
        e.downcast_ref::<std::io::Error>().is_some()
    })
}

/// Create `dir` (and missing parents) readable by the owner only (0700 on unix). An existing
/// directory keeps its mode.
pub fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// `OpenOptions` that create files readable by the owner only (0600 on unix). Data files (the
/// database, journal segments, snapshots, the generated JWT secret) hold account data and
/// secrets, so they are never created world-readable.
pub fn private_file_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Create `path` empty with owner-only mode unless it exists. SQLite then opens the file as it
/// is, and creates its `-wal` and `-shm` files with the database file's mode.
pub fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    match private_file_options()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// `url` pointing at `database` instead, query string kept:
/// `mysql://u@h:3306/test?x` with `scratch` gives `mysql://u@h:3306/scratch?x`.
pub fn url_with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, format!("?{q}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{database}{query}")
}

/// A throwaway, empty MySQL/MariaDB database for tests and benchmarks, on the server a URL points
/// at. Call [`ScratchDatabase::remove`] when done.
#[derive(Debug, Clone)]
pub struct ScratchDatabase {
    /// The scratch database's URL.
    pub url: String,
    /// The URL it was made from (used to drop it).
    admin_url: String,
    pub name: String,
}

impl ScratchDatabase {
    /// Create `{prefix}_{random}` on the server `url` points at.
    pub async fn create(url: &str, prefix: &str) -> anyhow::Result<ScratchDatabase> {
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let admin = Db::connect(url, &DbOptions::default()).await?;
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&admin.pool)
            .await;
        admin.pool.close().await;
        created.with_context(|| format!("creating database {name}"))?;
        Ok(ScratchDatabase {
            url: url_with_database(url, &name),
            admin_url: url.to_string(),
            name,
        })
    }

    /// Drop the database. Connections still open on it (a pool not yet closed, one holding a
    /// transaction whose rollback never ran) are killed first: they would hold metadata locks the
    /// DROP waits for.
    pub async fn remove(&self) -> anyhow::Result<()> {
        let admin = Db::connect(&self.admin_url, &DbOptions::default()).await?;
        let dropped = async {
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT CAST(ID AS SIGNED) FROM information_schema.PROCESSLIST WHERE DB = ?",
            )
            .bind(&self.name)
            .fetch_all(&admin.pool)
            .await?;
            for id in ids {
                // It may have gone meanwhile.
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("KILL {id}")))
                    .execute(&admin.pool)
                    .await;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS `{}`",
                self.name
            )))
            .execute(&admin.pool)
            .await?;
            anyhow::Ok(())
        }
        .await;
        admin.pool.close().await;
        dropped.with_context(|| format!("dropping database {}", self.name))
    }
}

/// Thread ids of this process whose name starts with `prefix` (Linux; empty elsewhere).
pub fn threads_named(prefix: &str) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| {
            let t = t.ok()?;
            let tid: i32 = t.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(t.path().join("comm")).ok()?;
            name.starts_with(prefix).then_some(tid)
        })
        .collect()
}

/// Give the threads named `prefix` that are not in `before` the niceness `nice` (Linux sets
/// it per thread); returns how many were changed. Best effort: a failure is logged.
pub fn renice_new_threads(before: &[i32], prefix: &str, nice: u8) -> usize {
    let mut changed = 0;
    for tid in threads_named(prefix) {
        if before.contains(&tid) {
            continue;
        }
        let Some(pid) = rustix::process::Pid::from_raw(tid) else {
            continue;
        };
        match rustix::process::setpriority_process(Some(pid), i32::from(nice)) {
            Ok(()) => changed += 1,
            Err(err) => tracing::warn!(tid, error = %err, "could not lower a thread's priority"),
        }
    }
    changed
}

#[cfg(test)]
mod url_tests {
    use super::url_with_database;

    #[test]
    fn the_database_is_replaced_and_the_query_kept() {
        assert_eq!(
            url_with_database("mysql://root@127.0.0.1:3306/test", "s1"),
            "mysql://root@127.0.0.1:3306/s1"
        );
        assert_eq!(
            url_with_database("mysql://u:p@db:3306/test?ssl-mode=disabled", "s2"),
            "mysql://u:p@db:3306/s2?ssl-mode=disabled"
        );
        assert_eq!(url_with_database("mysql://db", "s3"), "mysql://db/s3");
    }
}
