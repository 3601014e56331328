//! The write-behind: applies journaled decisions to the database in order, in batches.
//!
//! Each batch is one transaction holding multi-row statements and the checkpoint row (the last
//! applied sequence), so a batch is applied entirely or not at all and replay after a crash
//! starts exactly after the checkpoint. Coupon rows are inserted with insert-ignore on their
//! unique keys, and counters move by the number of rows actually inserted, so even a replayed
//! batch cannot count twice. While the database is down the worker retries with backoff and the
//! journal's outbox is the buffer; the engine refuses new claims when that backlog passes its bound.
//!
//! Multi-row statements come in a few fixed sizes only (powers of two, see [`row_chunks`]): both
//! drivers prepare each distinct SQL text once per connection and cache it, so a batch of any
//! size reuses cached statements instead of preparing a new shape for its last, odd-sized chunk
//! (preparing a 1,000-row insert costs MariaDB about as much as inserting a few hundred rows).
//! On MySQL/MariaDB p_coupon is clustered in insertion order with binary-compared ids (migration
//! 0007), which is what bounds the coupon insert rate; see benches/durability.rs, section 5.

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
    /// The linger of a quiet system (see [`linger`]).
    pub interval: Duration,
    /// The share of wall time, in percent, applying may take during a burst (see [`linger`]).
    pub duty_percent: u8,
}

/// The longest the write-behind lingers between batches, however slow the last one was.
const MAX_LINGER: Duration = Duration::from_secs(1);

/// How long to let the outbox fill after a batch that took `applied` to apply: at least
/// `interval`, and long enough that applying takes at most `duty_percent` of the wall time
/// (capped at [`MAX_LINGER`]). A quiet system's batches are small and quick, so its lag is the
/// interval; during a burst each batch takes longer, the linger grows with it, the next batch is
/// larger, and a row costs the database less (one commit, and each index page written once, for
/// more rows). The worker thus takes a bounded share of the CPU from the claims it trails.
pub fn linger(interval: Duration, applied: Duration, duty_percent: u8) -> Duration {
    let duty = u32::from(duty_percent.clamp(1, 100));
    let idle = applied * (100 - duty) / duty;
    idle.clamp(interval, MAX_LINGER.max(interval))
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
    let mut last_commit = Instant::now();
    let mut pause = options.interval;
    loop {
        if *stop_rx.borrow() {
            return;
        }
        // Linger: a batch that is not full waits until `pause` after the previous commit, so a
        // steady stream of claims is applied in a few large transactions rather than many small
        // ones (a commit costs about as much as a hundred rows). The lag this adds is bounded by
        // `linger`; a full batch goes at once.
        let max = options.batch_size.max(1);
        if journal.outbox_len() < max {
            let due = last_commit + pause;
            if Instant::now() < due {
                tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => {}
                    _ = stop_rx.changed() => {}
                }
            }
        }
        let batch = journal.take_written(max);
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
                last_commit = Instant::now();
                pause = linger(options.interval, started.elapsed(), options.duty_percent);
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
        | Event::ItemRefunded { at_ms, .. }
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
    let mut tx = db.pool.begin().await?;
    apply_in(&mut tx, db.dialect, batch, now_ms).await?;
    sqlx::query("UPDATE hd_checkpoint SET last_seq = ?, updated_at = ? WHERE name = 'writebehind'")
        .bind(*last_seq as i64)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Apply `batch` (in sequence order) inside `tx`, without the checkpoint: the write-behind's
/// batches and cluster mode's fenced journal commits both go through here.
pub async fn apply_in(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    batch: &[(Seq, Event)],
    now_ms: Millis,
) -> anyhow::Result<()> {
    let c = BatchChanges::fold(batch);
    c.write_campaigns(tx, dialect, now_ms).await?;
    c.write_coupon_uses(tx, now_ms).await?;
    c.write_stock(tx, now_ms).await?;
    c.write_reservations(tx, dialect).await?;
    c.write_orders(tx, dialect).await?;
    Ok(())
}

/// What a batch changes, folded per row: the write-behind writes each row once per batch
/// however many events touched it.
#[derive(Default)]
struct BatchChanges<'a> {
    campaigns: HashMap<CampaignId, CampaignChanges>,
    /// Campaigns in the order the batch first touched them.
    campaign_order: Vec<CampaignId>,
    /// coupon id -> Some((order, at)) used / None recovered; last one wins.
    coupon_use: HashMap<CouponId, Option<(OrderId, Millis)>>,
    coupon_use_order: Vec<CouponId>,
    items: HashMap<ItemId, ItemDelta>,
    prices: HashMap<ItemId, i64>,
    promotions: HashMap<PromotionId, i64>,
    placed: Vec<&'a Order>,
    /// (item, order) -> the reservation row to hold, or None to drop it; last one wins.
    held: HashMap<(ItemId, OrderId), Option<ReservationRow>>,
    /// order -> (status, at): the last status of each order in the batch.
    order_status: HashMap<OrderId, (OrderStatus, Millis)>,
    order_status_order: Vec<OrderId>,
}

