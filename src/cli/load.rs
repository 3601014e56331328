//! `hotdeal load`: a closed-loop load generator against a running server.
//!
//! C workers send coupon issues and/or time-sale orders for N virtual users (round-robin) until a
//! request count or a duration is reached, record each request's latency in an HDR histogram,
//! count outcomes by the server's error codes, and finally read the server's own counters to
//! check that nothing was oversold. Tokens are minted locally with the server's JWT secret.
//! With `--plot` the workers also keep per-request samples for an SVG (see [`super::plot`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::{HumanCount, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::client::{Secret, ServerArgs, signature_mismatch};
use crate::client::{
    Brief, CampaignCounts, CampaignCreated, Client, ClientOptions, CompanyCreated, NewAddress,
    NewCampaign, NewCompany, NewProduct, NewPromotion, ProductCreated, PromotionCounts,
    PromotionCreated,
};
use crate::domain::ids::UserId;
use crate::http::auth::Role;

use super::plot::{PlotSummary, Sample, SampleBuffer, Samples};

/// What the workers send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// `POST /api/v1/coupons/issue` on one campaign.
    Coupon,
    /// `POST /api/v1/orders` (buy now, one unit) on one time-sale product.
    Order,
    /// Coupon issues and orders, alternating.
    Mixed,
}

impl Scenario {
    fn coupons(self) -> bool {
        matches!(self, Scenario::Coupon | Scenario::Mixed)
    }
    fn orders(self) -> bool {
        matches!(self, Scenario::Order | Scenario::Mixed)
    }
}

/// `hotdeal load` arguments.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("limit")
        .required(true)
        .args(["duration_s", "requests", "setup_only"])
))]
pub struct LoadArgs {
    /// The server, and the secret its tokens are signed with.
    #[command(flatten)]
    pub server: ServerArgs,
    /// coupon, order or mixed.
    #[arg(long, value_enum, default_value = "coupon")]
    pub scenario: Scenario,
    /// Virtual users (one user id and token each).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Concurrent workers (requests in flight).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Run for this many seconds.
    #[arg(long)]
    pub duration_s: Option<u64>,
    /// Send this many requests in all.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Create (and open) the campaign / company, product and time sale through the API first.
    #[arg(long)]
    pub setup: bool,
    /// Only do what `--setup` does, print the ids it created as JSON (`{"campaignId": ...}`
    /// for the coupon scenario; `productId` and `promotionId` for orders) and exit without a
    /// run: the set-up for another load generator (`benches/wrk/run.sh` drives wrk with it).
    #[arg(long)]
    pub setup_only: bool,
    /// With `--setup-only`: also mint `--users` shoppers and write them to this file, one line
    /// each: the access token, and for the order and mixed scenarios a space and the id of an
    /// address created for that shopper (what a buy-now order needs). For another load
    /// generator (`benches/wrk/orders.lua` reads it).
    #[arg(long, requires = "setup_only")]
    pub users_out: Option<PathBuf>,
    /// Coupons or sale units to create with `--setup`.
    #[arg(long, default_value_t = 1000)]
    pub quantity: i64,
    /// The (open) campaign to hit, without `--setup`.
    #[arg(long)]
    pub campaign_id: Option<Uuid>,
    /// The product to order, without `--setup`.
    #[arg(long)]
    pub product_id: Option<Uuid>,
    /// The product's live time sale, without `--setup` (for the verdict; gives the product too).
    #[arg(long)]
    pub promotion_id: Option<Uuid>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Draw latency over time and a latency histogram to this SVG file.
    ///
    /// The top panel has p50 / p99 / max latency and throughput per time bucket (seconds since
    /// start), the bottom one a histogram with log-scaled buckets; the caption has the scenario,
    /// concurrency, requests, throughput, p50 and p99. Keeps one 8-byte sample per request, at
    /// most 4 million in all (32 MB; a longer run is decimated evenly). Written even when the
    /// verdict is FAIL.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// No progress bar and no printed table.
    #[arg(long)]
    pub quiet: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Coupon issue outcomes by the server's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponOutcomes {
    /// 201.
    pub issued: u64,
    /// CO005.
    pub sold_out: u64,
    /// CO006.
    pub already_issued: u64,
    /// CO004.
    pub not_open: u64,
    /// 503.
    pub busy: u64,
    /// 429 (the server's rate limits).
    pub rate_limited: u64,
    /// Anything else, transport failures included.
    pub other_errors: u64,
}

