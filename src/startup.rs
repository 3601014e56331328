//! Building and running the service: [`Application::build`] connects the database, applies
//! migrations, recovers the engine and binds the listener (port 0 picks a free port, which tests
//! use); [`Application::run_until_stopped`] serves until the shutdown future resolves.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::actors::ticker::{self, CancelOnDrop};
use crate::config::Config;
use crate::domain::clock::{SharedClock, SystemClock};
use crate::engine::{EngineHandle, EngineOptions};
use crate::http::auth::JwtKeys;
use crate::http::{self, AppState};
use crate::persistence::recovery::recover;
use crate::persistence::repo::SqlStore;
use crate::persistence::writebehind::{WriteBehind, WriteBehindOptions};
use crate::persistence::{Db, DbOptions};

/// The name (as the kernel keeps it: 15 bytes) of sqlx's per-connection SQLite threads.
const SQLITE_WORKER_THREAD: &str = "sqlx-sqlite-wor";

/// A built, not yet serving, hotdeal.
pub struct Application {
    listener: TcpListener,
    port: u16,
    state: AppState,
    writebehind: Option<WriteBehind>,
    node_lock: Option<crate::persistence::node_lock::NodeLock>,
    _background: Vec<CancelOnDrop>,
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
        crate::persistence::create_private_dir(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        crate::persistence::create_private_dir(&config.snapshot_dir)
            .with_context(|| format!("creating snapshot dir {}", config.snapshot_dir.display()))?;
        config.check_cluster()?;
        let db = connect_db(&config).await?;
        if config.cluster {
            let parts = start_cluster(&config, &db, clock.clone()).await?;
            return Self::finish(config, db, clock, parts, started).await;
        }
        // One node per database: locked (and migrated under the lock) before recovery.
        let node_lock = crate::persistence::node_lock::acquire(&config, &db).await?;
        tracing::info!(backend = db.dialect.name(), "database ready");

        // Recovery: snapshot, journal replay, invariant check, write-behind backlog.
        let store = SqlStore::new(db.clone());
        let recovered = recover(
            &store,
            &config.journal_options(),
            &config.snapshot_dir,
            config.restore_from.as_deref(),
        )
        .await
        .context("recovering engine state")?;
        let report = &recovered.report;
        tracing::info!(
            snapshot = ?report.snapshot,
            snapshot_seq = report.snapshot_seq,
            checkpoint = report.checkpoint,
            journal_records = report.journal_records,
            journal_last_seq = report.journal_last_seq,
            truncated_bytes = report.journal_truncated_bytes,
            replayed = report.replayed,
            replay_mismatches = report.replay_mismatches,
            requeued_for_database = report.requeued,
            campaigns = report.campaigns,
            items = report.items,
            ms = report.elapsed_ms,
            "recovery finished"
        );
        metrics::gauge!("hotdeal_recovery_seconds").set(report.elapsed_ms as f64 / 1000.0);
        metrics::gauge!("hotdeal_recovery_problems").set(report.problems.len() as f64);
        for problem in &report.problems {
            tracing::error!(
                problem = %problem,
                "the database does not match the snapshot or journal: /readyz answers 503 until it does"
            );
        }
        let recovery_problems = report.problems.clone();
        let journal = recovered.journal.clone();
        let engine = EngineHandle::start(
            EngineOptions::from_config(&config),
            journal.clone(),
            Arc::new(store.clone()),
            clock.clone(),
        )?;
        engine.watch_node_lock(node_lock.status());
        for (id, ledger, seq) in recovered.campaigns {
            engine.install_campaign(id, ledger, seq);
        }
        for (id, ledger, seq) in recovered.items {
            engine.install_item(id, ledger, seq);
        }
        let orders = recovered.orders.len();
        for (order, seq) in recovered.orders {
            engine.install_order(order, seq);
        }
        // Finish what a crash cut off halfway.
        for (item, order) in &recovered.orphan_reservations {
            engine
                .release_order(
                    *order,
                    &[*item],
                    crate::domain::event::ReleaseReason::Cancelled,
                )
                .await?;
        }
        for (campaign, user, order) in &recovered.orphan_coupon_uses {
            engine.recover_coupon(*campaign, *user, *order).await?;
            tracing::warn!(%order, "recovered a coupon used by an order that was never placed");
        }
        tracing::info!(
            orders,
            orphan_reservations = recovered.orphan_reservations.len(),
            orphan_coupon_uses = recovered.orphan_coupon_uses.len(),
            "engine state installed"
        );
        // The write-behind has a connection of its own: SQLite keeps a page cache per
        // connection and drops it when another connection wrote, so a write-behind that took any
        // pooled connection re-read the pages it had just written from the WAL (a fifth of its
        // CPU). One writer, one connection, one warm cache.
        // Its SQLite worker thread also runs at a lower priority (`writebehind_nice`).
        let sqlite_workers = crate::persistence::threads_named(SQLITE_WORKER_THREAD);
        let writebehind_db = Db::connect(
            &config.database_url,
            &DbOptions {
                max_connections: 1,
                acquire_timeout: Duration::from_millis(config.db_acquire_timeout_ms),
                long_lived: true,
                lock_bound_s: None,
            },
        )
        .await?;
        if writebehind_db.dialect == crate::persistence::Dialect::Sqlite
            && config.writebehind_nice > 0
        {
            let reniced = crate::persistence::renice_new_threads(
                &sqlite_workers,
                SQLITE_WORKER_THREAD,
                config.writebehind_nice,
            );
            tracing::debug!(
                threads = reniced,
                nice = config.writebehind_nice,
                "write-behind worker priority lowered"
            );
        }
        let writebehind = WriteBehind::spawn(
            journal.clone(),
            writebehind_db,
            clock.clone(),
            WriteBehindOptions {
                batch_size: config.writebehind_batch_size,
                interval: Duration::from_millis(config.writebehind_interval_ms),
                duty_percent: config.writebehind_duty_percent,
            },
        );
        let mut background = vec![ticker::spawn(
            engine.clone(),
            Duration::from_millis(config.tick_interval_ms),
        )];
        if config.snapshot_interval_s > 0 {
            background.push(spawn_snapshotter(
                engine.clone(),
                config.snapshot_dir.clone(),
                config.snapshot_keep,
                Duration::from_secs(config.snapshot_interval_s),
            ));
        }

        let parts = EngineParts {
            node_lock,
            engine,
            writebehind: Some(writebehind),
            recovery_problems,
            background,
        };
        Self::finish(config, db, clock, parts, started).await
    }

