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
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0,
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
                    register();
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

/// What kind of series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported series: its name, kind, unit, help text, and the values of its labels known in
/// advance (every combination is registered at zero at start).
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Option<metrics::Unit>,
    pub help: &'static str,
    pub labels: &'static [(&'static str, &'static [&'static str])],
}

const fn series(name: &'static str, kind: Kind, help: &'static str) -> Series {
    Series {
        name,
        kind,
        unit: None,
        help,
        labels: &[],
    }
}

const fn labelled(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    labels: &'static [(&'static str, &'static [&'static str])],
) -> Series {
    Series {
        name,
        kind,
        unit: None,
        help,
        labels,
    }
}

const fn with_unit(mut s: Series, unit: metrics::Unit) -> Series {
    s.unit = Some(unit);
    s
}

use Kind::{Counter, Gauge, Histogram};
use metrics::Unit;

/// Every series this crate exports. All are registered at start with zero values (see
/// [`register`]), so a dashboard shows 0 rather than "No data" before the first event; the two
/// HTTP series are keyed by route and status and appear with a route's first request (the
/// first scrape is one). `docs/operations.md` lists them all, and a test keeps this table, the
/// code that records them and that page in step.
pub const SERIES: &[Series] = &[
    series(
        "hotdeal_http_requests_total",
        Counter,
        "HTTP requests by method, route template and status",
    ),
    with_unit(
        series(
            "hotdeal_http_request_duration_seconds",
            Histogram,
            "HTTP request latency by method and route template",
        ),
        Unit::Seconds,
    ),
    series(
        "hotdeal_node_lock_held",
        Gauge,
        "1 while this node's lock on its database is confirmed",
    ),
    series(
        "hotdeal_node_lock_reacquired_total",
        Counter,
        "Database lock connections taken back after a loss",
    ),
    series(
        "hotdeal_node_lock_lost_total",
        Counter,
        "Times this node's database was taken over by another node",
    ),
    series(
        "hotdeal_cluster_leases_held",
        Gauge,
        "Cluster mode: partition leases this node holds",
    ),
    series(
        "hotdeal_cluster_takeovers_total",
        Counter,
        "Cluster mode: partitions this node took from another node whose lease lapsed",
    ),
    series(
        "hotdeal_cluster_fenced_writes_total",
        Counter,
        "Cluster mode: journal commits refused because another node holds the partition now",
    ),
    series(
        "hotdeal_cluster_forwarded_total",
        Counter,
        "Cluster mode: requests forwarded to the node that owns their entity",
    ),
    series(
        "hotdeal_cluster_forward_failures_total",
        Counter,
        "Cluster mode: forwarded requests whose owner did not answer",
    ),
    series(
        "hotdeal_cluster_peer_calls_total",
        Counter,
        "Cluster mode: order steps sent to the node that owns their item or campaign",
    ),
    series(
        "hotdeal_cluster_peer_failures_total",
        Counter,
        "Cluster mode: order steps whose owner did not answer",
    ),
    series(
        "hotdeal_cluster_peer_refused_total",
        Counter,
        "Cluster mode: calls to the peer path refused for a missing or wrong signature",
    ),
    series(
        "hotdeal_cluster_keeper_errors_total",
        Counter,
        "Cluster mode: lease rounds that failed (database unreachable)",
    ),
    with_unit(
        series(
            "hotdeal_journal_commit_seconds",
            Histogram,
            "Cluster mode: latency of one fenced journal commit to the database",
        ),
        Unit::Seconds,
    ),
    series(
        "hotdeal_http_connections_open",
        Gauge,
        "HTTP connections open now",
    ),
    series(
        "hotdeal_http_connections_refused_total",
        Counter,
        "Connections closed at once because HOTDEAL_HTTP_MAX_CONNECTIONS were open",
    ),
    labelled(
        "hotdeal_http_connections_timed_out_total",
        Counter,
        "Connections closed by a timeout, by phase (idle, header, body)",
        &[("phase", &["idle", "header", "body"])],
    ),
    labelled(
        "hotdeal_claims_total",
        Counter,
        "Coupon issue attempts by outcome",
        &[(
            "outcome",
            &["issued", "sold_out", "already_issued", "not_open", "other"],
        )],
    ),
    labelled(
        "hotdeal_orders_total",
        Counter,
        "Orders by outcome: placed, paid, cancelled (by the shopper or a failed payment), expired (payment deadline passed), refunded",
        &[(
            "outcome",
            &["placed", "paid", "cancelled", "expired", "refunded"],
        )],
    ),
    series(
        "hotdeal_orders_in_memory",
        Gauge,
        "Orders the engine holds in memory: those waiting for payment, and settled ones until the database holds their last change",
    ),
    labelled(
        "hotdeal_engine_busy_total",
        Counter,
        "Requests refused with 503 because an actor was busy or the backlog full, by reason",
        &[(
            "reason",
            &["mailbox_full", "timeout", "backlog", "node_lock_lost"],
        )],
    ),
    labelled(
        "hotdeal_engine_fast_rejects_total",
        Counter,
        "Claims answered from published actor state without a message hop, by kind",
        &[("kind", &["campaign", "item"])],
    ),
    labelled(
        "hotdeal_engine_actors",
        Gauge,
        "Live actors by kind",
        &[("kind", &["campaign", "item"])],
    ),
    with_unit(
        series(
            "hotdeal_journal_fsync_seconds",
            Histogram,
            "Journal group-commit fsync latency",
        ),
        Unit::Seconds,
    ),
    series("hotdeal_journal_fsyncs_total", Counter, "Journal fsyncs"),
    series(
        "hotdeal_journal_records_total",
        Counter,
        "Journal records written (refreshed at scrape time)",
    ),
    with_unit(
        series(
            "hotdeal_journal_bytes_total",
            Counter,
            "Journal bytes written (refreshed at scrape time)",
        ),
        Unit::Bytes,
    ),
    series(
        "hotdeal_journal_records_per_fsync",
        Gauge,
        "Average journal records per fsync since start (group-commit batching)",
    ),
    series(
        "hotdeal_journal_appended_seq",
        Gauge,
        "Last journal sequence appended",
    ),
    series(
        "hotdeal_journal_durable_seq",
        Gauge,
        "Last journal sequence known durable (fsynced)",
    ),
    series(
        "hotdeal_journal_applied_seq",
        Gauge,
        "Last journal sequence written behind to the database",
    ),
    series(
        "hotdeal_journal_backlog_events",
        Gauge,
        "Journaled events not yet written behind to the database",
    ),
    series(
        "hotdeal_journal_failed",
        Gauge,
        "1 when the journal cannot make decisions durable (claims get 503)",
    ),
    series(
        "hotdeal_writebehind_batch_size",
        Histogram,
        "Events per write-behind transaction",
    ),
    with_unit(
        series(
            "hotdeal_writebehind_batch_seconds",
            Histogram,
            "Write-behind transaction latency",
        ),
        Unit::Seconds,
    ),
    series(
        "hotdeal_writebehind_events_total",
        Counter,
        "Events written behind to the database",
    ),
    with_unit(
        series(
            "hotdeal_writebehind_lag_ms",
            Gauge,
            "Age of the newest event in the last write-behind batch",
        ),
        Unit::Milliseconds,
    ),
    series(
        "hotdeal_writebehind_lag_events",
        Gauge,
        "Journaled events waiting for the write-behind",
    ),
    series(
        "hotdeal_writebehind_retries_total",
        Counter,
        "Write-behind batches retried after a database error",
    ),
    with_unit(
        series(
            "hotdeal_snapshot_seconds",
            Histogram,
            "Time to write a snapshot",
        ),
        Unit::Seconds,
    ),
    with_unit(
        series("hotdeal_snapshot_bytes", Gauge, "Size of the last snapshot"),
        Unit::Bytes,
    ),
    with_unit(
        series(
            "hotdeal_recovery_seconds",
            Gauge,
            "Time the last start spent recovering (snapshot load and journal replay)",
        ),
        Unit::Seconds,
    ),
    series(
        "hotdeal_recovery_problems",
        Gauge,
        "Ways the database did not match the snapshot or journal at start (0 = consistent; /readyz lists them)",
    ),
    series(
        "hotdeal_reservations_expired_total",
        Counter,
        "Reservations released by the items' own expiry tick (a safety net: the order sweeper normally expires orders first, counted in hotdeal_orders_total{outcome=\"expired\"})",
    ),
    labelled(
        "hotdeal_rate_limited_total",
        Counter,
        "Coupon issues and orders refused with 429 by the rate limiter, by scope (user, ip)",
        &[("scope", &["user", "ip"])],
    ),
    series(
        "hotdeal_rate_limit_errors_total",
        Counter,
        "Rate-limit checks that failed open because Redis was unreachable",
    ),
    labelled(
        "hotdeal_guess_rate_limited_total",
        Counter,
        "Password and email-code guesses refused with 429, by guess (password, email_code) and scope (account, ip)",
        &[
            ("guess", &["password", "email_code"]),
            ("scope", &["account", "ip"]),
        ],
    ),
    series(
        "hotdeal_password_hashing_busy_total",
        Counter,
        "Password hashing attempts refused with 503 because the hashing queue was full",
    ),
];