/// Order outcomes by the server's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderOutcomes {
    /// 201.
    pub placed: u64,
    /// P022 (sale sold out) or OP004 (stock sold out).
    pub sold_out: u64,
    /// LIMIT_EXCEEDED (per-user sale limit).
    pub limit_exceeded: u64,
    /// 503.
    pub busy: u64,
    /// 429 (the server's rate limits).
    pub rate_limited: u64,
    /// Anything else, transport failures included.
    pub errors: u64,
}

/// One correctness check read from the server after the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `coupon` or `order`.
    pub check: String,
    /// The campaign's quantity or the sale's units, as the server reports it.
    pub quantity: i64,
    /// Successes this run saw (201s).
    pub successes: u64,
    /// The server's count before the run.
    pub server_before: i64,
    /// The server's count after the run: the campaign's issuedCount, or the sale's
    /// quantity - remaining.
    pub server_count: i64,
    /// PASS, FAIL, or UNKNOWN (nothing to check against).
    pub status: String,
    /// Why.
    pub detail: String,
}

/// The result of a load run (printed as a table, written with `--report`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub url: String,
    pub scenario: Scenario,
    pub users: usize,
    pub concurrency: usize,
    pub campaign_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    pub promotion_id: Option<Uuid>,
    /// Requests sent (each got an answer or a transport error).
    pub requests: u64,
    pub elapsed_s: f64,
    /// Requests per second over the run.
    pub throughput_rps: f64,
    pub latency: Latency,
    pub coupon: Option<CouponOutcomes>,
    pub order: Option<OrderOutcomes>,
    pub verdicts: Vec<Verdict>,
    /// PASS when every check passes, FAIL when one fails, else UNKNOWN.
    pub verdict: String,
    /// Caveat: the server's counters include other clients' traffic.
    pub note: String,
}

/// One virtual user: the shared client with the user's token, and an address for orders.
struct VUser {
    client: Client,
    token: String,
    address_id: Option<Uuid>,
}

/// What the workers hit.
#[derive(Clone, Copy)]
struct Target {
    campaign: Option<Uuid>,
    product: Option<Uuid>,
}

/// One answer, classified.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Issued,
    CouponSoldOut,
    AlreadyIssued,
    NotOpen,
    Placed,
    OrderSoldOut,
    LimitExceeded,
    Busy,
    RateLimited,
    Error,
}

impl Outcome {
    fn is_error(self) -> bool {
        matches!(self, Outcome::Busy | Outcome::RateLimited | Outcome::Error)
    }
}

#[derive(Default)]
struct Tally {
    coupon: CouponOutcomes,
    order: OrderOutcomes,
}