    /// The part of the build shared by both modes: keys, listener, services, state.
    async fn finish(
        config: Config,
        db: Db,
        clock: SharedClock,
        parts: EngineParts,
        started: Instant,
    ) -> anyhow::Result<Application> {
        let EngineParts {
            node_lock,
            engine,
            writebehind,
            recovery_problems,
            mut background,
        } = parts;
        let keys = JwtKeys::new(&config.load_or_create_jwt_secret()?);
        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        let port = listener.local_addr()?.port();
        let public_base_url = config
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{port}", config.http_addr.ip()));
        let payments = crate::payments::build(&config)?;
        let config = Arc::new(config);
        let accounts = crate::accounts::AccountsState::build(
            &config,
            &db,
            keys.revocations().clone(),
            clock.clone(),
        )
        .await?;
        let ops = crate::ops::OpsState::build(&config).await?;
        let state = AppState::new(
            config.clone(),
            db,
            clock,
            engine,
            keys,
            accounts,
            ops,
            payments,
            public_base_url,
        );

        state.set_recovery_problems(recovery_problems);
        background.push(crate::commerce::orders::spawn_sweeper(
            state.commerce.clone(),
            Duration::from_millis(config.tick_interval_ms),
        ));
        background.push(crate::catalog::rotator::spawn_sale_rotator(
            state.catalog.clone(),
            Duration::from_millis(config.tick_interval_ms),
        ));
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
            writebehind,
            node_lock: Some(node_lock),
            _background: background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then drain in-flight requests, take a snapshot, let the
    /// write-behind catch up (bounded), close the journal and stop the actors.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run_with_routes(axum::Router::new(), shutdown).await
    }

