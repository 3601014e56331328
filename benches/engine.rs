//! Engine benchmark: what one claim costs, from the pure ledger up to `EngineHandle::issue_coupon`.
//!
//! 1. Pure ledger operations (criterion, plus a fixed timed loop for the table):
//!    `CampaignLedger::issue` for new users and for users already issued, and
//!    `ItemLedger::reserve` + `release`.
//! 2. Claims through the campaign actor (`EngineHandle::issue_coupon`) from 1, 16 and 64
//!    concurrent tokio tasks, journal in `none` and in `sync` mode, distinct users per claim, on a
//!    campaign too large to sell out.
//! 3. The sold-out path: claims on a sold-out campaign, answered by the fast-reject check.
//! 4. The same claims through a minimal tokio-channel actor owning a `CampaignLedger` (no
//!    journal), to show what the actix hop costs against an mpsc + oneshot round trip.
//!
//! It prints one table and exits; it asserts nothing about timings. `CI=1` shortens every run.
//! Run without `--bench` (e.g. `cargo test --benches`) it does a tiny smoke run only.

use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::Criterion;
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use hotdeal::config::Durability;
use hotdeal::domain::Millis;
use hotdeal::domain::campaign::{CampaignConfig, CampaignLedger, CampaignOutcome, CampaignStatus};
use hotdeal::domain::clock::{SharedClock, SystemClock};
use hotdeal::domain::ids::{CampaignId, OrderId, UserId};
use hotdeal::domain::item::{ItemConfig, ItemLedger};
use hotdeal::engine::{EngineHandle, EngineOptions};
use hotdeal::persistence::journal::{Journal, JournalOptions};
use hotdeal::persistence::repo::{NewCampaign, SqlStore};
use hotdeal::persistence::{Db, DbOptions};

/// Concurrent callers of every engine and channel configuration.
const CALLERS: [usize; 3] = [1, 16, 64];
/// Quantity of the campaign that must never sell out during the run.
const OPEN_QUANTITY: i64 = 10_000_000;
/// Quantity of the campaign that is sold out before its run.
const SOLD_OUT_QUANTITY: i64 = 100;
/// Mailbox bound of the engine's actors and of the channel actor.
const MAILBOX: usize = 4096;

/// The instant the pure ledgers are asked at.
const NOW: Millis = 1_900_000_000_000;
/// Users per fresh ledger in the distinct-users loop (the campaign's quantity).
const LEDGER_USERS: usize = 100_000;
/// Ledger operations timed together; the table's ledger p50/p99 are per-op means of a batch.
const LEDGER_BATCH: usize = 1_000;
/// Orders cycled through by the reserve + release loop.
const LEDGER_ORDERS: usize = 1_024;

/// A fixed number of measured claims, after a fixed number of warm-up claims.
#[derive(Debug, Clone, Copy)]
struct Run {
    claims: u64,
    warmup: u64,
}

impl Run {
    fn new(claims: u64) -> Self {
        Self {
            claims,
            warmup: (claims / 10).max(100),
        }
    }
}

/// How much work each part does.
struct Scale {
    /// Every claim configuration but the `sync` journal ones.
    run: Run,
    /// The `sync` journal configurations: each claim waits for an fsync (about 0.5-2 ms here with
    /// one caller), so they get a tenth of the claims.
    sync_run: Run,
    ledger_ops: u64,
    criterion_warmup: Duration,
    criterion_measure: Duration,
}

