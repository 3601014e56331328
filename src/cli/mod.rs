//! The `hotdeal` command line: `serve` (the default), `migrate`, `token`, `snapshot`, `load`.
//!
//! Each subcommand takes only its own options: the server's settings ([`Config`]) belong to
//! `serve` (and `snapshot restore`, which serves), while the client commands find the server and
//! its JWT secret with [`client::ServerArgs`] from the same flags and environment variables.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::domain::ids::UserId;
use crate::http::auth::Role;
use crate::startup::{Application, shutdown_signal};

pub mod client;
pub mod demo;
pub mod load;
pub mod plot;
mod snapshot;

/// hotdeal: a hot-deal commerce engine (flash-sale coupons and time-sale orders).
///
/// Without a subcommand it serves, configured by the environment (see `hotdeal serve --help`).
#[derive(Debug, Parser)]
#[command(name = "hotdeal", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; with none, `hotdeal` serves.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default). Every option is also an environment variable.
    Serve(Box<Config>),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Print an access token signed with the server's secret (for load tests and scripts).
    Token(TokenArgs),
    /// Snapshots: create (on a running server), list, inspect, restore.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Load-test a running server: coupon issues and/or time-sale orders, with a verdict.
    Load(load::LoadArgs),
}

/// `hotdeal migrate` arguments.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Database URL: `sqlite://path` or `mysql://user:pass@host:port/db`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/hotdeal.db")]
    pub database_url: String,
}

/// `hotdeal token` arguments.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user id the token is for (default: a new random id).
    #[arg(long)]
    pub user_id: Option<uuid::Uuid>,
    /// CUSTOMER, SELLER, MANAGER or MASTER.
    #[arg(long, default_value = "CUSTOMER")]
    pub role: String,
    /// The email claim.
    #[arg(long, default_value = "loadtest@hotdeal.local")]
    pub email: String,
    /// Lifetime in seconds (default: the server's access token lifetime).
    #[arg(long)]
    pub ttl_s: Option<u64>,
    /// The server's access token lifetime, in seconds (the default of --ttl-s).
    #[arg(
        long,
        env = "HOTDEAL_ACCESS_TOKEN_TTL_S",
        default_value_t = 600,
        hide = true
    )]
    pub access_token_ttl_s: u64,
    /// How many tokens to print, one per line; with more than one, each is for a new user
    /// (load tests give every request its own user: `benches/wrk/claims.lua`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub count: u64,
    #[command(flatten)]
    pub secret: client::SecretArgs,
}

/// Where snapshots are.
#[derive(Debug, Clone, Args)]
pub struct SnapshotDirArgs {
    /// The server's snapshot dir.
    #[arg(long, env = "HOTDEAL_SNAPSHOT_DIR", default_value = "snapshots")]
    pub snapshot_dir: PathBuf,
}

/// Snapshot subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Ask a running server to write a snapshot now.
    Create(client::ServerArgs),
    /// List the snapshots in the snapshot dir, newest first.
    List(SnapshotDirArgs),
    /// Print a JSON summary of a snapshot (default: the newest).
    Inspect {
        /// The snapshot file.
        file: Option<PathBuf>,
        #[command(flatten)]
        dir: SnapshotDirArgs,
    },
    /// Serve, starting from the given snapshot instead of the newest (then the journal after
    /// it). Refuses when the database does not hold what the snapshot needs.
    Restore(Box<RestoreArgs>),
}

/// `hotdeal snapshot restore` arguments: the snapshot, and the server's own settings.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The snapshot file.
    #[arg(long)]
    pub file: PathBuf,
    /// Serve even when the database lacks the snapshot's campaigns, items or orders, or its
    /// checkpoint does not fit the snapshot and the journal (the server then reports not ready
    /// on /readyz, with the reasons).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub config: Config,
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(command) => command,
        None => Command::Serve(Box::new(Config::from_env().unwrap_or_else(|e| e.exit()))),
    };
    match command {
        Command::Serve(config) => {
            crate::telemetry::init(config.log_format);
            serve(*config).await
        }
        Command::Migrate(args) => {
            let db = crate::persistence::Db::connect(
                &args.database_url,
                &crate::persistence::DbOptions::default(),
            )
            .await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.dialect.name());
            Ok(())
        }
        Command::Token(args) => token(args),
        Command::Snapshot(SnapshotCommand::Restore(args)) => {
            let RestoreArgs {
                file,
                force,
                mut config,
            } = *args;
            crate::telemetry::init(config.log_format);
            anyhow::ensure!(file.exists(), "{} does not exist", file.display());
            snapshot::check_restore(&config, &file, force).await?;
            config.restore_from = Some(file);
            serve(config).await
        }
        Command::Snapshot(cmd) => snapshot::run(cmd).await,
        Command::Load(args) => load::run(args).await,
    }
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    let role =
        Role::parse(&args.role).context("role must be CUSTOMER, SELLER, MANAGER or MASTER")?;
    anyhow::ensure!(
        args.count == 1 || args.user_id.is_none(),
        "--count above 1 mints one token per new user; leave out --user-id"
    );
    let secret = args.secret.load()?;
    let keys = secret.keys();
    let now = chrono::Utc::now().timestamp_millis();
    let ttl_s = args.ttl_s.unwrap_or(args.access_token_ttl_s);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for _ in 0..args.count {
        let user = args.user_id.map_or_else(UserId::new, UserId);
        let token = keys.mint_access(user, &args.email, role, now, ttl_s)?;
        writeln!(out, "{token}")?;
    }
    out.flush()?;
    eprintln!(
        "hotdeal token: signed with the secret from {}",
        secret.source
    );
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let demo = config.demo;
    let app = Application::build(config).await?;
    if demo {
        demo::seed_and_print(app.state()).await?;
    }
    app.run_with_routes(demo::routes(), shutdown_signal()).await
}
