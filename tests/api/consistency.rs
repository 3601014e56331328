//! A start whose database does not match the snapshot or journal it recovers from is not
//! "ready": `/readyz` answers 503 with the reasons, and `check_snapshot` (what `hotdeal snapshot
//! restore` runs first) names them. A matching restart stays ready.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hotdeal::http::auth::Role;
use hotdeal::persistence::recovery::check_snapshot;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app, spawn_app_in};

/// A campaign with `claims` coupons issued; returns its id.
async fn campaign_with_claims(app: &TestApp, claims: usize) -> String {
    let campaign = app.open_campaign(100).await;
    claim(app, &campaign, claims).await;
    campaign
}

async fn claim(app: &TestApp, campaign: &str, claims: usize) {
    for _ in 0..claims {
        let (_, token) = app.token(Role::Customer);
        let res = app.with_token(&token).issue_coupon(campaign).await.unwrap();
        assert_eq!(res.status, 201, "{:?}", res.body);
    }
}

/// Take a snapshot through the admin API; its path.
async fn snapshot(app: &TestApp) -> PathBuf {
    let (_, admin) = app.token(Role::Master);
    let res = app
        .post("/api/v1/admin/snapshots", &Value::Null, Some(&admin))
        .await;
    assert_eq!(res.status, 201, "{:?}", res.body);
    PathBuf::from(res.data()["path"].as_str().unwrap())
}

async fn readyz(app: &TestApp) -> (u16, Vec<String>) {
    let res = app.get("/readyz", None).await;
    let problems = res.body["problems"]
        .as_array()
        .expect("problems listed")
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    (res.status, problems)
}

/// Wait (bounded) until the write-behind has applied everything journaled.
async fn caught_up(app: &TestApp) {
    let journal = app.state.engine.journal();
    let deadline = Instant::now() + Duration::from_secs(10);
    while journal.applied() < journal.appended() {
        assert!(
            Instant::now() < deadline,
            "the write-behind did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_snapshot_of_another_database_is_reported_and_not_ready() {
    let first = spawn_app().await;
    campaign_with_claims(&first, 3).await;
    let file = snapshot(&first).await;
    let kept = tempfile::tempdir().unwrap();
    let copy = kept.path().join(file.file_name().unwrap());
    std::fs::copy(&file, &copy).unwrap();
    drop(first.stop().await);

    // A fresh database and data dir, started from that snapshot.
    let other = crate::helpers::spawn_app_with(
        |c| c.restore_from = Some(copy.clone()),
        std::sync::Arc::new(hotdeal::domain::clock::SystemClock),
    )
    .await;
    let (status, problems) = readyz(&other).await;
    assert_eq!(status, 503, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("no row for 1 of the snapshot's 1 campaigns")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("can never be written to the database")),
        "{problems:?}"
    );
    assert_eq!(other.state.recovery_problems(), problems.as_slice());

    // What `hotdeal snapshot restore` checks before serving says the same.
    let checked = check_snapshot(
        &other.state.store,
        &other.state.config.journal_options(),
        &copy,
    )
    .await
    .unwrap();
    assert_eq!(checked.len(), problems.len(), "{checked:?} vs {problems:?}");
}

#[tokio::test]
async fn a_restart_on_its_own_database_and_journal_is_ready() {
    let app = spawn_app().await;
    let campaign = campaign_with_claims(&app, 3).await;
    let file = snapshot(&app).await;
    claim(&app, &campaign, 2).await;
    let checked = check_snapshot(&app.state.store, &app.state.config.journal_options(), &file)
        .await
        .unwrap();
    assert_eq!(checked, Vec::<String>::new());
    let dir = app.stop().await;

    let app = spawn_app_in(dir, |_| {}).await;
    assert_eq!(readyz(&app).await, (200, vec![]));
    // From the older snapshot too: the journal after it is still there.
    let dir = app.stop().await;
    let app = spawn_app_in(dir, |c| c.restore_from = Some(file.clone())).await;
    assert_eq!(readyz(&app).await, (200, vec![]));
}

#[tokio::test]
async fn a_snapshot_behind_the_database_without_the_journal_between_is_reported() {
    let app = spawn_app().await;
    let campaign = campaign_with_claims(&app, 2).await;
    let file = snapshot(&app).await;
    claim(&app, &campaign, 3).await;
    caught_up(&app).await;
    let journal_dir = app.state.config.journal_dir();
    let dir = app.crash().await;
    // The data disk's journal is gone; the database went on past the snapshot.
    std::fs::remove_dir_all(&journal_dir).unwrap();

    let app = spawn_app_in(dir, |c| c.restore_from = Some(file.clone())).await;
    let (status, problems) = readyz(&app).await;
    assert_eq!(status, 503, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("past the snapshot")
                && p.contains("would start behind the database")),
        "{problems:?}"
    );
}
