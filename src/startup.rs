//! Building and running the service: [`Application::build`] connects the database, applies
//! migrations, recovers the engine and binds the listener (port 0 picks a free port, which tests
//! use); [`Application::run_until_stopped`] serves until the shutdown future resolves.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::domain::clock::{SharedClock, SystemClock};
use crate::http::{self, AppState};
use crate::persistence::{Db, DbOptions};

/// A built, not yet serving, hotdeal.
pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
}

impl Application {
    /// Build with the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Build with an injected clock (tests move time by hand).
    pub async fn build_with_clock(
        config: Config,
        clock: SharedClock,
    ) -> anyhow::Result<Application> {
        let started = Instant::now();
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        std::fs::create_dir_all(&config.snapshot_dir)
            .with_context(|| format!("creating snapshot dir {}", config.snapshot_dir.display()))?;
        let db = connect_db(&config).await?;
        db.migrate().await?;
        tracing::info!(backend = db.dialect.name(), "database ready");

        let config = Arc::new(config);
        let state = AppState::new(config.clone(), db, clock);

        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        let port = listener.local_addr()?.port();
        state.set_ready(true);
        tracing::info!(
            addr = %listener.local_addr()?,
            startup_ms = started.elapsed().as_millis() as u64,
            durability = config.durability.as_str(),
            "hotdeal ready"
        );
        Ok(Application {
            listener,
            port,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then drain in-flight requests.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = http::router(self.state.clone());
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        self.state.set_ready(false);
        tracing::info!("hotdeal stopped");
        Ok(())
    }
}

/// Connect to the configured database.
pub async fn connect_db(config: &Config) -> anyhow::Result<Db> {
    Db::connect(
        &config.database_url,
        &DbOptions {
            max_connections: config.db_max_connections,
            acquire_timeout: Duration::from_millis(config.db_acquire_timeout_ms),
        },
    )
    .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
