//! The Prometheus recorder: installed once per process (the `metrics` facade has one global
//! recorder, and tests start many apps in one process), rendered by `GET /metrics`.
//!
//! Counters and histograms are emitted where things happen (engine, journal, write-behind, HTTP
//! middleware); gauges that describe the engine's current state are refreshed at scrape time by
//! [`refresh_engine_gauges`], so they cost nothing between scrapes.

use std::sync::OnceLock;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::engine::EngineHandle;

/// Histogram buckets (upper bounds, seconds) for every metric whose name ends in `_seconds`:
/// from 50 µs (an in-memory claim) to 10 s (a slow snapshot or recovery).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Buckets for the write-behind batch size (events per transaction).
pub const BATCH_SIZE_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_000.0, 5_000.0,
];

/// How often histogram data is drained into the exposition snapshot between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process-wide Prometheus recorder (first call only; later calls return the same
/// handle). `None` when another recorder was installed first by someone else, in which case
/// `/metrics` still answers, with the scrape-time gauges only.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("hotdeal_writebehind_batch_size".into()),
                        BATCH_SIZE_BUCKETS,
                    )
                })
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => {
                    describe();
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_INTERVAL);
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(err) = spawned {
                        tracing::warn!(error = %err, "metrics upkeep thread not started; upkeep runs at scrape time only");
                    }
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "Prometheus recorder not installed; /metrics shows no event metrics");
                    None
                }
            }
        })
        .clone()
}

/// Help texts for the series this crate emits (shown as `# HELP` lines).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "hotdeal_http_requests_total",
        "HTTP requests by method, route template and status"
    );
    describe_histogram!(
        "hotdeal_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_counter!("hotdeal_claims_total", "Coupon issue attempts by outcome");
    describe_counter!(
        "hotdeal_engine_busy_total",
        "Requests refused with 503 because an actor was busy, by reason"
    );
    describe_counter!(
        "hotdeal_engine_fast_rejects_total",
        "Claims answered from published actor state without a message hop, by kind"
    );
    describe_histogram!(
        "hotdeal_journal_fsync_seconds",
        Unit::Seconds,
        "Journal group-commit fsync latency"
    );
    describe_counter!("hotdeal_journal_fsyncs_total", "Journal fsyncs");
    describe_counter!(
        "hotdeal_journal_records_total",
        "Journal records written (refreshed at scrape time)"
    );
    describe_counter!(
        "hotdeal_journal_bytes_total",
        Unit::Bytes,
        "Journal bytes written (refreshed at scrape time)"
    );
    describe_gauge!(
        "hotdeal_journal_records_per_fsync",
        "Average journal records per fsync since start (group-commit batching)"
    );
    describe_gauge!(
        "hotdeal_journal_appended_seq",
        "Last journal sequence appended"
    );
    describe_gauge!(
        "hotdeal_journal_durable_seq",
        "Last journal sequence known durable (fsynced)"
    );
    describe_gauge!(
        "hotdeal_journal_applied_seq",
        "Last journal sequence written behind to the database"
    );
    describe_gauge!(
        "hotdeal_journal_backlog_events",
        "Journaled events not yet written behind to the database"
    );
    describe_gauge!(
        "hotdeal_journal_failed",
        "1 when the journal cannot make decisions durable (claims get 503)"
    );
    describe_gauge!("hotdeal_engine_actors", "Live actors by kind");
    describe_histogram!(
        "hotdeal_writebehind_batch_size",
        "Events per write-behind transaction"
    );
    describe_histogram!(
        "hotdeal_writebehind_batch_seconds",
        Unit::Seconds,
        "Write-behind transaction latency"
    );
    describe_counter!(
        "hotdeal_writebehind_events_total",
        "Events written behind to the database"
    );
    describe_gauge!(
        "hotdeal_writebehind_lag_ms",
        Unit::Milliseconds,
        "Age of the newest event in the last write-behind batch"
    );
    describe_gauge!(
        "hotdeal_writebehind_lag_events",
        "Journaled events waiting for the write-behind"
    );
    describe_counter!(
        "hotdeal_writebehind_retries_total",
        "Write-behind batches retried after a database error"
    );
    describe_histogram!(
        "hotdeal_snapshot_seconds",
        Unit::Seconds,
        "Time to write a snapshot"
    );
    describe_gauge!(
        "hotdeal_snapshot_bytes",
        Unit::Bytes,
        "Size of the last snapshot"
    );
    describe_gauge!(
        "hotdeal_recovery_seconds",
        Unit::Seconds,
        "Time the last start spent recovering (snapshot load and journal replay)"
    );
    describe_counter!(
        "hotdeal_reservations_expired_total",
        "Order reservations released because payment did not arrive in time"
    );
    describe_counter!(
        "hotdeal_rate_limited_total",
        "Requests refused with 429 by the rate limiter, by scope (user, ip)"
    );
    describe_counter!(
        "hotdeal_rate_limit_errors_total",
        "Rate-limit checks that failed open because Redis was unreachable"
    );
}

/// Refresh the gauges that describe the engine's current state (called at scrape time).
pub fn refresh_engine_gauges(engine: &EngineHandle) {
    let (campaigns, items) = engine.actor_counts();
    metrics::gauge!("hotdeal_engine_actors", "kind" => "campaign").set(campaigns as f64);
    metrics::gauge!("hotdeal_engine_actors", "kind" => "item").set(items as f64);
    let journal = engine.journal();
    metrics::gauge!("hotdeal_journal_appended_seq").set(journal.appended() as f64);
    metrics::gauge!("hotdeal_journal_durable_seq").set(journal.durable() as f64);
    metrics::gauge!("hotdeal_journal_applied_seq").set(journal.applied() as f64);
    metrics::gauge!("hotdeal_journal_backlog_events").set(journal.backlog() as f64);
    metrics::gauge!("hotdeal_journal_failed").set(if journal.is_failed() { 1.0 } else { 0.0 });
    let stats = journal.stats();
    let fsyncs = stats.fsyncs.load(Relaxed);
    let records = stats.records.load(Relaxed);
    metrics::counter!("hotdeal_journal_records_total").absolute(records);
    metrics::counter!("hotdeal_journal_bytes_total").absolute(stats.bytes.load(Relaxed));
    metrics::gauge!("hotdeal_journal_records_per_fsync").set(records_per_fsync(records, fsyncs));
}

/// Average records per fsync; 0 before the first fsync.
pub fn records_per_fsync(records: u64, fsyncs: u64) -> f64 {
    if fsyncs == 0 {
        0.0
    } else {
        records as f64 / fsyncs as f64
    }
}

/// The Prometheus text exposition of everything recorded so far.
pub fn render(handle: Option<&PrometheusHandle>) -> String {
    match handle {
        Some(h) => {
            h.run_upkeep();
            h.render()
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_fsync_is_zero_before_the_first_fsync() {
        assert_eq!(records_per_fsync(0, 0), 0.0);
        assert_eq!(records_per_fsync(33, 3), 11.0);
    }
}
