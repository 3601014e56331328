//! `hotdeal load` in-process against `spawn_app()`: setup, run, outcome counts, the verdict and
//! the `--plot` SVG.

use hotdeal::cli::client::{SecretArgs, ServerArgs};
use hotdeal::cli::load::{
    LoadArgs, LoadReport, Scenario, per_second, run_load, run_setup, write_users,
};
use hotdeal::client::{CampaignCounts, PromotionCounts};
use hotdeal::http::auth::Role;

use crate::helpers::spawn_app;

/// The secret `Config::for_tests` gives the server.
const SECRET: &str = "test-secret-test-secret-test-secret";

fn args(url: String, scenario: Scenario, users: usize, quantity: i64, requests: u64) -> LoadArgs {
    LoadArgs {
        server: ServerArgs {
            url: Some(url),
            http_addr: None,
            secret: SecretArgs {
                data_dir: "unused".into(),
                jwt_secret: Some(SECRET.into()),
            },
        },
        scenario,
        users,
        concurrency: 16,
        duration_s: None,
        requests: Some(requests),
        setup: true,
        setup_only: false,
        users_out: None,
        quantity,
        campaign_id: None,
        product_id: None,
        promotion_id: None,
        report: None,
        plot: None,
        quiet: true,
    }
}

#[tokio::test]
async fn coupon_load_issues_exactly_the_quantity_and_passes() {
    let app = spawn_app().await;
    let report = run_load(args(app.address.clone(), Scenario::Coupon, 100, 50, 200))
        .await
        .expect("load runs");

    assert_eq!(report.requests, 200);
    let c = report.coupon.as_ref().expect("coupon outcomes");
    assert_eq!(c.issued, 50, "{report:#?}");
    assert_eq!(c.sold_out + c.already_issued, 150, "{report:#?}");
    assert_eq!(c.not_open + c.busy + c.rate_limited + c.other_errors, 0);
    assert!(report.order.is_none());
    assert_eq!(report.verdicts.len(), 1);
    assert_eq!(report.verdicts[0].server_count, 50);
    assert_eq!(report.verdict, "PASS", "{report:#?}");
    assert!(report.throughput_rps > 0.0);
    assert!(report.latency.p50_ms <= report.latency.p99_ms);
    assert!(report.latency.p99_ms <= report.latency.max_ms);

    let json = serde_json::to_string(&report).unwrap();
    let back: LoadReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["coupon"]["alreadyIssued"], c.already_issued);
    assert_eq!(v["latency"]["p999Ms"], report.latency.p999_ms);

    // Again on the same campaign without --setup: nothing left, and the verdict still holds
    // (it compares against the server's count before the run).
    let mut again = args(app.address.clone(), Scenario::Coupon, 10, 0, 20);
    again.setup = false;
    again.campaign_id = report.campaign_id;
    let second = run_load(again).await.expect("load runs");
    let c = second.coupon.as_ref().expect("coupon outcomes");
    assert_eq!(c.issued, 0, "{second:#?}");
    assert_eq!(c.sold_out + c.already_issued, 20, "{second:#?}");
    assert_eq!(second.verdicts[0].server_before, 50);
    assert_eq!(second.verdict, "PASS", "{second:#?}");
}

#[tokio::test]
async fn order_load_sells_at_most_the_sale_and_passes() {
    let app = spawn_app().await;
    let report = run_load(args(app.address.clone(), Scenario::Order, 20, 10, 40))
        .await
        .expect("load runs");

    let o = report.order.as_ref().expect("order outcomes");
    assert_eq!(o.placed, 10, "{report:#?}");
    assert_eq!(o.sold_out + o.limit_exceeded, 30, "{report:#?}");
    assert_eq!(o.busy + o.rate_limited + o.errors, 0, "{report:#?}");
    assert_eq!(report.verdict, "PASS", "{report:#?}");
    assert!(report.promotion_id.is_some() && report.product_id.is_some());
}

