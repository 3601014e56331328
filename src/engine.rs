//! [`EngineHandle`]: the only engine type the HTTP layer sees.
//!
//! It finds (or creates) the actor that owns an item or campaign, answers what the actor's
//! published state already decides without a message hop (fast reject), refuses at once when the
//! actor's mailbox is full or the write-behind backlog is over its bound, sends the request with a
//! timeout, and waits for the decision's journal record to be durable before returning it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, Addr, Handler, Message};
use tokio::sync::mpsc;

use crate::actors::ACTIX_MAILBOX_SLACK;
use crate::actors::campaign::{
    CampaignActor, CampaignShared, CampaignView, ConfigurePending, DrainClaims, RecoverCoupon,
    SetStatus,
    TakeSnapshot, UseCoupon, View,
};
use crate::actors::item::{
    Adjust, ConfigureItem, Confirm, Expire, ItemActor, ItemShared, ItemView, Release, Reserve,
    Restock, SetSale, Stall, TakeItemSnapshot, ViewItem,
};
use crate::actors::registry::Registry;
use crate::actors::runtime::ActorRuntime;
use crate::domain::Millis;
use crate::domain::campaign::{
    CampaignConfig, CampaignLedger, CampaignOutcome, CampaignStatus, CouponState,
};
use crate::domain::clock::SharedClock;
use crate::domain::event::Event;
use crate::domain::event::ReleaseReason;
use crate::domain::ids::{
    CampaignId, CouponId, ItemId, OrderId, PromotionId, UserId, coupon_id_for,
};
use crate::domain::item::{ItemConfig, ItemLedger, ItemOutcome, Reservation, SaleConfig};
use crate::domain::order::{Order, OrderStatus};
use crate::persistence::journal::{Journal, Seq};
use crate::persistence::repo::EngineStore;

/// Engine limits.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub arbiter_threads: usize,
    pub mailbox_capacity: usize,
    pub send_timeout: Duration,
    pub max_unapplied_events: u64,
}

impl EngineOptions {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            arbiter_threads: config.effective_arbiter_threads(),
            mailbox_capacity: config.mailbox_capacity,
            send_timeout: Duration::from_millis(config.send_timeout_ms),
            max_unapplied_events: config.max_unapplied_events,
        }
    }
}

/// Infrastructure trouble. Business refusals (sold out, already issued...) are outcomes, not
/// errors; the only business-looking variants here are the unknown ids.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The actor's mailbox is full or it did not answer in time.
    #[error("the engine is busy")]
    Busy,
    /// The journal cannot make decisions durable.
    #[error("the journal is unavailable")]
    JournalUnavailable,
    /// Too many decisions are waiting to be written to the database.
    #[error("the database is behind")]
    Backlogged,
    /// Another node has taken this node's database over: nothing may be decided here any more.
    #[error("this node no longer holds its database")]
    NodeLockLost,
    /// Loading an entity from storage failed.
    #[error("storage error: {0:#}")]
    Storage(anyhow::Error),
    #[error("unknown campaign")]
    UnknownCampaign,
    #[error("unknown item")]
    UnknownItem,
}

/// A campaign actor's address and published state.
#[derive(Clone)]
pub struct CampaignEntry {
    addr: Addr<CampaignActor>,
    pub shared: Arc<CampaignShared>,
}

/// An item actor's address and published state.
#[derive(Clone)]
pub struct ItemEntry {
    addr: Addr<ItemActor>,
    pub shared: Arc<ItemShared>,
}

/// The answer to an issue request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueResult {
    pub outcome: CampaignOutcome,
    /// The user's coupon, when issued now or before.
    pub coupon_id: Option<CouponId>,
    /// Whether the answer came from the published state, without asking the actor.
    pub fast_rejected: bool,
}

/// One line of an order to reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRequest {
    pub item: ItemId,
    pub qty: i64,
}

/// One reserved line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedLine {
    pub item: ItemId,
    pub qty: i64,
    pub unit_price: i64,
    pub promotion: Option<PromotionId>,
}

/// The answer to a multi-line reservation: all lines, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderReservation {
    Reserved { lines: Vec<ReservedLine> },
    Refused { item: ItemId, outcome: ItemOutcome },
}

/// A reservation the ticker released because its deadline passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredReservation {
    pub item: ItemId,
    pub order: OrderId,
    pub reservation: Reservation,
}

struct Inner {
    runtime: Mutex<ActorRuntime>,
    journal: Arc<Journal>,
    store: Arc<dyn EngineStore>,
    clock: SharedClock,
    options: EngineOptions,
    campaigns: Registry<CampaignId, CampaignEntry>,
    items: Registry<ItemId, ItemEntry>,
    expired_tx: mpsc::UnboundedSender<ExpiredReservation>,
    expired_rx: Mutex<Option<mpsc::UnboundedReceiver<ExpiredReservation>>>,
    orders: dashmap::DashMap<OrderId, Arc<tokio::sync::Mutex<OrderEntry>>>,
    /// This node's hold on its database, once startup has it.
    node_lock: std::sync::OnceLock<crate::persistence::node_lock::LockStatus>,
}

