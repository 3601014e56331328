//! `ItemActor`: owns one sellable item's [`ItemLedger`] (stock, time sale, reservations).
//!
//! Mailbox: bounded by `mailbox_capacity` (callers are refused at once when it is full).
//! Ordering: one message at a time in arrival order; each decision is appended to the journal
//! inside the handler, so the journal holds this item's decisions in the order they were taken.
//! Expiry runs on `Expire` ticks with the time passed in, never on a timer per reservation.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};

use actix::{Actor, Context, Handler, Message, MessageResult};

use super::MailboxGauge;
use crate::domain::Millis;
use crate::domain::clock::SharedClock;
use crate::domain::event::Event;
use crate::domain::ids::{ItemId, OrderId};
use crate::domain::item::{
    ItemClosed, ItemCommand, ItemConfig, ItemLedger, ItemOutcome, Reservation, SaleConfig,
    SalePhase, StockLevels,
};
use crate::persistence::journal::{Journal, Seq};

const OPEN: u8 = 0;
const NOT_ON_SALE: u8 = 1;
const SOLD_OUT: u8 = 2;
const SALE_SOLD_OUT: u8 = 3;

/// What the actor publishes for callers to read without a message hop.
#[derive(Debug)]
pub struct ItemShared {
    pub gauge: MailboxGauge,
    closed: AtomicU8,
    sale_sold_out_until_ms: AtomicI64,
    next_deadline_ms: AtomicI64,
    available: AtomicI64,
    sale_end_ms: AtomicI64,
}

impl ItemShared {
    pub fn new(capacity: usize) -> Self {
        Self {
            gauge: MailboxGauge::new(capacity),
            closed: AtomicU8::new(OPEN),
            sale_sold_out_until_ms: AtomicI64::new(i64::MIN),
            next_deadline_ms: AtomicI64::new(i64::MAX),
            available: AtomicI64::new(0),
            sale_end_ms: AtomicI64::new(i64::MAX),
        }
    }

    /// The answer every reservation would get at `now_ms`, if already known.
    pub fn fast_reject(&self, now_ms: Millis) -> Option<ItemOutcome> {
        match self.closed.load(Ordering::Acquire) {
            NOT_ON_SALE => Some(ItemOutcome::NotOnSale),
            SOLD_OUT => Some(ItemOutcome::SoldOut { available: 0 }),
            SALE_SOLD_OUT if now_ms < self.sale_sold_out_until_ms.load(Ordering::Acquire) => {
                Some(ItemOutcome::SaleSoldOut)
            }
            _ => None,
        }
    }

    /// The earliest reservation deadline (`i64::MAX` when none): the ticker skips idle items.
    pub fn next_deadline_ms(&self) -> Millis {
        self.next_deadline_ms.load(Ordering::Acquire)
    }

    pub fn available(&self) -> i64 {
        self.available.load(Ordering::Acquire)
    }

    /// When the installed time sale ends (`i64::MAX` when there is none).
    pub fn sale_end_ms(&self) -> Millis {
        self.sale_end_ms.load(Ordering::Acquire)
    }

    fn publish(&self, ledger: &ItemLedger, now_ms: Millis) {
        let (code, until) = match ledger.closed(now_ms) {
            ItemClosed::Open => (OPEN, i64::MIN),
            ItemClosed::NotOnSale => (NOT_ON_SALE, i64::MIN),
            ItemClosed::SoldOut => (SOLD_OUT, i64::MIN),
            ItemClosed::SaleSoldOut { until_ms } => (SALE_SOLD_OUT, until_ms),
        };
        self.sale_sold_out_until_ms.store(until, Ordering::Release);
        self.next_deadline_ms.store(
            ledger.next_deadline().unwrap_or(i64::MAX),
            Ordering::Release,
        );
        self.available
            .store(ledger.levels().available, Ordering::Release);
        self.sale_end_ms.store(
            ledger.sale().map(|s| s.config.end_ms).unwrap_or(i64::MAX),
            Ordering::Release,
        );
        self.closed.store(code, Ordering::Release);
    }
}

/// The item actor.
pub struct ItemActor {
    id: ItemId,
    ledger: ItemLedger,
    last_seq: Seq,
    journal: Arc<Journal>,
    clock: SharedClock,
    shared: Arc<ItemShared>,
}

