//! The write-behind: applies journaled decisions to the database in order, in batches.
//!
//! Each batch is one transaction holding multi-row statements and the checkpoint row (the last
//! applied sequence), so a batch is applied entirely or not at all and replay after a crash
//! starts exactly after the checkpoint. Coupon rows are inserted with insert-ignore on their
//! unique keys, and counters move by the number of rows actually inserted, so even a replayed
//! batch cannot count twice. While the database is down the worker retries with backoff and the
//! journal's outbox is the buffer; the engine refuses new claims when that backlog passes its bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Any, QueryBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::journal::{Journal, Seq};
use super::repo::date_of;
use super::{Db, Dialect};
use crate::domain::Millis;
use crate::domain::campaign::{CampaignConfig, CampaignStatus};
use crate::domain::clock::SharedClock;
use crate::domain::event::Event;
use crate::domain::ids::{
    CampaignId, CouponId, ItemId, OrderId, PromotionId, UserId, coupon_id_for,
};
use crate::domain::order::{Order, OrderLine, OrderStatus};

/// Write-behind settings.
#[derive(Debug, Clone)]
pub struct WriteBehindOptions {
    pub batch_size: usize,
    pub interval: Duration,
}

/// A running write-behind worker.
pub struct WriteBehind {
    stop_tx: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    journal: Arc<Journal>,
}