#[tokio::test]
async fn coupon_load_with_plot_writes_an_svg_with_both_panels_and_the_summary() {
    let app = spawn_app().await;
    let path = app.dir.path().join("load.svg");
    let mut a = args(app.address.clone(), Scenario::Coupon, 50, 20, 120);
    a.concurrency = 4;
    a.plot = Some(path.clone());
    let report = run_load(a).await.expect("load runs");
    assert_eq!(report.requests, 120);

    let svg = std::fs::read_to_string(&path).expect("the plot is written");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    let caption = format!(
        "concurrency 4, 120 requests in {:.2} s, {}, p50 {:.2} ms, p99 {:.2} ms",
        report.elapsed_s,
        per_second(report.throughput_rps, "req/s"),
        report.latency.p50_ms,
        report.latency.p99_ms
    );
    // plotters writes each <text>'s contents on a line of its own.
    let texts: Vec<&str> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>')?.1.split_once("</text>"))
        .map(|(inner, _)| inner.trim())
        .collect();
    for text in [
        "hotdeal load: coupon scenario",
        caption.as_str(),
        "time since start (s)",
        "latency (ms, log scale)",
        "throughput (req/s)",
        "Latency histogram (log-scaled buckets, 10 per decade)",
        "requests",
        "requests per bucket",
        "p50",
        "p99",
        "max",
        "throughput (right axis)",
    ] {
        assert!(texts.contains(&text), "no <text> {text:?} in {texts:?}");
    }
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Latency over time (per ")),
        "no time-series title in {texts:?}"
    );
    assert!(svg.contains("<rect"), "histogram bars");
    assert!(svg.contains("<polyline"), "latency lines");
}

#[tokio::test]
async fn a_plot_path_in_a_missing_directory_fails_before_the_run_and_names_it() {
    let app = spawn_app().await;
    let path = app.dir.path().join("missing").join("load.svg");
    let mut a = args(app.address.clone(), Scenario::Coupon, 10, 10, 10);
    a.plot = Some(path.clone());
    let err = run_load(a).await.unwrap_err();
    assert!(
        format!("{err:#}").contains(&path.display().to_string()),
        "{err:#}"
    );
    assert!(!path.exists());
}

#[tokio::test]
async fn setup_only_creates_an_open_campaign_or_a_sale_and_sends_no_load() {
    let app = spawn_app().await;
    let (_, master) = app.token(Role::Master);
    let master = app.with_token(&master);

    let mut a = args(app.address.clone(), Scenario::Coupon, 10, 25, 0);
    a.requests = None;
    a.setup_only = true;
    let made = run_setup(&a).await.expect("set-up runs");
    assert!(
        made.product_id.is_none() && made.promotion_id.is_none(),
        "{made:?}"
    );
    let campaign: CampaignCounts = master
        .campaign(made.campaign_id.expect("a campaign"))
        .data()
        .await
        .unwrap();
    assert_eq!(
        (
            campaign.quantity,
            campaign.issued_count,
            campaign.status.as_str()
        ),
        (25, 0, "ISSUED")
    );
    let json = serde_json::to_value(&made).unwrap();
    assert_eq!(json["campaignId"], made.campaign_id.unwrap().to_string());
    assert!(json.get("productId").is_none(), "{json}");

    a.scenario = Scenario::Order;
    let made = run_setup(&a).await.expect("set-up runs");
    assert!(made.campaign_id.is_none(), "{made:?}");
    let sale: PromotionCounts = master
        .promotion(made.promotion_id.expect("a sale"))
        .data()
        .await
        .unwrap();
    assert_eq!(Some(sale.product_id), made.product_id);
    assert_eq!((sale.quantity, sale.remaining), (25, 25));
}

#[tokio::test]
async fn users_out_writes_each_shopper_a_token_and_for_orders_an_address_of_its_own() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();

    let mut a = args(app.address.clone(), Scenario::Coupon, 3, 10, 0);
    a.setup_only = true;
    let path = dir.path().join("coupon-users.txt");
    write_users(&a, &path).await.expect("users written");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines.iter().all(|l| !l.contains(' ')),
        "tokens only: {text}"
    );

    a.scenario = Scenario::Order;
    a.users = 4;
    let path = dir.path().join("order-users.txt");
    write_users(&a, &path).await.expect("users written");
    let text = std::fs::read_to_string(&path).unwrap();
    let pairs: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once(' ').expect("token and address"))
        .collect();
    assert_eq!(pairs.len(), 4, "{text}");
    for (i, (token, address)) in pairs.iter().enumerate() {
        let own = app
            .with_token(token)
            .get(format!("/api/v1/address/{address}"))
            .brief()
            .await
            .unwrap();
        assert_eq!(own.status, 200, "shopper {i} reads its address: {own:?}");
        // and it is nobody else's
        let (other, _) = pairs[(i + 1) % pairs.len()];
        let theirs = app
            .with_token(other)
            .get(format!("/api/v1/address/{address}"))
            .brief()
            .await
            .unwrap();
        assert_eq!(theirs.status, 403, "{theirs:?}");
    }
}