impl Tally {
    fn add(&mut self, coupon: bool, o: Outcome) {
        if coupon {
            let c = &mut self.coupon;
            match o {
                Outcome::Issued => c.issued += 1,
                Outcome::CouponSoldOut => c.sold_out += 1,
                Outcome::AlreadyIssued => c.already_issued += 1,
                Outcome::NotOpen => c.not_open += 1,
                Outcome::Busy => c.busy += 1,
                Outcome::RateLimited => c.rate_limited += 1,
                _ => c.other_errors += 1,
            }
        } else {
            let r = &mut self.order;
            match o {
                Outcome::Placed => r.placed += 1,
                Outcome::OrderSoldOut => r.sold_out += 1,
                Outcome::LimitExceeded => r.limit_exceeded += 1,
                Outcome::Busy => r.busy += 1,
                Outcome::RateLimited => r.rate_limited += 1,
                _ => r.errors += 1,
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        let (a, b) = (&mut self.coupon, other.coupon);
        a.issued += b.issued;
        a.sold_out += b.sold_out;
        a.already_issued += b.already_issued;
        a.not_open += b.not_open;
        a.busy += b.busy;
        a.rate_limited += b.rate_limited;
        a.other_errors += b.other_errors;
        let (a, b) = (&mut self.order, other.order);
        a.placed += b.placed;
        a.sold_out += b.sold_out;
        a.limit_exceeded += b.limit_exceeded;
        a.busy += b.busy;
        a.rate_limited += b.rate_limited;
        a.errors += b.errors;
    }
}

const NOTE: &str = "the server's counters include any other client's traffic on the same \
                    campaign or sale: a FAIL while others load it may not be an oversell";

/// `hotdeal load`: run (drawing `--plot`), print the table, write the report; fails when the
/// verdict is FAIL, after both files are written. With `--setup-only`, set up, print the ids
/// and stop.
pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.setup_only {
        let made = run_setup(&args).await?;
        if let Some(path) = &args.users_out {
            write_users(&args, path).await?;
        }
        println!("{}", serde_json::to_string(&made)?);
        return Ok(());
    }
    let quiet = args.quiet;
    let path = args.report.clone();
    let report = run_load(args).await?;
    if !quiet {
        print_table(&report);
    }
    if let Some(path) = path {
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    anyhow::ensure!(report.verdict != "FAIL", "verdict FAIL");
    Ok(())
}

/// What `--setup` created on the server (printed by `--setup-only`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetUp {
    /// The open campaign (coupon and mixed scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<Uuid>,
    /// The product on sale (order and mixed scenarios).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<Uuid>,
    /// Its time sale, which starts a second after the set-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_id: Option<Uuid>,
    /// When the sale starts (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale_start_ms: Option<i64>,
}

/// The server, reached with the one pooled client, and a MASTER token for the set-up and the
/// verdict.
struct Session {
    client: Client,
    api: Api,
    keys: crate::http::auth::JwtKeys,
    master_id: UserId,
    now_ms: i64,
    ttl_s: u64,
}

fn session(args: &LoadArgs) -> anyhow::Result<Session> {
    let secret = args.server.secret.load()?;
    let keys = secret.keys();
    let ttl_s = args.duration_s.unwrap_or(0) + 3600;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let master_id = UserId::new();
    let master = keys.mint_access(
        master_id,
        "load-master@hotdeal.local",
        Role::Master,
        now_ms,
        ttl_s,
    )?;
    // One pool for the set-up, the workers and the verdict: a connection per worker.
    let client = Client::with_options(
        &args.server.base_url(),
        &ClientOptions::pooled(args.concurrency),
    )?;
    Ok(Session {
        api: Api {
            master: client.with_token(&master),
            secret,
        },
        client,
        keys,
        master_id,
        now_ms,
        ttl_s,
    })
}

/// `--setup-only`: create what `--setup` would for the scenario, and nothing else.
pub async fn run_setup(args: &LoadArgs) -> anyhow::Result<SetUp> {
    let s = session(args)?;
    setup(&s.api, args.scenario, s.master_id, args.quantity).await
}

/// `--users-out`: `--users` shoppers, a line each (`token` or `token addressId`).
pub async fn write_users(args: &LoadArgs, path: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let s = session(args)?;
    let mut users = mint_users(args, &s)?;
    if args.scenario.orders() {
        create_addresses(&s.api, &mut users, args.concurrency).await?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for u in &users {
        match u.address_id {
            Some(address) => writeln!(out, "{} {address}", u.token)?,
            None => writeln!(out, "{}", u.token)?,
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The campaign for coupons, the company, product and time sale for orders.
async fn setup(
    api: &Api,
    scenario: Scenario,
    master_id: UserId,
    quantity: i64,
) -> anyhow::Result<SetUp> {
    let mut made = SetUp::default();
    if scenario.coupons() {
        made.campaign_id = Some(setup_campaign(api, quantity).await?);
    }
    if scenario.orders() {
        let (product, promotion, start) = setup_sale(api, master_id, quantity).await?;
        made.product_id = Some(product);
        made.promotion_id = Some(promotion);
        made.sale_start_ms = Some(start);
    }
    Ok(made)
}

/// Set up (optionally), run the load, read the verdict from the server, and draw `--plot`.
pub async fn run_load(args: LoadArgs) -> anyhow::Result<LoadReport> {
    check_args(&args)?;
    let session = session(&args)?;
    let mut users = mint_users(&args, &session)?;
    let targets = targets(&args, &session.api, session.master_id).await?;
    if args.scenario.orders() {
        create_addresses(&session.api, &mut users, args.concurrency).await?;
    }
    if let Some(start) = targets.sale_start_ms {
        let wait = start + 50 - chrono::Utc::now().timestamp_millis();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
    // The server's counters before the run, so a campaign or sale used before still checks.
    let before = targets.counts(&session.api).await?;
    let run = drive(&args, users, targets.hit()).await?;
    let verdicts = verdicts(&args, &session.api, &targets, &before, &run.tally).await?;
    let report = report(
        &args,
        &targets,
        run.hist,
        run.tally,
        run.elapsed_s,
        verdicts,
    );
    if let Some(path) = &args.plot {
        let samples = Samples::merge(run.samples);
        super::plot::write_svg(path, &samples, &PlotSummary::from(&report))?;
    }
    Ok(report)
}

/// Refuse a run that could not say anything before it starts.
fn check_args(args: &LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(
        args.duration_s.is_some() || args.requests.is_some(),
        "give --duration-s or --requests"
    );
    if let Some(plot) = &args.plot {
        // Fail before the run rather than lose it to a typo (the write after it names the path too).
        let dir = plot.parent().filter(|d| !d.as_os_str().is_empty());
        anyhow::ensure!(
            !plot.is_dir() && dir.is_none_or(std::path::Path::is_dir),
            "--plot {}: not a file in an existing directory",
            plot.display()
        );
    }
    Ok(())
}

/// `--users` shoppers, each with a token of its own.
fn mint_users(args: &LoadArgs, session: &Session) -> anyhow::Result<Vec<VUser>> {
    (0..args.users)
        .map(|i| {
            let token = session.keys.mint_access(
                UserId::new(),
                &format!("load-{i}@hotdeal.local"),
                Role::Customer,
                session.now_ms,
                session.ttl_s,
            )?;
            Ok(VUser {
                client: session.client.with_token(&token),
                token,
                address_id: None,
            })
        })
        .collect()
}

/// What a run hits: set up by it (`--setup`) or named by the flags.
struct Targets {
    campaign: Option<Uuid>,
    product: Option<Uuid>,
    promotion: Option<Uuid>,
    sale_start_ms: Option<i64>,
}

/// The server's counters for the targets: `(quantity, count)` of the campaign and of the sale.
struct Counts {
    coupon: Option<(i64, i64)>,
    sale: Option<(i64, i64)>,
}

impl Targets {
    fn hit(&self) -> Target {
        Target {
            campaign: self.campaign,
            product: self.product,
        }
    }

    async fn counts(&self, api: &Api) -> anyhow::Result<Counts> {
        Ok(Counts {
            coupon: match self.campaign {
                Some(c) => Some(coupon_counts(api, c).await?),
                None => None,
            },
            sale: match self.promotion {
                Some(p) => Some(sale_counts(api, p).await?),
                None => None,
            },
        })
    }
}

async fn targets(args: &LoadArgs, api: &Api, master_id: UserId) -> anyhow::Result<Targets> {
    let made = if args.setup {
        setup(api, args.scenario, master_id, args.quantity).await?
    } else {
        SetUp::default()
    };
    let mut t = Targets {
        campaign: None,
        product: None,
        promotion: None,
        sale_start_ms: made.sale_start_ms,
    };
    if args.scenario.coupons() {
        t.campaign = Some(if args.setup {
            made.campaign_id.context("no campaign was set up")?
        } else {
            args.campaign_id
                .context("the coupon scenario needs --campaign-id or --setup")?
        });
    }
    if args.scenario.orders() {
        if args.setup {
            t.product = made.product_id;
            t.promotion = made.promotion_id;
        } else {
            t.promotion = args.promotion_id;
            t.product = match (args.product_id, t.promotion) {
                (Some(p), _) => Some(p),
                (None, Some(promo)) => {
                    let sale: PromotionCounts = api
                        .master
                        .promotion(promo)
                        .data()
                        .await
                        .map_err(|e| api.explain(e))?;
                    Some(sale.product_id)
                }
                (None, None) => anyhow::bail!(
                    "the order scenario needs --product-id / --promotion-id or --setup"
                ),
            };
        }
    }
    Ok(t)
}

/// What the workers saw, merged.
struct Run {
    hist: Histogram<u64>,
    tally: Tally,
    samples: Vec<SampleBuffer>,
    elapsed_s: f64,
}

/// `--concurrency` workers taking request numbers from one counter until the duration or the
/// request count is reached, with a progress line meanwhile.
async fn drive(args: &LoadArgs, users: Vec<VUser>, target: Target) -> anyhow::Result<Run> {
    let users = Arc::new(users);
    let seq = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = args.duration_s.map(|d| started + Duration::from_secs(d));
    let progress = Progress::start(args, started, done.clone(), errors.clone());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (users, seq, done, errors) = (users.clone(), seq.clone(), done.clone(), errors.clone());
        let (limit, scenario) = (args.requests, args.scenario);
        let mut samples = args
            .plot
            .is_some()
            .then(|| SampleBuffer::for_workers(args.concurrency));
        workers.spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .expect("valid histogram bounds");
            let mut tally = Tally::default();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let n = seq.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|l| n >= l) {
                    break;
                }
                let user = &users[(n % users.len() as u64) as usize];
                let coupon = match scenario {
                    Scenario::Coupon => true,
                    Scenario::Order => false,
                    // Alternate, shifted every round so each user does both kinds.
                    Scenario::Mixed => (n + n / users.len() as u64).is_multiple_of(2),
                };
                let t0 = Instant::now();
                let outcome = if coupon {
                    issue(target, user).await
                } else {
                    order(target, user).await
                };
                let took = t0.elapsed();
                let us = took.as_micros().clamp(1, 60_000_000) as u64;
                let _ = hist.record(us);
                if let Some(s) = &mut samples {
                    s.record(Sample::new(t0 - started, took));
                }
                tally.add(coupon, outcome);
                done.fetch_add(1, Ordering::Relaxed);
                if outcome.is_error() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            (hist, tally, samples)
        });
    }
    let mut run = Run {
        hist: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
        tally: Tally::default(),
        samples: Vec::new(),
        elapsed_s: 0.0,
    };
    while let Some(done) = workers.join_next().await {
        let (h, t, s) = done.context("a load worker panicked")?;
        run.hist.add(h)?;
        run.tally.merge(t);
        run.samples.extend(s);
    }
    run.elapsed_s = started.elapsed().as_secs_f64();
    progress.finish();
    Ok(run)
}

/// The verdicts, from the server's own counters before and after the run.
async fn verdicts(
    args: &LoadArgs,
    api: &Api,
    targets: &Targets,
    before: &Counts,
    tally: &Tally,
) -> anyhow::Result<Vec<Verdict>> {
    let mut verdicts = Vec::new();
    if let (Some(c), Some((_, before))) = (targets.campaign, before.coupon) {
        let (quantity, after) = coupon_counts(api, c).await?;
        verdicts.push(check(
            "coupon",
            quantity,
            tally.coupon.issued,
            (before, after),
            "issuedCount",
        ));
    }
    if args.scenario.orders() {
        match (targets.promotion, before.sale) {
            (Some(p), Some((_, before))) => {
                let (quantity, after) = sale_counts(api, p).await?;
                verdicts.push(check(
                    "order",
                    quantity,
                    tally.order.placed,
                    (before, after),
                    "quantity - remaining",
                ));
            }
            _ => verdicts.push(Verdict {
                check: "order".into(),
                quantity: 0,
                successes: tally.order.placed,
                server_before: 0,
                server_count: 0,
                status: "UNKNOWN".into(),
                detail: "no --promotion-id: nothing to check against".into(),
            }),
        }
    }
    Ok(verdicts)
}

fn report(
    args: &LoadArgs,
    targets: &Targets,
    hist: Histogram<u64>,
    tally: Tally,
    elapsed: f64,
    verdicts: Vec<Verdict>,
) -> LoadReport {
    let verdict = if verdicts.iter().any(|v| v.status == "FAIL") {
        "FAIL"
    } else if !verdicts.is_empty() && verdicts.iter().all(|v| v.status == "PASS") {
        "PASS"
    } else {
        "UNKNOWN"
    };
    let requests = hist.len();
    let ms = |us: u64| us as f64 / 1000.0;
    // Milli-precision keeps the JSON short and exact on a round trip.
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    LoadReport {
        url: args.server.base_url(),
        scenario: args.scenario,
        users: args.users,
        concurrency: args.concurrency,
        campaign_id: targets.campaign,
        product_id: targets.product,
        promotion_id: targets.promotion,
        requests,
        elapsed_s: r3(elapsed),
        throughput_rps: if elapsed > 0.0 {
            r3(requests as f64 / elapsed)
        } else {
            0.0
        },
        latency: Latency {
            p50_ms: ms(hist.value_at_quantile(0.50)),
            p90_ms: ms(hist.value_at_quantile(0.90)),
            p99_ms: ms(hist.value_at_quantile(0.99)),
            p999_ms: ms(hist.value_at_quantile(0.999)),
            max_ms: ms(hist.max()),
            mean_ms: r3(hist.mean() / 1000.0),
        },
        coupon: args.scenario.coupons().then_some(tally.coupon),
        order: args.scenario.orders().then_some(tally.order),
        verdicts,
        verdict: verdict.to_string(),
        note: NOTE.to_string(),
    }
}

fn check(
    kind: &str,
    quantity: i64,
    successes: u64,
    (before, after): (i64, i64),
    what: &str,
) -> Verdict {
    let seen = successes as i64;
    let oversold = seen > quantity - before || after > quantity;
    let pass = !oversold && seen == after - before;
    Verdict {
        check: kind.to_string(),
        quantity,
        successes,
        server_before: before,
        server_count: after,
        status: if pass { "PASS" } else { "FAIL" }.to_string(),
        detail: format!(
            "{successes} successes seen, server {what} {before} -> {after}, quantity {quantity}: {}",
            if pass {
                "no oversell, counts agree"
            } else if oversold {
                "MORE SUCCESSES THAN QUANTITY"
            } else {
                "counts differ"
            }
        ),
    }
}

/// A campaign's (quantity, issuedCount).
async fn coupon_counts(api: &Api, campaign: Uuid) -> anyhow::Result<(i64, i64)> {
    let c: CampaignCounts = api
        .master
        .campaign(campaign)
        .data()
        .await
        .map_err(|e| api.explain(e))?;
    Ok((c.quantity, c.issued_count))
}

/// A sale's (quantity, quantity - remaining).
async fn sale_counts(api: &Api, promotion: Uuid) -> anyhow::Result<(i64, i64)> {
    let p: PromotionCounts = api
        .master
        .promotion(promotion)
        .data()
        .await
        .map_err(|e| api.explain(e))?;
    Ok((p.quantity, p.quantity - p.remaining))
}

/// What bounds a run, for the progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Duration(Duration),
    Requests(u64),
}

/// Live progress while the workers run: with a terminal, a bar of the run's time (with
/// `--duration-s`) or of its requests (with `--requests`), then the time left, the requests
/// sent, the rate and the errors; without one, the same line on stderr now and then
/// ([`plain_interval`]). Nothing with `--quiet`.
struct Progress {
    bar: ProgressBar,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// How often the progress line is printed when stderr is not a terminal: a tenth of a timed
/// run, between 1 and 10 seconds; every 5 seconds for a counted one.
fn plain_interval(limit: Limit) -> Duration {
    match limit {
        Limit::Duration(d) => (d / 10).clamp(Duration::from_secs(1), Duration::from_secs(10)),
        Limit::Requests(_) => Duration::from_secs(5),
    }
}

impl Progress {
    fn start(
        args: &LoadArgs,
        started: Instant,
        done: Arc<AtomicU64>,
        errors: Arc<AtomicU64>,
    ) -> Progress {
        let limit = match (args.duration_s, args.requests) {
            (Some(s), _) => Limit::Duration(Duration::from_secs(s)),
            (None, Some(n)) => Limit::Requests(n),
            (None, None) => Limit::Requests(0),
        };
        if args.quiet {
            return Progress {
                bar: ProgressBar::hidden(),
                task: None,
            };
        }
        use std::io::IsTerminal;
        let terminal = std::io::stderr().is_terminal();
        let bar = match limit {
            Limit::Duration(d) => ProgressBar::new(d.as_millis() as u64),
            Limit::Requests(n) => ProgressBar::new(n),
        };
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {msg}") {
            bar.set_style(style);
        }
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            let mut last_plain = Instant::now();
            loop {
                tick.tick().await;
                let elapsed = started.elapsed();
                let n = done.load(Ordering::Relaxed);
                let line = progress_line(limit, elapsed, n, errors.load(Ordering::Relaxed));
                if terminal {
                    shown.set_position(match limit {
                        Limit::Duration(_) => elapsed.as_millis() as u64,
                        Limit::Requests(_) => n,
                    });
                    shown.set_message(line);
                } else if last_plain.elapsed() >= plain_interval(limit) {
                    last_plain = Instant::now();
                    eprintln!("hotdeal load: {line}");
                }
            }
        });
        Progress {
            bar,
            task: Some(task),
        }
    }

    fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// `12 s left · 336,408 requests · 28,034 req/s · 0 errors`.