    /// [`Application::run_until_stopped`] with `extra` routes mounted beside the API.
    pub async fn run_with_routes(
        mut self,
        extra: axum::Router<AppState>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = http::router_with(self.state.clone(), extra);
        let limits = http::server::HttpLimits::from_config(&self.state.config);
        let executors = self.state.config.http_on_actor_threads.then(|| {
            let threads = self.state.engine.actor_threads();
            http::server::ConnectionExecutors::new(threads.len(), move |i, task| {
                threads.spawn(i, task)
            })
        });
        let served = http::server::serve_on(self.listener, app, limits, executors, shutdown)
            .await
            .context("serving HTTP");
        let state = self.state.clone();
        state.set_ready(false);
        drop(self._background.drain(..));
        if let Some(cluster) = state.engine.cluster() {
            // The tables hold every decision: give the partitions to the other nodes.
            crate::cluster::keeper::leave(cluster, &state.engine).await;
        } else if let Err(err) = state
            .engine
            .snapshot_to(&state.config.snapshot_dir, state.config.snapshot_keep)
            .await
        {
            tracing::error!(error = %format!("{err:#}"), "snapshot at shutdown failed");
        }
        if let Some(wb) = self.writebehind.take() {
            wb.stop(Duration::from_secs(10)).await;
        }
        state.engine.journal().close();
        state.engine.shutdown();
        if let Some(lock) = self.node_lock.take() {
            lock.release(state.engine.journal().backlog() == 0).await;
        }
        tracing::info!("hotdeal stopped");
        served
    }
}

/// The engine and what keeps it, as either mode starts them.
struct EngineParts {
    node_lock: crate::persistence::node_lock::NodeLock,
    engine: EngineHandle,
    writebehind: Option<WriteBehind>,
    recovery_problems: Vec<String>,
    background: Vec<CancelOnDrop>,
}

/// Cluster mode: no files, no snapshot, no write-behind. The journal commits to the database
/// fenced by the partition leases, and actors load from the tables on first use.
async fn start_cluster(
    config: &Config,
    db: &Db,
    clock: SharedClock,
) -> anyhow::Result<EngineParts> {
    use crate::cluster::{Cluster, keeper, sink::ClusterSink};
    let node_lock = crate::persistence::node_lock::acquire_for_cluster(config, db).await?;
    let cluster = Cluster::join(config, db.clone()).await?;
    let sink = ClusterSink::new(
        cluster.clone(),
        clock.clone(),
        tokio::runtime::Handle::current(),
    );
    let journal = crate::persistence::journal::Journal::open_with_sink(Box::new(sink), 0)?;
    let engine = EngineHandle::start(
        EngineOptions::from_config(config),
        journal,
        Arc::new(SqlStore::new(db.clone())),
        clock.clone(),
    )?;
    engine.join_cluster(cluster.clone());
    if let Err(err) = keeper::first_round(&cluster, &engine).await {
        // The keeper retries every third of a lease; until then this node forwards everything.
        tracing::warn!(error = %format!("{err:#}"), "first cluster lease round failed");
    }
    tracing::info!(
        node_id = cluster.node_id(),
        partitions = cluster.partitions(),
        held = cluster.held().len(),
        lease_ttl_ms = config.lease_ttl_ms,
        "joined the cluster"
    );
    let background = vec![
        ticker::spawn(
            engine.clone(),
            Duration::from_millis(config.tick_interval_ms),
        ),
        keeper::spawn(cluster, engine.clone()),
    ];
    Ok(EngineParts {
        node_lock,
        engine,
        writebehind: None,
        recovery_problems: Vec::new(),
        background,
    })
}

fn spawn_snapshotter(
    engine: EngineHandle,
    dir: std::path::PathBuf,
    keep: usize,
    every: Duration,
) -> CancelOnDrop {
    CancelOnDrop(tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.tick().await;
        loop {
            interval.tick().await;
            if let Err(err) = engine.snapshot_to(&dir, keep).await {
                tracing::error!(error = %format!("{err:#}"), "periodic snapshot failed");
            }
        }
    }))
}

/// Connect to the configured database.
pub async fn connect_db(config: &Config) -> anyhow::Result<Db> {
    Db::connect(
        &config.database_url,
        &DbOptions {
            max_connections: config.db_max_connections,
            acquire_timeout: Duration::from_millis(config.db_acquire_timeout_ms),
            long_lived: false,
            // a paused node's locked lease rows are freed within a lease (at least a second)
            lock_bound_s: config
                .cluster
                .then(|| config.lease_ttl_ms.div_ceil(1000).max(1)),
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
