//! Durability benchmark: what keeping every decision safe costs.
//!
//! 1. Journal: appends/s and records per fsync with 1, 16, 64 and 256 concurrent writers in
//!    `sync` mode (each task appends then waits for durability), plus `async` and `none` rows.
//! 2. Replay: N `CouponIssued` events journaled in `async` mode, then `read_journal` +
//!    `apply_to_campaign` into one `CampaignLedger`: events/s and seconds per million.
//! 3. Snapshot: one campaign with M holders: `write_snapshot` time and size, `read_snapshot` time.
//! 4. Memory per issued coupon: resident memory of a `CampaignLedger` with M holders (RSS delta
//!    from `/proc/self/statm`) divided by M, beside a `size_of`-based estimate.
//! 5. Write-behind: `apply_batch` of 2,000-event batches of `CouponIssued` into SQLite (temp file)
//!    and, when `TEST_MYSQL_URL` is set, into a fresh MariaDB database made for the run: rows/s.
//!    Also uneven batches (the live worker takes whatever is waiting, up to its batch size) and,
//!    with `--full`, batches into a table already holding a million coupons (bigger than a stock
//!    server's buffer pool).
//!
//! It prints tables and exits; it asserts nothing about timings. Sizes are small by default,
//! smaller with `CI` set, the issue's with `--full`. Run without `--bench` or `--full` (e.g.
//! `cargo test --benches`) it does a tiny smoke run only.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use hotdeal::config::Durability;
use hotdeal::domain::Millis;
use hotdeal::domain::campaign::{CampaignConfig, CampaignLedger, CampaignStatus, CouponState};
use hotdeal::domain::event::{Event, apply_to_campaign};
use hotdeal::domain::ids::{CampaignId, UserId};
use hotdeal::persistence::journal::{Journal, JournalOptions, Seq, read_journal};
use hotdeal::persistence::repo::{NewCampaign, SqlStore};
use hotdeal::persistence::snapshot::{
    CampaignSnapshot, SnapshotBody, read_snapshot, write_snapshot,
};
use hotdeal::persistence::writebehind::apply_batch;
use hotdeal::persistence::{Db, DbOptions, ScratchDatabase};

/// The instant every event and ledger operation happens at.
const NOW: Millis = 1_900_000_000_000;
/// Coupons stay usable until then (far after `NOW`).
const EXPIRES: Millis = 2_000_000_000_000;
/// Concurrent writers of the `sync` journal rows.
const SYNC_WRITERS: [usize; 4] = [1, 16, 64, 256];
/// Events per write-behind batch (the write-behind's own batch size).
const WB_BATCH: usize = 2_000;
/// Sizes the uneven write-behind batches take in turn.
const WB_UNEVEN: [usize; 6] = [2_000, 1_337, 1_999, 611, 1_024, 77];
/// Page size assumed for `/proc/self/statm` (every Linux target this runs on).
const PAGE_BYTES: u64 = 4096;

/// How big each part of the run is.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    name: &'static str,
    /// Most appends per journal row.
    journal_records: u64,
    /// Longest a journal row runs.
    journal_time: Duration,
    /// Events replayed.
    replay_events: u64,
    /// Holders of the snapshot and memory campaign.
    holders: u64,
    /// Rows written behind per database.
    wb_rows: u64,
    /// Rows already in the table for the "after" MariaDB row (0: no such row).
    wb_prefill: u64,
}

impl Sizes {
    fn pick() -> Sizes {
        let args: Vec<String> = std::env::args().collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        if has("--full") {
            Sizes {
                name: "full",
                journal_records: 2_000_000,
                journal_time: Duration::from_secs(10),
                replay_events: 1_000_000,
                holders: 1_000_000,
                wb_rows: 200_000,
                wb_prefill: 1_000_000,
            }
        } else if !has("--bench") {
            Sizes {
                name: "smoke",
                journal_records: 200,
                journal_time: Duration::from_millis(200),
                replay_events: 1_000,
                holders: 1_000,
                wb_rows: WB_BATCH as u64,
                wb_prefill: 0,
            }
        } else if std::env::var_os("CI").is_some() {
            Sizes {
                name: "ci",
                journal_records: 20_000,
                journal_time: Duration::from_millis(700),
                replay_events: 50_000,
                holders: 50_000,
                wb_rows: 10_000,
                wb_prefill: 0,
            }
        } else {
            Sizes {
                name: "default",
                journal_records: 200_000,
                journal_time: Duration::from_secs(3),
                replay_events: 200_000,
                holders: 200_000,
                wb_rows: 40_000,
                wb_prefill: 0,
            }
        }
    }
}

