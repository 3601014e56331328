//! [`EngineHandle`]: the only engine type the HTTP layer sees.
//!
//! It finds (or creates) the actor that owns an item or campaign, answers what the actor's
//! published state already decides without a message hop (fast reject), refuses at once when the
//! actor's mailbox is full or the write-behind backlog is over its bound, sends the request with a
//! timeout, and waits for the decision's journal record to be durable before returning it.
//!
//! By entity: `campaigns` (claims, coupon use), `items`
//! (reservations, stock, sales, expiry ticks), `orders` (the order book),
//! `remote` (cluster mode: an order's steps on the nodes that own its lines), `snapshot`; this file holds the handle, the actor registry and the helpers
//! they share (ask with a bound and a timeout, the backlog check, the durability wait).

mod campaigns;
mod items;
mod orders;
mod remote;
mod snapshot;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, Addr, Handler, Message};
use tokio::sync::mpsc;

use crate::actors::ACTIX_MAILBOX_SLACK;
use crate::actors::campaign::{
    CampaignActor, CampaignShared, DecideCampaign, DrainClaims, LiveCampaign, TakeSnapshot, View,
};
use crate::actors::item::{
    DecideItem, Expire, ItemActor, ItemShared, ItemView, Stall, TakeItemSnapshot, ViewItem,
};
use crate::actors::registry::Registry;
use crate::actors::runtime::ActorRuntime;
use crate::domain::Millis;
use crate::domain::campaign::{
    CampaignCommand, CampaignConfig, CampaignLedger, CampaignOutcome, CampaignStatus, CouponState,
};
use crate::domain::clock::SharedClock;
use crate::domain::event::Event;
use crate::domain::event::ReleaseReason;
use crate::domain::ids::{
    CampaignId, CouponId, ItemId, OrderId, PromotionId, UserId, coupon_id_for,
};
use crate::domain::item::{
    ItemCommand, ItemConfig, ItemLedger, ItemOutcome, Reservation, SaleConfig,
};
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
    /// Cluster mode: the entity's partition is decided by another node (`owner_url`), or by
    /// none right now (`None`).
    #[error("this entity is owned by another node")]
    NotOwner { owner_url: Option<String> },
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
    orders: orders::OrderBook,
    /// This node's hold on its database, once startup has it.
    node_lock: std::sync::OnceLock<crate::persistence::node_lock::LockStatus>,
    /// Cluster mode: which partitions this node decides for.
    cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
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
                orders: orders::OrderBook::default(),
                node_lock: std::sync::OnceLock::new(),
                cluster: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Refuse claims (`NodeLockLost`) once `status` says another node took the database over.
    pub fn watch_node_lock(&self, status: crate::persistence::node_lock::LockStatus) {
        let _ = self.inner.node_lock.set(status);
    }

    /// Cluster mode: decide only for the partitions `cluster` says this node holds.
    pub fn join_cluster(&self, cluster: Arc<crate::cluster::Cluster>) {
        let _ = self.inner.cluster.set(cluster);
    }

    /// The cluster this node is part of (cluster mode only).
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.inner.cluster.get()
    }

    /// `NotOwner` unless this node decides for the partition of entity `id` (always, outside
    /// cluster mode).
    fn check_owner(&self, id: u128) -> Result<(), EngineError> {
        let Some(cluster) = self.inner.cluster.get() else {
            return Ok(());
        };
        match cluster.route(cluster.partition_of(id)) {
            crate::cluster::Route::Local => Ok(()),
            crate::cluster::Route::Elsewhere { url, .. } => Err(EngineError::NotOwner {
                owner_url: Some(url),
            }),
            crate::cluster::Route::Unowned => Err(EngineError::NotOwner { owner_url: None }),
        }
    }

    /// Forget the actors and orders of partition `p` (this node no longer decides for it); they
    /// are loaded again from the database by the node that does.
    pub fn evict_partition(&self, p: u32) {
        let Some(cluster) = self.inner.cluster.get() else {
            return;
        };
        let of = |id: u128| cluster.partition_of(id) == p;
        let campaigns = self.inner.campaigns.remove_where(|id| of(id.as_u128()));
        let items = self.inner.items.remove_where(|id| of(id.as_u128()));
        let orders = self.inner.orders.retain(|id| !of(id.as_u128()));
        tracing::info!(partition = p, campaigns, items, orders, "partition evicted");
    }

    /// A new order id. In cluster mode it falls in the partition of `first_item`, so the order
    /// is decided where its first line's stock is.
    pub fn new_order_id(&self, first_item: ItemId) -> OrderId {
        let Some(cluster) = self.inner.cluster.get() else {
            return OrderId::new();
        };
        let home = cluster.partition_of(first_item.as_u128());
        loop {
            let id = OrderId::new();
            if cluster.partition_of(id.as_u128()) == home {
                return id;
            }
        }
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
        self.check_owner(id.as_u128())?;
        let this = self.clone();
        let found = self
            .inner
            .campaigns
            .get_or_create(id, || async move {
                let Some(stored) = this.inner.store.load_campaign(id).await? else {
                    return Ok(None);
                };
                let checkpoint = this.inner.journal.applied();
                let ledger = CampaignLedger::restore(
                    stored.config,
                    stored.status,
                    stored.holders,
                    stored.uses,
                );
                Ok(Some(this.spawn_campaign(id, ledger, checkpoint)))
            })
            .await
            .map_err(EngineError::Storage)?;
        found.ok_or(EngineError::UnknownCampaign)
    }

    /// The item's actor, loading it from storage on first use.
    pub async fn item(&self, id: ItemId) -> Result<ItemEntry, EngineError> {
        self.check_owner(id.as_u128())?;
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
                .map_err(|_| self.not_durable()),
            None => Ok(()),
        }
    }

    /// Why a decision could not be made durable: the journal failed, or (cluster mode, the
    /// journal still working) its partition was fenced or dropped before the commit.
    fn not_durable(&self) -> EngineError {
        if self.inner.cluster.get().is_some() && !self.inner.journal.is_failed() {
            EngineError::NotOwner { owner_url: None }
        } else {
            EngineError::JournalUnavailable
        }
    }

    /// Wait until every event up to `seq` is durable (`None`: nothing to wait for).
    ///
    /// The journal numbers every event with one global sequence and publishes a durable
    /// watermark (group commit), so once the largest sequence of a flow is durable every earlier
    /// event is too. A flow of several decisions (an order: its reservations, its coupon, the
    /// order itself) makes them with the `*_unacked` variants, keeps the largest sequence, and
    /// waits once.
    pub async fn wait_durable(&self, seq: Option<Seq>) -> Result<(), EngineError> {
        self.durable(seq).await
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
