//! Engine correctness under concurrency: no oversell, one per user, all-or-nothing orders,
//! backpressure that answers instead of hanging.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hotdeal::config::Durability;
use hotdeal::domain::campaign::{CampaignOutcome, CampaignStatus, CouponState};
use hotdeal::domain::clock::{ManualClock, SharedClock};
use hotdeal::domain::event::ReleaseReason;
use hotdeal::domain::ids::{CampaignId, CompanyId, ItemId, OrderId, PromotionId, UserId};
use hotdeal::domain::item::{ItemOutcome, SaleConfig};
use hotdeal::engine::{EngineError, EngineHandle, EngineOptions, LineRequest, OrderReservation};
use hotdeal::persistence::journal::{Journal, JournalOptions};
use hotdeal::persistence::repo::{NewCampaign, NewProduct, SqlStore};

use crate::helpers::TestDb;

pub const T0: i64 = 1_900_000_000_000;

pub struct TestEngine {
    pub engine: EngineHandle,
    pub store: SqlStore,
    pub journal: Arc<Journal>,
    pub clock: ManualClock,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

pub async fn test_engine(mailbox_capacity: usize) -> TestEngine {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(
        &JournalOptions {
            dir: dir.path().join("journal"),
            mode: Durability::Sync,
            segment_bytes: 64 << 20,
            async_fsync_interval: Duration::from_millis(5),
        },
        0,
    )
    .unwrap();
    let clock = ManualClock::new(T0);
    let store = SqlStore::new(db.db.clone());
    let engine = EngineHandle::start(
        EngineOptions {
            arbiter_threads: 2,
            mailbox_capacity,
            send_timeout: Duration::from_secs(10),
            max_unapplied_events: u64::MAX,
        },
        journal.clone(),
        Arc::new(store.clone()),
        Arc::new(clock.clone()) as SharedClock,
    )
    .unwrap();
    TestEngine {
        engine,
        store,
        journal,
        clock,
        _db: db,
        _dir: dir,
    }
}

impl TestEngine {
    pub async fn open_campaign(&self, quantity: i64) -> CampaignId {
        let id = CampaignId::new();
        self.store
            .insert_campaign(
                &NewCampaign {
                    id,
                    name: "flash".into(),
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
                T0,
            )
            .await
            .unwrap();
        let status = self
            .engine
            .set_campaign_status(id, CampaignStatus::Issued)
            .await
            .unwrap();
        assert_eq!(status, CampaignStatus::Issued);
        id
    }

    pub async fn product(&self, quantity: i64, price: i64) -> ItemId {
        let id = ItemId::new();
        self.store
            .insert_product(
                &NewProduct {
                    id,
                    company_id: CompanyId::new(),
                    name: "item".into(),
                    price,
                    quantity,
                    category: "FOOD".into(),
                    description: None,
                    thumb_img: None,
                    detail_imgs: vec![],
                    created_by: None,
                },
                T0,
            )
            .await
            .unwrap();
        id
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_thousand_claims_from_five_thousand_users_issue_exactly_the_quantity() {
    let t = test_engine(100_000).await;
    let campaign = t.open_campaign(1_000).await;
    let users: Arc<Vec<UserId>> = Arc::new((0..5_000).map(|_| UserId::new()).collect());
    let mut tasks = Vec::with_capacity(20_000);
    for i in 0..20_000usize {
        let engine = t.engine.clone();
        let users = users.clone();
        tasks.push(tokio::spawn(async move {
            let user = users[i % users.len()];
            (user, engine.issue_coupon(campaign, user).await.unwrap())
        }));
    }
    let mut winners = HashSet::new();
    let mut issued = 0;
    for task in tasks {
        let (user, r) = task.await.unwrap();
        match r.outcome {
            CampaignOutcome::Issued { .. } => {
                issued += 1;
                assert!(winners.insert(user), "user {user} issued twice");
                assert!(r.coupon_id.is_some());
            }
            CampaignOutcome::AlreadyIssued => assert!(r.coupon_id.is_some()),
            CampaignOutcome::SoldOut => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(issued, 1_000);
    let (view, _) = t.engine.campaign_view(campaign, None).await.unwrap();
    assert_eq!(view.issued_count, 1_000);
    assert_eq!(view.status, CampaignStatus::OutOfStock);
    // every success was journaled durably
    assert!(t.journal.durable() >= 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_time_sale_with_a_per_user_limit_never_oversells() {
    let t = test_engine(100_000).await;
    let item = t.product(5_000, 10_000).await;
    let sale = SaleConfig {
        promotion_id: PromotionId::new(),
        start_ms: T0 - 1,
        end_ms: T0 + 3_600_000,
        sale_price: 4_900,
        quantity: 1_000,
        per_user_limit: Some(1),
    };
    assert_eq!(
        t.engine.set_sale(item, Some(sale)).await.unwrap(),
        ItemOutcome::SaleSet
    );
    let users: Arc<Vec<UserId>> = Arc::new((0..5_000).map(|_| UserId::new()).collect());
    let mut tasks = Vec::new();
    for i in 0..20_000usize {
        let engine = t.engine.clone();
        let users = users.clone();
        tasks.push(tokio::spawn(async move {
            let user = users[i % users.len()];
            let r = engine
                .reserve_order(
                    OrderId::new(),
                    user,
                    &[LineRequest { item, qty: 1 }],
                    T0 + 600_000,
                )
                .await
                .unwrap();
            (user, r)
        }));
    }
    let mut buyers = HashSet::new();
    for task in tasks {
        let (user, r) = task.await.unwrap();
        match r {
            OrderReservation::Reserved { lines } => {
                assert_eq!(lines[0].unit_price, 4_900);
                assert!(buyers.insert(user), "user {user} bought twice");
            }
            OrderReservation::Refused { outcome, .. } => assert!(
                matches!(
                    outcome,
                    ItemOutcome::SaleSoldOut | ItemOutcome::LimitExceeded { limit: 1 }
                ),
                "unexpected {outcome:?}"
            ),
        }
    }
    assert_eq!(buyers.len(), 1_000);
    let view = t.engine.item_view(item).await.unwrap();
    let sale = view.sale.unwrap();
    assert_eq!((sale.remaining, sale.reserved), (0, 1_000));
    assert_eq!(view.levels.reserved, 1_000);
    assert_eq!(view.levels.available, 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_line_orders_are_all_or_nothing() {
    let t = test_engine(1_000).await;
    let plenty = t.product(10, 1_000).await;
    let scarce = t.product(1, 2_000).await;
    let user = UserId::new();
    let lines = [
        LineRequest {
            item: plenty,
            qty: 3,
        },
        LineRequest {
            item: scarce,
            qty: 2,
        },
    ];
    let r = t
        .engine
        .reserve_order(OrderId::new(), user, &lines, T0 + 1_000)
        .await
        .unwrap();
    assert!(
        matches!(r, OrderReservation::Refused { item, outcome: ItemOutcome::SoldOut { available: 1 } } if item == scarce)
    );
    assert_eq!(
        t.engine.item_view(plenty).await.unwrap().levels.available,
        10,
        "nothing held"
    );
    // a satisfiable order holds both, confirm sells both
    let order = OrderId::new();
    let lines = [
        LineRequest {
            item: scarce,
            qty: 1,
        },
        LineRequest {
            item: plenty,
            qty: 3,
        },
    ];
    let r = t
        .engine
        .reserve_order(order, user, &lines, T0 + 1_000)
        .await
        .unwrap();
    let OrderReservation::Reserved { lines: got } = r else {
        panic!("{r:?}")
    };
    assert_eq!(got.len(), 2);
    let out = t
        .engine
        .confirm_order(order, &[plenty, scarce])
        .await
        .unwrap();
    assert!(
        out.iter()
            .all(|(_, o)| matches!(o, ItemOutcome::Confirmed { .. }))
    );
    let v = t.engine.item_view(plenty).await.unwrap().levels;
    assert_eq!((v.available, v.reserved, v.sold), (7, 0, 3));
    // refund restocks
    assert_eq!(
        t.engine
            .restock(plenty, order, user, 3, None)
            .await
            .unwrap(),
        ItemOutcome::Restocked
    );
    assert_eq!(
        t.engine.item_view(plenty).await.unwrap().levels.available,
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_are_reported_not_created() {
    let t = test_engine(100).await;
    assert!(matches!(
        t.engine
            .issue_coupon(CampaignId::new(), UserId::new())
            .await,
        Err(EngineError::UnknownCampaign)
    ));
    assert!(matches!(
        t.engine.item_view(ItemId::new()).await,
        Err(EngineError::UnknownItem)
    ));
    assert_eq!(t.engine.actor_counts(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sold_out_and_closed_campaigns_are_answered_without_the_actor() {
    let t = test_engine(100).await;
    let campaign = t.open_campaign(1).await;
    let first = t
        .engine
        .issue_coupon(campaign, UserId::new())
        .await
        .unwrap();
    assert!(matches!(
        first.outcome,
        CampaignOutcome::Issued {
            now_sold_out: true,
            ..
        }
    ));
    // hold the actor: a fast reject must not need it
    let release = t.engine.stall_campaign(campaign).await.unwrap();
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        t.engine.issue_coupon(campaign, UserId::new()),
    )
    .await
    .expect("answered without the actor")
    .unwrap();
    assert_eq!(r.outcome, CampaignOutcome::SoldOut);
    assert!(r.fast_rejected);
    drop(release);
    // a pending campaign answers NotOpen the same way
    let pending = t.open_campaign(5).await;
    t.engine
        .set_campaign_status(pending, CampaignStatus::Pending)
        .await
        .unwrap();
    let r = t.engine.issue_coupon(pending, UserId::new()).await.unwrap();
    assert_eq!(
        (r.outcome, r.fast_rejected),
        (CampaignOutcome::NotOpen, true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_answers_busy_promptly() {
    let capacity = 8;
    let t = test_engine(capacity).await;
    let campaign = t.open_campaign(1_000).await;
    let release = t.engine.stall_campaign(campaign).await.unwrap();
    // fill the mailbox with waiting claims
    let mut waiting = Vec::new();
    for _ in 0..capacity {
        let engine = t.engine.clone();
        waiting.push(tokio::spawn(async move {
            engine.issue_coupon(campaign, UserId::new()).await
        }));
    }
    let entry = t.engine.campaign(campaign).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while entry.shared.gauge.depth() < capacity {
        assert!(Instant::now() < deadline, "mailbox never filled");
        tokio::task::yield_now().await;
    }
    let started = Instant::now();
    let r = t.engine.issue_coupon(campaign, UserId::new()).await;
    assert!(matches!(r, Err(EngineError::Busy)), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "busy must be prompt"
    );
    release.send(()).unwrap();
    for w in waiting {
        assert!(matches!(
            w.await.unwrap().unwrap().outcome,
            CampaignOutcome::Issued { .. }
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ticker_releases_expired_reservations() {
    let t = test_engine(100).await;
    let item = t.product(5, 1_000).await;
    let mut expired_rx = t.engine.take_expired_receiver().unwrap();
    let order = OrderId::new();
    let r = t
        .engine
        .reserve_order(
            order,
            UserId::new(),
            &[LineRequest { item, qty: 2 }],
            T0 + 1_000,
        )
        .await
        .unwrap();
    assert!(matches!(r, OrderReservation::Reserved { .. }));
    assert_eq!(t.engine.tick(T0 + 999).await, 0);
    t.clock.set(T0 + 1_000);
    assert_eq!(t.engine.tick(T0 + 1_000).await, 1);
    let e = expired_rx.recv().await.unwrap();
    assert_eq!((e.item, e.order, e.reservation.qty), (item, order, 2));
    assert_eq!(t.engine.item_view(item).await.unwrap().levels.available, 5);
    // releasing again is a no-op
    let out = t
        .engine
        .release_order(order, &[item], ReleaseReason::Cancelled)
        .await
        .unwrap();
    assert_eq!(out[0].1, ItemOutcome::NotReserved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_and_release_try_every_line_when_one_fails() {
    let t = test_engine(100).await;
    let a = t.product(5, 1_000).await;
    let b = t.product(5, 1_000).await;
    let missing = ItemId::new();
    let reserve = |order| {
        let engine = t.engine.clone();
        async move {
            let r = engine
                .reserve_order(
                    order,
                    UserId::new(),
                    &[
                        LineRequest { item: a, qty: 1 },
                        LineRequest { item: b, qty: 2 },
                    ],
                    T0 + 60_000,
                )
                .await
                .unwrap();
            assert!(matches!(r, OrderReservation::Reserved { .. }), "{r:?}");
        }
    };
    // A line that cannot be reached comes first: the lines after it are still confirmed, and
    // the caller hears of the failure.
    let paid = OrderId::new();
    reserve(paid).await;
    let err = t
        .engine
        .confirm_order(paid, &[missing, a, b])
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownItem), "{err:?}");
    assert_eq!(t.engine.item_view(a).await.unwrap().levels.sold, 1);
    assert_eq!(t.engine.item_view(b).await.unwrap().levels.sold, 2);
    // Trying again confirms nothing twice.
    let again = t.engine.confirm_order(paid, &[a, b]).await.unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(t.engine.item_view(b).await.unwrap().levels.sold, 2);

    let cancelled = OrderId::new();
    reserve(cancelled).await;
    let err = t
        .engine
        .release_order(cancelled, &[a, missing, b], ReleaseReason::Cancelled)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownItem), "{err:?}");
    for (item, left) in [(a, 4), (b, 3)] {
        let levels = t.engine.item_view(item).await.unwrap().levels;
        assert_eq!((levels.available, levels.reserved), (left, 0), "{item:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coupon_goes_back_only_from_the_order_it_is_used_on() {
    let t = test_engine(100).await;
    let campaign = t.open_campaign(10).await;
    let user = UserId::new();
    let issued = t.engine.issue_coupon(campaign, user).await.unwrap();
    assert!(matches!(issued.outcome, CampaignOutcome::Issued { .. }));
    let (placed, abandoned) = (OrderId::new(), OrderId::new());
    let used = t
        .engine
        .use_coupon(campaign, user, placed, 50_000)
        .await
        .unwrap();
    assert!(matches!(used, CampaignOutcome::Used { .. }), "{used:?}");
    // An order that never got its use confirmed gives back what it may hold: nothing here.
    assert_eq!(
        t.engine
            .recover_coupon(campaign, user, abandoned)
            .await
            .unwrap(),
        CampaignOutcome::UsedByAnotherOrder
    );
    let state = |t: &TestEngine| {
        let engine = t.engine.clone();
        async move { engine.campaign_view(campaign, Some(user)).await.unwrap().1 }
    };
    assert_eq!(state(&t).await, Some(CouponState::Used));
    assert_eq!(
        t.engine
            .recover_coupon(campaign, user, placed)
            .await
            .unwrap(),
        CampaignOutcome::Recovered
    );
    assert_eq!(state(&t).await, Some(CouponState::Unused));
}