fn campaign_config(quantity: i64) -> CampaignConfig {
    CampaignConfig {
        quantity,
        discount_amount: 1_000,
        min_order_amount: 10_000,
        expires_at_ms: EXPIRES,
        company_id: None,
        issue_start_ms: None,
        issue_end_ms: None,
    }
}

/// The `i`-th distinct user (never the nil uuid).
fn user(i: u64) -> UserId {
    UserId(Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0000 | (i as u128 + 1),
    ))
}

fn issued(campaign: CampaignId, i: u64) -> Event {
    Event::CouponIssued {
        campaign,
        user: user(i),
        at_ms: NOW,
    }
}

/// A campaign ledger with `n` holders.
fn filled_ledger(n: u64) -> CampaignLedger {
    let mut ledger = CampaignLedger::new(campaign_config(n as i64), CampaignStatus::Issued);
    for i in 0..n {
        let outcome = ledger.issue(user(i), NOW);
        debug_assert!(outcome.is_success());
    }
    ledger
}

fn journal_options(dir: &Path, mode: Durability) -> JournalOptions {
    JournalOptions {
        dir: dir.to_path_buf(),
        mode,
        segment_bytes: 64 << 20,
        async_fsync_interval: Duration::from_millis(10),
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * PAGE_BYTES)
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-9)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------------------------
// 1. Journal

/// One journal row's result.
struct JournalRow {
    mode: Durability,
    writers: usize,
    records: u64,
    elapsed: Duration,
    fsyncs: u64,
    fsync_nanos: u64,
}

async fn journal_row(mode: Durability, writers: usize, sizes: Sizes) -> anyhow::Result<JournalRow> {
    let dir = tempfile::tempdir()?;
    let journal = Journal::open(&journal_options(dir.path(), mode), 0)?;
    let campaign = CampaignId(Uuid::from_u128(1));
    let next = Arc::new(AtomicU64::new(0));
    let total = sizes.journal_records;
    let started = Instant::now();
    let deadline = started + sizes.journal_time;
    let mut tasks = Vec::with_capacity(writers);
    for _ in 0..writers {
        let journal = journal.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline {
                    break;
                }
                let s = journal.append(issued(campaign, i));
                journal.wait_durable(s).await?;
                done += 1;
                if mode != Durability::Sync && done.is_multiple_of(256) {
                    // async/none never wait: let the other writers in, and keep the outbox small
                    journal.take_written(usize::MAX);
                    tokio::task::yield_now().await;
                }
            }
            anyhow::Ok(done)
        }));
    }
    let mut records = 0;
    for t in tasks {
        records += t.await??;
    }
    let elapsed = started.elapsed();
    journal.close();
    let stats = journal.stats();
    Ok(JournalRow {
        mode,
        writers,
        records,
        elapsed,
        fsyncs: stats.fsyncs.load(Ordering::Relaxed),
        fsync_nanos: stats.fsync_nanos.load(Ordering::Relaxed),
    })
}

