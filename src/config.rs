//! One typed configuration for the whole service.
//!
//! Every field can be set by a flag of `hotdeal serve` (and `hotdeal snapshot restore`) or by the
//! environment variable named beside it; `hotdeal serve --help` lists them all, and a bare `hotdeal`
//! serves with the environment alone. Units are part of the names (`_ms`, `_s`, `_bytes`), and
//! every queue, batch and body has a limit here.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// When a journaled decision is acknowledged to the caller, and so what a crash can lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Answer after the record is fsynced: an acknowledged claim survives kill -9 and power loss.
    Sync,
    /// Answer at once; fsync every `async_fsync_interval_ms`: a power loss can lose that window.
    Async,
    /// No journal: a crash loses everything not yet written behind. For benchmarks only.
    None,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Sync => "sync",
            Durability::Async => "async",
            Durability::None => "none",
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for Loki and friends).
    Json,
}

/// Which payment provider backs `/api/v1/payments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaymentProviderKind {
    /// Built-in fake provider: redirects straight back to `/payment/success`.
    Fake,
    /// KakaoPay online payment API.
    Kakaopay,
}

/// The service configuration.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    #[arg(long, env = "HOTDEAL_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Database URL: `sqlite://path` (embedded, default) or `mysql://user:pass@host:port/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/hotdeal.db")]
    pub database_url: String,

    /// Maximum connections in the database pool.
    #[arg(long, env = "HOTDEAL_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Timeout for acquiring a database connection, in milliseconds (then 503).
    #[arg(long, env = "HOTDEAL_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3_000)]
    pub db_acquire_timeout_ms: u64,

    /// Directory for the journal, the generated JWT secret and uploads.
    #[arg(long, env = "HOTDEAL_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Directory where snapshots are written and looked for.
    #[arg(long, env = "HOTDEAL_SNAPSHOT_DIR", default_value = "snapshots")]
    pub snapshot_dir: PathBuf,

    /// Redis URL for refresh tokens, email codes, rate limits and idempotency shared by several
    /// nodes. Without it those live in memory.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Journal durability: `sync` (answer after fsync), `async` (fsync on an interval), `none`.
    #[arg(long, env = "HOTDEAL_DURABILITY", value_enum, default_value_t = Durability::Sync)]
    pub durability: Durability,

    /// In `async` durability, the fsync interval in milliseconds.
    #[arg(long, env = "HOTDEAL_ASYNC_FSYNC_INTERVAL_MS", default_value_t = 10)]
    pub async_fsync_interval_ms: u64,

    /// Size at which the journal rolls over to a new segment file, in bytes.
    #[arg(long, env = "HOTDEAL_JOURNAL_SEGMENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub journal_segment_bytes: u64,

    /// Number of actor threads (actix arbiters); 0 means one per core.
    #[arg(long, env = "HOTDEAL_ARBITER_THREADS", default_value_t = 0)]
    pub arbiter_threads: usize,

    /// Serve HTTP connections on the actor threads (a request and the actor it asks share a
    /// thread: no cross-thread wake per claim). `false` serves them on the tokio worker pool.
    #[arg(
        long,
        env = "HOTDEAL_HTTP_ON_ACTOR_THREADS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub http_on_actor_threads: bool,

    /// Capacity of each actor's mailbox, in messages. A full mailbox answers 503.
    #[arg(long, env = "HOTDEAL_MAILBOX_CAPACITY", default_value_t = 1024)]
    pub mailbox_capacity: usize,

    /// How long a request waits for an actor before answering 503, in milliseconds.
    #[arg(long, env = "HOTDEAL_SEND_TIMEOUT_MS", default_value_t = 2_000)]
    pub send_timeout_ms: u64,

    /// How long an order's stock stays reserved waiting for payment, in milliseconds.
    #[arg(long, env = "HOTDEAL_RESERVATION_TTL_MS", default_value_t = 600_000)]
    pub reservation_ttl_ms: u64,

    /// Interval of the ticker that expires reservations and opens/closes sales, in milliseconds.
    #[arg(long, env = "HOTDEAL_TICK_INTERVAL_MS", default_value_t = 500)]
    pub tick_interval_ms: u64,

    /// Maximum journaled events per write-behind transaction.
    #[arg(long, env = "HOTDEAL_WRITEBEHIND_BATCH_SIZE", default_value_t = 20_000)]
    pub writebehind_batch_size: usize,

    /// How long the write-behind waits to fill a batch when the database is quick, in
    /// milliseconds: the lag of a quiet system.
    #[arg(long, env = "HOTDEAL_WRITEBEHIND_INTERVAL_MS", default_value_t = 20)]
    pub writebehind_interval_ms: u64,

    /// The share of wall time (percent) the write-behind may spend applying batches during a
    /// burst. After a batch that took `t` it waits `t * (100 / p - 1)` (at least the interval, at
    /// most a second, not at all when a full batch is waiting), so batches grow with the load and
    /// each row costs less: the database catches up in fewer, larger transactions instead of
    /// taking CPU from claims. 100 applies back to back.
    #[arg(
        long,
        env = "HOTDEAL_WRITEBEHIND_DUTY_PERCENT",
        default_value_t = 20,
        value_parser = clap::value_parser!(u8).range(1..=100)
    )]
    pub writebehind_duty_percent: u8,

    /// Scheduling niceness of the write-behind's SQLite worker thread (0 = as the rest, up to
    /// 19). The write-behind is behind by design: during a burst it yields the CPU to claims and
    /// catches up afterwards. (With MySQL the work is the database server's.)
    #[arg(
        long,
        env = "HOTDEAL_WRITEBEHIND_NICE",
        default_value_t = 19,
        value_parser = clap::value_parser!(u8).range(0..=19)
    )]
    pub writebehind_nice: u8,

    /// Journaled events not yet in the database beyond which new claims get 503.
    #[arg(
        long,
        env = "HOTDEAL_MAX_UNAPPLIED_EVENTS",
        default_value_t = 1_000_000
    )]
    pub max_unapplied_events: u64,

    /// Interval between automatic snapshots, in seconds (0 disables them).
    #[arg(long, env = "HOTDEAL_SNAPSHOT_INTERVAL_S", default_value_t = 300)]
    pub snapshot_interval_s: u64,

    /// Start from this snapshot file instead of the newest one in the snapshot dir.
    #[arg(long, env = "HOTDEAL_RESTORE_FROM")]
    pub restore_from: Option<PathBuf>,

    /// Number of newest snapshots kept on disk.
    #[arg(long, env = "HOTDEAL_SNAPSHOT_KEEP", default_value_t = 5)]
    pub snapshot_keep: usize,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "HOTDEAL_REQUEST_BODY_LIMIT_BYTES", default_value_t = 256 * 1024)]
    pub request_body_limit_bytes: usize,

    /// Longest a client may take to send a request's headers, from its first byte, in
    /// milliseconds (then the connection is closed). 0 disables the limit.
    #[arg(long, env = "HOTDEAL_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub http_header_timeout_ms: u64,

    /// Longest a client may take to send a request body once the handler reads it, in
    /// milliseconds (then 408 and the connection is closed). 0 disables the limit.
    #[arg(long, env = "HOTDEAL_HTTP_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub http_body_timeout_ms: u64,

    /// Longest a connection may stay open between requests (or before its first one), in
    /// milliseconds. 0 disables the limit.
    #[arg(long, env = "HOTDEAL_HTTP_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub http_idle_timeout_ms: u64,

    /// Most HTTP connections open at once; connections beyond it are accepted and closed at once.
    #[arg(long, env = "HOTDEAL_HTTP_MAX_CONNECTIONS", default_value_t = 4_096)]
    pub http_max_connections: usize,

    /// Longest accepted request target (path and query), in bytes (then 414).
    #[arg(
        long,
        env = "HOTDEAL_HTTP_MAX_URI_BYTES",
        default_value_t = 8 * 1024
    )]
    pub http_max_uri_bytes: usize,

    /// Largest accepted total of request header names and values, in bytes (then 431).
    #[arg(
        long,
        env = "HOTDEAL_HTTP_MAX_HEADER_BYTES",
        default_value_t = 32 * 1024
    )]
    pub http_max_header_bytes: usize,

    /// Largest page size for list endpoints.
    #[arg(long, env = "HOTDEAL_MAX_PAGE_SIZE", default_value_t = 100)]
    pub max_page_size: u32,

    /// Highest (0-based) page number list endpoints accept; beyond it they answer 400.
    #[arg(long, env = "HOTDEAL_MAX_PAGE_NUMBER", default_value_t = 10_000)]
    pub max_page_number: u32,

    /// HS256 secret for JWTs. Without it a random one is created once in the data dir.
    #[arg(long, env = "HOTDEAL_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Access token lifetime, in seconds.
    #[arg(long, env = "HOTDEAL_ACCESS_TOKEN_TTL_S", default_value_t = 600)]
    pub access_token_ttl_s: u64,

    /// Refresh token lifetime, in seconds.
    #[arg(long, env = "HOTDEAL_REFRESH_TOKEN_TTL_S", default_value_t = 604_800)]
    pub refresh_token_ttl_s: u64,

    /// Password hashes and verifications (argon2id, 19 MiB each) running at once; 0 means one
    /// per core. Signup, login, password change and the admin bootstrap share this bound.
    #[arg(long, env = "HOTDEAL_PASSWORD_HASH_CONCURRENCY", default_value_t = 0)]
    pub password_hash_concurrency: usize,

    /// Password hashing attempts that may wait for a free worker; beyond them an attempt gets
    /// 503 `PASSWORD_HASHING_BUSY` with `Retry-After` at once.
    #[arg(long, env = "HOTDEAL_PASSWORD_HASH_QUEUE", default_value_t = 16)]
    pub password_hash_queue: usize,

    /// Login (and password change) attempts per account per minute, counted whether they
    /// succeed or not; email-code confirmations have a budget of the same size. 0 disables it.
    #[arg(
        long,
        env = "HOTDEAL_LOGIN_RATE_LIMIT_ACCOUNT_PER_MIN",
        default_value_t = 10
    )]
    pub login_rate_limit_account_per_min: u32,

    /// Login attempts per client IP per minute, across accounts; email-code confirmations have a
    /// budget of the same size. 0 disables it (do so behind a reverse proxy, see the README).
    #[arg(
        long,
        env = "HOTDEAL_LOGIN_RATE_LIMIT_IP_PER_MIN",
        default_value_t = 30
    )]
    pub login_rate_limit_ip_per_min: u32,

    /// With Redis, how often a node reads the revocations other nodes made, in milliseconds
    /// (the longest a revoked access token can still pass on another node).
    #[arg(long, env = "HOTDEAL_TOKEN_REVOCATION_POLL_MS", default_value_t = 250)]
    pub token_revocation_poll_ms: u64,

    /// Email of a MASTER account created at start (with `HOTDEAL_ADMIN_PASSWORD`).
    #[arg(long, env = "HOTDEAL_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of the MASTER account created at start.
    #[arg(long, env = "HOTDEAL_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "HOTDEAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Payment provider: `fake` (built in) or `kakaopay`.
    #[arg(long, env = "HOTDEAL_PAYMENT_PROVIDER", value_enum, default_value_t = PaymentProviderKind::Fake)]
    pub payment_provider: PaymentProviderKind,

    /// Public base URL of this service, used in payment redirect URLs.
    #[arg(long, env = "HOTDEAL_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// KakaoPay API base URL.
    #[arg(
        long,
        env = "KAKAOPAY_BASE_URL",
        default_value = "https://open-api.kakaopay.com/online/v1/payment"
    )]
    pub kakaopay_base_url: String,

    /// KakaoPay secret key, sent verbatim as the `Authorization` header.
    #[arg(long, env = "KAKAOPAY_SECRET_KEY", hide_env_values = true)]
    pub kakaopay_secret_key: Option<String>,

    /// KakaoPay merchant code (cid).
    #[arg(long, env = "KAKAOPAY_CID", default_value = "TC0ONETIME")]
    pub kakaopay_cid: String,

    /// Timeout of one payment provider call, in milliseconds.
    #[arg(long, env = "HOTDEAL_PAYMENT_TIMEOUT_MS", default_value_t = 5_000)]
    pub payment_timeout_ms: u64,

    /// SMTP URL for verification emails (`smtps://user:pass@host`). Without it codes are logged.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Coupon issues per user per second (token bucket refill), 0 disables the limit.
    #[arg(long, env = "HOTDEAL_RATE_LIMIT_USER_PER_S", default_value_t = 0)]
    pub rate_limit_user_per_s: u32,

    /// Coupon issues and orders per client IP per second, 0 disables the limit.
    #[arg(long, env = "HOTDEAL_RATE_LIMIT_IP_PER_S", default_value_t = 0)]
    pub rate_limit_ip_per_s: u32,

    /// Most live-stock event streams (`GET /api/v1/live`) open at once; more get 503.
    #[arg(long, env = "HOTDEAL_LIVE_MAX_STREAMS", default_value_t = 1_000)]
    pub live_max_streams: usize,

    /// How often the live-stock feed reads the watched items and campaigns, in milliseconds.
    #[arg(long, env = "HOTDEAL_LIVE_INTERVAL_MS", default_value_t = 250)]
    pub live_interval_ms: u64,

    /// Longest life of one live-stock stream, in seconds (the browser reconnects); also bounds
    /// how long a graceful shutdown waits for open streams.
    #[arg(long, env = "HOTDEAL_LIVE_STREAM_MAX_S", default_value_t = 20)]
    pub live_stream_max_s: u64,

    /// This node's id, unique among nodes sharing a database (letters, digits, `.`, `_`, `-`;
    /// at most 64). Without it one is generated at the first start and kept in the data dir
    /// (`node_id`). A node refused because another node id left the database unreleased may take
    /// that node's place by starting with its id.
    #[arg(long, env = "HOTDEAL_NODE_ID")]
    pub node_id: Option<String>,

    /// The URL other nodes and operators reach this node at; recorded with the database lock
    /// and shown to a node that is refused. Default: `http://<HOTDEAL_HTTP_ADDR>`.
    #[arg(long, env = "HOTDEAL_ADVERTISE_URL")]
    pub advertise_url: Option<String>,

    /// Lease length, in milliseconds. On MySQL the database lock is confirmed every third of it,
    /// and the server drops a silent holder's lock connection after three of it.
    #[arg(long, env = "HOTDEAL_LEASE_TTL_MS", default_value_t = 3_000)]
    pub lease_ttl_ms: u64,

    /// Cluster mode: several nodes on one MySQL/MariaDB database, each item and campaign owned
    /// by one node at a time through a fenced lease on its partition (docs/cluster.md). Needs
    /// `--node-id`, `--advertise-url` and a `mysql://` `DATABASE_URL`.
    #[arg(long, env = "HOTDEAL_CLUSTER")]
    pub cluster: bool,

    /// Number of partitions items and campaigns are hashed into (cluster mode). Stored in the
    /// database at the first start; a node started with another value refuses to start.
    #[arg(long, env = "HOTDEAL_PARTITIONS", default_value_t = 64)]
    pub partitions: u32,

    /// Seed a demo store into an empty database at start (an approved company, products, a time
    /// sale, an open coupon campaign, a shopper, a seller and, without `HOTDEAL_ADMIN_EMAIL`, a
    /// MASTER) and print where to look. A database that holds any data is left alone.
    #[arg(long, env = "HOTDEAL_DEMO")]
    pub demo: bool,
}

