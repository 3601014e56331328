//! The catalog SQL contract (companies, products, promotions, reviews), on SQLite and on MySQL.

use hotdeal::domain::ids::{ItemId, UserId};

async fn insert_order(
    db: &hotdeal::persistence::Db,
    user: UserId,
    product: &str,
    status: &str,
) -> (String, String) {
    let (order, line) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    sqlx::query(
        "INSERT INTO p_order (id, user_id, address_id, status, total_amount, discount_amount, \
         pay_amount, name, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 0, 1, 'o', 1, 1)",
    )
    .bind(&order)
    .bind(user.to_string())
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(status)
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO p_order_product (id, order_id, product_id, product_name, quantity, price, \
         created_at, updated_at) VALUES (?, ?, ?, 'p', 1, 1, 1, 1)",
    )
    .bind(&line)
    .bind(&order)
    .bind(product)
    .execute(&db.pool)
    .await
    .unwrap();
    (order, line)
}

async fn catalog_storage_contract(db: &hotdeal::persistence::Db) {
    use hotdeal::domain::ids::CompanyId;
    use hotdeal::persistence::catalog::{
        self as repo, Company, CompanyPatch, Promotion, PromotionFilter, Purchase, Review,
        ReviewPatch,
    };
    use hotdeal::persistence::repo::{NewProduct, SqlStore};
    const TAIL: &str = " ORDER BY created_at ASC, id ASC LIMIT 10 OFFSET 0";
    let now = 1_700_000_000_000;

    // companies: duplicate registration numbers, compare-and-set status, partial update, filters
    let manager = uuid::Uuid::now_v7();
    let company = Company {
        id: uuid::Uuid::now_v7(),
        business_registration_number: 1_234_567_890,
        company_phone_number: 212_345_678,
        manager_id: manager,
        company_email: "a@b.co".into(),
        brand_name: "Brand".into(),
        status: "REQUESTED".into(),
        created_at: now,
        updated_at: now,
    };
    assert!(repo::insert_company(db, &company, "t").await.unwrap());
    let twin = Company {
        id: uuid::Uuid::now_v7(),
        ..company.clone()
    };
    assert!(!repo::insert_company(db, &twin, "t").await.unwrap());
    let from = ["REQUESTED", "PENDING"];
    assert!(
        repo::set_company_status(db, company.id, &from, "APPROVED", "t", now)
            .await
            .unwrap()
    );
    assert!(
        !repo::set_company_status(db, company.id, &from, "REJECTED", "t", now)
            .await
            .unwrap()
    );
    let patch = CompanyPatch {
        company_phone_number: Some(42),
        ..Default::default()
    };
    assert!(
        repo::update_company(db, company.id, &patch, "t", now + 1)
            .await
            .unwrap()
    );
    let stored = repo::company(db, company.id).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.company_phone_number,
            stored.brand_name.as_str(),
            stored.status.as_str()
        ),
        (42, "Brand", "APPROVED")
    );
    let (list, total) = repo::list_companies(db, Some("APPROVED"), Some(manager), TAIL)
        .await
        .unwrap();
    assert_eq!((list.len(), total), (1, 1));
    assert_eq!(
        repo::list_companies(db, Some("REQUESTED"), None, TAIL)
            .await
            .unwrap()
            .1,
        0
    );

    // products: LIKE with literal wildcards, partial updates keep the rest
    let store = SqlStore::new(db.clone());
    let mut products = Vec::new();
    for name in ["50% Off_Mug", "500 Mugs", "Sneakers"] {
        let id = ItemId::new();
        store
            .insert_product(
                &NewProduct {
                    id,
                    company_id: CompanyId(company.id),
                    name: name.into(),
                    price: 10_000,
                    quantity: 5,
                    category: "KITCHEN".into(),
                    description: None,
                    thumb_img: Some("https://x.io/t.png".into()),
                    detail_imgs: vec!["https://x.io/1.png".into()],
                    created_by: None,
                },
                now,
            )
            .await
            .unwrap();
        products.push(id.0);
    }
    let search = |s: &str| repo::ProductFilter {
        search: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(
        repo::list_products(db, &search("50%"), TAIL)
            .await
            .unwrap()
            .1,
        1
    );
    assert_eq!(
        repo::list_products(db, &search("f_m"), TAIL)
            .await
            .unwrap()
            .1,
        1
    );
    assert_eq!(
        repo::list_products(db, &search("MUG"), TAIL)
            .await
            .unwrap()
            .1,
        2
    );
    let by_ids = repo::ProductFilter {
        ids: Some(products[1..].to_vec()),
        ..Default::default()
    };
    assert_eq!(repo::list_products(db, &by_ids, TAIL).await.unwrap().1, 2);
    let patch = repo::ProductPatch {
        description: Some("new".into()),
        ..Default::default()
    };
    assert!(
        repo::update_product(db, products[0], &patch, "t", now)
            .await
            .unwrap()
    );
    let p = repo::product(db, products[0]).await.unwrap().unwrap();
    assert_eq!(
        (
            p.name.as_str(),
            p.description.as_deref(),
            p.detail_imgs.len()
        ),
        ("50% Off_Mug", Some("new"), 1)
    );
    assert!(
        repo::set_product_price_status(db, products[0], 9_000, "INACTIVE", "t", now)
            .await
            .unwrap()
    );
    assert!(
        repo::delete_product(db, products[2], "t", now)
            .await
            .unwrap()
    );
    assert!(repo::product(db, products[2]).await.unwrap().is_none());

    // promotions: overlap (excluding itself), the next sale, stored statuses, phase filter
    let product = products[0];
    let promo = |start: i64, end: i64| Promotion {
        id: uuid::Uuid::now_v7(),
        product_id: product,
        start_at: now + start,
        end_at: now + end,
        discount_rate: 10,
        discount_price: 9_000,
        quantity: 2,
        remaining: 2,
        per_user_limit: Some(1),
        status: "PENDING".into(),
        created_at: now,
        updated_at: now,
    };
    let (first, second) = (promo(10, 20), promo(30, 40));
    repo::insert_promotion(db, &first, "t").await.unwrap();
    repo::insert_promotion(db, &second, "t").await.unwrap();
    assert!(
        repo::promotion_overlaps(db, product, now + 15, now + 35, None)
            .await
            .unwrap()
    );
    assert!(
        !repo::promotion_overlaps(db, product, now + 20, now + 30, None)
            .await
            .unwrap()
    );
    assert!(
        !repo::promotion_overlaps(db, product, now + 10, now + 25, Some(first.id))
            .await
            .unwrap()
    );
    let next = repo::next_promotions(db, &[product], now + 25)
        .await
        .unwrap();
    assert_eq!(next[&product].id, second.id);
    assert_eq!(next[&product].per_user_limit, Some(1));
    repo::refresh_promotion_statuses(db, product, now + 25)
        .await
        .unwrap();
    assert_eq!(
        repo::promotion(db, first.id).await.unwrap().unwrap().status,
        "COMPLETED"
    );
    assert_eq!(
        repo::promotion(db, second.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        "PENDING"
    );
    let phase = |p: &str| PromotionFilter {
        product_ids: Some(vec![product]),
        phase: Some(p.into()),
        now_ms: now + 15,
    };
    assert_eq!(
        repo::list_promotions(db, &phase("IN_PROGRESS"), TAIL)
            .await
            .unwrap()
            .0[0]
            .id,
        first.id
    );
    assert_eq!(
        repo::list_promotions(db, &phase("PENDING"), TAIL)
            .await
            .unwrap()
            .1,
        1
    );
    assert!(
        repo::delete_promotion(db, first.id, "t", now)
            .await
            .unwrap()
    );
    assert!(
        !repo::delete_promotion(db, first.id, "t", now)
            .await
            .unwrap()
    );

    // reviews: purchase checks, one per line (a unique violation on both backends), counters
    let user = UserId::new();
    let (order, line) = insert_order(db, user, &product.to_string(), "COMPLETE").await;
    let order: uuid::Uuid = order.parse().unwrap();
    assert_eq!(
        repo::purchase(db, order, user.0, product).await.unwrap(),
        Purchase::Line(line.parse().unwrap())
    );
    assert_eq!(
        repo::purchase(db, order, UserId::new().0, product)
            .await
            .unwrap(),
        Purchase::NoOrder
    );
    assert_eq!(
        repo::purchase(db, order, user.0, products[1])
            .await
            .unwrap(),
        Purchase::NotInOrder
    );
    let (pending, _) = insert_order(db, user, &product.to_string(), "PENDING").await;
    assert_eq!(
        repo::purchase(db, pending.parse().unwrap(), user.0, product)
            .await
            .unwrap(),
        Purchase::NotComplete
    );
    let review = Review {
        id: uuid::Uuid::now_v7(),
        order_id: order,
        order_product_id: Some(line.parse().unwrap()),
        product_id: product,
        user_id: user.0,
        nickname: "nick".into(),
        rating: 4.5,
        review: "good".into(),
        review_imgs: vec!["https://x.io/r.png".into()],
        created_at: now,
        updated_at: now,
    };
    assert!(repo::insert_review(db, &review, "t").await.unwrap());
    assert!(
        !repo::insert_review(
            db,
            &Review {
                id: uuid::Uuid::now_v7(),
                ..review.clone()
            },
            "t"
        )
        .await
        .unwrap()
    );
    let counters = |p: &repo::Product| (p.rating_sum, p.review_cnt);
    assert_eq!(
        counters(&repo::product(db, product).await.unwrap().unwrap()),
        (4.5, 1)
    );
    let patch = ReviewPatch {
        rating: Some(2.0),
        ..Default::default()
    };
    assert!(
        repo::update_review(db, &review, &patch, "t", now)
            .await
            .unwrap()
    );
    // a stale rating loses the compare-and-set
    assert!(
        !repo::update_review(db, &review, &patch, "t", now)
            .await
            .unwrap()
    );
    let current = repo::review(db, review.id).await.unwrap().unwrap();
    assert_eq!(
        (
            current.rating,
            current.review.as_str(),
            current.review_imgs.len()
        ),
        (2.0, "good", 1)
    );
    assert_eq!(
        counters(&repo::product(db, product).await.unwrap().unwrap()),
        (2.0, 1)
    );
    assert_eq!(
        repo::list_reviews(db, Some(product), TAIL).await.unwrap().1,
        1
    );
    assert!(repo::delete_review(db, &current, "t", now).await.unwrap());
    assert!(!repo::delete_review(db, &current, "t", now).await.unwrap());
    assert_eq!(
        counters(&repo::product(db, product).await.unwrap().unwrap()),
        (0.0, 0)
    );
    assert!(repo::review(db, review.id).await.unwrap().is_none());
    assert_eq!(repo::list_reviews(db, None, TAIL).await.unwrap().1, 0);
}
crate::contract_test!(catalog_storage_contract);