impl<'a> BatchChanges<'a> {
    /// Fold `batch` (in sequence order) into the rows it changes.
    fn fold(batch: &'a [(Seq, Event)]) -> Self {
        let mut c = BatchChanges::default();
        for (seq, event) in batch {
            match event {
                Event::CampaignConfigured {
                    campaign,
                    config,
                    status,
                    ..
                } => {
                    let e = campaign_entry(&mut c.campaigns, &mut c.campaign_order, *campaign);
                    let explicit = Some((*status, Some(config.clone())));
                    if e.issued.is_empty() {
                        e.before = explicit;
                    } else {
                        e.after = explicit;
                    }
                }
                Event::CampaignStatusSet {
                    campaign, status, ..
                } => {
                    let e = campaign_entry(&mut c.campaigns, &mut c.campaign_order, *campaign);
                    if e.issued.is_empty() {
                        let config = e.before.take().and_then(|(_, cfg)| cfg);
                        e.before = Some((*status, config));
                    } else {
                        let config = e.after.take().and_then(|(_, cfg)| cfg);
                        e.after = Some((*status, config));
                    }
                }
                Event::CouponIssued {
                    campaign,
                    user,
                    at_ms,
                } => {
                    let e = campaign_entry(&mut c.campaigns, &mut c.campaign_order, *campaign);
                    if let Some(after) = e.after.take() {
                        e.before = Some(after);
                    }
                    e.issued.push((*user, *at_ms, *seq));
                }
                Event::CouponUsed {
                    campaign,
                    user,
                    order,
                    at_ms,
                    ..
                } => {
                    let id = coupon_id_for(*campaign, *user);
                    if c.coupon_use.insert(id, Some((*order, *at_ms))).is_none() {
                        c.coupon_use_order.push(id);
                    }
                }
                Event::CouponRecovered { campaign, user, .. } => {
                    let id = coupon_id_for(*campaign, *user);
                    if c.coupon_use.insert(id, None).is_none() {
                        c.coupon_use_order.push(id);
                    }
                }
                Event::ItemConfigured { item, config, .. } => {
                    c.prices.insert(*item, config.price);
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
                    c.held.insert(
                        (*item, *order),
                        Some((*user, *qty, *unit_price, *promotion, *deadline_ms)),
                    );
                    let d = c.items.entry(*item).or_default();
                    d.available -= qty;
                    d.reserved += qty;
                    if let Some(p) = promotion {
                        *c.promotions.entry(*p).or_default() -= qty;
                    }
                }
                Event::ItemConfirmed {
                    item, order, qty, ..
                } => {
                    c.held.insert((*item, *order), None);
                    let d = c.items.entry(*item).or_default();
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
                    c.held.insert((*item, *order), None);
                    let d = c.items.entry(*item).or_default();
                    d.reserved -= qty;
                    d.available += qty;
                    if let Some(p) = promotion {
                        *c.promotions.entry(*p).or_default() += qty;
                    }
                }
                Event::ItemRestocked {
                    item,
                    qty,
                    promotion,
                    ..
                }
                | Event::ItemRefunded {
                    item,
                    qty,
                    promotion,
                    ..
                } => {
                    let d = c.items.entry(*item).or_default();
                    d.sold -= qty;
                    d.available += qty;
                    if let Some(p) = promotion {
                        *c.promotions.entry(*p).or_default() += qty;
                    }
                }
                Event::ItemAdjusted { item, delta, .. } => {
                    let d = c.items.entry(*item).or_default();
                    d.quantity += delta;
                    d.available += delta;
                }
                Event::OrderPlaced { order } => c.placed.push(order),
                Event::OrderStatusChanged {
                    order,
                    status,
                    at_ms,
                } => {
                    if c.order_status.insert(*order, (*status, *at_ms)).is_none() {
                        c.order_status_order.push(*order);
                    }
                }
            }
        }
        c
    }

