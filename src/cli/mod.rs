//! The `hotdeal` command line: `serve` (the default), `migrate`, `token`, `snapshot`, `load`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::domain::ids::UserId;
use crate::http::auth::{JwtKeys, Role};
use crate::startup::{Application, connect_db, shutdown_signal};

pub mod load;
pub mod plot;
mod snapshot;

/// hotdeal: a hot-deal commerce engine (flash-sale coupons and time-sale orders).
#[derive(Debug, Parser)]
#[command(name = "hotdeal", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; with none, `hotdeal` serves.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print an access token signed with the server's secret (for load tests and scripts).
    Token {
        /// The user id the token is for (default: a new random id).
        #[arg(long)]
        user_id: Option<uuid::Uuid>,
        /// CUSTOMER, SELLER, MANAGER or MASTER.
        #[arg(long, default_value = "CUSTOMER")]
        role: String,
        /// The email claim.
        #[arg(long, default_value = "loadtest@hotdeal.local")]
        email: String,
        /// Lifetime in seconds (default: the access token lifetime).
        #[arg(long)]
        ttl_s: Option<u64>,
        /// How many tokens to print, one per line; with more than one, each is for a new user
        /// (load tests give every request its own user: `benches/wrk/claims.lua`).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        count: u64,
    },
    /// Snapshots: create (on a running server), list, inspect, restore.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Load-test a running server: coupon issues and/or time-sale orders, with a verdict.
    Load(load::LoadArgs),
}

/// Snapshot subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Ask a running server to write a snapshot now.
    Create {
        /// The server's base URL (default: http://<HOTDEAL_HTTP_ADDR>).
        #[arg(long)]
        url: Option<String>,
    },
    /// List the snapshots in the snapshot dir, newest first.
    List,
    /// Print a JSON summary of a snapshot (default: the newest).
    Inspect {
        /// The snapshot file.
        file: Option<PathBuf>,
    },
    /// Serve, starting from the given snapshot instead of the newest (then the journal after it).
    Restore {
        /// The snapshot file.
        #[arg(long)]
        file: PathBuf,
    },
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = cli.config;
    crate::telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let db = connect_db(&config).await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.dialect.name());
            Ok(())
        }
        Command::Token {
            user_id,
            role,
            email,
            ttl_s,
            count,
        } => {
            use std::io::Write;
            let role =
                Role::parse(&role).context("role must be CUSTOMER, SELLER, MANAGER or MASTER")?;
            anyhow::ensure!(
                count == 1 || user_id.is_none(),
                "--count above 1 mints one token per new user; leave out --user-id"
            );
            let keys = JwtKeys::new(&config.load_or_create_jwt_secret()?);
            let now = chrono::Utc::now().timestamp_millis();
            let ttl_s = ttl_s.unwrap_or(config.access_token_ttl_s);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            for _ in 0..count {
                let user = user_id.map(UserId).unwrap_or_default();
                let token = keys.mint_access(user, &email, role, now, ttl_s)?;
                writeln!(out, "{token}")?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Snapshot(SnapshotCommand::Restore { file }) => {
            anyhow::ensure!(file.exists(), "{} does not exist", file.display());
            config.restore_from = Some(file);
            serve(config).await
        }
        Command::Snapshot(cmd) => snapshot::run(&config, cmd).await,
        Command::Load(args) => load::run(args, &config).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown_signal()).await
}