fn progress_line(limit: Limit, elapsed: Duration, done: u64, errors: u64) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let left = match limit {
        Limit::Duration(d) => format!("{} s left", d.saturating_sub(elapsed).as_secs_f64().ceil()),
        Limit::Requests(n) if rate > 0.0 => {
            format!("~{} s left", (n.saturating_sub(done) as f64 / rate).ceil())
        }
        Limit::Requests(_) => "starting".to_string(),
    };
    format!(
        "{left} · {} requests · {} · {} errors",
        HumanCount(done),
        per_second(rate, "req/s"),
        HumanCount(errors)
    )
}

/// A rate as a whole number with thousands separators and its unit: `28,034 req/s`.
pub fn per_second(rate: f64, unit: &str) -> String {
    format!("{} {unit}", HumanCount(rate.max(0.0).round() as u64))
}

/// The set-up and the counters, as MASTER; every call must succeed.
struct Api {
    master: Client,
    /// The secret the tokens were signed with (named when the server refuses them).
    secret: Secret,
}

impl Api {
    /// A failed call as the error to show: a refused signature says which secret signed the
    /// token, a transport failure how to give the server's address.
    fn explain(&self, err: crate::client::Error) -> anyhow::Error {
        let url = self.master.base_url();
        if let Some(e) = signature_mismatch(&err, url, &self.secret) {
            return e;
        }
        match err {
            crate::client::Error::Transport { .. } => anyhow::Error::new(err).context(format!(
                "reaching {url} (give the server's address with --url)"
            )),
            other => other.into(),
        }
    }
}

