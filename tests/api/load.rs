//! `hotdeal load` in-process against `spawn_app()`: setup, run, outcome counts and the verdict.

use hotdeal::cli::load::{LoadArgs, LoadReport, Scenario, run_load};

use crate::helpers::spawn_app;

fn args(url: String, scenario: Scenario, users: usize, quantity: i64, requests: u64) -> LoadArgs {
    LoadArgs {
        url: Some(url),
        scenario,
        users,
        concurrency: 16,
        duration_s: None,
        requests: Some(requests),
        setup: true,
        quantity,
        campaign_id: None,
        product_id: None,
        promotion_id: None,
        report: None,
        quiet: true,
    }
}

#[tokio::test]
async fn coupon_load_issues_exactly_the_quantity_and_passes() {
    let app = spawn_app().await;
    let report = run_load(
        args(app.address.clone(), Scenario::Coupon, 100, 50, 200),
        &app.state.config,
    )
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
    let second = run_load(again, &app.state.config).await.expect("load runs");
    let c = second.coupon.as_ref().expect("coupon outcomes");
    assert_eq!(c.issued, 0, "{second:#?}");
    assert_eq!(c.sold_out + c.already_issued, 20, "{second:#?}");
    assert_eq!(second.verdicts[0].server_before, 50);
    assert_eq!(second.verdict, "PASS", "{second:#?}");
}

#[tokio::test]
async fn order_load_sells_at_most_the_sale_and_passes() {
    let app = spawn_app().await;
    let report = run_load(
        args(app.address.clone(), Scenario::Order, 20, 10, 40),
        &app.state.config,
    )
    .await
    .expect("load runs");

    let o = report.order.as_ref().expect("order outcomes");
    assert_eq!(o.placed, 10, "{report:#?}");
    assert_eq!(o.sold_out + o.limit_exceeded, 30, "{report:#?}");
    assert_eq!(o.busy + o.rate_limited + o.errors, 0, "{report:#?}");
    assert_eq!(report.verdict, "PASS", "{report:#?}");
    assert!(report.promotion_id.is_some() && report.product_id.is_some());
}