    /// Campaign rows: status and configuration around the batch's issues, the coupons issued and the
    /// campaign's count.
    async fn write_campaigns(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        dialect: Dialect,
        now_ms: Millis,
    ) -> anyhow::Result<()> {
        for id in &self.campaign_order {
            let c = &self.campaigns[id];
            if let Some((status, config)) = &c.before {
                set_campaign(tx, *id, *status, config.as_ref(), now_ms).await?;
            }
            if !c.issued.is_empty() {
                let mut inserted = 0u64;
                for chunk in row_chunks(&c.issued, COUPON_ROWS) {
                    inserted += insert_coupons(tx, dialect, *id, chunk).await?;
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
                    .execute(&mut **tx)
                    .await?;
                }
            }
            if let Some((status, config)) = &c.after {
                set_campaign(tx, *id, *status, config.as_ref(), now_ms).await?;
            }
        }
        Ok(())
    }

    /// Coupons used or given back.
    async fn write_coupon_uses(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        now_ms: Millis,
    ) -> anyhow::Result<()> {
        for id in &self.coupon_use_order {
            match self.coupon_use[id] {
                Some((order, at_ms)) => {
                    sqlx::query(
                        "UPDATE p_coupon SET is_used = 1, used_date = ?, used_order_id = ?, updated_at = ? \
                         WHERE coupon_id = ?",
                    )
                    .bind(date_of(at_ms))
                    .bind(order.to_string())
                    .bind(now_ms)
                    .bind(id.to_string())
                    .execute(&mut **tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "UPDATE p_coupon SET is_used = 0, used_date = NULL, used_order_id = NULL, updated_at = ? \
                         WHERE coupon_id = ?",
                    )
                    .bind(now_ms)
                    .bind(id.to_string())
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Stock counts, prices and sale remainders.
    async fn write_stock(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        now_ms: Millis,
    ) -> anyhow::Result<()> {
        let mut item_ids: Vec<_> = self.items.keys().copied().collect();
        item_ids.sort();
        for id in item_ids {
            let d = self.items[&id];
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
            .execute(&mut **tx)
            .await?;
        }
        for (id, price) in &self.prices {
            sqlx::query("UPDATE p_product SET price = ?, updated_at = ? WHERE id = ?")
                .bind(*price)
                .bind(now_ms)
                .bind(id.to_string())
                .execute(&mut **tx)
                .await?;
        }
        let mut promotion_ids: Vec<_> = self.promotions.keys().copied().collect();
        promotion_ids.sort();
        for id in promotion_ids {
            sqlx::query(
                "UPDATE p_promotion SET remaining = remaining + ?, updated_at = ? WHERE id = ?",
            )
            .bind(self.promotions[&id])
            .bind(now_ms)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Reservation rows held or dropped.
    async fn write_reservations(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        dialect: Dialect,
    ) -> anyhow::Result<()> {
        // Reservations held go in as multi-row inserts, the ones dropped as one delete per item and
        // chunk: a statement per reservation cost a round trip to the database's thread (or server)
        // per order.
        let mut keys: Vec<(ItemId, OrderId)> = self.held.keys().copied().collect();
        keys.sort();
        let mut holds: Vec<(ItemId, OrderId, ReservationRow)> = Vec::new();
        let mut drops: Vec<(ItemId, OrderId)> = Vec::new();
        for (item, order) in keys {
            match self.held[&(item, order)] {
                Some(row) => holds.push((item, order, row)),
                None => drops.push((item, order)),
            }
        }
        for chunk in row_chunks(&holds, RESERVATION_ROWS) {
            insert_reservations(tx, dialect, chunk).await?;
        }
        for of_item in drops.chunk_by(|a, b| a.0 == b.0) {
            for chunk in row_chunks(of_item, RESERVATION_ROWS) {
                delete_reservations(tx, chunk).await?;
            }
        }
        Ok(())
    }

    /// Orders placed and their last status.
    async fn write_orders(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        dialect: Dialect,
    ) -> anyhow::Result<()> {
        for chunk in row_chunks(&self.placed, ORDER_ROWS) {
            insert_orders(tx, dialect, chunk).await?;
        }
        for id in &self.order_status_order {
            let (status, at_ms) = self.order_status[id];
            sqlx::query(
                "UPDATE p_order SET status = ?, completed_at = CASE WHEN ? = 'COMPLETE' THEN ? ELSE completed_at END, \
                 updated_at = ? WHERE id = ?",
            )
            .bind(status.as_str())
            .bind(status.as_str())
            .bind(at_ms)
            .bind(at_ms)
            .bind(id.to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
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
    for chunk in row_chunks(&lines, ORDER_ROWS) {
        let mut qb: QueryBuilder<Any> = QueryBuilder::new(format!(
            "{} INTO p_order_product (id, order_id, product_id, product_name, quantity, price, \
             promotion_id, created_at, updated_at) ",
            dialect.insert_ignore()
        ));
        qb.push_values(chunk, |mut b, (o, l)| {
            b.push_bind(uuid::Uuid::new_v5(&o.id.0, l.item.0.as_bytes()).to_string())
                .push_bind(o.id.to_string())
                .push_bind(l.item.to_string())
                .push_bind(l.name.clone())
                .push_bind(l.qty)
                .push_bind(l.unit_price)
                .push_bind(l.promotion.map(|p| p.to_string()))
                .push_bind(o.created_at_ms)
                .push_bind(o.created_at_ms);
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// A reservation row: user, quantity, unit price, promotion, deadline.
type ReservationRow = (UserId, i64, i64, Option<PromotionId>, Millis);

/// Most reservation rows (7 parameters) or order ids of one item in one statement.
const RESERVATION_ROWS: usize = 1024;

async fn insert_reservations(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    rows: &[(ItemId, OrderId, ReservationRow)],
) -> anyhow::Result<()> {
    let mut qb: QueryBuilder<Any> = QueryBuilder::new(format!(
        "{} INTO hd_reservation (item_id, order_id, user_id, qty, unit_price, promotion_id, deadline_at) ",
        dialect.insert_ignore()
    ));
    qb.push_values(
        rows,
        |mut b, (item, order, (user, qty, unit_price, promotion, deadline))| {
            b.push_bind(item.to_string())
                .push_bind(order.to_string())
                .push_bind(user.to_string())
                .push_bind(*qty)
                .push_bind(*unit_price)
                .push_bind(promotion.map(|p| p.to_string()))
                .push_bind(*deadline);
        },
    );
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Delete the reservations `rows` (all of one item).
async fn delete_reservations(
    tx: &mut sqlx::Transaction<'_, Any>,
    rows: &[(ItemId, OrderId)],
) -> anyhow::Result<()> {
    let Some((item, _)) = rows.first() else {
        return Ok(());
    };
    let mut qb: QueryBuilder<Any> =
        QueryBuilder::new("DELETE FROM hd_reservation WHERE item_id = ");
    qb.push_bind(item.to_string()).push(" AND order_id IN (");
    let mut ids = qb.separated(", ");
    for (_, order) in rows {
        ids.push_bind(order.to_string());
    }
    qb.push(")");
    qb.build().execute(&mut **tx).await?;
    Ok(())
}

/// Milliseconds in a (UTC) day.
const DAY_MS: i64 = 86_400_000;
/// Most coupon rows in one statement (7 parameters each).
const COUPON_ROWS: usize = 1024;
/// Most order (13 parameters) or order line (8 parameters) rows in one statement.
const ORDER_ROWS: usize = 512;

/// `rows` cut into chunks of `max` rows (a power of two) followed by the remainder cut into
/// decreasing powers of two, so statements take at most `log2(max) + 1` distinct shapes.
fn row_chunks<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    debug_assert!(max.is_power_of_two());
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

async fn insert_coupons(
    tx: &mut sqlx::Transaction<'_, Any>,
    dialect: Dialect,
    campaign: CampaignId,
    rows: &[(UserId, Millis, Seq)],
) -> anyhow::Result<u64> {
    // is_used takes its default (0).
    let mut qb: QueryBuilder<Any> = QueryBuilder::new(format!(
        "{} INTO p_coupon (coupon_id, user_id, coupon_info_id, daily_issued_date, issued_seq, \
         created_at, updated_at) ",
        dialect.insert_ignore()
    ));
    let campaign_str = campaign.to_string();
    // The rows of a batch mostly share one day: format its date once.
    let mut day: Option<(i64, String)> = None;
    qb.push_values(rows, |mut b, (user, at_ms, seq)| {
        let day_no = at_ms.div_euclid(DAY_MS);
        let date = match &day {
            Some((no, date)) if *no == day_no => date.clone(),
            _ => day.insert((day_no, date_of(*at_ms))).1.clone(),
        };
        b.push_bind(coupon_id_for(campaign, *user).to_string())
            .push_bind(user.to_string())
            .push_bind(campaign_str.clone())
            .push_bind(date)
            .push_bind(*seq as i64)
            .push_bind(*at_ms)
            .push_bind(*at_ms);
    });
    let result = qb.build().execute(&mut **tx).await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::campaign::CouponState;
    use crate::domain::order::OrderCoupon;
    use crate::persistence::DbOptions;
    use crate::persistence::repo::{EngineStore, NewCampaign, SqlStore};

    #[test]
    fn linger_keeps_applying_to_its_share_of_the_time_within_bounds() {
        let ms = Duration::from_millis;
        // Quick batches: the quiet system's interval.
        assert_eq!(linger(ms(20), ms(1), 20), ms(20));
        // A 30 ms batch at a 20% duty: 120 ms of rest, so applying takes 30 of every 150 ms.
        assert_eq!(linger(ms(20), ms(30), 20), ms(120));
        assert_eq!(linger(ms(20), ms(30), 50), ms(30));
        // Never longer than a second, and back to back at 100%.
        assert_eq!(linger(ms(20), ms(900), 20), MAX_LINGER);
        assert_eq!(linger(ms(20), ms(900), 100), ms(20));
        // An interval above the cap is the operator's choice and is kept.
        assert_eq!(linger(ms(1500), ms(1), 20), ms(1500));
        // Out-of-range shares are clamped rather than dividing by zero.
        assert_eq!(linger(ms(20), ms(30), 0), MAX_LINGER);
    }

    #[test]
    fn row_chunks_cover_every_row_in_order_with_few_shapes() {
        let mut shapes = std::collections::BTreeSet::new();
        for len in 0..3_000usize {
            let rows: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = row_chunks(&rows, 1024).collect();
            assert_eq!(chunks.concat(), rows, "{len} rows");
            for c in &chunks {
                assert!(
                    c.len().is_power_of_two() && c.len() <= 1024,
                    "{len}: {}",
                    c.len()
                );
                shapes.insert(c.len());
            }
        }
        assert_eq!(shapes.len(), 11, "{shapes:?}");
    }

    /// `CouponIssued` of users `users` into `campaign`, numbered from `first_seq`; the second
    /// half of them the day after the first half.
    fn issues(
        campaign: CampaignId,
        users: std::ops::Range<u128>,
        first_seq: Seq,
    ) -> Vec<(Seq, Event)> {
        const DAY1: Millis = 1_900_000_000_000;
        let half = users.start + (users.end - users.start) / 2;
        users
            .enumerate()
            .map(|(i, u)| {
                let at_ms = if u < half { DAY1 } else { DAY1 + DAY_MS };
                let user = UserId(uuid::Uuid::from_u128(u + 1));
                (
                    first_seq + i as Seq,
                    Event::CouponIssued {
                        campaign,
                        user,
                        at_ms,
                    },
                )
            })
            .collect()
    }

    async fn coupon_counts(db: &Db, campaign: CampaignId) -> (i64, i64, Vec<(String, i64)>, i64) {
        let issued: i64 =
            sqlx::query_scalar("SELECT issued_count FROM p_coupon_info WHERE coupon_info_id = ?")
                .bind(campaign.to_string())
                .fetch_one(&db.pool)
                .await
                .unwrap();
        let unused: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM p_coupon WHERE coupon_info_id = ? AND is_used = 0",
        )
        .bind(campaign.to_string())
        .fetch_one(&db.pool)
        .await
        .unwrap();
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT daily_issued_date, COUNT(*) FROM p_coupon WHERE coupon_info_id = ? \
             GROUP BY daily_issued_date ORDER BY daily_issued_date",
        )
        .bind(campaign.to_string())
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let checkpoint: i64 =
            sqlx::query_scalar("SELECT last_seq FROM hd_checkpoint WHERE name = 'writebehind'")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        (issued, unused, rows, checkpoint)
    }

    /// Odd-sized batches land whole, with the right dates, and replaying them changes nothing.
    async fn coupon_batches_apply_once(db: &Db) {
        let campaign = CampaignId::new();
        SqlStore::new(db.clone())
            .insert_campaign(
                &NewCampaign {
                    id: campaign,
                    name: "write-behind".into(),
                    quantity: 10_000,
                    discount_amount: 1_000,
                    min_order_amount: 10_000,
                    expiration_date: "2030-12-31".into(),
                    coupon_type: "FIRST_COME".into(),
                    company_id: None,
                    issue_start_ms: None,
                    issue_end_ms: None,
                    created_by: None,
                },
                0,
            )
            .await
            .unwrap();
        let first = issues(campaign, 0..1_337, 1);
        apply_batch(db, &first, 0).await.unwrap();
        let after_first = coupon_counts(db, campaign).await;
        assert_eq!(
            after_first,
            (
                1_337,
                1_337,
                vec![
                    ("2030-03-17".to_string(), 668),
                    ("2030-03-18".to_string(), 669)
                ],
                1_337
            )
        );
        // the same batch again, as replay does after a crash that lost the in-memory checkpoint
        apply_batch(db, &first, 0).await.unwrap();
        assert_eq!(coupon_counts(db, campaign).await, after_first);
        // a batch overlapping the first: only its new users count
        let second = issues(campaign, 1_000..1_500, 2_000);
        apply_batch(db, &second, 0).await.unwrap();
        let (issued, unused, _, checkpoint) = coupon_counts(db, campaign).await;
        assert_eq!((issued, unused, checkpoint), (1_500, 1_500, 2_499));

        // An order paying with one of them reads its coupon back through the joins on the ids.
        let user = UserId(uuid::Uuid::from_u128(1_400 + 1));
        let coupon = OrderCoupon {
            campaign,
            coupon: coupon_id_for(campaign, user),
            expires_at_ms: crate::persistence::repo::date_end_ms("2030-12-31").unwrap(),
        };
        let order = Order {
            id: OrderId::new(),
            user,
            address_id: uuid::Uuid::now_v7(),
            name: "item".into(),
            lines: Vec::new(),
            total_amount: 20_000,
            discount_amount: 1_000,
            pay_amount: 19_000,
            coupon: Some(coupon),
            status: OrderStatus::Create,
            created_at_ms: 5,
            deadline_ms: 10,
            completed_at_ms: None,
        };
        let used = [
            (
                3_000,
                Event::OrderPlaced {
                    order: Box::new(order.clone()),
                },
            ),
            (
                3_001,
                Event::CouponUsed {
                    campaign,
                    user,
                    order: order.id,
                    eligible_amount: 20_000,
                    at_ms: 5,
                },
            ),
        ];
        apply_batch(db, &used, 0).await.unwrap();
        let store = SqlStore::new(db.clone());
        let loaded = store.load_order(order.id).await.unwrap().expect("stored");
        assert_eq!(loaded.coupon, Some(coupon));
        let holders = store
            .load_campaign(campaign)
            .await
            .unwrap()
            .expect("stored")
            .holders;
        assert_eq!(holders.len(), 1_500);
        let used: Vec<_> = holders
            .iter()
            .filter(|(_, state)| *state == CouponState::Used)
            .collect();
        assert_eq!(used, [&(user, CouponState::Used)]);
    }

    #[tokio::test]
    async fn coupon_batches_apply_once_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("wb.db").display());
        let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
        db.migrate().await.unwrap();
        coupon_batches_apply_once(&db).await;
    }

    #[tokio::test]
    #[ignore = "needs MariaDB/MySQL: set TEST_MYSQL_URL"]
    async fn coupon_batches_apply_once_on_mysql() {
        let Ok(server) = std::env::var("TEST_MYSQL_URL") else {
            eprintln!("TEST_MYSQL_URL not set; skipped");
            return;
        };
        let scratch = crate::persistence::ScratchDatabase::create(&server, "hd_t")
            .await
            .unwrap();
        let run = tokio::spawn({
            let url = scratch.url.clone();
            async move {
                let db = Db::connect(&url, &DbOptions::default()).await.unwrap();
                db.migrate().await.unwrap();
                coupon_batches_apply_once(&db).await;
                db.pool.close().await;
            }
        })
        .await;
        scratch.remove().await.unwrap();
        if let Err(panic) = run {
            std::panic::resume_unwind(panic.into_panic());
        }
    }
}