async fn setup_campaign(api: &Api, quantity: i64) -> anyhow::Result<Uuid> {
    let name = format!(
        "load test {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
    );
    let created: CampaignCreated = api
        .master
        .create_campaign(&NewCampaign::first_come(&name, quantity))
        .data()
        .await
        .map_err(|e| api.explain(e))?;
    let id = created.coupon_id;
    api.master
        .set_campaign_status(id, "ISSUED")
        .ok()
        .await
        .map_err(|e| api.explain(e))?;
    Ok(id)
}

/// A company (approved), a product with `quantity` units, and a time sale of all of them
/// starting in a second with one unit per user. Returns (product, promotion, start ms).
async fn setup_sale(
    api: &Api,
    master_id: UserId,
    quantity: i64,
) -> anyhow::Result<(Uuid, Uuid, i64)> {
    let mut company = None;
    for _ in 0..5 {
        // A random 10-digit registration number; retried if taken (CA006).
        let brn = 1_000_000_000 + (Uuid::new_v4().as_u128() % 9_000_000_000) as i64;
        let body = NewCompany {
            business_registration_number: brn,
            company_phone_number: 212345678,
            manager_id: master_id.0,
            brand_name: "load test",
            company_email: "load@hotdeal.local",
        };
        match api
            .master
            .create_company(&body)
            .data::<CompanyCreated>()
            .await
        {
            Ok(c) => {
                company = Some(c.company_id);
                break;
            }
            Err(e) if e.code() == Some("CA006") => continue,
            Err(e) => return Err(api.explain(e)),
        }
    }
    let company = company.context("no free business registration number after 5 tries")?;
    api.master
        .set_company_status(company, "APPROVED")
        .ok()
        .await
        .map_err(|e| api.explain(e))?;
    let product: ProductCreated = api
        .master
        .create_product(&NewProduct {
            name: "load test product",
            price: 10000,
            quantity,
            category: "FOOD",
            company_id: company,
            description: Some("created by hotdeal load"),
            thumb_img: "https://example.com/load.png",
            detail_imgs: &[],
        })
        .data()
        .await
        .map_err(|e| api.explain(e))?;
    let product = product.product_id;
    let now = chrono::Utc::now().timestamp_millis();
    let start = now + 1000;
    let end = now + 24 * 3600 * 1000;
    let promotion: PromotionCreated = api
        .master
        .create_promotion(&NewPromotion {
            product_id: product,
            start: crate::domain::clock::rfc3339(start),
            end: crate::domain::clock::rfc3339(end),
            discount_price: 5000,
            quantity,
            per_user_limit: Some(1),
        })
        .data()
        .await
        .map_err(|e| api.explain(e))?;
    Ok((product, promotion.promotion_id, start))
}

