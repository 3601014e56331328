//! A hot time sale bought through all three nodes: no oversell, no negative stock.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hotdeal::client::{
    AddressCreated, Client, NewAddress, NewProduct, NewPromotion, ProductCreated, PromotionCreated,
};
use hotdeal::domain::clock::rfc3339;
use hotdeal::domain::ids::UserId;
use hotdeal::http::auth::Role;
use uuid::Uuid;

use super::{Cluster, Entity, backoff, poll, token, with_mysql};

/// An approved company, a product of `stock` units and a time sale of all of them starting in a
/// second, created through node `via`; returns (product, promotion).
async fn time_sale(cluster: &Cluster, via: usize, stock: i64) -> (Uuid, Uuid) {
    let admin = cluster.admin(via);
    let company_id = cluster.approved_company(via).await;
    let product: ProductCreated = admin
        .create_product(&NewProduct {
            name: "cluster sale",
            price: 10_000,
            quantity: stock,
            category: "FOOD",
            company_id,
            description: None,
            thumb_img: "https://example.com/cluster.png",
            detail_imgs: &[],
        })
        .data()
        .await
        .expect("product");
    let now = chrono::Utc::now().timestamp_millis();
    let promotion: PromotionCreated = admin
        .create_promotion(&NewPromotion {
            product_id: product.product_id,
            start: rfc3339(now + 1_000),
            end: rfc3339(now + 3_600_000),
            discount_price: 5_000,
            quantity: stock,
            per_user_limit: None,
        })
        .data()
        .await
        .expect("promotion");
    (product.product_id, promotion.promotion_id)
}

/// Poll the promotion through `api` until it is IN_PROGRESS (at most 20 s).
async fn wait_in_progress(api: &Client, promotion: Uuid) {
    poll(
        "the sale started",
        Duration::from_secs(20),
        || async { api.promotion(promotion).await.ok() },
        |res| res.status == 200 && res.data()["status"] == "IN_PROGRESS",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
async fn hot_time_sale_through_three_nodes() {
    with_mysql(|server| async move {
        const STOCK: i64 = 60;
        const SHOPPERS: usize = 180;
        let cluster = Cluster::start(&server, 3).await;
        let nodes = cluster.nodes.len();
        let (product, promotion) = time_sale(&cluster, 0, STOCK).await;
        let owner = cluster
            .wait_owner(0, Entity::Product(product), Duration::from_secs(10), |_| true)
            .await;

        // Shoppers, each with an address made through one of the nodes.
        let shoppers: Vec<(UserId, Uuid)> = futures::stream::iter(0..SHOPPERS)
            .map(|i| {
                let api = cluster.nodes[i % nodes].api.clone();
                async move {
                    let user = UserId::new();
                    let made: AddressCreated = api
                        .with_token(&token(user, Role::Customer))
                        .create_address(&NewAddress::seoul("cluster"))
                        .data()
                        .await
                        .expect("address");
                    (user, made.address_id)
                }
            })
            .buffered(16)
            .collect()
            .await;
        wait_in_progress(&cluster.nodes[0].api, promotion).await;

        // Every shopper buys one unit through node `i % 3` until a final answer: 201, or sold
        // out. 503 and "not on sale yet" (the owner installs the sale at its start) are retried.
        let acked: Arc<Mutex<Vec<Uuid>>> = Arc::default();
        let sold_out = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(60);
        let apis: Vec<Client> = cluster.nodes.iter().map(|n| n.api.clone()).collect();
        futures::stream::iter(shoppers.iter().copied().enumerate())
            .for_each_concurrent(24, |(i, (user, address))| {
                let api = apis[i % nodes].with_token(&token(user, Role::Customer));
                let (acked, sold_out) = (acked.clone(), sold_out.clone());
                async move {
                    loop {
                        assert!(Instant::now() < deadline, "no final answer for {user}");
                        let res = api.buy_now(product, 1, address).await.expect("an answer");
                        match (res.status, res.code()) {
                            (201, _) => {
                                let id = res.data()["orderId"].as_str().unwrap().parse().unwrap();
                                acked.lock().unwrap().push(id);
                                return;
                            }
                            (409, "P022" | "OP004") => {
                                sold_out.fetch_add(1, Ordering::Relaxed);
                                return;
                            }
                            (409, "OP003") | (503, _) => {
                                tokio::time::sleep(backoff(Some(&res))).await;
                            }
                            (status, _) => panic!("unexpected answer {status}: {}", res.body),
                        }
                    }
                }
            })
            .await;

        let acked: HashSet<Uuid> = acked.lock().unwrap().iter().copied().collect();
        eprintln!(
            "product owned by {:?}: {} orders, {} sold-out answers",
            owner.owner,
            acked.len(),
            sold_out.load(Ordering::Relaxed)
        );
        assert!(acked.len() as i64 <= STOCK, "oversold: {}", acked.len());
        assert!(!acked.is_empty(), "nothing was sold");
        assert!(sold_out.load(Ordering::Relaxed) > 0, "the sale never sold out");

        // The database: every acknowledged order is there, at most the stock is ordered, and no
        // counter went negative.
        let pool = &cluster.db.pool;
        let ordered: Vec<String> = sqlx::query_scalar(
            "SELECT o.id FROM p_order o JOIN p_order_product op ON op.order_id = o.id \
             WHERE op.product_id = ?",
        )
        .bind(product.to_string())
        .fetch_all(pool)
        .await
        .unwrap();
        let ordered: HashSet<Uuid> = ordered.iter().map(|s| s.parse().unwrap()).collect();
        let missing: Vec<_> = acked.difference(&ordered).collect();
        assert!(
            missing.is_empty(),
            "acknowledged orders missing: {missing:?}"
        );
        assert!(ordered.len() as i64 <= STOCK, "oversold: {}", ordered.len());
        let (available, reserved, sold): (i64, i64, i64) =
            sqlx::query_as("SELECT available, reserved, sold FROM p_product WHERE id = ?")
                .bind(product.to_string())
                .fetch_one(pool)
                .await
                .unwrap();
        let remaining: i64 =
            sqlx::query_scalar("SELECT remaining FROM p_promotion WHERE product_id = ?")
                .bind(product.to_string())
                .fetch_one(pool)
                .await
                .unwrap();
        eprintln!(
            "available {available} reserved {reserved} sold {sold} sale remaining {remaining}"
        );
        assert!(
            available >= 0 && reserved >= 0 && sold >= 0 && remaining >= 0,
            "negative stock: available {available} reserved {reserved} sold {sold} remaining {remaining}"
        );
        assert!(reserved + sold <= STOCK, "more held than the stock");
        // Through the API, on every node, the sale is not below zero either.
        for node in &cluster.nodes {
            let res = node.api.promotion(promotion).await.expect("promotion");
            assert_eq!(res.status, 200, "{}", res.body);
            let left = res.data()["remaining"].as_i64().unwrap();
            assert!((0..=STOCK).contains(&left), "{}", res.body);
        }
        cluster.finish().await;
    })
    .await;
}