/// Help texts for every series (shown as `# HELP` lines).
fn describe() {
    for s in SERIES {
        match (s.kind, s.unit) {
            (Kind::Counter, Some(u)) => metrics::describe_counter!(s.name, u, s.help),
            (Kind::Counter, None) => metrics::describe_counter!(s.name, s.help),
            (Kind::Gauge, Some(u)) => metrics::describe_gauge!(s.name, u, s.help),
            (Kind::Gauge, None) => metrics::describe_gauge!(s.name, s.help),
            (Kind::Histogram, Some(u)) => metrics::describe_histogram!(s.name, u, s.help),
            (Kind::Histogram, None) => metrics::describe_histogram!(s.name, s.help),
        }
    }
}

/// Register every series of [`SERIES`] with every combination of its known label values, at
/// zero (counters and gauges unchanged if already there; histograms with no observation). The
/// HTTP series, keyed by route, are left to their first request.
fn register() {
    for s in SERIES {
        if s.name.starts_with("hotdeal_http_request") {
            continue;
        }
        for labels in combinations(s.labels) {
            match s.kind {
                Kind::Counter => metrics::counter!(s.name, labels).increment(0),
                Kind::Gauge => metrics::gauge!(s.name, labels).increment(0.0),
                Kind::Histogram => drop(metrics::histogram!(s.name, labels)),
            }
        }
    }
}