impl Scale {
    fn new(bench_mode: bool, ci: bool) -> Self {
        let (claims, ledger_ops) = match (bench_mode, ci) {
            (false, _) => (2_000, 20_000),
            (true, true) => (50_000, 500_000),
            (true, false) => (200_000, 2_000_000),
        };
        let (criterion_warmup, criterion_measure) = if ci {
            (Duration::from_millis(500), Duration::from_secs(2))
        } else {
            (Duration::from_secs(3), Duration::from_secs(5))
        };
        Self {
            run: Run::new(claims),
            sync_run: Run::new(claims / 10),
            ledger_ops,
            criterion_warmup,
            criterion_measure,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ids

/// Next unused user number: every claim of the run gets a user nobody used before.
static NEXT_USER: AtomicU64 = AtomicU64::new(1);

/// Reserve `n` user numbers; returns the first.
fn reserve_users(n: u64) -> u64 {
    NEXT_USER.fetch_add(n, Ordering::Relaxed)
}

/// A distinct, random-looking user id for user number `n` (the low half is `n` itself).
fn user_id(n: u64) -> UserId {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    UserId(Uuid::from_u64_pair(z, n))
}

fn users(count: usize) -> Vec<UserId> {
    let first = reserve_users(count as u64);
    (first..first + count as u64).map(user_id).collect()
}

// ---------------------------------------------------------------------------------------------
// results

/// One line of the table.
struct Row {
    case: String,
    callers: usize,
    ops_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Latency histogram in nanoseconds (1 ns .. 60 s, 3 significant digits).
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// Per-op histogram of the ledger loops, in picoseconds (1 ps .. 1 s).
fn ledger_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1_000_000_000_000, 3).expect("histogram bounds")
}

fn record_batch(hist: &mut Option<&mut Histogram<u64>>, elapsed: Duration, ops: usize) {
    if let Some(h) = hist.as_deref_mut() {
        let ps_per_op = elapsed.as_nanos() * 1_000 / ops.max(1) as u128;
        h.saturating_record(ps_per_op.min(u64::MAX as u128) as u64);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. pure ledgers

fn campaign_config(quantity: i64) -> CampaignConfig {
    CampaignConfig {
        quantity,
        discount_amount: 1_000,
        min_order_amount: 0,
        // never expires: the channel actor asks at the system clock
        expires_at_ms: Millis::MAX,
        company_id: None,
        issue_start_ms: None,
        issue_end_ms: None,
    }
}

/// Everything the ledger loops reuse.
struct LedgerFixture {
    /// Users issued into fresh ledgers by the distinct-users loop.
    fresh_users: Vec<UserId>,
    /// Users already holding a coupon of `issued`.
    holders: Vec<UserId>,
    issued: CampaignLedger,
    item: ItemLedger,
    orders: Vec<OrderId>,
    buyer: UserId,
}

impl LedgerFixture {
    fn new() -> Self {
        let holders = users(LEDGER_USERS);
        let mut issued = CampaignLedger::new(
            campaign_config(LEDGER_USERS as i64 * 2),
            CampaignStatus::Issued,
        );
        for &u in &holders {
            assert!(matches!(
                issued.issue(u, NOW),
                CampaignOutcome::Issued { .. }
            ));
        }
        Self {
            fresh_users: users(LEDGER_USERS),
            holders,
            issued,
            item: ItemLedger::new(
                ItemConfig {
                    price: 10_000,
                    on_sale: true,
                },
                1_000_000,
            ),
            orders: (0..LEDGER_ORDERS).map(|_| OrderId::new()).collect(),
            buyer: user_id(reserve_users(1)),
        }
    }

    /// `iters` issues to users the ledger has not seen, each fresh ledger taking
    /// `LEDGER_USERS` of them (building and dropping the ledgers is not timed).
    fn issue_distinct(&self, iters: u64, mut hist: Option<&mut Histogram<u64>>) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(self.fresh_users.len() as u64) as usize;
            let mut ledger = CampaignLedger::new(
                campaign_config(self.fresh_users.len() as i64),
                CampaignStatus::Issued,
            );
            for batch in self.fresh_users[..n].chunks(LEDGER_BATCH) {
                let t = Instant::now();
                for &u in batch {
                    black_box(ledger.issue(black_box(u), NOW));
                }
                let elapsed = t.elapsed();
                total += elapsed;
                record_batch(&mut hist, elapsed, batch.len());
            }
            left -= n as u64;
        }
        total
    }

    /// `iters` issues to users who already hold a coupon (answered `AlreadyIssued`).
    fn issue_again(&mut self, iters: u64, mut hist: Option<&mut Histogram<u64>>) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(self.holders.len() as u64) as usize;
            for batch in self.holders[..n].chunks(LEDGER_BATCH) {
                let t = Instant::now();
                for &u in batch {
                    black_box(self.issued.issue(black_box(u), NOW));
                }
                let elapsed = t.elapsed();
                total += elapsed;
                record_batch(&mut hist, elapsed, batch.len());
            }
            left -= n as u64;
        }
        total
    }

