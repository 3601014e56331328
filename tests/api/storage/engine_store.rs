//! The storage contract: the same assertions on SQLite and on MySQL.

use hotdeal::domain::campaign::{CampaignStatus, CouponState};
use hotdeal::domain::ids::{CampaignId, CompanyId, ItemId, UserId};
use hotdeal::persistence::Db;
use hotdeal::persistence::repo::{EngineStore, NewCampaign, NewProduct, SqlStore, date_end_ms};

use crate::contract_test;

async fn migrations_are_idempotent_and_checkpoint_starts_at_zero(db: &Db) {
    db.migrate().await.expect("second run is a no-op");
    let store = SqlStore::new(db.clone());
    assert_eq!(store.checkpoint().await.unwrap(), 0);
    assert!(db.ping().await);
}
contract_test!(migrations_are_idempotent_and_checkpoint_starts_at_zero);

async fn products_round_trip(db: &Db) {
    let store = SqlStore::new(db.clone());
    let id = ItemId::new();
    let company = CompanyId::new();
    store
        .insert_product(
            &NewProduct {
                id,
                company_id: company,
                name: "한정판 운동화".into(),
                price: 129_000,
                quantity: 50,
                category: "FASHION".into(),
                description: Some("limited".into()),
                thumb_img: None,
                detail_imgs: vec!["https://img/1.png".into()],
                created_by: Some("seller@example.com".into()),
            },
            1_700_000_000_000,
        )
        .await
        .unwrap();
    let item = store.load_item(id).await.unwrap().expect("stored");
    assert_eq!(item.name, "한정판 운동화");
    assert_eq!(item.company_id, company);
    assert_eq!(item.config.price, 129_000);
    assert!(item.config.on_sale);
    assert_eq!(item.levels.total, 50);
    assert_eq!(item.levels.available, 50);
    assert!(item.sale.is_none());
    assert!(store.load_item(ItemId::new()).await.unwrap().is_none());
}
contract_test!(products_round_trip);

