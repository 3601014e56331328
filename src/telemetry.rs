//! Logging and metrics set-up: human-readable log lines by default, one JSON object per line with
//! `HOTDEAL_LOG_FORMAT=json` (for Loki and friends); the level comes from `RUST_LOG` (default
//! `info`). Every HTTP request logs one INFO line on completion (target `hotdeal::access`: request
//! id, method, route, status, latency, user id when the token verified); `RUST_LOG` can silence it
//! with `hotdeal::access=warn`. No request body, header value or query string is ever logged.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// The filter from `RUST_LOG`, or `info` with sqlx and actix quieter.
pub fn default_filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,actix=warn"))
}

/// The JSON subscriber the service installs with `HOTDEAL_LOG_FORMAT=json`, writing to `writer`:
/// one object per line with `timestamp`, `level`, `target`, the event's fields at the top level
/// and the current span's fields under `span` (tests capture it with a writer of their own).
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
        .finish()
}

/// Install the global subscriber and the Prometheus recorder (once; later calls are ignored,
/// which tests rely on). The recorder is installed here, before the service builds, so that
/// what recovery records at start (`hotdeal_recovery_seconds`) is kept.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = default_filter();
    let ansi = std::io::stdout().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(false)
        .thread_name("hotdeal-log")
        .finish(std::io::stdout());
    let installed = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(true)
            .with_ansi(ansi)
            .with_writer(writer)
            .try_init()
            .is_ok(),
        LogFormat::Json => json_subscriber(filter, writer).try_init().is_ok(),
    };
    if installed {
        // The guard flushes the queue when dropped; the subscriber lives for the whole process,
        // so the guard does too ([`flush_logs`] drops it at exit).
        let _ = LOG_GUARD.set(std::sync::Mutex::new(Some(guard)));
    }
    crate::ops::metrics::install();
}

/// Lines the background log writer may hold before a logging thread waits for it.
const LOG_QUEUE_LINES: usize = 64 * 1024;

static LOG_GUARD: std::sync::OnceLock<
    std::sync::Mutex<Option<tracing_appender::non_blocking::WorkerGuard>>,
> = std::sync::OnceLock::new();

/// Write out every queued log line (call before the process exits).
pub fn flush_logs() {
    if let Some(guard) = LOG_GUARD.get() {
        drop(guard.lock().map(|mut g| g.take()));
    }
}
