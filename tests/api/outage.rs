//! A database outage under load: a TCP proxy of the test's own sits between hotdeal and MariaDB
//! and is cut for several seconds. Claims keep flowing; afterwards the database converges.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hotdeal::domain::clock::SystemClock;
use hotdeal::http::auth::Role;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::{TestDb, spawn_app_with};

/// Forwards 127.0.0.1:<port> to `upstream`; `cut(true)` drops every connection and refuses new ones.
struct Proxy {
    port: u16,
    cut_tx: watch::Sender<bool>,
    refused: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut_tx, cut_rx) = watch::channel(false);
        let refused = Arc::new(AtomicUsize::new(0));
        let refused2 = refused.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *cut_rx.borrow() {
                    refused2.fetch_add(1, Ordering::Relaxed);
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cut = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Proxy {
            port,
            cut_tx,
            refused,
        }
    }

    fn cut(&self, cut: bool) {
        self.cut_tx.send_replace(cut);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn claims_continue_through_a_database_outage_and_nothing_is_lost() {
    let Some(test_db) = TestDb::mysql().await else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    let (_, rest) = test_db.url.split_once("@").unwrap();
    let (hostport, dbname) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(hostport.to_string()).await;
    let proxied = format!("mysql://root@127.0.0.1:{}/{dbname}", proxy.port);
    let app = spawn_app_with(
        |c| {
            c.database_url = proxied.clone();
            c.db_acquire_timeout_ms = 500;
            c.writebehind_interval_ms = 10;
        },
        Arc::new(SystemClock),
    )
    .await;
    let campaign = app.open_campaign(10_000).await;
    let claim = |n: usize| {
        let app = &app;
        let campaign = campaign.clone();
        async move {
            let mut ok = 0;
            for _ in 0..n {
                let (_, token) = app.token(Role::Customer);
                let res = app
                    .with_token(&token)
                    .issue_coupon(&campaign)
                    .await
                    .unwrap();
                assert_eq!(res.status, 201, "{:?}", res.body);
                ok += 1;
            }
            ok
        }
    };
    let mut acked = claim(100).await;

    proxy.cut(true);
    let outage_started = Instant::now();
    // Claims keep being answered while the database is unreachable.
    acked += claim(200).await;
    let journal = app.state.engine.journal().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while journal.backlog() == 0 {
        assert!(Instant::now() < deadline, "write-behind never fell behind");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Keep the outage for a few seconds under continued load.
    while outage_started.elapsed() < Duration::from_secs(3) {
        acked += claim(20).await;
    }
    assert!(
        journal.backlog() > 0,
        "nothing can have reached the database while it was cut"
    );
    assert!(
        proxy.refused.load(Ordering::Relaxed) > 0,
        "the write-behind retried"
    );
    proxy.cut(false);

    // The database converges with nothing lost.
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal.backlog() > 0 {
        assert!(Instant::now() < deadline, "write-behind did not catch up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_coupon")
        .fetch_one(&test_db.db.pool)
        .await
        .unwrap();
    assert_eq!(rows, acked as i64);
    let issued: i64 =
        sqlx::query_scalar("SELECT issued_count FROM p_coupon_info WHERE coupon_info_id = ?")
            .bind(&campaign)
            .fetch_one(&test_db.db.pool)
            .await
            .unwrap();
    assert_eq!(issued, acked as i64);
    let (_, admin) = app.token(Role::Master);
    let audit = app.get("/api/v1/admin/audit", Some(&admin)).await;
    assert_eq!(
        audit.data()["differences"].as_array().unwrap().len(),
        0,
        "{:?}",
        audit.body
    );
}