/// An order in the order book, with the last journal sequence that touched it. Each order is
/// behind its own lock, so two transitions of one order (a cancel racing a payment) are serialized
/// and exactly one of them wins.
#[derive(Debug, Clone)]
pub struct OrderEntry {
    pub order: Order,
    pub last_seq: Seq,
}

/// A locked order.
pub type OrderRef = Arc<tokio::sync::Mutex<OrderEntry>>;

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
}

impl EngineHandle {
    /// Start the actor runtime. Actors are created on first use (or installed by recovery).
    pub fn start(
        options: EngineOptions,
        journal: Arc<Journal>,
        store: Arc<dyn EngineStore>,
        clock: SharedClock,
    ) -> anyhow::Result<EngineHandle> {
        let runtime = ActorRuntime::start(options.arbiter_threads)?;
        let (expired_tx, expired_rx) = mpsc::unbounded_channel();
        Ok(EngineHandle {
            inner: Arc::new(Inner {
                runtime: Mutex::new(runtime),
                journal,
                store,
                clock,
                options,
                campaigns: Registry::default(),
                items: Registry::default(),
                expired_tx,
                expired_rx: Mutex::new(Some(expired_rx)),
                orders: dashmap::DashMap::new(),
                node_lock: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Refuse claims (`NodeLockLost`) once `status` says another node took the database over.
    pub fn watch_node_lock(&self, status: crate::persistence::node_lock::LockStatus) {
        let _ = self.inner.node_lock.set(status);
    }

    /// Whether this node's hold on its database is confirmed (true when none is watched).
    pub fn holds_node_lock(&self) -> bool {
        self.inner.node_lock.get().is_none_or(|s| s.is_held())
    }

    pub fn journal(&self) -> &Arc<Journal> {
        &self.inner.journal
    }

    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    pub fn now_ms(&self) -> Millis {
        self.inner.clock.now_ms()
    }

    /// The receiver of reservations released by deadline (taken once, by the order service).
    pub fn take_expired_receiver(&self) -> Option<mpsc::UnboundedReceiver<ExpiredReservation>> {
        self.inner.expired_rx.lock().expect("lock").take()
    }

    /// Number of live campaign and item actors.
    pub fn actor_counts(&self) -> (usize, usize) {
        (self.inner.campaigns.len(), self.inner.items.len())
    }

    fn spawn_campaign(
        &self,
        id: CampaignId,
        ledger: CampaignLedger,
        last_seq: Seq,
    ) -> CampaignEntry {
        let cap = self.inner.options.mailbox_capacity;
        let shared = Arc::new(CampaignShared::new(cap));
        let actor = CampaignActor::new(
            id,
            ledger,
            last_seq,
            self.inner.journal.clone(),
            self.inner.clock.clone(),
            shared.clone(),
        );
        let runtime = self.inner.runtime.lock().expect("runtime lock");
        let addr = CampaignActor::start_in_arbiter(runtime.arbiter_for(id.as_u128()), move |ctx| {
            ctx.set_mailbox_capacity(cap + ACTIX_MAILBOX_SLACK);
            actor
        });
        CampaignEntry { addr, shared }
    }

    fn spawn_item(&self, id: ItemId, ledger: ItemLedger, last_seq: Seq) -> ItemEntry {
        let cap = self.inner.options.mailbox_capacity;
        let shared = Arc::new(ItemShared::new(cap));
        let actor = ItemActor::new(
            id,
            ledger,
            last_seq,
            self.inner.journal.clone(),
            self.inner.clock.clone(),
            shared.clone(),
        );
        let runtime = self.inner.runtime.lock().expect("runtime lock");
        let addr = ItemActor::start_in_arbiter(runtime.arbiter_for(id.as_u128()), move |ctx| {
            ctx.set_mailbox_capacity(cap + ACTIX_MAILBOX_SLACK);
            actor
        });
        ItemEntry { addr, shared }
    }

    /// Install a campaign rebuilt by recovery. Returns false if its actor already exists.
    pub fn install_campaign(&self, id: CampaignId, ledger: CampaignLedger, last_seq: Seq) -> bool {
        if self.inner.campaigns.get(&id).is_some() {
            return false;
        }
        let entry = self.spawn_campaign(id, ledger, last_seq);
        self.inner.campaigns.insert(id, entry)
    }

    /// Install an item rebuilt by recovery. Returns false if its actor already exists.
    pub fn install_item(&self, id: ItemId, ledger: ItemLedger, last_seq: Seq) -> bool {
        if self.inner.items.get(&id).is_some() {
            return false;
        }
        let entry = self.spawn_item(id, ledger, last_seq);
        self.inner.items.insert(id, entry)
    }

    /// The campaign's actor, loading it from storage on first use.
    pub async fn campaign(&self, id: CampaignId) -> Result<CampaignEntry, EngineError> {
        let this = self.clone();
        let found = self
            .inner
            .campaigns
            .get_or_create(id, || async move {
                let Some(stored) = this.inner.store.load_campaign(id).await? else {
                    return Ok(None);
                };
                let checkpoint = this.inner.journal.applied();
                let ledger = CampaignLedger::restore(stored.config, stored.status, stored.holders);
                Ok(Some(this.spawn_campaign(id, ledger, checkpoint)))
            })
            .await
            .map_err(EngineError::Storage)?;
        found.ok_or(EngineError::UnknownCampaign)
    }

    /// The item's actor, loading it from storage on first use.
    pub async fn item(&self, id: ItemId) -> Result<ItemEntry, EngineError> {
        let this = self.clone();
        let found = self
            .inner
            .items
            .get_or_create(id, || async move {
                let Some(stored) = this.inner.store.load_item(id).await? else {
                    return Ok(None);
                };
                let checkpoint = this.inner.journal.applied();
                let ledger = stored.into_ledger();
                Ok(Some(this.spawn_item(id, ledger, checkpoint)))
            })
            .await
            .map_err(EngineError::Storage)?;
        found.ok_or(EngineError::UnknownItem)
    }

    /// Ask an actor, refusing at once when its mailbox is full and giving up after the send
    /// timeout.
    async fn ask<A, M>(
        &self,
        addr: &Addr<A>,
        gauge: &crate::actors::MailboxGauge,
        msg: M,
    ) -> Result<M::Result, EngineError>
    where
        A: Actor<Context = actix::Context<A>> + Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let Some(_slot) = gauge.try_enter() else {
            metrics::counter!("hotdeal_engine_busy_total", "reason" => "mailbox_full").increment(1);
            return Err(EngineError::Busy);
        };
        match tokio::time::timeout(self.inner.options.send_timeout, addr.send(msg)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) => Err(EngineError::Busy),
            Err(_) => {
                metrics::counter!("hotdeal_engine_busy_total", "reason" => "timeout").increment(1);
                Err(EngineError::Busy)
            }
        }
    }

    /// The actor threads, for serving HTTP connections beside the actors.
    pub fn actor_threads(&self) -> crate::actors::runtime::ActorThreads {
        self.inner
            .runtime
            .lock()
            .expect("runtime lock")
            .actor_threads()
    }

    fn check_backlog(&self) -> Result<(), EngineError> {
        if let Some(lock) = self.inner.node_lock.get()
            && lock.is_lost()
        {
            metrics::counter!("hotdeal_engine_busy_total", "reason" => "node_lock_lost")
                .increment(1);
            return Err(EngineError::NodeLockLost);
        }
        let journal = &self.inner.journal;
        if journal.is_failed() {
            return Err(EngineError::JournalUnavailable);
        }
        if journal.backlog() > self.inner.options.max_unapplied_events {
            metrics::counter!("hotdeal_engine_busy_total", "reason" => "backlog").increment(1);
            return Err(EngineError::Backlogged);
        }
        Ok(())
    }

    async fn durable(&self, seq: Option<Seq>) -> Result<(), EngineError> {
        match seq {
            Some(seq) => self
                .inner
                .journal
                .wait_durable(seq)
                .await
                .map_err(|_| EngineError::JournalUnavailable),
            None => Ok(()),
        }
    }

    // ---- campaigns ----

    /// Issue one coupon of `campaign` to `user`, first come first served.
    pub async fn issue_coupon(
        &self,
        campaign: CampaignId,
        user: UserId,
    ) -> Result<IssueResult, EngineError> {
        let entry = self.campaign(campaign).await?;
        if let Some(outcome) = entry.shared.fast_reject(self.now_ms()) {
            metrics::counter!("hotdeal_engine_fast_rejects_total", "kind" => "campaign")
                .increment(1);
            return Ok(IssueResult {
                outcome,
                coupon_id: None,
                fast_rejected: true,
            });
        }
        self.check_backlog()?;
        let outcome = self.claim(&entry, user).await?;
        let coupon_id = matches!(
            outcome,
            CampaignOutcome::Issued { .. } | CampaignOutcome::AlreadyIssued
        )
        .then(|| coupon_id_for(campaign, user));
        Ok(IssueResult {
            outcome,
            coupon_id,
            fast_rejected: false,
        })
    }

    /// One claim through the campaign's claim queue: answered once the actor decided it and, for
    /// an issued coupon, once the journal holds it durably. Refused at once when the queue is
    /// full; a claim the actor has not reached within the send timeout is taken back (503).
    async fn claim(&self, entry: &CampaignEntry, user: UserId) -> Result<CampaignOutcome, EngineError> {
        let Some(_slot) = entry.shared.gauge.try_enter() else {
            metrics::counter!("hotdeal_engine_busy_total", "reason" => "mailbox_full").increment(1);
            return Err(EngineError::Busy);
        };
        let mut queued = entry.shared.claims.push(user);
        if queued.send_drain {
            // At most one drain is on its way per actor (the queue's flag), so this cannot grow
            // the actix mailbox without bound.
            entry.addr.do_send(DrainClaims);
        }
        let reply = match tokio::time::timeout(self.inner.options.send_timeout, &mut queued.reply).await
        {
            Ok(reply) => reply,
            Err(_) if entry.shared.claims.withdraw(&queued) => {
                metrics::counter!("hotdeal_engine_busy_total", "reason" => "timeout").increment(1);
                return Err(EngineError::Busy);
            }
            // decided already: the answer follows the journal write
            Err(_) => (&mut queued.reply).await,
        };
        match reply {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(EngineError::JournalUnavailable),
            // the reply was dropped unsent: the journal failed, or the actor is gone
            Err(_) if self.inner.journal.is_failed() => Err(EngineError::JournalUnavailable),
            Err(_) => Err(EngineError::Busy),
        }
    }

    /// Use `user`'s coupon of `campaign` on `order`.
    pub async fn use_coupon(
        &self,
        campaign: CampaignId,
        user: UserId,
        order: OrderId,
        eligible_amount: i64,
    ) -> Result<CampaignOutcome, EngineError> {
        let entry = self.campaign(campaign).await?;
        self.check_backlog()?;
        let (outcome, seq) = self
            .ask(
                &entry.addr,
                &entry.shared.gauge,
                UseCoupon {
                    user,
                    order,
                    eligible_amount,
                },
            )
            .await?;
        self.durable(seq).await?;
        Ok(outcome)
    }

    /// Give `user`'s used coupon of `campaign` back.
    pub async fn recover_coupon(
        &self,
        campaign: CampaignId,
        user: UserId,
    ) -> Result<CampaignOutcome, EngineError> {
        let entry = self.campaign(campaign).await?;
        let (outcome, seq) = self
            .ask(&entry.addr, &entry.shared.gauge, RecoverCoupon { user })
            .await?;
        self.durable(seq).await?;
        Ok(outcome)
    }

    /// Set a campaign's status; returns the status actually set.
    pub async fn set_campaign_status(
        &self,
        campaign: CampaignId,
        status: CampaignStatus,
    ) -> Result<CampaignStatus, EngineError> {
        let entry = self.campaign(campaign).await?;
        let (status, seq) = self
            .ask(&entry.addr, &entry.shared.gauge, SetStatus { status })
            .await?;
        self.durable(Some(seq)).await?;
        Ok(status)
    }

    /// Replace a campaign's configuration while it is PENDING, checked and applied in one actor
    /// message. `Ok(Err(status))`: refused, the campaign is no longer PENDING (nothing changed).
    pub async fn configure_pending_campaign(
        &self,
        campaign: CampaignId,
        config: CampaignConfig,
    ) -> Result<Result<(), CampaignStatus>, EngineError> {
        let entry = self.campaign(campaign).await?;
        match self
            .ask(
                &entry.addr,
                &entry.shared.gauge,
                ConfigurePending { config },
            )
            .await?
        {
            Ok(seq) => self.durable(Some(seq)).await.map(Ok),
            Err(status) => Ok(Err(status)),
        }
    }

    /// A campaign's live state and, optionally, one holder's coupon state.
    pub async fn campaign_view(
        &self,
        campaign: CampaignId,
        holder: Option<UserId>,
    ) -> Result<(CampaignView, Option<CouponState>), EngineError> {
        let entry = self.campaign(campaign).await?;
        self.ask(&entry.addr, &entry.shared.gauge, View { holder })
            .await
    }

    // ---- items ----

    /// Reserve every line of `order` or none: lines in item id order (duplicates merged), the
    /// reserved ones released again when a later line is refused.
    pub async fn reserve_order(
        &self,
        order: OrderId,
        user: UserId,
        lines: &[LineRequest],
        deadline_ms: Millis,
    ) -> Result<OrderReservation, EngineError> {
        let mut merged: Vec<LineRequest> = Vec::with_capacity(lines.len());
        let mut sorted = lines.to_vec();
        sorted.sort_by_key(|l| l.item);
        for l in sorted {
            match merged.last_mut() {
                Some(last) if last.item == l.item => last.qty += l.qty,
                _ => merged.push(l),
            }
        }
        // Resolve every item first: an unknown id refuses the order before anything is held.
        let mut entries = Vec::with_capacity(merged.len());
        let now = self.now_ms();
        for l in &merged {
            let entry = self.item(l.item).await?;
            if let Some(outcome) = entry.shared.fast_reject(now) {
                metrics::counter!("hotdeal_engine_fast_rejects_total", "kind" => "item")
                    .increment(1);
                return Ok(OrderReservation::Refused {
                    item: l.item,
                    outcome,
                });
            }
            entries.push(entry);
        }
        self.check_backlog()?;
        let mut reserved: Vec<ReservedLine> = Vec::with_capacity(merged.len());
        let mut last_seq = None;
        for (l, entry) in merged.iter().zip(&entries) {
            let result = self
                .ask(
                    &entry.addr,
                    &entry.shared.gauge,
                    Reserve {
                        order,
                        user,
                        qty: l.qty,
                        deadline_ms,
                    },
                )
                .await;
            let refusal = match result {
                Ok((
                    ItemOutcome::Reserved {
                        unit_price,
                        promotion,
                    },
                    seq,
                )) => {
                    reserved.push(ReservedLine {
                        item: l.item,
                        qty: l.qty,
                        unit_price,
                        promotion,
                    });
                    last_seq = last_seq.max(seq);
                    continue;
                }
                Ok((
                    ItemOutcome::AlreadyReserved {
                        qty,
                        unit_price,
                        promotion,
                    },
                    _,
                )) => {
                    reserved.push(ReservedLine {
                        item: l.item,
                        qty,
                        unit_price,
                        promotion,
                    });
                    continue;
                }
                Ok((outcome, _)) => Ok(outcome),
                Err(e) => Err(e),
            };
            // A line failed: release what this order holds so far.
            for done in &reserved {
                let entry = entries
                    .iter()
                    .zip(&merged)
                    .find(|(_, m)| m.item == done.item)
                    .map(|(e, _)| e.clone())
                    .expect("entry of a reserved line");
                self.release_one(&entry, order, ReleaseReason::Cancelled)
                    .await?;
            }
            return match refusal {
                Ok(outcome) => Ok(OrderReservation::Refused {
                    item: l.item,
                    outcome,
                }),
                Err(e) => Err(e),
            };
        }
        self.durable(last_seq).await?;
        Ok(OrderReservation::Reserved { lines: reserved })
    }

    async fn release_one(
        &self,
        entry: &ItemEntry,
        order: OrderId,
        reason: ReleaseReason,
    ) -> Result<(ItemOutcome, Option<Seq>), EngineError> {
        // Releases must not be refused for a full mailbox: they free stock. Retry briefly.
        let mut delay = Duration::from_millis(1);
        loop {
            match self
                .ask(&entry.addr, &entry.shared.gauge, Release { order, reason })
                .await
            {
                Err(EngineError::Busy) if delay < Duration::from_secs(1) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
    }

    /// Payment approved: sell the order's reserved units in every item.
    pub async fn confirm_order(
        &self,
        order: OrderId,
        items: &[ItemId],
    ) -> Result<Vec<(ItemId, ItemOutcome)>, EngineError> {
        let mut out = Vec::with_capacity(items.len());
        let mut last_seq = None;
        for item in items {
            let entry = self.item(*item).await?;
            let (outcome, seq) = self
                .ask(&entry.addr, &entry.shared.gauge, Confirm { order })
                .await?;
            last_seq = last_seq.max(seq);
            out.push((*item, outcome));
        }
        self.durable(last_seq).await?;
        Ok(out)
    }

    /// Put the order's reserved units back on sale in every item.
    pub async fn release_order(
        &self,
        order: OrderId,
        items: &[ItemId],
        reason: ReleaseReason,
    ) -> Result<Vec<(ItemId, ItemOutcome)>, EngineError> {
        let mut out = Vec::with_capacity(items.len());
        let mut last_seq = None;
        for item in items {
            let entry = self.item(*item).await?;
            let (outcome, seq) = self.release_one(&entry, order, reason).await?;
            last_seq = last_seq.max(seq);
            out.push((*item, outcome));
        }
        self.durable(last_seq).await?;
        Ok(out)
    }

    /// Refund: `qty` units of `item` sold to `order` (by `user`, from `promotion` if any) go
    /// back on sale.
    pub async fn restock(
        &self,
        item: ItemId,
        order: OrderId,
        user: UserId,
        qty: i64,
        promotion: Option<PromotionId>,
    ) -> Result<ItemOutcome, EngineError> {
        let entry = self.item(item).await?;
        let (outcome, seq) = self
            .ask(
                &entry.addr,
                &entry.shared.gauge,
                Restock {
                    order,
                    user,
                    qty,
                    promotion,
                },
            )
            .await?;
        self.durable(seq).await?;
        Ok(outcome)
    }

    /// Operator stock change.
    pub async fn adjust_stock(&self, item: ItemId, delta: i64) -> Result<ItemOutcome, EngineError> {
        let entry = self.item(item).await?;
        let (outcome, seq) = self
            .ask(&entry.addr, &entry.shared.gauge, Adjust { delta })
            .await?;
        self.durable(seq).await?;
        Ok(outcome)
    }

    /// Replace an item's price and on-sale flag.
    pub async fn configure_item(
        &self,
        item: ItemId,
        config: ItemConfig,
    ) -> Result<(), EngineError> {
        let entry = self.item(item).await?;
        let seq = self
            .ask(&entry.addr, &entry.shared.gauge, ConfigureItem { config })
            .await?;
        self.durable(Some(seq)).await
    }

    /// Install, change or remove an item's time sale.
    pub async fn set_sale(
        &self,
        item: ItemId,
        sale: Option<SaleConfig>,
    ) -> Result<ItemOutcome, EngineError> {
        let entry = self.item(item).await?;
        let (outcome, seq) = self
            .ask(&entry.addr, &entry.shared.gauge, SetSale { sale })
            .await?;
        self.durable(seq).await?;
        Ok(outcome)
    }

    /// An item's live state.
    pub async fn item_view(&self, item: ItemId) -> Result<ItemView, EngineError> {
        let entry = self.item(item).await?;
        self.ask(&entry.addr, &entry.shared.gauge, ViewItem).await
    }

    /// Expire due reservations in every item whose earliest deadline is at or before `now_ms`;
    /// each released reservation is also sent to the expired receiver. Returns how many.
    pub async fn tick(&self, now_ms: Millis) -> usize {
        let mut released = 0;
        for (id, entry) in self.inner.items.entries() {
            if entry.shared.next_deadline_ms() > now_ms {
                continue;
            }
            // Ticks are not refused for a full mailbox; a late tick only delays expiry.
            match tokio::time::timeout(
                self.inner.options.send_timeout,
                entry.addr.send(Expire { now_ms }),
            )
            .await
            {
                Ok(Ok(expired)) => {
                    released += expired.len();
                    for (order, reservation) in expired {
                        let _ = self.inner.expired_tx.send(ExpiredReservation {
                            item: id,
                            order,
                            reservation,
                        });
                    }
                }
                _ => tracing::warn!(item = %id, "expiry tick not delivered; retrying next tick"),
            }
        }
        released
    }

    /// Items whose installed time sale ended at or before `now_ms`, with that end (the catalog
    /// installs the product's next sale).
    pub fn items_with_ended_sale(&self, now_ms: Millis) -> Vec<(ItemId, Millis)> {
        self.inner
            .items
            .entries()
            .into_iter()
            .filter_map(|(id, e)| {
                let end = e.shared.sale_end_ms();
                (end <= now_ms).then_some((id, end))
            })
            .collect()
    }

    /// A copy of every actor's ledger with the last sequence it reflects.
    #[allow(clippy::type_complexity)]
    pub async fn collect_state(
        &self,
    ) -> Result<
        (
            Vec<(CampaignId, CampaignLedger, Seq)>,
            Vec<(ItemId, ItemLedger, Seq)>,
        ),
        EngineError,
    > {
        let mut campaigns = Vec::new();
        for (id, entry) in self.inner.campaigns.entries() {
            let (ledger, seq) = entry
                .addr
                .send(TakeSnapshot)
                .await
                .map_err(|_| EngineError::Busy)?;
            campaigns.push((id, ledger, seq));
        }
        let mut items = Vec::new();
        for (id, entry) in self.inner.items.entries() {
            let (ledger, seq) = entry
                .addr
                .send(TakeItemSnapshot)
                .await
                .map_err(|_| EngineError::Busy)?;
            items.push((id, ledger, seq));
        }
        Ok((campaigns, items))
    }

    /// Write a snapshot of every actor into `dir`, keep the newest `keep`, and delete the
    /// journal segments both this snapshot and the database checkpoint cover.
    pub async fn snapshot_to(
        &self,
        dir: &std::path::Path,
        keep: usize,
    ) -> anyhow::Result<crate::persistence::snapshot::SnapshotFile> {
        use crate::persistence::snapshot::{
            CampaignSnapshot, ItemSnapshot, OrderSnapshot, SnapshotBody, prune, write_snapshot,
        };
        let started = std::time::Instant::now();
        let journal = &self.inner.journal;
        // Every event numbered up to here is in the state collected below.
        let seq = journal.appended();
        let (campaigns, items) = self.collect_state().await?;
        let orders = self.orders_for_snapshot().await;
        // Only durable decisions may be in a snapshot.
        let newest = campaigns
            .iter()
            .map(|c| c.2)
            .chain(items.iter().map(|i| i.2))
            .chain(orders.iter().map(|o| o.1))
            .max()
            .unwrap_or(0)
            .max(seq);
        journal
            .wait_durable(newest)
            .await
            .map_err(|_| EngineError::JournalUnavailable)?;
        let body = SnapshotBody {
            campaigns: campaigns
                .into_iter()
                .map(|(id, ledger, last_seq)| CampaignSnapshot {
                    id,
                    ledger,
                    last_seq,
                })
                .collect(),
            items: items
                .into_iter()
                .map(|(id, ledger, last_seq)| ItemSnapshot {
                    id,
                    ledger,
                    last_seq,
                })
                .collect(),
            orders: orders
                .into_iter()
                .map(|(order, last_seq)| OrderSnapshot { order, last_seq })
                .collect(),
        };
        // What the database holds durably (see `EngineStore::make_durable`), read before the
        // sync so that a batch committed meanwhile is not counted.
        let applied = journal.applied();
        let durable_applied = match self.inner.store.make_durable().await {
            Ok(()) => applied,
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "could not sync the database; keeping the journal");
                0
            }
        };
        let dir = dir.to_path_buf();
        let created_at = self.now_ms();
        let (file, oldest_kept) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let file = write_snapshot(&dir, seq, created_at, &body)?;
            prune(&dir, keep)?;
            let oldest = crate::persistence::snapshot::list_snapshots(&dir)?
                .iter()
                .map(|f| f.seq)
                .min()
                .unwrap_or(seq);
            Ok((file, oldest))
        })
        .await??;
        // Keep the journal the oldest kept snapshot needs: if a newer one turns out unreadable,
        // recovery falls back to it and replays from there.
        let covered = oldest_kept.min(durable_applied);
        let removed = journal.remove_covered(covered)?;
        metrics::histogram!("hotdeal_snapshot_seconds").record(started.elapsed().as_secs_f64());
        metrics::gauge!("hotdeal_snapshot_bytes").set(file.size_bytes as f64);
        tracing::info!(
            path = %file.path.display(),
            seq,
            bytes = file.size_bytes,
            ms = started.elapsed().as_millis() as u64,
            removed_segments = removed,
            "snapshot written"
        );
        Ok(file)
    }

    // ---- orders ----

    /// Record a newly placed order (its lines already reserved) and wait until it is durable.
    pub async fn place_order(&self, order: Order) -> Result<OrderRef, EngineError> {
        let id = order.id;
        let seq = self.inner.journal.append(Event::OrderPlaced {
            order: Box::new(order.clone()),
        });
        let entry = Arc::new(tokio::sync::Mutex::new(OrderEntry {
            order,
            last_seq: seq,
        }));
        self.inner.orders.insert(id, entry.clone());
        self.durable(Some(seq)).await?;
        Ok(entry)
    }

    // ---- unacknowledged variants ----
    //
    // The journal numbers every event with one global sequence and publishes a durable watermark
    // (group commit), so once the largest sequence of a flow is durable every earlier event is
    // too. A flow of several decisions (an order: its reservations, its coupon, the order itself)
    // makes them with these variants, keeps the largest sequence, and waits once with
    // [`EngineHandle::wait_durable`] before answering.

    /// Wait until every event up to `seq` is durable (`None`: nothing to wait for).
    pub async fn wait_durable(&self, seq: Option<Seq>) -> Result<(), EngineError> {
        self.durable(seq).await
    }

    /// [`EngineHandle::reserve_order`] without waiting for durability: also returns the largest
    /// journal sequence of the reservations made (`None` when nothing was journaled). A refused
    /// order holds nothing, as with `reserve_order`.
    pub async fn reserve_order_unacked(
        &self,
        order: OrderId,
        user: UserId,
        lines: &[LineRequest],
        deadline_ms: Millis,
    ) -> Result<(OrderReservation, Option<Seq>), EngineError> {
        let mut merged: Vec<LineRequest> = Vec::with_capacity(lines.len());
        let mut sorted = lines.to_vec();
        sorted.sort_by_key(|l| l.item);
        for l in sorted {
            match merged.last_mut() {
                Some(last) if last.item == l.item => last.qty += l.qty,
                _ => merged.push(l),
            }
        }
        // Resolve every item first: an unknown id refuses the order before anything is held.
        let mut entries = Vec::with_capacity(merged.len());
        let now = self.now_ms();
        for l in &merged {
            let entry = self.item(l.item).await?;
            if let Some(outcome) = entry.shared.fast_reject(now) {
                metrics::counter!("hotdeal_engine_fast_rejects_total", "kind" => "item")
                    .increment(1);
                return Ok((
                    OrderReservation::Refused {
                        item: l.item,
                        outcome,
                    },
                    None,
                ));
            }
            entries.push(entry);
        }
        self.check_backlog()?;
        let mut reserved: Vec<(ReservedLine, usize)> = Vec::with_capacity(merged.len());
        let mut last_seq = None;
        for (index, (l, entry)) in merged.iter().zip(&entries).enumerate() {
            let result = self
                .ask(
                    &entry.addr,
                    &entry.shared.gauge,
                    Reserve {
                        order,
                        user,
                        qty: l.qty,
                        deadline_ms,
                    },
                )
                .await;
            let refusal = match result {
                Ok((
                    ItemOutcome::Reserved {
                        unit_price,
                        promotion,
                    },
                    seq,
                )) => {
                    let line = ReservedLine {
                        item: l.item,
                        qty: l.qty,
                        unit_price,
                        promotion,
                    };
                    reserved.push((line, index));
                    last_seq = last_seq.max(seq);
                    continue;
                }
                Ok((
                    ItemOutcome::AlreadyReserved {
                        qty,
                        unit_price,
                        promotion,
                    },
                    _,
                )) => {
                    let line = ReservedLine {
                        item: l.item,
                        qty,
                        unit_price,
                        promotion,
                    };
                    reserved.push((line, index));
                    continue;
                }
                Ok((outcome, _)) => Ok(outcome),
                Err(e) => Err(e),
            };
            // A line failed: release what this order holds so far.
            for (_, index) in &reserved {
                self.release_one(&entries[*index], order, ReleaseReason::Cancelled)
                    .await?;
            }
            return match refusal {
                Ok(outcome) => Ok((
                    OrderReservation::Refused {
                        item: l.item,
                        outcome,
                    },
                    None,
                )),
                Err(e) => Err(e),
            };
        }
        let lines = reserved.into_iter().map(|(line, _)| line).collect();
        Ok((OrderReservation::Reserved { lines }, last_seq))
    }

    /// [`EngineHandle::use_coupon`] without waiting for durability: also returns the journal
    /// sequence of the use (`None` when nothing was journaled).
    pub async fn use_coupon_unacked(
        &self,
        campaign: CampaignId,
        user: UserId,
        order: OrderId,
        eligible_amount: i64,
    ) -> Result<(CampaignOutcome, Option<Seq>), EngineError> {
        let entry = self.campaign(campaign).await?;
        self.check_backlog()?;
        self.ask(
            &entry.addr,
            &entry.shared.gauge,
            UseCoupon {
                user,
                order,
                eligible_amount,
            },
        )
        .await
    }

    /// [`EngineHandle::place_order`] without waiting for durability: the order is in the order
    /// book at once; also returns its journal sequence.
    pub fn place_order_unacked(&self, order: Order) -> (OrderRef, Seq) {
        let id = order.id;
        let seq = self.inner.journal.append(Event::OrderPlaced {
            order: Box::new(order.clone()),
        });
        let entry = Arc::new(tokio::sync::Mutex::new(OrderEntry {
            order,
            last_seq: seq,
        }));
        self.inner.orders.insert(id, entry.clone());
        (entry, seq)
    }

    /// Install an order rebuilt by recovery.
    pub fn install_order(&self, order: Order, last_seq: Seq) {
        self.inner.orders.insert(
            order.id,
            Arc::new(tokio::sync::Mutex::new(OrderEntry { order, last_seq })),
        );
    }

    /// The order with this id: from memory, or loaded from the database.
    pub async fn order(&self, id: OrderId) -> Result<Option<OrderRef>, EngineError> {
        if let Some(o) = self.inner.orders.get(&id) {
            return Ok(Some(o.clone()));
        }
        let Some(order) = self
            .inner
            .store
            .load_order(id)
            .await
            .map_err(EngineError::Storage)?
        else {
            return Ok(None);
        };
        let checkpoint = self.inner.journal.applied();
        let entry = self
            .inner
            .orders
            .entry(id)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(OrderEntry {
                    order,
                    last_seq: checkpoint,
                }))
            })
            .clone();
        Ok(Some(entry))
    }

    /// Move a locked order to `status`, journaled; waits until durable.
    pub async fn set_order_status(
        &self,
        entry: &mut OrderEntry,
        status: OrderStatus,
    ) -> Result<(), EngineError> {
        let now = self.now_ms();
        let seq = self.inner.journal.append(Event::OrderStatusChanged {
            order: entry.order.id,
            status,
            at_ms: now,
        });
        entry.order.apply(status, now);
        entry.last_seq = seq;
        self.durable(Some(seq)).await
    }

    /// Orders waiting for payment whose deadline is at or before `now_ms`.
    pub fn orders_due(&self, now_ms: Millis) -> Vec<OrderRef> {
        self.inner
            .orders
            .iter()
            .filter_map(|kv| {
                let entry = kv.value().try_lock().ok()?;
                (entry.order.status.is_active() && entry.order.deadline_ms <= now_ms)
                    .then(|| kv.value().clone())
            })
            .collect()
    }

    /// Orders of `user` held in memory (read-your-writes for lists).
    pub async fn orders_of(&self, user: UserId) -> Vec<Order> {
        let refs: Vec<OrderRef> = self
            .inner
            .orders
            .iter()
            .map(|kv| kv.value().clone())
            .collect();
        let mut out = Vec::new();
        for r in refs {
            let e = r.lock().await;
            if e.order.user == user {
                out.push(e.order.clone());
            }
        }
        out
    }

    async fn orders_for_snapshot(&self) -> Vec<(Order, Seq)> {
        let now = self.now_ms();
        let refs: Vec<OrderRef> = self
            .inner
            .orders
            .iter()
            .map(|kv| kv.value().clone())
            .collect();
        let mut out = Vec::new();
        for r in refs {
            let e = r.lock().await;
            let keep = e.order.status.is_active()
                || (e.order.status == OrderStatus::Complete
                    && now - e.order.completed_at_ms.unwrap_or(e.order.created_at_ms)
                        <= crate::domain::order::REFUND_WINDOW_MS);
            if keep {
                out.push((e.order.clone(), e.last_seq));
            }
        }
        out
    }

    /// Block an item's actor until the returned sender is dropped or fires (tests: fill a
    /// mailbox deterministically).
    #[doc(hidden)]
    pub async fn stall_item(
        &self,
        item: ItemId,
    ) -> Result<std::sync::mpsc::Sender<()>, EngineError> {
        let entry = self.item(item).await?;
        let (tx, rx) = std::sync::mpsc::channel();
        entry.addr.do_send(Stall { release: rx });
        Ok(tx)
    }

    /// Block a campaign's actor until the returned sender is dropped or fires.
    #[doc(hidden)]
    pub async fn stall_campaign(
        &self,
        campaign: CampaignId,
    ) -> Result<std::sync::mpsc::Sender<()>, EngineError> {
        let entry = self.campaign(campaign).await?;
        let (tx, rx) = std::sync::mpsc::channel();
        entry.addr.do_send(Stall { release: rx });
        Ok(tx)
    }

    /// Stop the actors.
    pub fn shutdown(&self) {
        self.inner.runtime.lock().expect("runtime lock").stop();
    }
}