impl ItemActor {
    pub fn new(
        id: ItemId,
        ledger: ItemLedger,
        last_seq: Seq,
        journal: Arc<Journal>,
        clock: SharedClock,
        shared: Arc<ItemShared>,
    ) -> Self {
        shared.publish(&ledger, clock.now_ms());
        Self {
            id,
            ledger,
            last_seq,
            journal,
            clock,
            shared,
        }
    }

    /// Decide `command` on the ledger and journal the event it gives, if any.
    fn decide(&mut self, command: ItemCommand) -> (ItemOutcome, Option<Seq>) {
        let now = self.clock.now_ms();
        let (outcome, event) = self.ledger.decide(self.id, command, now);
        (outcome, event.map(|e| self.record(e, now)))
    }

    fn record(&mut self, event: Event, now: Millis) -> Seq {
        self.shared.publish(&self.ledger, now);
        let seq = self.journal.append(event);
        self.last_seq = seq;
        seq
    }
}

impl Actor for ItemActor {
    type Context = Context<Self>;
}

/// Decide one command on the item's ledger (reserve, confirm, release, restock, adjust,
/// configure, set the sale); replies with the outcome and the journal sequence of its event, if
/// the command changed the ledger.
#[derive(Message)]
#[rtype(result = "(ItemOutcome, Option<Seq>)")]
pub struct DecideItem(pub ItemCommand);

impl Handler<DecideItem> for ItemActor {
    type Result = MessageResult<DecideItem>;
    fn handle(&mut self, msg: DecideItem, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.decide(msg.0))
    }
}

/// Release reservations whose deadline passed; replies with them.
#[derive(Message)]
#[rtype(result = "Vec<(OrderId, Reservation)>")]
pub struct Expire {
    pub now_ms: Millis,
}

impl Handler<Expire> for ItemActor {
    type Result = MessageResult<Expire>;
    fn handle(&mut self, msg: Expire, _: &mut Context<Self>) -> Self::Result {
        let decided = self.ledger.decide_expiry(self.id, msg.now_ms);
        let mut expired = Vec::with_capacity(decided.len());
        for (released, event) in decided {
            self.record(event, msg.now_ms);
            expired.push(released);
        }
        // the sale may have ended: refresh the fast-reject state even when nothing expired
        self.shared.publish(&self.ledger, msg.now_ms);
        MessageResult(expired)
    }
}

/// An item's current state, for reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    pub id: ItemId,
    pub config: ItemConfig,
    pub levels: StockLevels,
    pub unit_price: i64,
    pub sale: Option<SaleView>,
    pub last_seq: Seq,
}

/// A time sale's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleView {
    pub config: SaleConfig,
    pub phase: SalePhase,
    pub remaining: i64,
    pub reserved: i64,
    pub sold: i64,
}

/// Read the item's state.
#[derive(Message)]
#[rtype(result = "ItemView")]
pub struct ViewItem;

impl Handler<ViewItem> for ItemActor {
    type Result = MessageResult<ViewItem>;
    fn handle(&mut self, _: ViewItem, _: &mut Context<Self>) -> Self::Result {
        let now = self.clock.now_ms();
        MessageResult(ItemView {
            id: self.id,
            config: self.ledger.config.clone(),
            levels: self.ledger.levels(),
            unit_price: self.ledger.unit_price(now),
            sale: self.ledger.sale().map(|s| SaleView {
                config: s.config.clone(),
                phase: s.phase(now),
                remaining: s.remaining,
                reserved: s.reserved,
                sold: s.sold,
            }),
            last_seq: self.last_seq,
        })
    }
}

/// A copy of the whole ledger and the last sequence it reflects.
#[derive(Message)]
#[rtype(result = "(ItemLedger, Seq)")]
pub struct TakeItemSnapshot;

impl Handler<TakeItemSnapshot> for ItemActor {
    type Result = MessageResult<TakeItemSnapshot>;
    fn handle(&mut self, _: TakeItemSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult((self.ledger.clone(), self.last_seq))
    }
}

/// Block the actor's thread until `release` fires (tests use it to fill a mailbox).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stall {
    pub release: std::sync::mpsc::Receiver<()>,
}

impl Handler<Stall> for ItemActor {
    type Result = ();
    fn handle(&mut self, msg: Stall, _: &mut Context<Self>) {
        let _ = msg.release.recv_timeout(std::time::Duration::from_secs(30));
    }
}

impl Handler<Stall> for super::campaign::CampaignActor {
    type Result = ();
    fn handle(&mut self, msg: Stall, _: &mut Context<Self>) {
        let _ = msg.release.recv_timeout(std::time::Duration::from_secs(30));
    }
}
