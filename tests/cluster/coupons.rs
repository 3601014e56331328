//! A hot campaign through three nodes while the owner of its partition is killed or paused:
//! every acknowledged claim is in `p_coupon`, no user holds two coupons, no oversell.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotdeal::client::Client;
use hotdeal::domain::ids::UserId;
use rustix::process::Signal;
use uuid::Uuid;

use super::{Claim, Cluster, Entity, LEASE_TTL_MS, backoff, claim, metric_sum, with_mysql};

/// How a user's claim ended, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// 201.
    Acked,
    /// `CO006` after an attempt without a clear answer: that attempt was decided.
    IssuedEarlier,
    SoldOut,
    /// No final answer before the load's deadline.
    GaveUp,
}

/// What the clients of one test were told.
#[derive(Default)]
struct Ledger {
    fates: Mutex<HashMap<UserId, Fate>>,
    /// When each 201 arrived.
    acked_at: Mutex<Vec<Instant>>,
    acked: AtomicUsize,
}

impl Ledger {
    fn record(&self, user: UserId, fate: Fate) {
        if fate == Fate::Acked {
            self.acked.fetch_add(1, Ordering::Relaxed);
            self.acked_at.lock().unwrap().push(Instant::now());
        }
        let before = self.fates.lock().unwrap().insert(user, fate);
        assert!(before.is_none(), "user {user} recorded twice");
    }

    fn users_with(&self, wanted: &[Fate]) -> HashSet<UserId> {
        let fates = self.fates.lock().unwrap();
        fates
            .iter()
            .filter(|(_, f)| wanted.contains(f))
            .map(|(u, _)| *u)
            .collect()
    }
}