    /// `iters` pairs of one-unit reservation and its release.
    fn reserve_release(&mut self, iters: u64, mut hist: Option<&mut Histogram<u64>>) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        let buyer = self.buyer;
        while left > 0 {
            let n = left.min(self.orders.len() as u64) as usize;
            for batch in self.orders[..n].chunks(LEDGER_BATCH) {
                let t = Instant::now();
                for &order in batch {
                    black_box(
                        self.item
                            .reserve(black_box(order), buyer, 1, NOW + 600_000, NOW),
                    );
                    black_box(self.item.release(order));
                }
                let elapsed = t.elapsed();
                total += elapsed;
                record_batch(&mut hist, elapsed, batch.len());
            }
            left -= n as u64;
        }
        total
    }
}

fn criterion_ledgers(c: &mut Criterion, fixture: &mut LedgerFixture) {
    let mut group = c.benchmark_group("ledger");
    group.bench_function("campaign_issue_distinct_users", |b| {
        b.iter_custom(|iters| fixture.issue_distinct(iters, None))
    });
    group.bench_function("campaign_issue_already_issued", |b| {
        b.iter_custom(|iters| fixture.issue_again(iters, None))
    });
    group.bench_function("item_reserve_release", |b| {
        b.iter_custom(|iters| fixture.reserve_release(iters, None))
    });
    group.finish();
}

fn ledger_row(case: &str, ops: u64, elapsed: Duration, hist: &Histogram<u64>) -> Row {
    Row {
        case: case.to_string(),
        callers: 1,
        ops_per_s: ops as f64 / elapsed.as_secs_f64(),
        p50_us: hist.value_at_quantile(0.50) as f64 / 1e6,
        p99_us: hist.value_at_quantile(0.99) as f64 / 1e6,
    }
}

fn ledger_rows(fixture: &mut LedgerFixture, ops: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut hist = ledger_histogram();
    let elapsed = fixture.issue_distinct(ops, Some(&mut hist));
    rows.push(ledger_row(
        "ledger: CampaignLedger::issue, new user",
        ops,
        elapsed,
        &hist,
    ));
    let mut hist = ledger_histogram();
    let elapsed = fixture.issue_again(ops, Some(&mut hist));
    rows.push(ledger_row(
        "ledger: CampaignLedger::issue, already issued",
        ops,
        elapsed,
        &hist,
    ));
    let mut hist = ledger_histogram();
    let elapsed = fixture.reserve_release(ops, Some(&mut hist));
    rows.push(ledger_row(
        "ledger: ItemLedger::reserve + release",
        ops,
        elapsed,
        &hist,
    ));
    rows
}

// ---------------------------------------------------------------------------------------------
// 2-4. concurrent claims

/// One claim by one user; true when the answer is the expected one.
trait Claim: Send + Sync + 'static {
    fn claim(&self, user: UserId) -> impl Future<Output = bool> + Send;
}

/// `EngineHandle::issue_coupon`.
struct EngineIssue {
    engine: EngineHandle,
    campaign: CampaignId,
    /// Expect the fast-reject `SoldOut` answer instead of a coupon.
    expect_sold_out: bool,
}

impl Claim for EngineIssue {
    async fn claim(&self, user: UserId) -> bool {
        match self.engine.issue_coupon(self.campaign, user).await {
            Ok(r) if self.expect_sold_out => {
                r.fast_rejected && r.outcome == CampaignOutcome::SoldOut
            }
            Ok(r) => matches!(r.outcome, CampaignOutcome::Issued { .. }),
            Err(_) => false,
        }
    }
}

type Request = (UserId, oneshot::Sender<CampaignOutcome>);

/// The same claim through a plain tokio actor: one task owning a ledger, an mpsc mailbox and a
/// oneshot reply.
struct ChannelIssue {
    tx: mpsc::Sender<Request>,
}