async fn bench_journal(sizes: Sizes) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for writers in SYNC_WRITERS {
        rows.push(journal_row(Durability::Sync, writers, sizes).await?);
    }
    for mode in [Durability::Async, Durability::None] {
        for writers in [1, 64] {
            rows.push(journal_row(mode, writers, sizes).await?);
        }
    }
    println!("\n## 1. Journal: append (+ wait_durable) throughput");
    println!(
        "{:<6} {:>8} {:>10} {:>9} {:>12} {:>8} {:>12} {:>12}",
        "mode", "writers", "records", "secs", "records/s", "fsyncs", "recs/fsync", "fsync mean"
    );
    for r in rows {
        let per_fsync = if r.fsyncs == 0 {
            "-".to_string()
        } else {
            format!("{:.1}", r.records as f64 / r.fsyncs as f64)
        };
        let fsync_mean = if r.fsyncs == 0 {
            "-".to_string()
        } else {
            format!("{:.2} ms", r.fsync_nanos as f64 / r.fsyncs as f64 / 1e6)
        };
        println!(
            "{:<6} {:>8} {:>10} {:>9.3} {:>12.0} {:>8} {:>12} {:>12}",
            r.mode.as_str(),
            r.writers,
            r.records,
            r.elapsed.as_secs_f64(),
            per_sec(r.records, r.elapsed),
            r.fsyncs,
            per_fsync,
            fsync_mean
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Replay

async fn bench_replay(sizes: Sizes) -> anyhow::Result<()> {
    let n = sizes.replay_events;
    let dir = tempfile::tempdir()?;
    let campaign = CampaignId(Uuid::from_u128(2));
    let write_started = Instant::now();
    {
        let journal = Journal::open(&journal_options(dir.path(), Durability::Async), 0)?;
        for i in 0..n {
            journal.append(issued(campaign, i));
            if i % 4096 == 4095 {
                journal.take_written(usize::MAX);
            }
        }
        journal.close();
    }
    let write_elapsed = write_started.elapsed();
    let bytes: u64 = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    // read only (decode + CRC), then read + apply
    let started = Instant::now();
    let mut count = 0u64;
    read_journal(dir.path(), 0, |_, _| count += 1)?;
    let read_elapsed = started.elapsed();

    let mut ledger = CampaignLedger::new(campaign_config(n as i64), CampaignStatus::Issued);
    let started = Instant::now();
    let mut applied = 0u64;
    let report = read_journal(dir.path(), 0, |_, e| {
        if apply_to_campaign(&mut ledger, &e).is_some_and(|o| o.is_success()) {
            applied += 1;
        }
    })?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        applied == n && count == n && report.records == n && ledger.issued_count() == n as i64,
        "replay applied {applied} of {n} events"
    );

    println!("\n## 2. Replay: read_journal + apply_to_campaign ({n} CouponIssued)");
    println!(
        "{:<22} {:>10} {:>10} {:>14} {:>14}",
        "phase", "events", "secs", "events/s", "s per million"
    );
    for (phase, t) in [
        ("write (async)", write_elapsed),
        ("read only", read_elapsed),
        ("read + apply", elapsed),
    ] {
        println!(
            "{:<22} {:>10} {:>10.3} {:>14.0} {:>14.3}",
            phase,
            n,
            t.as_secs_f64(),
            per_sec(n, t),
            t.as_secs_f64() * 1e6 / n as f64
        );
    }
    println!(
        "journal size: {:.1} MiB ({:.1} bytes/event)",
        mib(bytes),
        bytes as f64 / n as f64
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. Snapshot

fn bench_snapshot(sizes: Sizes) -> anyhow::Result<()> {
    let m = sizes.holders;
    let dir = tempfile::tempdir()?;
    let body = SnapshotBody {
        campaigns: vec![CampaignSnapshot {
            id: CampaignId(Uuid::from_u128(3)),
            ledger: filled_ledger(m),
            last_seq: m as Seq,
        }],
        items: Vec::new(),
        orders: Vec::new(),
    };
    let started = Instant::now();
    let file = write_snapshot(dir.path(), m as Seq, NOW, &body)?;
    let write_elapsed = started.elapsed();
    drop(body);
    let started = Instant::now();
    let (header, read) = read_snapshot(&file.path)?;
    let read_elapsed = started.elapsed();
    anyhow::ensure!(
        header.seq == m && read.campaigns[0].ledger.issued_count() == m as i64,
        "snapshot read back wrong"
    );
    drop(read);

    println!("\n## 3. Snapshot: one campaign with {m} holders");
    println!(
        "{:<16} {:>10} {:>12} {:>12} {:>16}",
        "operation", "secs", "size MiB", "bytes/holder", "holders/s"
    );
    for (op, t) in [
        ("write_snapshot", write_elapsed),
        ("read_snapshot", read_elapsed),
    ] {
        println!(
            "{:<16} {:>10.3} {:>12.1} {:>12.1} {:>16.0}",
            op,
            t.as_secs_f64(),
            mib(file.size_bytes),
            file.size_bytes as f64 / m as f64,
            per_sec(m, t)
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. Memory

fn bench_memory(sizes: Sizes) {
    let m = sizes.holders;
    let before = rss_bytes();
    let ledger = filled_ledger(m);
    let after = rss_bytes();
    let issued = ledger.issued_count();
    std::hint::black_box(&ledger);
    drop(ledger);

    // hashbrown: one (key, value) slot plus one control byte per bucket; buckets are a power of
    // two holding at most 7/8 of it (the map grew one insert at a time).
    let slot = std::mem::size_of::<(u128, CouponState)>();
    let buckets = ((m as usize * 8).div_ceil(7)).next_power_of_two().max(4);
    let estimate = buckets * (slot + 1);

    println!("\n## 4. Memory per issued coupon ({issued} holders in one CampaignLedger)");
    println!(
        "{:<34} {:>12} {:>14}",
        "measure", "total MiB", "bytes/coupon"
    );
    let delta = after.saturating_sub(before);
    println!(
        "{:<34} {:>12.1} {:>14.1}",
        "RSS delta (/proc statm)",
        mib(delta),
        delta as f64 / m as f64
    );
    println!(
        "{:<34} {:>12.1} {:>14.1}",
        format!("size_of estimate ({slot}+1 B/bucket)"),
        mib(estimate as u64),
        estimate as f64 / m as f64
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Write-behind

/// One write-behind row's result.
struct WbRow {
    name: String,
    rows: u64,
    batches: u64,
    elapsed: Duration,
}

/// Write `rows` issued coupons of a new campaign through `apply_batch`, in batches of the sizes
/// `sizes` gives in turn; `seq` numbers the events (and moves past them).
async fn write_behind_rows(
    db: &Db,
    name: impl Into<String>,
    rows: u64,
    sizes: &[usize],
    seq: &mut Seq,
) -> anyhow::Result<WbRow> {
    let campaign = CampaignId::new();
    SqlStore::new(db.clone())
        .insert_campaign(
            &NewCampaign {
                id: campaign,
                name: "durability bench".into(),
                quantity: rows as i64,
                discount_amount: 1_000,
                min_order_amount: 10_000,
                expiration_date: "2030-12-31".into(),
                coupon_type: "FIRST_COME".into(),
                company_id: None,
                issue_start_ms: None,
                issue_end_ms: None,
                created_by: None,
            },
            NOW,
        )
        .await?;
    let first = *seq;
    let events: Vec<(Seq, Event)> = (0..rows)
        .map(|i| (first + i + 1, issued(campaign, i)))
        .collect();
    *seq += rows;
    let mut batches = 0u64;
    let mut rest = &events[..];
    let started = Instant::now();
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, tail) = rest.split_at((*size).min(rest.len()));
        apply_batch(db, batch, NOW).await?;
        rest = tail;
        batches += 1;
    }
    let elapsed = started.elapsed();
    let written: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_coupon WHERE coupon_info_id = ?")
        .bind(campaign.to_string())
        .fetch_one(&db.pool)
        .await?;
    anyhow::ensure!(written as u64 == rows, "wrote {written} of {rows} rows");
    Ok(WbRow {
        name: name.into(),
        rows,
        batches,
        elapsed,
    })
}

async fn bench_write_behind(sizes: Sizes) -> anyhow::Result<()> {
    let rows = sizes.wb_rows;
    let mut results: Vec<WbRow> = Vec::new();
    let mut seq: Seq = 0;

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&url, &DbOptions::default()).await?;
    db.migrate().await?;
    results.push(
        write_behind_rows(&db, "sqlite (WAL, temp file)", rows, &[WB_BATCH], &mut seq).await?,
    );
    db.pool.close().await;

    if let Ok(url) = std::env::var("TEST_MYSQL_URL")
        && !url.is_empty()
    {
        let scratch = ScratchDatabase::create(&url, "hd_bench").await?;
        let run = async {
            let db = Db::connect(&scratch.url, &DbOptions::default()).await?;
            db.migrate().await?;
            let mut out = Vec::new();
            out.push(
                write_behind_rows(&db, "mariadb (fresh database)", rows, &[WB_BATCH], &mut seq)
                    .await?,
            );
            out.push(
                write_behind_rows(&db, "mariadb (uneven batches)", rows, &WB_UNEVEN, &mut seq)
                    .await?,
            );
            if sizes.wb_prefill > 0 {
                let prefill = sizes.wb_prefill;
                write_behind_rows(&db, "prefill", prefill, &[WB_BATCH], &mut seq).await?;
                out.push(
                    write_behind_rows(
                        &db,
                        format!("mariadb (after {prefill})"),
                        rows,
                        &[WB_BATCH],
                        &mut seq,
                    )
                    .await?,
                );
            }
            db.pool.close().await;
            anyhow::Ok(out)
        }
        .await;
        let dropped = scratch.remove().await;
        results.extend(run?);
        dropped?;
    }

    println!(
        "\n## 5. Write-behind: apply_batch, batches of {WB_BATCH} CouponIssued (uneven: {WB_UNEVEN:?} in turn)"
    );
    println!(
        "{:<26} {:>10} {:>10} {:>12} {:>14}",
        "database", "rows", "secs", "rows/s", "ms per batch"
    );
    for r in results {
        println!(
            "{:<26} {:>10} {:>10.3} {:>12.0} {:>14.1}",
            r.name,
            r.rows,
            r.elapsed.as_secs_f64(),
            per_sec(r.rows, r.elapsed),
            r.elapsed.as_secs_f64() * 1e3 / r.batches.max(1) as f64
        );
    }
    if std::env::var("TEST_MYSQL_URL")
        .unwrap_or_default()
        .is_empty()
    {
        println!("(set TEST_MYSQL_URL for the MariaDB rows)");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let sizes = Sizes::pick();
    println!(
        "# durability benchmark ({} sizes: journal <= {} records or {:.1} s per row, replay {}, holders {}, write-behind {} rows)",
        sizes.name,
        sizes.journal_records,
        sizes.journal_time.as_secs_f64(),
        sizes.replay_events,
        sizes.holders,
        sizes.wb_rows
    );
    // Memory first, while the allocator holds no freed pages from the other parts.
    bench_memory(sizes);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(bench_journal(sizes))?;
    rt.block_on(bench_replay(sizes))?;
    bench_snapshot(sizes)?;
    rt.block_on(bench_write_behind(sizes))?;
    Ok(())
}