/// Each user claims once, starting on node `user index % nodes` and moving to the next node when
/// a node does not answer; a 503 is retried after its `Retry-After` (capped), until a final
/// answer or `deadline`. `workers` users at a time.
async fn claim_round_robin(
    apis: Vec<Client>,
    campaign: Uuid,
    users: Arc<Vec<UserId>>,
    ledger: Arc<Ledger>,
    workers: usize,
    deadline: Instant,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (apis, users, ledger, next) =
            (apis.clone(), users.clone(), ledger.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&user) = users.get(i) else {
                    return;
                };
                let mut node = i % apis.len();
                let mut uncertain = false;
                let fate = loop {
                    if Instant::now() >= deadline {
                        break Fate::GaveUp;
                    }
                    let (answer, res) = claim(&apis[node], campaign, user).await;
                    match answer {
                        Claim::Issued => break Fate::Acked,
                        Claim::SoldOut => break Fate::SoldOut,
                        Claim::AlreadyIssued => {
                            assert!(uncertain, "{user} was told CO006 on its first claim");
                            break Fate::IssuedEarlier;
                        }
                        Claim::Unavailable => {
                            uncertain = true;
                            tokio::time::sleep(backoff(res.as_ref())).await;
                        }
                        Claim::NoAnswer => {
                            uncertain = true;
                            node = (node + 1) % apis.len();
                        }
                    }
                };
                ledger.record(user, fate);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Strict checks of a campaign against the database once the load is over: the coupon rows are
/// distinct users we sent, at most `quantity`, `issued_count` equals the rows, and every user
/// told "issued" (201, or CO006 after an unclear attempt) has a row. Returns the rows.
async fn assert_campaign_consistent(
    cluster: &Cluster,
    campaign: Uuid,
    quantity: i64,
    sent: &HashSet<UserId>,
    told_issued: &HashSet<UserId>,
) -> HashSet<UserId> {
    let users = cluster.coupon_users(campaign).await;
    let distinct: HashSet<UserId> = users.iter().copied().collect();
    assert_eq!(distinct.len(), users.len(), "a user was issued two coupons");
    assert!(
        users.len() as i64 <= quantity,
        "oversold: {} coupons of {quantity}",
        users.len()
    );
    assert_eq!(
        cluster.issued_count(campaign).await,
        users.len() as i64,
        "p_coupon_info.issued_count differs from the coupon rows"
    );
    let lost: Vec<_> = told_issued.difference(&distinct).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged claims are not in p_coupon, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    let invented: Vec<_> = distinct.difference(sent).collect();
    assert!(
        invented.is_empty(),
        "coupons for users who never claimed: {invented:?}"
    );
    distinct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn hot_campaign_survives_kill_9_of_its_owner() {
    with_mysql(|server| async move {
        const QUANTITY: i64 = 1_000;
        const USERS: usize = 2_500;
        const KILL_AT: usize = 200;
        let mut cluster = Cluster::start(&server, 3).await;
        let campaign = cluster.open_campaign(0, QUANTITY).await;
        let entity = Entity::Campaign(campaign);
        let before = cluster
            .wait_owner(0, entity, Duration::from_secs(10), |_| true)
            .await;
        let victim = cluster.index_of(before.owner.as_deref().unwrap());
        let survivor = (victim + 1) % cluster.nodes.len();
        let victim_id = cluster.nodes[victim].id.clone();

        let users: Arc<Vec<UserId>> = Arc::new((0..USERS).map(|_| UserId::new()).collect());
        let ledger = Arc::new(Ledger::default());
        let apis: Vec<Client> = cluster.nodes.iter().map(|n| n.api.clone()).collect();
        let load = tokio::spawn(claim_round_robin(
            apis,
            campaign,
            users.clone(),
            ledger.clone(),
            48,
            Instant::now() + Duration::from_secs(120),
        ));

        // Mid-load: once claims flow, kill the owner of the campaign's partition.
        let deadline = Instant::now() + Duration::from_secs(60);
        while ledger.acked.load(Ordering::Relaxed) < KILL_AT {
            assert!(
                Instant::now() < deadline && !load.is_finished(),
                "claims did not flow: {} acknowledged",
                ledger.acked.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let killed_at = Instant::now();
        cluster.nodes[victim].kill_9();
        let acked_at_kill = ledger.acked.load(Ordering::Relaxed);

        // Another node owns the partition within 5 s, with a newer epoch, and serves claims.
        let after = cluster
            .wait_owner(survivor, entity, Duration::from_secs(5), |o| o != victim_id)
            .await;
        let took_over_in = killed_at.elapsed();
        assert_eq!(after.partition, before.partition);
        assert!(
            after.epoch > before.epoch,
            "the epoch did not move on: {before:?} -> {after:?}"
        );
        let new_owner = cluster.index_of(after.owner.as_deref().unwrap());
        let probe = UserId::new();
        let probe_deadline = Instant::now() + Duration::from_secs(5);
        let probe_answer = loop {
            let (answer, res) = claim(&cluster.nodes[new_owner].api, campaign, probe).await;
            if answer != Claim::Unavailable || Instant::now() >= probe_deadline {
                break answer;
            }
            tokio::time::sleep(backoff(res.as_ref())).await;
        };

        load.await.unwrap();
        let acked_after_takeover = {
            let at = ledger.acked_at.lock().unwrap();
            at.iter().filter(|t| **t > killed_at + took_over_in).count()
        };
        eprintln!(
            "killed {victim_id} at {acked_at_kill} acknowledged; {} took over in {took_over_in:?}; \
             probe {probe_answer:?}; acknowledged {} in all, {acked_after_takeover} after the takeover",
            after.owner.as_deref().unwrap(),
            ledger.acked.load(Ordering::Relaxed)
        );
        assert!(
            probe_answer == Claim::Issued
                || (probe_answer == Claim::SoldOut && acked_after_takeover > 0),
            "the new owner does not serve claims: {probe_answer:?}"
        );

        let mut sent: HashSet<UserId> = users.iter().copied().collect();
        sent.insert(probe);
        let mut told = ledger.users_with(&[Fate::Acked, Fate::IssuedEarlier]);
        if probe_answer == Claim::Issued {
            told.insert(probe);
        }
        let rows = assert_campaign_consistent(&cluster, campaign, QUANTITY, &sent, &told).await;
        assert!(
            told.len() > KILL_AT,
            "too few claims to mean anything: {}",
            told.len()
        );
        // The engine's count, through a live node, agrees with the rows.
        let view = cluster
            .admin(survivor)
            .campaign(campaign)
            .await
            .expect("campaign");
        assert_eq!(view.status, 200, "{}", view.body);
        assert_eq!(
            view.data()["issuedCount"].as_i64(),
            Some(rows.len() as i64),
            "{}",
            view.body
        );
        cluster.finish().await;
    })
    .await;
}

/// One answer to a claim.
#[derive(Debug)]
struct Answer {
    user: UserId,
    claim: Claim,
    code: String,
    /// Sent straight to the node that is paused.
    via_paused: bool,
    /// Sent before the node was resumed (in flight while it was stopped, or before).
    sent_before_resume: bool,
    answered_after_resume: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn paused_owner_is_fenced() {
    with_mysql(|server| async move {
        const QUANTITY: i64 = 5_000;
        let cluster = Cluster::start(&server, 3).await;
        let campaign = cluster.open_campaign(0, QUANTITY).await;
        let entity = Entity::Campaign(campaign);
        let before = cluster
            .wait_owner(0, entity, Duration::from_secs(10), |_| true)
            .await;
        let paused = cluster.index_of(before.owner.as_deref().unwrap());
        let paused_id = cluster.nodes[paused].id.clone();
        let live: Vec<usize> = (0..cluster.nodes.len()).filter(|&i| i != paused).collect();

        // Claims straight to the owner (8 in flight at any time), and claims through the other
        // nodes, until told to stop. Every user claims once.
        let stop = Arc::new(AtomicBool::new(false));
        let resumed: Arc<Mutex<Option<Instant>>> = Arc::default();
        let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
        let from_paused = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..12usize {
            let to = if w < 8 {
                paused
            } else {
                live[w % live.len()]
            };
            let api = cluster.nodes[to].api.clone();
            let (stop, resumed, answers, from_paused) = (
                stop.clone(),
                resumed.clone(),
                answers.clone(),
                from_paused.clone(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let user = UserId::new();
                    let sent_before_resume = resumed.lock().unwrap().is_none();
                    let (claim, res) = claim(&api, campaign, user).await;
                    let answered_after_resume = resumed.lock().unwrap().is_some();
                    if to == paused && claim == Claim::Issued {
                        from_paused.fetch_add(1, Ordering::Relaxed);
                    }
                    answers.lock().unwrap().push(Answer {
                        user,
                        claim,
                        code: res.as_ref().map(|r| r.code().to_string()).unwrap_or_default(),
                        via_paused: to == paused,
                        sent_before_resume,
                        answered_after_resume,
                    });
                    if claim == Claim::Unavailable {
                        tokio::time::sleep(backoff(res.as_ref())).await;
                    }
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while from_paused.load(Ordering::Relaxed) < 20 {
            assert!(Instant::now() < deadline, "claims to the owner did not flow");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Pause the owner with claims in flight, for longer than its lease.
        let stopped_at = Instant::now();
        cluster.nodes[paused].signal(Signal::STOP);
        let after = cluster
            .wait_owner(live[0], entity, Duration::from_secs(15), |o| o != paused_id)
            .await;
        assert!(
            after.epoch > before.epoch,
            "the epoch did not move on: {before:?} -> {after:?}"
        );
        let pause = Duration::from_millis(3 * LEASE_TTL_MS);
        if let Some(rest) = pause.checked_sub(stopped_at.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        eprintln!(
            "paused {paused_id}; {} took the partition over after {:?}",
            after.owner.as_deref().unwrap(),
            stopped_at.elapsed()
        );
        *resumed.lock().unwrap() = Some(Instant::now());
        cluster.nodes[paused].signal(Signal::CONT);

        // Let every worker of the resumed node get answers after the resume, then claim through
        // it a little longer.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done = answers
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.via_paused && !a.sent_before_resume)
                .count();
            if done >= 40 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the resumed node answered only {done} claims sent after its resume"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.unwrap();
        }

        let answers = std::mem::take(&mut *answers.lock().unwrap());
        let resumed_node = &cluster.nodes[paused];
        let in_flight: Vec<&Answer> = answers
            .iter()
            .filter(|a| a.via_paused && a.sent_before_resume && a.answered_after_resume)
            .collect();
        let refused_after_resume = answers
            .iter()
            .filter(|a| {
                a.via_paused && a.answered_after_resume && a.code == "PARTITION_UNAVAILABLE"
            })
            .count();
        let fenced_metric = resumed_node
            .metric("hotdeal_cluster_fenced_writes_total")
            .await;
        let fenced_logged = resumed_node.log().contains("fenced");
        eprintln!(
            "claims held up by the pause: {} ({:?}); PARTITION_UNAVAILABLE after the resume: \
             {refused_after_resume}; fenced writes metric {fenced_metric:?}; fenced in log: {fenced_logged}",
            in_flight.len(),
            in_flight.iter().map(|a| a.claim).collect::<Vec<_>>()
        );
        // The resumed node knew its lease was gone: a write it tried was fenced, or it refused.
        assert!(
            fenced_metric.is_some_and(|v| v > 0.0) || fenced_logged || refused_after_resume > 0,
            "no sign that the resumed node's old lease was fenced"
        );

        // Strict: whatever any node answered, every 201 is in the database and nothing is
        // oversold.
        let sent: HashSet<UserId> = answers.iter().map(|a| a.user).collect();
        let told: HashSet<UserId> = answers
            .iter()
            .filter(|a| a.claim == Claim::Issued)
            .map(|a| a.user)
            .collect();
        assert_campaign_consistent(&cluster, campaign, QUANTITY, &sent, &told).await;
        // And it serves again, by forwarding or as a new owner.
        let view = cluster.view(paused).await;
        assert!(
            view.as_ref().is_some_and(|v| v.node_id == paused_id),
            "{view:?}"
        );
        let text = resumed_node.api.metrics().await.unwrap().text().to_string();
        eprintln!(
            "resumed node: leases held {:?}, forwarded {:?}",
            metric_sum(&text, "hotdeal_cluster_leases_held"),
            metric_sum(&text, "hotdeal_cluster_forwarded_total")
        );
        cluster.finish().await;
    })
    .await;
}
