//! The `hotdeal` command line: `serve` (the default), `migrate`, and the operator tools.

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::{Application, connect_db, shutdown_signal};

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
}

/// Run the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::telemetry::init(cli.config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(cli.config).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate => {
            let db = connect_db(&cli.config).await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.dialect.name());
            Ok(())
        }
    }
}