impl Claim for ChannelIssue {
    async fn claim(&self, user: UserId) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.tx.send((user, reply)).await.is_err() {
            return false;
        }
        matches!(answer.await, Ok(CampaignOutcome::Issued { .. }))
    }
}

/// Start the channel actor on the current runtime.
fn spawn_channel_actor(mut ledger: CampaignLedger, clock: SharedClock) -> ChannelIssue {
    let (tx, mut rx) = mpsc::channel::<Request>(MAILBOX);
    tokio::spawn(async move {
        while let Some((user, reply)) = rx.recv().await {
            let outcome = ledger.issue(user, clock.now_ms());
            let _ = reply.send(outcome);
        }
    });
    ChannelIssue { tx }
}

/// A measured run of `claims` claims.
struct Measured {
    claims: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    unexpected: u64,
}

impl Measured {
    fn row(&self, case: &str, callers: usize) -> Row {
        Row {
            case: case.to_string(),
            callers,
            ops_per_s: self.claims as f64 / self.elapsed.as_secs_f64(),
            p50_us: self.latency.value_at_quantile(0.50) as f64 / 1e3,
            p99_us: self.latency.value_at_quantile(0.99) as f64 / 1e3,
        }
    }
}

/// `claims` claims by new users, split over `callers` tasks, each waiting for its answer before
/// the next claim.
async fn drive<C: Claim>(claim: &Arc<C>, callers: usize, claims: u64) -> Measured {
    let first_user = reserve_users(claims);
    let per_task = claims / callers as u64;
    let extra = claims % callers as u64;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(callers);
    let mut from = first_user;
    for k in 0..callers as u64 {
        let n = per_task + u64::from(k < extra);
        let claim = claim.clone();
        let range = from..from + n;
        from += n;
        tasks.push(tokio::spawn(async move {
            let mut latency = latency_histogram();
            let mut unexpected = 0u64;
            for u in range {
                let user = user_id(u);
                let t = Instant::now();
                let ok = claim.claim(user).await;
                latency.saturating_record(t.elapsed().as_nanos() as u64);
                unexpected += u64::from(!ok);
            }
            (latency, unexpected)
        }));
    }
    let mut latency = latency_histogram();
    let mut unexpected = 0;
    for task in tasks {
        let (h, u) = task.await.expect("claim task");
        latency.add(&h).expect("same histogram bounds");
        unexpected += u;
    }
    Measured {
        claims,
        elapsed: started.elapsed(),
        latency,
        unexpected,
    }
}

/// A warm-up run, then the measured run; unexpected answers go to the notes.
async fn measure<C: Claim>(
    claim: &Arc<C>,
    case: &str,
    callers: usize,
    run: Run,
    notes: &mut Vec<String>,
) -> Row {
    let warm = drive(claim, callers, run.warmup.max(callers as u64)).await;
    let m = drive(claim, callers, run.claims).await;
    let unexpected = warm.unexpected + m.unexpected;
    if unexpected > 0 {
        notes.push(format!(
            "WARNING {case}, {callers} callers: {unexpected} claims got an unexpected answer"
        ));
    }
    m.row(case, callers)
}

/// An engine on its own journal, with a task draining the journal outbox in place of the
/// write-behind.
struct BenchEngine {
    engine: EngineHandle,
    journal: Arc<Journal>,
    drain: tokio::task::JoinHandle<()>,
}