async fn campaigns_round_trip_with_holders(db: &Db) {
    let store = SqlStore::new(db.clone());
    let id = CampaignId::new();
    store
        .insert_campaign(
            &NewCampaign {
                id,
                name: "선착순 1000원".into(),
                quantity: 100,
                discount_amount: 1_000,
                min_order_amount: 10_000,
                expiration_date: "2030-12-31".into(),
                coupon_type: "FIRST_COME_FIRST_SERVE".into(),
                company_id: None,
                issue_start_ms: Some(5),
                issue_end_ms: None,
                created_by: None,
            },
            1_700_000_000_000,
        )
        .await
        .unwrap();
    let user = UserId::new();
    sqlx::query(
        "INSERT INTO p_coupon (coupon_id, user_id, coupon_info_id, daily_issued_date, is_used, created_at, updated_at) \
         VALUES (?, ?, ?, '2030-01-01', 1, 0, 0)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(user.to_string())
    .bind(id.to_string())
    .execute(&db.pool)
    .await
    .unwrap();
    let c = store.load_campaign(id).await.unwrap().expect("stored");
    assert_eq!(c.status, CampaignStatus::Pending);
    assert_eq!(c.config.quantity, 100);
    assert_eq!(c.config.issue_start_ms, Some(5));
    assert_eq!(c.config.issue_end_ms, None);
    assert_eq!(c.config.expires_at_ms, date_end_ms("2030-12-31").unwrap());
    assert_eq!(c.holders, vec![(user, CouponState::Used)]);
}
contract_test!(campaigns_round_trip_with_holders);

async fn one_coupon_per_user_and_campaign_is_enforced_by_the_database(db: &Db) {
    let (user, campaign) = (UserId::new(), CampaignId::new());
    let insert = |coupon: String| {
        sqlx::query(
            "INSERT INTO p_coupon (coupon_id, user_id, coupon_info_id, is_used, created_at, updated_at) \
             VALUES (?, ?, ?, 0, 0, 0)",
        )
        .bind(coupon)
        .bind(user.to_string())
        .bind(campaign.to_string())
    };
    insert(uuid::Uuid::new_v4().to_string())
        .execute(&db.pool)
        .await
        .unwrap();
    let err = insert(uuid::Uuid::new_v4().to_string())
        .execute(&db.pool)
        .await
        .expect_err("duplicate refused");
    let is_unique = err
        .as_database_error()
        .map(|e| e.is_unique_violation())
        .unwrap_or(false);
    assert!(is_unique, "unexpected error: {err}");
    // insert-ignore keeps replay safe
    let sql = format!(
        "{} INTO p_coupon (coupon_id, user_id, coupon_info_id, is_used, created_at, updated_at) VALUES (?, ?, ?, 0, 0, 0)",
        db.dialect.insert_ignore()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(user.to_string())
        .bind(campaign.to_string())
        .execute(&db.pool)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_coupon WHERE coupon_info_id = ?")
        .bind(campaign.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
contract_test!(one_coupon_per_user_and_campaign_is_enforced_by_the_database);

async fn reservations_written_behind_come_back_with_their_items(db: &Db) {
    use hotdeal::domain::event::{Event, ReleaseReason};
    use hotdeal::domain::ids::OrderId;
    use hotdeal::persistence::writebehind::apply_batch;

    let store = SqlStore::new(db.clone());
    let (a, b) = (ItemId::new(), ItemId::new());
    for item in [a, b] {
        store
            .insert_product(
                &NewProduct {
                    id: item,
                    company_id: CompanyId::new(),
                    name: "held".into(),
                    price: 1_000,
                    quantity: 10_000,
                    category: "FASHION".into(),
                    description: None,
                    thumb_img: None,
                    detail_imgs: vec![],
                    created_by: None,
                },
                1,
            )
            .await
            .unwrap();
    }
    let user = UserId::new();
    // 1,500 orders on `a` (more than one statement's rows) and 3 on `b`, in one batch; then some
    // of them confirmed or released, in the same batch and in a later one.
    let on_a: Vec<OrderId> = (0..1_500).map(|_| OrderId::new()).collect();
    let on_b: Vec<OrderId> = (0..3).map(|_| OrderId::new()).collect();
    let reserve = |item, order, deadline_ms| Event::ItemReserved {
        item,
        order,
        user,
        qty: 1,
        deadline_ms,
        unit_price: 1_000,
        promotion: None,
        at_ms: 2,
    };
    let mut batch: Vec<(u64, Event)> = Vec::new();
    for (i, o) in on_a.iter().enumerate() {
        batch.push((0, reserve(a, *o, 10_000 + i as i64)));
    }
    for o in &on_b {
        batch.push((0, reserve(b, *o, 20_000)));
    }
    batch.push((
        0,
        Event::ItemConfirmed {
            item: a,
            order: on_a[0],
            qty: 1,
            promotion: None,
            at_ms: 3,
        },
    ));
    let numbered: Vec<(u64, Event)> = batch
        .into_iter()
        .enumerate()
        .map(|(i, (_, e))| (i as u64 + 1, e))
        .collect();
    let next = numbered.len() as u64 + 1;
    apply_batch(db, &numbered, 5).await.unwrap();
    // later: 700 of `a`'s released (two delete statements' worth of one item) and one of `b`'s
    let mut later: Vec<(u64, Event)> = Vec::new();
    for o in on_a[1..701].iter().chain(&on_b[..1]) {
        let item = if on_b.contains(o) { b } else { a };
        later.push((
            next + later.len() as u64,
            Event::ItemReleased {
                item,
                order: *o,
                qty: 1,
                promotion: None,
                reason: ReleaseReason::Cancelled,
                at_ms: 6,
            },
        ));
    }
    apply_batch(db, &later, 7).await.unwrap();

    let held = |item| {
        let store = &store;
        async move {
            let mut r: Vec<(OrderId, i64)> = store
                .load_item(item)
                .await
                .unwrap()
                .expect("stored")
                .reservations
                .into_iter()
                .map(|(o, r)| (o, r.deadline_ms))
                .collect();
            r.sort();
            r
        }
    };
    let mut want_a: Vec<(OrderId, i64)> = on_a
        .iter()
        .enumerate()
        .skip(701)
        .map(|(i, o)| (*o, 10_000 + i as i64))
        .collect();
    want_a.sort();
    assert_eq!(held(a).await, want_a, "item a keeps the 799 unpaid orders");
    let mut want_b: Vec<(OrderId, i64)> = on_b[1..].iter().map(|o| (*o, 20_000)).collect();
    want_b.sort();
    assert_eq!(held(b).await, want_b);
}
contract_test!(reservations_written_behind_come_back_with_their_items);