/// One address per user (orders need one), `concurrency` at a time.
async fn create_addresses(
    api: &Api,
    users: &mut [VUser],
    concurrency: usize,
) -> anyhow::Result<()> {
    use futures::StreamExt;
    let body = NewAddress::seoul("load test");
    let ids: Vec<anyhow::Result<Uuid>> = futures::stream::iter(users.iter())
        .map(|u| {
            let body = &body;
            async move {
                let made: crate::client::AddressCreated = u
                    .client
                    .create_address(body)
                    .data()
                    .await
                    .map_err(|e| api.explain(e))?;
                anyhow::Ok(made.address_id)
            }
        })
        .buffered(concurrency)
        .collect()
        .await;
    for (u, id) in users.iter_mut().zip(ids) {
        u.address_id = Some(id?);
    }
    Ok(())
}

/// 503 and 429 by status; anything else unexpected (a transport failure too) is an error.
fn common(a: &Brief) -> Outcome {
    match a.status {
        503 => Outcome::Busy,
        429 => Outcome::RateLimited,
        _ => Outcome::Error,
    }
}

async fn issue(t: Target, user: &VUser) -> Outcome {
    let Some(campaign) = t.campaign else {
        return Outcome::Error;
    };
    let Ok(a) = user.client.issue_coupon(campaign).brief().await else {
        return Outcome::Error;
    };
    match (a.status, a.code()) {
        (201, _) => Outcome::Issued,
        (_, "CO005") => Outcome::CouponSoldOut,
        (_, "CO006") => Outcome::AlreadyIssued,
        (_, "CO004") => Outcome::NotOpen,
        _ => common(&a),
    }
}