impl WriteBehind {
    /// Start the worker.
    pub fn spawn(
        journal: Arc<Journal>,
        db: Db,
        clock: SharedClock,
        options: WriteBehindOptions,
    ) -> WriteBehind {
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(journal.clone(), db, clock, options, stop_rx));
        WriteBehind {
            stop_tx,
            task: Some(task),
            journal,
        }
    }

    /// Wait (up to `timeout`) until everything journaled so far is in the database.
    pub async fn wait_caught_up(&self, timeout: Duration) -> bool {
        self.journal.wait_applied(timeout).await
    }

    /// Drain what is pending (up to `timeout`) and stop.
    pub async fn stop(mut self, timeout: Duration) {
        let caught_up = self.wait_caught_up(timeout).await;
        if !caught_up {
            tracing::warn!(
                backlog = self.journal.backlog(),
                "stopping the write-behind with events not yet in the database; the journal keeps them"
            );
        }
        let _ = self.stop_tx.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(
    journal: Arc<Journal>,
    db: Db,
    clock: SharedClock,
    options: WriteBehindOptions,
    mut stop_rx: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        if *stop_rx.borrow() {
            return;
        }
        let batch = journal.take_written(options.batch_size.max(1));
        if batch.is_empty() {
            tokio::select! {
                _ = journal.outbox_ready() => {}
                _ = tokio::time::sleep(options.interval) => {}
                _ = stop_rx.changed() => {}
            }
            continue;
        }
        let last = batch.last().map(|(s, _)| *s).unwrap_or(0);
        let started = Instant::now();
        match apply_batch(&db, &batch, clock.now_ms()).await {
            Ok(()) => {
                journal.set_applied(last);
                backoff = Duration::from_millis(50);
                metrics::histogram!("hotdeal_writebehind_batch_size").record(batch.len() as f64);
                metrics::histogram!("hotdeal_writebehind_batch_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("hotdeal_writebehind_events_total").increment(batch.len() as u64);
                if let Some((_, e)) = batch.last() {
                    let lag_ms = clock.now_ms().saturating_sub(event_time(e));
                    metrics::gauge!("hotdeal_writebehind_lag_ms").set(lag_ms as f64);
                }
                metrics::gauge!("hotdeal_writebehind_lag_events").set(journal.backlog() as f64);
            }
            Err(err) => {
                metrics::counter!("hotdeal_writebehind_retries_total").increment(1);
                tracing::warn!(
                    error = %format!("{err:#}"),
                    events = batch.len(),
                    backlog = journal.backlog(),
                    retry_in_ms = backoff.as_millis() as u64,
                    "write-behind batch failed; will retry"
                );
                journal.untake(batch);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop_rx.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

fn event_time(e: &Event) -> Millis {
    match e {
        Event::CampaignConfigured { at_ms, .. }
        | Event::CampaignStatusSet { at_ms, .. }
        | Event::CouponIssued { at_ms, .. }
        | Event::CouponUsed { at_ms, .. }
        | Event::CouponRecovered { at_ms, .. }
        | Event::ItemConfigured { at_ms, .. }
        | Event::ItemSaleSet { at_ms, .. }
        | Event::ItemReserved { at_ms, .. }
        | Event::ItemConfirmed { at_ms, .. }
        | Event::ItemReleased { at_ms, .. }
        | Event::ItemRestocked { at_ms, .. }
        | Event::ItemAdjusted { at_ms, .. }
        | Event::OrderStatusChanged { at_ms, .. } => *at_ms,
        Event::OrderPlaced { order } => order.created_at_ms,
    }
}

#[derive(Default)]
struct CampaignChanges {
    /// Explicit status (and config) in force before the batch's last issue.
    before: Option<(CampaignStatus, Option<CampaignConfig>)>,
    /// Explicit status (and config) set after the batch's last issue.
    after: Option<(CampaignStatus, Option<CampaignConfig>)>,
    /// (user, at_ms, seq) of every issue, in order.
    issued: Vec<(UserId, Millis, Seq)>,
}

#[derive(Default, Clone, Copy)]
struct ItemDelta {
    quantity: i64,
    available: i64,
    reserved: i64,
    sold: i64,
}

/// Apply `batch` (in sequence order) and move the checkpoint to its last sequence, in one
/// transaction.
pub async fn apply_batch(db: &Db, batch: &[(Seq, Event)], now_ms: Millis) -> anyhow::Result<()> {
    let Some((last_seq, _)) = batch.last() else {
        return Ok(());
    };
    let mut campaigns: HashMap<CampaignId, CampaignChanges> = HashMap::new();
    let mut campaign_order: Vec<CampaignId> = Vec::new();
    // coupon id -> Some((order, at)) used / None recovered; last one wins.
    let mut coupon_use: HashMap<CouponId, Option<(OrderId, Millis)>> = HashMap::new();
    let mut coupon_use_order: Vec<CouponId> = Vec::new();
    let mut items: HashMap<ItemId, ItemDelta> = HashMap::new();
    let mut prices: HashMap<ItemId, i64> = HashMap::new();
    let mut promotions: HashMap<PromotionId, i64> = HashMap::new();
    let mut placed: Vec<&Order> = Vec::new();
    // (item, order) -> the reservation row to hold, or None to drop it; last one wins.
    type ReservationRow = (UserId, i64, i64, Option<PromotionId>, Millis);
    let mut held: HashMap<(ItemId, OrderId), Option<ReservationRow>> = HashMap::new();
    // order -> (status, at): the last status of each order in the batch.
    let mut order_status: HashMap<OrderId, (OrderStatus, Millis)> = HashMap::new();
    let mut order_status_order: Vec<OrderId> = Vec::new();

    for (seq, event) in batch {
        match event {
            Event::CampaignConfigured {
                campaign,
                config,
                status,
                ..
            } => {
                let c = campaign_entry(&mut campaigns, &mut campaign_order, *campaign);
                let explicit = Some((*status, Some(config.clone())));
                if c.issued.is_empty() {
                    c.before = explicit;
                } else {
                    c.after = explicit;
                }
            }
            Event::CampaignStatusSet {
                campaign, status, ..
            } => {
                let c = campaign_entry(&mut campaigns, &mut campaign_order, *campaign);
                if c.issued.is_empty() {
                    let config = c.before.take().and_then(|(_, cfg)| cfg);
                    c.before = Some((*status, config));
                } else {
                    let config = c.after.take().and_then(|(_, cfg)| cfg);
                    c.after = Some((*status, config));
                }
            }
            Event::CouponIssued {
                campaign,
                user,
                at_ms,
            } => {
                let c = campaign_entry(&mut campaigns, &mut campaign_order, *campaign);
                if let Some(after) = c.after.take() {
                    c.before = Some(after);
                }
                c.issued.push((*user, *at_ms, *seq));
            }
            Event::CouponUsed {
                campaign,
                user,
                order,
                at_ms,
                ..
            } => {
                let id = coupon_id_for(*campaign, *user);
                if coupon_use.insert(id, Some((*order, *at_ms))).is_none() {
                    coupon_use_order.push(id);
                }
            }
            Event::CouponRecovered { campaign, user, .. } => {
                let id = coupon_id_for(*campaign, *user);
                if coupon_use.insert(id, None).is_none() {
                    coupon_use_order.push(id);
                }
            }
            Event::ItemConfigured { item, config, .. } => {
                prices.insert(*item, config.price);
            }
            Event::ItemSaleSet { .. } => {
                // Sale definitions are written by the catalog when they are created or changed.
            }
            Event::ItemReserved {
                item,
                order,
                user,
                qty,
                unit_price,
                promotion,
                deadline_ms,
                ..
            } => {
                held.insert(
                    (*item, *order),
                    Some((*user, *qty, *unit_price, *promotion, *deadline_ms)),
                );
                let d = items.entry(*item).or_default();
                d.available -= qty;
                d.reserved += qty;
                if let Some(p) = promotion {
                    *promotions.entry(*p).or_default() -= qty;
                }
            }
            Event::ItemConfirmed {
                item, order, qty, ..
            } => {
                held.insert((*item, *order), None);
                let d = items.entry(*item).or_default();
                d.reserved -= qty;
                d.sold += qty;
            }
            Event::ItemReleased {
                item,
                order,
                qty,
                promotion,
                ..
            } => {
                held.insert((*item, *order), None);
                let d = items.entry(*item).or_default();
                d.reserved -= qty;
                d.available += qty;
                if let Some(p) = promotion {
                    *promotions.entry(*p).or_default() += qty;
                }
            }
            Event::ItemRestocked {
                item,
                qty,
                promotion,
                ..
            } => {
                let d = items.entry(*item).or_default();
                d.sold -= qty;
                d.available += qty;
                if let Some(p) = promotion {
                    *promotions.entry(*p).or_default() += qty;
                }
            }
            Event::ItemAdjusted { item, delta, .. } => {
                let d = items.entry(*item).or_default();
                d.quantity += delta;
                d.available += delta;
            }
            Event::OrderPlaced { order } => placed.push(order),
            Event::OrderStatusChanged {
                order,
                status,
                at_ms,
            } => {
                if order_status.insert(*order, (*status, *at_ms)).is_none() {
                    order_status_order.push(*order);
                }
            }
        }
    }

    let dialect = db.dialect;
    let mut tx = db.pool.begin().await?;

    for id in &campaign_order {
        let c = &campaigns[id];
        if let Some((status, config)) = &c.before {
            set_campaign(&mut tx, *id, *status, config.as_ref(), now_ms).await?;
        }
        if !c.issued.is_empty() {
            let mut inserted = 0u64;
            for chunk in c.issued.chunks(1_000) {
                inserted += insert_coupons(&mut tx, dialect, *id, chunk).await?;
            }
            if inserted > 0 {
                sqlx::query(
                    "UPDATE p_coupon_info SET \
                     status = CASE WHEN issued_count + ? >= quantity THEN 'OUT_OF_STOCK' ELSE status END, \
                     issued_count = issued_count + ?, updated_at = ? WHERE coupon_info_id = ?",
                )
                .bind(inserted as i64)
                .bind(inserted as i64)
                .bind(now_ms)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        if let Some((status, config)) = &c.after {
            set_campaign(&mut tx, *id, *status, config.as_ref(), now_ms).await?;
        }
    }

    for id in &coupon_use_order {
        match coupon_use[id] {
            Some((order, at_ms)) => {
                sqlx::query(
                    "UPDATE p_coupon SET is_used = 1, used_date = ?, used_order_id = ?, updated_at = ? \
                     WHERE coupon_id = ?",
                )
                .bind(date_of(at_ms))
                .bind(order.to_string())
                .bind(now_ms)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "UPDATE p_coupon SET is_used = 0, used_date = NULL, used_order_id = NULL, updated_at = ? \
                     WHERE coupon_id = ?",
                )
                .bind(now_ms)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
    }

    let mut item_ids: Vec<_> = items.keys().copied().collect();
    item_ids.sort();
    for id in item_ids {
        let d = items[&id];
        sqlx::query(
            "UPDATE p_product SET quantity = quantity + ?, available = available + ?, \
             reserved = reserved + ?, sold = sold + ?, updated_at = ? WHERE id = ?",
        )
        .bind(d.quantity)
        .bind(d.available)
        .bind(d.reserved)
        .bind(d.sold)
        .bind(now_ms)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    }
    for (id, price) in &prices {
        sqlx::query("UPDATE p_product SET price = ?, updated_at = ? WHERE id = ?")
            .bind(*price)
            .bind(now_ms)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    let mut promotion_ids: Vec<_> = promotions.keys().copied().collect();
    promotion_ids.sort();
    for id in promotion_ids {
        sqlx::query(
            "UPDATE p_promotion SET remaining = remaining + ?, updated_at = ? WHERE id = ?",
        )
        .bind(promotions[&id])
        .bind(now_ms)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    }

    let mut keys: Vec<_> = held.keys().copied().collect();
    keys.sort();
    for (item, order) in keys {
        match held[&(item, order)] {
            Some((user, qty, unit_price, promotion, deadline)) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{} INTO hd_reservation (item_id, order_id, user_id, qty, unit_price, promotion_id, deadline_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                    dialect.insert_ignore()
                )))
                .bind(item.to_string())
                .bind(order.to_string())
                .bind(user.to_string())
                .bind(qty)
                .bind(unit_price)
                .bind(promotion.map(|p| p.to_string()))
                .bind(deadline)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM hd_reservation WHERE item_id = ? AND order_id = ?")
                    .bind(item.to_string())
                    .bind(order.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }

    for chunk in placed.chunks(500) {
        insert_orders(&mut tx, dialect, chunk).await?;
    }
    for id in &order_status_order {
        let (status, at_ms) = order_status[id];
        sqlx::query(
            "UPDATE p_order SET status = ?, completed_at = CASE WHEN ? = 'COMPLETE' THEN ? ELSE completed_at END, \
             updated_at = ? WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(status.as_str())
        .bind(at_ms)
        .bind(at_ms)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    }

    sqlx::query("UPDATE hd_checkpoint SET last_seq = ?, updated_at = ? WHERE name = 'writebehind'")
        .bind(*last_seq as i64)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn campaign_entry<'a>(
    campaigns: &'a mut HashMap<CampaignId, CampaignChanges>,
    order: &mut Vec<CampaignId>,
    id: CampaignId,
) -> &'a mut CampaignChanges {
    if !campaigns.contains_key(&id) {
        order.push(id);
    }
    campaigns.entry(id).or_default()
}

async fn set_campaign(
    tx: &mut sqlx::Transaction<'_, Any>,
    id: CampaignId,
    status: CampaignStatus,
    config: Option<&CampaignConfig>,
    now_ms: Millis,
) -> anyhow::Result<()> {
    match config {
        None => {
            sqlx::query(
                "UPDATE p_coupon_info SET status = ?, updated_at = ? WHERE coupon_info_id = ?",
            )
            .bind(status.as_str())
            .bind(now_ms)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Some(c) => {
            // The expiration instant is the midnight after the expiration date.
            let expiration_date = date_of(c.expires_at_ms - 1);
            sqlx::query(
                "UPDATE p_coupon_info SET status = ?, quantity = ?, discount_amount = ?, \
                 min_order_amount = ?, expiration_date = ?, company_id = ?, issue_start_at = ?, \
                 issue_end_at = ?, updated_at = ? WHERE coupon_info_id = ?",
            )
            .bind(status.as_str())
            .bind(c.quantity)
            .bind(c.discount_amount)
            .bind(c.min_order_amount)
            .bind(expiration_date)
            .bind(c.company_id.map(|x| x.to_string()))
            .bind(c.issue_start_ms)
            .bind(c.issue_end_ms)
            .bind(now_ms)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

async fn insert_orders(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    orders: &[&Order],
) -> anyhow::Result<()> {
    let mut qb: QueryBuilder<Any> = QueryBuilder::new(format!(
        "{} INTO p_order (id, user_id, address_id, status, total_amount, discount_amount, pay_amount, \
         name, coupon_id, coupon_discount_amount, expires_at, created_at, updated_at) ",
        dialect.insert_ignore()
    ));
    qb.push_values(orders, |mut b, o| {
        b.push_bind(o.id.to_string())
            .push_bind(o.user.to_string())
            .push_bind(o.address_id.to_string())
            .push_bind(o.status.as_str())
            .push_bind(o.total_amount)
            .push_bind(o.discount_amount)
            .push_bind(o.pay_amount)
            .push_bind(o.name.clone())
            .push_bind(o.coupon.map(|c| c.coupon.to_string()))
            .push_bind(o.discount_amount)
            .push_bind(o.deadline_ms)
            .push_bind(o.created_at_ms)
            .push_bind(o.created_at_ms);
    });
    qb.build().execute(&mut **tx).await?;
    let lines: Vec<(&Order, &OrderLine)> = orders
        .iter()
        .flat_map(|o| o.lines.iter().map(move |l| (*o, l)))
        .collect();
    for chunk in lines.chunks(500) {
        let mut qb: QueryBuilder<Any> = QueryBuilder::new(format!(
            "{} INTO p_order_product (id, order_id, product_id, product_name, quantity, price, \
             created_at, updated_at) ",
            dialect.insert_ignore()
        ));
        qb.push_values(chunk, |mut b, (o, l)| {
            b.push_bind(uuid::Uuid::new_v5(&o.id.0, l.item.0.as_bytes()).to_string())
                .push_bind(o.id.to_string())
                .push_bind(l.item.to_string())
                .push_bind(l.name.clone())
                .push_bind(l.qty)
                .push_bind(l.unit_price)
                .push_bind(o.created_at_ms)
                .push_bind(o.created_at_ms);
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_coupons(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    campaign: CampaignId,
    rows: &[(UserId, Millis, Seq)],
) -> anyhow::Result<u64> {
    let mut qb: QueryBuilder<Any> = QueryBuilder::new(format!(
        "{} INTO p_coupon (coupon_id, user_id, coupon_info_id, daily_issued_date, is_used, \
         issued_seq, created_at, updated_at) ",
        dialect.insert_ignore()
    ));
    let campaign_str = campaign.to_string();
    qb.push_values(rows, |mut b, (user, at_ms, seq)| {
        b.push_bind(coupon_id_for(campaign, *user).to_string())
            .push_bind(user.to_string())
            .push_bind(campaign_str.clone())
            .push_bind(date_of(*at_ms))
            .push_bind(0i64)
            .push_bind(*seq as i64)
            .push_bind(*at_ms)
            .push_bind(*at_ms);
    });
    let result = qb.build().execute(&mut **tx).await?;
    Ok(result.rows_affected())
}