impl BenchEngine {
    fn start(store: &SqlStore, dir: &Path, mode: Durability) -> anyhow::Result<BenchEngine> {
        let journal = Journal::open(
            &JournalOptions {
                dir: dir.join(format!("journal-{}", mode.as_str())),
                mode,
                segment_bytes: 64 << 20,
                async_fsync_interval: Duration::from_millis(5),
            },
            0,
        )?;
        let engine = EngineHandle::start(
            EngineOptions {
                arbiter_threads: 2,
                mailbox_capacity: MAILBOX,
                send_timeout: Duration::from_secs(5),
                max_unapplied_events: u64::MAX,
            },
            journal.clone(),
            Arc::new(store.clone()),
            Arc::new(SystemClock) as SharedClock,
        )?;
        let drained = journal.clone();
        let drain = tokio::spawn(async move {
            loop {
                let batch = drained.take_written(usize::MAX);
                if let Some((seq, _)) = batch.last() {
                    drained.set_applied(*seq);
                }
                drop(batch);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Ok(BenchEngine {
            engine,
            journal,
            drain,
        })
    }

    /// A new campaign of `quantity` coupons, open for issuing.
    async fn open_campaign(&self, store: &SqlStore, quantity: i64) -> anyhow::Result<CampaignId> {
        let id = CampaignId::new();
        store
            .insert_campaign(
                &NewCampaign {
                    id,
                    name: "bench".into(),
                    quantity,
                    discount_amount: 1_000,
                    min_order_amount: 0,
                    expiration_date: "2099-12-31".into(),
                    coupon_type: "FIRST_COME_FIRST_SERVE".into(),
                    company_id: None,
                    issue_start_ms: None,
                    issue_end_ms: None,
                    created_by: None,
                },
                self.engine.now_ms(),
            )
            .await?;
        let status = self
            .engine
            .set_campaign_status(id, CampaignStatus::Issued)
            .await?;
        anyhow::ensure!(status == CampaignStatus::Issued, "campaign not open");
        Ok(id)
    }

    fn stop(self) {
        self.drain.abort();
        tokio::task::block_in_place(move || {
            self.engine.shutdown();
            drop(self.engine);
            drop(self.journal);
        });
    }
}

async fn engine_rows(
    scale: &Scale,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Vec<Row>, Vec<Row>, Vec<Row>)> {
    let dir = tempfile::tempdir()?;
    let db = Db::connect(
        &format!("sqlite://{}/bench.db", dir.path().display()),
        &DbOptions::default(),
    )
    .await?;
    db.migrate().await?;
    let store = SqlStore::new(db);

    let mut open_rows = Vec::new();
    let mut sold_out_rows = Vec::new();
    for mode in [Durability::None, Durability::Sync] {
        let bench = BenchEngine::start(&store, dir.path(), mode)?;
        let campaign = bench.open_campaign(&store, OPEN_QUANTITY).await?;
        let claim = Arc::new(EngineIssue {
            engine: bench.engine.clone(),
            campaign,
            expect_sold_out: false,
        });
        let case = format!("engine issue_coupon, journal {}", mode.as_str());
        let run = match mode {
            Durability::Sync => scale.sync_run,
            _ => scale.run,
        };
        for callers in CALLERS {
            let stats = bench.journal.stats();
            let fsyncs = stats.fsyncs.load(Ordering::Relaxed);
            let fsync_ns = stats.fsync_nanos.load(Ordering::Relaxed);
            open_rows.push(measure(&claim, &case, callers, run, notes).await);
            let fsyncs = stats.fsyncs.load(Ordering::Relaxed) - fsyncs;
            let fsync_ns = stats.fsync_nanos.load(Ordering::Relaxed) - fsync_ns;
            if fsyncs > 0 {
                let claims = run.claims + run.warmup.max(callers as u64);
                notes.push(format!(
                    "journal sync, {callers:>2} callers: {fsyncs} fsyncs, {:.1} claims/fsync, \
                     mean fsync {:.0} µs",
                    claims as f64 / fsyncs as f64,
                    fsync_ns as f64 / fsyncs as f64 / 1e3,
                ));
            }
        }
        drop(claim);

        if mode == Durability::None {
            let sold = bench.open_campaign(&store, SOLD_OUT_QUANTITY).await?;
            for user in users(SOLD_OUT_QUANTITY as usize) {
                let r = bench.engine.issue_coupon(sold, user).await?;
                anyhow::ensure!(
                    matches!(r.outcome, CampaignOutcome::Issued { .. }),
                    "selling out: {r:?}"
                );
            }
            let r = bench
                .engine
                .issue_coupon(sold, user_id(reserve_users(1)))
                .await?;
            anyhow::ensure!(
                r.fast_rejected && r.outcome == CampaignOutcome::SoldOut,
                "sold-out campaign answered {r:?}"
            );
            let claim = Arc::new(EngineIssue {
                engine: bench.engine.clone(),
                campaign: sold,
                expect_sold_out: true,
            });
            for callers in CALLERS {
                sold_out_rows.push(
                    measure(
                        &claim,
                        "engine issue_coupon, sold out (fast reject)",
                        callers,
                        scale.run,
                        notes,
                    )
                    .await,
                );
            }
        }
        bench.stop();
    }

    let clock: SharedClock = Arc::new(SystemClock);
    let channel = Arc::new(spawn_channel_actor(
        CampaignLedger::new(campaign_config(OPEN_QUANTITY), CampaignStatus::Issued),
        clock,
    ));
    let mut channel_rows = Vec::new();
    for callers in CALLERS {
        channel_rows.push(
            measure(
                &channel,
                "tokio mpsc actor (ledger only)",
                callers,
                scale.run,
                notes,
            )
            .await,
        );
    }
    Ok((open_rows, sold_out_rows, channel_rows))
}

// ---------------------------------------------------------------------------------------------
// output

/// `1234567.8` -> `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn print_table(rows: &[Row]) {
    let header = ["case", "callers", "ops/s", "p50 µs", "p99 µs", "ns/op"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.case.clone(),
                r.callers.to_string(),
                thousands(r.ops_per_s),
                format!("{:.3}", r.p50_us),
                format!("{:.3}", r.p99_us),
                format!("{:.1}", 1e9 / r.ops_per_s),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::from("|");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            if i == 0 {
                out.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {}{cell} |", " ".repeat(pad)));
            }
        }
        out
    };
    println!("{}", line(&header.map(String::from)));
    let mut sep = String::from("|");
    for (i, w) in widths.iter().enumerate() {
        if i == 0 {
            sep.push_str(&format!(" {} |", "-".repeat(*w)));
        } else {
            sep.push_str(&format!(" {}: |", "-".repeat(w - 1)));
        }
    }
    println!("{sep}");
    for row in &cells {
        println!("{}", line(row));
    }
}

fn main() {
    let bench_mode = std::env::args().skip(1).any(|a| a == "--bench");
    let ci = std::env::var_os("CI").is_some();
    let scale = Scale::new(bench_mode, ci);

    // 1. Pure ledgers: criterion first, then the fixed loops for the table.
    let mut fixture = LedgerFixture::new();
    {
        let mut c = Criterion::default()
            .warm_up_time(scale.criterion_warmup)
            .measurement_time(scale.criterion_measure)
            .configure_from_args();
        criterion_ledgers(&mut c, &mut fixture);
        c.final_summary();
    }
    let mut rows = ledger_rows(&mut fixture, scale.ledger_ops);
    drop(fixture);

    // 2-4. Concurrent claims on a multi-thread runtime.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let workers = runtime.metrics().num_workers();
    let mut notes = Vec::new();
    let (open_rows, sold_out_rows, channel_rows) = runtime
        .block_on(engine_rows(&scale, &mut notes))
        .expect("engine benchmark");
    runtime.shutdown_timeout(Duration::from_secs(5));
    rows.extend(open_rows);
    rows.extend(sold_out_rows);
    rows.extend(channel_rows);

    println!();
    println!(
        "hotdeal engine benchmark: {} claims per configuration after {} warm-up claims \
         (journal sync: {} after {}), {} ledger ops per ledger row; {workers} tokio workers, \
         2 actix arbiters, {} CPUs",
        thousands(scale.run.claims as f64),
        thousands(scale.run.warmup as f64),
        thousands(scale.sync_run.claims as f64),
        thousands(scale.sync_run.warmup as f64),
        thousands(scale.ledger_ops as f64),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!();
    print_table(&rows);
    println!();
    println!(
        "ns/op = 1e9 / ops/s (wall time per completed op, all callers together). Engine and \
         channel p50/p99 are per-claim latencies; ledger p50/p99 are per-op means over batches \
         of {LEDGER_BATCH} ops."
    );
    for note in &notes {
        println!("{note}");
    }
}