impl Config {
    /// The journal's directory (inside the data dir).
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// The journal settings.
    pub fn journal_options(&self) -> crate::persistence::journal::JournalOptions {
        crate::persistence::journal::JournalOptions {
            dir: self.journal_dir(),
            mode: self.durability,
            segment_bytes: self.journal_segment_bytes,
            async_fsync_interval: std::time::Duration::from_millis(self.async_fsync_interval_ms),
        }
    }

    /// The JWT secret: the configured one, or one generated once and kept in the data dir.
    pub fn load_or_create_jwt_secret(&self) -> anyhow::Result<String> {
        use anyhow::Context;
        if let Some(s) = &self.jwt_secret {
            return Ok(s.clone());
        }
        let path = self.data_dir.join("jwt_secret");
        if let Ok(s) = std::fs::read_to_string(&path) {
            let s = s.trim().to_string();
            if !s.is_empty() {
                return Ok(s);
            }
        }
        crate::persistence::create_private_dir(&self.data_dir)?;
        let bytes: [u8; 32] = rand::random();
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // Owner-only from the moment it exists (no window where another user could read it).
        let mut file = crate::persistence::private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        std::io::Write::write_all(&mut file, secret.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(secret)
    }

    /// What cluster mode needs from the rest of the configuration: a MySQL database, a node id,
    /// the URL other nodes reach this one at, durable acknowledgements and sane partitions.
    pub fn check_cluster(&self) -> anyhow::Result<()> {
        if !self.cluster {
            return Ok(());
        }
        anyhow::ensure!(
            self.database_url.starts_with("mysql://")
                || self.database_url.starts_with("mariadb://"),
            "--cluster needs a shared MySQL/MariaDB database (DATABASE_URL=mysql://...): \
             SQLite cannot be shared by several nodes"
        );
        anyhow::ensure!(
            self.node_id.is_some(),
            "--cluster needs --node-id (HOTDEAL_NODE_ID), unique among the nodes"
        );
        anyhow::ensure!(
            self.advertise_url.is_some(),
            "--cluster needs --advertise-url (HOTDEAL_ADVERTISE_URL): where the other nodes reach this one"
        );
        anyhow::ensure!(
            self.jwt_secret.as_deref().is_some_and(|s| !s.is_empty()),
            "--cluster needs HOTDEAL_JWT_SECRET, the same on every node: a token issued by one \
             node is checked by the others, and nodes sign their calls to each other with it"
        );
        anyhow::ensure!(
            self.durability == Durability::Sync,
            "--cluster acknowledges a decision once committed in the database: \
             it needs --durability sync"
        );
        anyhow::ensure!(
            (1..=4096).contains(&self.partitions),
            "--partitions must be between 1 and 4096"
        );
        Ok(())
    }

    /// The number of actor threads to start.
    pub fn effective_arbiter_threads(&self) -> usize {
        if self.arbiter_threads > 0 {
            self.arbiter_threads
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }
    }

    /// The configuration from the environment and the defaults alone (a bare `hotdeal`, without
    /// a subcommand, serves with it).
    pub fn from_env() -> Result<Config, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        // Parse an empty command line so defaults stay in one place.
        Wrapper::try_parse_from(["hotdeal"]).map(|w| w.config)
    }

    /// A configuration for tests: port 0, everything under `dir`, SQLite in `dir`.
    pub fn for_tests(dir: &std::path::Path) -> Config {
        let mut config = Config::from_env().expect("the defaults parse");
        config.http_addr = "127.0.0.1:0".parse().expect("valid addr");
        config.data_dir = dir.join("data");
        config.snapshot_dir = dir.join("snapshots");
        config.database_url = format!("sqlite://{}", dir.join("hotdeal.db").display());
        config.redis_url = None;
        config.jwt_secret = Some("test-secret-test-secret-test-secret".into());
        config.smtp_url = None;
        config.snapshot_interval_s = 0;
        config.demo = false;
        config
    }
}