/// Every combination of the label values (one empty set without labels).
fn combinations(labels: &[(&'static str, &'static [&'static str])]) -> Vec<Vec<metrics::Label>> {
    let mut out = vec![Vec::new()];
    for (key, values) in labels {
        out = out
            .into_iter()
            .flat_map(|set: Vec<metrics::Label>| {
                values.iter().map(move |v| {
                    let mut set = set.clone();
                    set.push(metrics::Label::new(*key, *v));
                    set
                })
            })
            .collect();
    }
    out
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

    /// One recording site: (macro kind, name, literal label pairs, file).
    type Site = (Kind, String, Vec<(String, String)>, String);

    /// Every `counter!` / `gauge!` / `histogram!` in `src/`.
    fn emissions() -> Vec<Site> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut found = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (mac, kind) in [
                ("counter!(", Kind::Counter),
                ("gauge!(", Kind::Gauge),
                ("histogram!(", Kind::Histogram),
            ] {
                for (at, _) in text.match_indices(mac) {
                    let call = &text[at + mac.len()..];
                    let call = &call[..call.find(')').unwrap_or(call.len())];
                    // A name held in a variable (this table's own loops) is not a site.
                    let Some(name) = call.trim_start().strip_prefix("\"hotdeal_") else {
                        continue;
                    };
                    let name = format!("hotdeal_{}", &name[..name.find('"').unwrap()]);
                    // `"key" => "value"` pairs written as literals.
                    let mut labels = Vec::new();
                    for part in call.split(',').skip(1) {
                        if let Some((k, v)) = part.split_once("=>") {
                            let (k, v) = (k.trim(), v.trim());
                            if k.starts_with('"') && v.starts_with('"') {
                                labels
                                    .push((k.trim_matches('"').into(), v.trim_matches('"').into()));
                            }
                        }
                    }
                    found.push((kind, name, labels, file.display().to_string()));
                }
            }
        }
        found
    }

    #[test]
    fn every_recorded_series_is_in_the_table_with_its_kind_and_label_values() {
        let found = emissions();
        assert!(
            found.len() > 20,
            "the scan finds the recording sites: {found:?}"
        );
        for (kind, name, labels, file) in &found {
            let s = SERIES
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("{name} ({file}) is not in SERIES"));
            assert_eq!(s.kind, *kind, "{name} ({file})");
            if s.name.starts_with("hotdeal_http_request") {
                continue;
            }
            for (k, v) in labels {
                let known = s.labels.iter().find(|(key, _)| key == k);
                assert!(
                    known.is_some_and(|(_, values)| values.contains(&v.as_str())),
                    "{name}{{{k}=\"{v}\"}} ({file}) is not registered at start"
                );
            }
        }
        for s in SERIES {
            assert!(
                found.iter().any(|(_, name, _, _)| name == s.name),
                "{} is in SERIES but nothing records it",
                s.name
            );
        }
    }

    #[test]
    fn the_operations_page_and_the_dashboard_name_only_real_series() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
        for s in SERIES {
            assert!(
                docs.contains(&format!("`{}`", s.name)) || docs.contains(&format!("`{}{{", s.name)),
                "docs/operations.md does not list `{}`",
                s.name
            );
        }
        let dashboard =
            std::fs::read_to_string(root.join("deploy/grafana/dashboards/hotdeal.json")).unwrap();
        for (at, _) in dashboard.match_indices("hotdeal_") {
            let word: String = dashboard[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(&word);
            assert!(
                SERIES.iter().any(|s| s.name == word || s.name == base),
                "the dashboard reads {word}, which hotdeal does not export"
            );
        }
    }

    #[test]
    fn label_combinations_cover_every_value() {
        let sets = combinations(&[("a", &["1", "2"]), ("b", &["x", "y", "z"])]);
        assert_eq!(sets.len(), 6);
        assert_eq!(combinations(&[]).len(), 1);
    }

    #[test]
    fn records_per_fsync_is_zero_before_the_first_fsync() {
        assert_eq!(records_per_fsync(0, 0), 0.0);
        assert_eq!(records_per_fsync(33, 3), 11.0);
    }
}
