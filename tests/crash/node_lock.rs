//! One node per database without `--cluster`, on the real binary: a second node on the same
//! database (or data dir) exits non-zero at once naming the holder; a node killed with SIGKILL
//! takes its database back when restarted with its data dir; a node with another data dir does
//! not take over a database whose holder was killed, but does after a clean stop.

use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use hotdeal::persistence::ScratchDatabase;

use super::{Server, create_open_campaign, start_server, unsafe_sigterm, wait_ready};

/// A node of its own under `dir/name` (data dir, snapshots, log), on `database_url`.
fn start_node(dir: &Path, name: &str, database_url: &str) -> (Server, std::path::PathBuf) {
    let home = dir.join(name);
    std::fs::create_dir_all(&home).unwrap();
    let server = start_server(&home, &[("DATABASE_URL", database_url.to_string())]);
    (server, home)
}

/// Wait (at most 10 s, the bound the refusal must meet) for a node that must refuse to start.
async fn refused(server: &mut Server, home: &Path) -> (ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            let log = std::fs::read_to_string(home.join("server.log")).unwrap_or_default();
            return (status, log);
        }
        assert!(
            Instant::now() < deadline,
            "the second node did not exit within 10 s; log:\n{}",
            std::fs::read_to_string(home.join("server.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn node_id(home: &Path) -> String {
    std::fs::read_to_string(home.join("data").join("node_id"))
        .unwrap()
        .trim()
        .to_string()
}

fn kill_9(server: &mut Server) {
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

async fn stop_cleanly(server: &mut Server) {
    unsafe_sigterm(&server.child);
    let status = server.child.wait().unwrap();
    assert!(status.success(), "a clean stop exits 0: {status}");
}

/// The refusal names the holder (node id, pid, URL) and points at cluster mode.
fn assert_names_holder(log: &str, holder: &Server, holder_home: &Path) {
    let id = node_id(holder_home);
    assert!(log.contains(&format!("node \"{id}\"")), "{log}");
    assert!(log.contains(&format!("pid {}", holder.child.id())), "{log}");
    assert!(log.contains(&holder.base), "{log}");
    assert!(log.contains("since "), "{log}");
    assert!(log.contains("--cluster"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_the_same_sqlite_file_refuses_to_start_and_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("shared.db").display());
    let (mut first, first_home) = start_node(dir.path(), "a", &database);
    wait_ready(&mut first, &first_home).await;

    let (mut second, second_home) = start_node(dir.path(), "b", &database);
    let (status, log) = refused(&mut second, &second_home).await;
    assert!(!status.success(), "{status}");
    assert!(log.contains("is in use by another hotdeal node"), "{log}");
    assert_names_holder(&log, &first, &first_home);
    // It stopped before recovery: no journal of its own was opened.
    assert!(!second_home.join("data").join("journal").exists());
    // The first node is unaffected.
    let ready = first.api.ready().await.unwrap();
    assert_eq!(ready.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_data_dir_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_server(dir.path(), &[]);
    wait_ready(&mut first, dir.path()).await;
    // Same data dir, another database: both would write one journal.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut second = start_server(
        &other,
        &[(
            "HOTDEAL_DATA_DIR",
            dir.path().join("data").display().to_string(),
        )],
    );
    let (status, log) = refused(&mut second, &other).await;
    assert!(!status.success(), "{status}");
    assert!(
        log.contains("is in use by another hotdeal process"),
        "{log}"
    );
    assert!(log.contains(&format!("pid {}", first.child.id())), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_with_sigkill_takes_its_sqlite_database_back_and_no_other_node_does() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("shared.db").display());
    let (mut first, first_home) = start_node(dir.path(), "a", &database);
    wait_ready(&mut first, &first_home).await;
    create_open_campaign(&first.api, 10).await;
    let first_pid = first.child.id();
    kill_9(&mut first);

    // Another node (another data dir, so not the killed node's journal) must not take over.
    let (mut other, other_home) = start_node(dir.path(), "b", &database);
    let (status, log) = refused(&mut other, &other_home).await;
    assert!(!status.success(), "{status}");
    let id = node_id(&first_home);
    assert!(log.contains("did not release it"), "{log}");
    assert!(log.contains(&format!("pid {first_pid}")), "{log}");
    assert!(log.contains(&format!("--node-id {id}")), "{log}");

    // The killed node, restarted with its data dir, takes it back at once.
    let (mut restarted, _) = start_node(dir.path(), "a", &database);
    wait_ready(&mut restarted, &first_home).await;
    let log = std::fs::read_to_string(first_home.join("server.log")).unwrap();
    assert!(log.contains("\"epoch\":2"), "{log}");

    // After a clean stop any node may take the database.
    stop_cleanly(&mut restarted).await;
    let (mut other, other_home) = start_node(dir.path(), "b", &database);
    wait_ready(&mut other, &other_home).await;
}

/// Two data dirs on one MySQL database: the second refuses; after SIGKILL the first, restarted
/// with its data dir, is served again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn two_data_dirs_on_one_mysql_database_the_second_refuses_and_a_killed_node_comes_back() {
    let Ok(server) = std::env::var("TEST_MYSQL_URL") else {
        eprintln!("TEST_MYSQL_URL not set; skipped");
        return;
    };
    let scratch = ScratchDatabase::create(&server, "hd_lock").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut first, first_home) = start_node(dir.path(), "a", &scratch.url);
    wait_ready(&mut first, &first_home).await;

    let (mut second, second_home) = start_node(dir.path(), "b", &scratch.url);
    let (status, log) = refused(&mut second, &second_home).await;
    assert!(!status.success(), "{status}");
    assert!(log.contains("is in use by another hotdeal node"), "{log}");
    assert!(log.contains(&scratch.name), "{log}");
    assert_names_holder(&log, &first, &first_home);

    kill_9(&mut first);
    let (mut restarted, _) = start_node(dir.path(), "a", &scratch.url);
    wait_ready(&mut restarted, &first_home).await;
    let log = std::fs::read_to_string(first_home.join("server.log")).unwrap();
    assert!(log.contains("\"epoch\":2"), "{log}");

    // A second node is still refused, now naming the restarted process.
    let (mut second, second_home) = start_node(dir.path(), "c", &scratch.url);
    let (status, log) = refused(&mut second, &second_home).await;
    assert!(!status.success(), "{status}");
    assert_names_holder(&log, &restarted, &first_home);

    stop_cleanly(&mut restarted).await;
    drop(restarted);
    scratch.remove().await.unwrap();
}
