//! One node per database, in-process: a second app on the same SQLite file is refused naming the
//! holder, and may start once the first stopped cleanly; on MySQL a cut lock connection is taken
//! back while claims go on, and a node whose database was taken over refuses claims with 503.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hotdeal::config::Config;
use hotdeal::domain::clock::SystemClock;
use hotdeal::http::auth::Role;
use hotdeal::persistence::node_lock::{NodeLockError, read_holder};
use hotdeal::startup::Application;

use crate::helpers::{TestApp, TestDb, spawn_app, spawn_app_in, spawn_app_with};

fn node_id(app: &TestApp) -> String {
    std::fs::read_to_string(app.data_dir().join("node_id"))
        .unwrap()
        .trim()
        .to_string()
}

async fn claim(app: &TestApp, campaign: &str) -> crate::helpers::TestResponse {
    let (_, token) = app.token(Role::Customer);
    app.with_token(&token).issue_coupon(campaign).await.unwrap()
}

#[tokio::test]
async fn a_second_app_on_the_same_sqlite_file_is_refused_until_the_first_stops_cleanly() {
    let first = spawn_app().await;
    let holder = node_id(&first);
    let other = tempfile::tempdir().unwrap();
    let config = || {
        let mut config = Config::for_tests(other.path());
        config.database_url = first.state.config.database_url.clone();
        config
    };

    let err = Application::build(config())
        .await
        .err()
        .expect("a second node on the database is refused");
    match err.downcast_ref::<NodeLockError>() {
        Some(NodeLockError::InUse {
            holder: Some(h), ..
        }) => {
            assert_eq!(h.owner, holder);
            assert_eq!(h.pid, i64::from(std::process::id()));
        }
        other => panic!("unexpected refusal {other:?}: {err:#}"),
    }
    assert!(format!("{err:#}").contains("--cluster"), "{err:#}");

    let database_url = first.state.config.database_url.clone();
    first.stop().await;
    let second = spawn_app_in(other, |c| c.database_url = database_url).await;
    let now = read_holder(&second.state.db.pool).await.unwrap().unwrap();
    assert_eq!(now.owner, node_id(&second));
    assert_ne!(now.owner, holder);
    second.stop().await;
}

/// An app on a fresh MySQL database with a short lease (confirmed every 100 ms).
async fn mysql_app() -> Option<(TestDb, TestApp)> {
    let test_db = TestDb::mysql().await?;
    let url = test_db.url.clone();
    let app = spawn_app_with(
        |c| {
            c.database_url = url;
            c.lease_ttl_ms = 300;
        },
        Arc::new(SystemClock),
    )
    .await;
    Some((test_db, app))
}

async fn lock_holder_connection(test_db: &TestDb) -> Option<i64> {
    let database: String = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(&test_db.db.pool)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT CAST(IS_USED_LOCK(?) AS SIGNED)")
        .bind(format!("hotdeal.{database}"))
        .fetch_one(&test_db.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn a_cut_lock_connection_is_taken_back_while_claims_go_on() {
    let Some((test_db, app)) = mysql_app().await else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    let campaign = app.open_campaign(1_000).await;
    let before = read_holder(&test_db.db.pool).await.unwrap().unwrap();
    let cut = before
        .connection_id
        .expect("the lock connection is recorded");
    assert_eq!(lock_holder_connection(&test_db).await, Some(cut));

    sqlx::query(sqlx::AssertSqlSafe(format!("KILL {cut}")))
        .execute(&test_db.db.pool)
        .await
        .unwrap();
    // Claims go on whether or not the lock is confirmed yet.
    assert_eq!(claim(&app, &campaign).await.status, 201);

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let holder = read_holder(&test_db.db.pool).await.unwrap().unwrap();
        let used_by = lock_holder_connection(&test_db).await;
        if holder.connection_id != Some(cut) && used_by == holder.connection_id {
            assert_eq!(holder.epoch, before.epoch, "the same lease, held again");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lock was not taken back: {holder:?}, GET_LOCK held by {used_by:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/readyz", None).await.status != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(claim(&app, &campaign).await.status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn a_node_whose_database_was_taken_over_refuses_claims() {
    let Some((test_db, app)) = mysql_app().await else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    let campaign = app.open_campaign(1_000).await;
    assert_eq!(claim(&app, &campaign).await.status, 201);

    // Another node took this one's place (as `--node-id` of this node on another machine would).
    sqlx::query(
        "UPDATE hd_lease SET owner = 'successor', epoch = epoch + 1 WHERE name = 'database'",
    )
    .execute(&test_db.db.pool)
    .await
    .unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let res = claim(&app, &campaign).await;
        if res.status == 503 {
            break res;
        }
        assert_eq!(res.status, 201, "{:?}", res.body);
        assert!(Instant::now() < deadline, "claims were never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(refused.code(), "NODE_LOCK_LOST", "{:?}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["nodeLock"], false);
    // It gave GET_LOCK up to the successor.
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_holder_connection(&test_db).await.is_some() {
        assert!(Instant::now() < deadline, "the lock connection was kept");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