async fn order(t: Target, user: &VUser) -> Outcome {
    let (Some(product), Some(address)) = (t.product, user.address_id) else {
        return Outcome::Error;
    };
    let Ok(a) = user.client.buy_now(product, 1, address).brief().await else {
        return Outcome::Error;
    };
    match (a.status, a.code()) {
        (201, _) => Outcome::Placed,
        (_, "P022" | "OP004") => Outcome::OrderSoldOut,
        (_, "LIMIT_EXCEEDED") => Outcome::LimitExceeded,
        _ => common(&a),
    }
}

fn print_table(r: &LoadReport) {
    println!("hotdeal load: {:?} against {}", r.scenario, r.url);
    println!(
        "  users {}  concurrency {}  requests {}  elapsed {:.1} s  throughput {}",
        HumanCount(r.users as u64),
        r.concurrency,
        HumanCount(r.requests),
        r.elapsed_s,
        per_second(r.throughput_rps, "req/s")
    );
    let l = &r.latency;
    println!(
        "  latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms
    );
    if let Some(c) = &r.coupon {
        println!("  coupon outcomes:");
        for (name, n) in [
            ("issued", c.issued),
            ("sold_out (CO005)", c.sold_out),
            ("already_issued (CO006)", c.already_issued),
            ("not_open (CO004)", c.not_open),
            ("busy (503)", c.busy),
            ("rate_limited (429)", c.rate_limited),
            ("other errors", c.other_errors),
        ] {
            println!("    {name:<24} {n:>10}");
        }
    }
    if let Some(o) = &r.order {
        println!("  order outcomes:");
        for (name, n) in [
            ("placed", o.placed),
            ("sold_out (P022/OP004)", o.sold_out),
            ("limit_exceeded", o.limit_exceeded),
            ("busy (503)", o.busy),
            ("rate_limited (429)", o.rate_limited),
            ("errors", o.errors),
        ] {
            println!("    {name:<24} {n:>10}");
        }
    }
    for v in &r.verdicts {
        println!("  {} check: {} ({})", v.check, v.status, v.detail);
    }
    println!("  verdict: {}", r.verdict);
    println!("  note: {}", r.note);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_whole_numbers_with_separators_and_units() {
        assert_eq!(per_second(28_034.129_1, "req/s"), "28,034 req/s");
        assert_eq!(per_second(0.4, "req/s"), "0 req/s");
        assert_eq!(per_second(1_234_567.5, "req/s"), "1,234,568 req/s");
    }

    #[test]
    fn a_timed_run_shows_the_time_left() {
        let line = progress_line(
            Limit::Duration(Duration::from_secs(30)),
            Duration::from_millis(17_500),
            350_680,
            2,
        );
        assert_eq!(
            line,
            "13 s left · 350,680 requests · 20,039 req/s · 2 errors"
        );
        let line = progress_line(Limit::Requests(1000), Duration::from_secs(2), 500, 0);
        assert_eq!(line, "~2 s left · 500 requests · 250 req/s · 0 errors");
    }
}
