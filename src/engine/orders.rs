//! The order book: orders placed, their status, and the deadlines the sweeper acts on.
//!
//! What stays in memory is bounded by what is in flight: an order is kept while it waits for
//! payment, and once it settles (paid, cancelled, refunded) only until the write-behind has put
//! its last change in the database; after that a request for it loads it back from there. The
//! sweeper finds due orders in a deadline index, without looking at the others.

use std::collections::{BTreeSet, VecDeque};

use dashmap::DashMap;

use super::*;

/// Which of the book's indexes an order belongs in.
enum Indexed {
    Active { deadline: Millis },
    Settled { seq: Seq },
}

impl Indexed {
    fn of(entry: &OrderEntry) -> Indexed {
        if entry.order.status.is_active() {
            Indexed::Active {
                deadline: entry.order.deadline_ms,
            }
        } else {
            Indexed::Settled {
                seq: entry.last_seq,
            }
        }
    }
}

/// The orders held in memory, with the indexes the sweeper and the eviction work from.
#[derive(Default)]
pub(super) struct OrderBook {
    orders: DashMap<OrderId, OrderRef>,
    /// Active orders by payment deadline. An entry can outlive its order's activity (it is
    /// dropped when the order settles, or when the sweeper next meets it).
    deadlines: Mutex<BTreeSet<(Millis, OrderId)>>,
    /// Orders that settled, with the journal sequence that settled them, oldest first.
    settled: Mutex<VecDeque<(Seq, OrderId)>>,
}

impl OrderBook {
    fn insert(&self, entry: OrderEntry) -> OrderRef {
        let (id, index) = (entry.order.id, Indexed::of(&entry));
        let entry = Arc::new(tokio::sync::Mutex::new(entry));
        self.orders.insert(id, entry.clone());
        self.index(id, index);
        entry
    }

    /// `entry`, unless the order is already here (a concurrent load of it won): the one kept.
    fn insert_if_absent(&self, entry: OrderEntry) -> OrderRef {
        let (id, index) = (entry.order.id, Indexed::of(&entry));
        let kept = match self.orders.entry(id) {
            dashmap::mapref::entry::Entry::Occupied(o) => return o.get().clone(),
            dashmap::mapref::entry::Entry::Vacant(v) => {
                let entry = Arc::new(tokio::sync::Mutex::new(entry));
                v.insert(entry.clone());
                entry
            }
        };
        self.index(id, index);
        kept
    }

    /// Put a new entry in the index its status calls for.
    fn index(&self, id: OrderId, index: Indexed) {
        match index {
            Indexed::Active { deadline } => self.track_deadline(deadline, id),
            Indexed::Settled { seq } => self.settled(seq, id),
        }
    }

    /// `entry` moved to a new status at its `last_seq` (it was active before if `was_active`).
    fn status_changed(&self, entry: &OrderEntry, was_active: bool) {
        if entry.order.status.is_active() {
            return;
        }
        if was_active {
            self.deadlines
                .lock()
                .expect("order deadlines")
                .remove(&(entry.order.deadline_ms, entry.order.id));
        }
        self.settled(entry.last_seq, entry.order.id);
    }

    fn get(&self, id: OrderId) -> Option<OrderRef> {
        self.orders.get(&id).map(|o| o.clone())
    }

    fn track_deadline(&self, deadline: Millis, id: OrderId) {
        self.deadlines
            .lock()
            .expect("order deadlines")
            .insert((deadline, id));
    }

    /// `id` left the active states at journal sequence `seq`.
    fn settled(&self, seq: Seq, id: OrderId) {
        self.settled
            .lock()
            .expect("settled orders")
            .push_back((seq, id));
    }

    /// Active orders whose deadline is at or before `now_ms` (not ones locked right now: the
    /// next sweep meets them again).
    fn due(&self, now_ms: Millis) -> Vec<OrderRef> {
        let mut deadlines = self.deadlines.lock().expect("order deadlines");
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for &(deadline, id) in deadlines.iter() {
            if deadline > now_ms {
                break;
            }
            let Some(entry) = self.get(id) else {
                gone.push((deadline, id));
                continue;
            };
            let due = match entry.try_lock() {
                Ok(e) => Some(e.order.status.is_active() && e.order.deadline_ms <= now_ms),
                Err(_) => None,
            };
            match due {
                Some(true) => out.push(entry),
                Some(false) => gone.push((deadline, id)),
                None => {}
            }
        }
        for key in gone {
            deadlines.remove(&key);
        }
        out
    }

    /// Drop from memory the settled orders whose last change the database holds (`applied` is
    /// the write-behind's checkpoint) and that nobody is using; returns how many went.
    fn evict_settled(&self, applied: Seq) -> usize {
        let mut settled = self.settled.lock().expect("settled orders");
        let mut evicted = 0;
        while let Some(&(seq, id)) = settled.front() {
            if seq > applied {
                break;
            }
            settled.pop_front();
            // Under the map's write lock nobody can take a new reference, so an entry referenced
            // only by the map is not in use (a request that holds it, even waiting for its lock,
            // keeps it here: two copies of one order must never be live at once).
            let removed = self.orders.remove_if(&id, |_, entry| {
                Arc::strong_count(entry) == 1
                    && entry
                        .try_lock()
                        .is_ok_and(|e| !e.order.status.is_active() && e.last_seq <= applied)
            });
            match removed {
                Some(_) => evicted += 1,
                None => {
                    // still in use, or changed again since (then it was queued again)
                    let in_use = self.get(id).is_some_and(|entry| {
                        entry
                            .try_lock()
                            .map_or(true, |e| !e.order.status.is_active() && e.last_seq == seq)
                    });
                    if in_use {
                        // try again on a later sweep
                        settled.push_back((seq, id));
                        break;
                    }
                }
            }
        }
        evicted
    }

    pub(super) fn retain(&self, keep: impl Fn(&OrderId) -> bool) -> usize {
        let before = self.orders.len();
        self.orders.retain(|id, _| keep(id));
        before - self.orders.len()
    }

    fn entries(&self) -> Vec<OrderRef> {
        self.orders.iter().map(|kv| kv.value().clone()).collect()
    }

    fn len(&self) -> usize {
        self.orders.len()
    }
}

impl EngineHandle {
    /// Record a newly placed order (its lines already reserved) and wait until it is durable.
    pub async fn place_order(&self, order: Order) -> Result<OrderRef, EngineError> {
        let (entry, seq) = self.place_order_unacked(order);
        self.durable(Some(seq)).await?;
        Ok(entry)
    }

    /// [`EngineHandle::place_order`] without waiting for durability: the order is in the order
    /// book at once; also returns its journal sequence.
    pub fn place_order_unacked(&self, order: Order) -> (OrderRef, Seq) {
        let seq = self.inner.journal.append(Event::OrderPlaced {
            order: Box::new(order.clone()),
        });
        let entry = self.inner.orders.insert(OrderEntry {
            order,
            last_seq: seq,
        });
        (entry, seq)
    }

    /// Install an order rebuilt by recovery.
    pub fn install_order(&self, order: Order, last_seq: Seq) {
        self.inner.orders.insert(OrderEntry { order, last_seq });
    }

    /// The order with this id: from memory, or loaded from the database.
    pub async fn order(&self, id: OrderId) -> Result<Option<OrderRef>, EngineError> {
        self.check_owner(id.as_u128())?;
        if let Some(o) = self.inner.orders.get(id) {
            return Ok(Some(o));
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
        let entry = self.inner.orders.insert_if_absent(OrderEntry {
            order,
            last_seq: checkpoint,
        });
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
        let was_active = entry.order.status.is_active();
        entry.order.apply(status, now);
        entry.last_seq = seq;
        self.inner.orders.status_changed(entry, was_active);
        self.durable(Some(seq)).await
    }

    /// Orders waiting for payment whose deadline is at or before `now_ms`.
    pub fn orders_due(&self, now_ms: Millis) -> Vec<OrderRef> {
        self.inner.orders.due(now_ms)
    }

    /// Drop from memory the settled orders the database already holds (they load back from
    /// there when asked for); returns how many went. The sweeper calls it every tick.
    pub fn evict_settled_orders(&self) -> usize {
        self.inner
            .orders
            .evict_settled(self.inner.journal.applied())
    }

    /// How many orders are held in memory.
    pub fn orders_in_memory(&self) -> usize {
        self.inner.orders.len()
    }

    /// The orders held in memory.
    pub(super) fn order_entries(&self) -> Vec<OrderRef> {
        self.inner.orders.entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(deadline_ms: Millis, status: OrderStatus) -> Order {
        Order {
            id: OrderId::new(),
            user: UserId::new(),
            address_id: uuid::Uuid::now_v7(),
            name: "item".into(),
            lines: Vec::new(),
            total_amount: 1_000,
            discount_amount: 0,
            pay_amount: 1_000,
            coupon: None,
            status,
            created_at_ms: 0,
            deadline_ms,
            completed_at_ms: None,
        }
    }

    fn ids(entries: &[OrderRef]) -> Vec<OrderId> {
        let mut out: Vec<OrderId> = entries
            .iter()
            .map(|e| e.try_lock().unwrap().order.id)
            .collect();
        out.sort();
        out
    }

    #[test]
    fn the_sweeper_meets_only_due_active_orders() {
        let book = OrderBook::default();
        let early = order(100, OrderStatus::Create);
        let pending = order(150, OrderStatus::Pending);
        let late = order(300, OrderStatus::Create);
        let (e, p) = (early.id, pending.id);
        for o in [early, pending, late] {
            book.insert(OrderEntry {
                order: o,
                last_seq: 1,
            });
        }
        assert!(book.due(99).is_empty());
        let mut want = vec![e, p];
        want.sort();
        assert_eq!(ids(&book.due(200)), want);
        // an order that settled without the index being told is dropped from it when met
        book.get(e).unwrap().try_lock().unwrap().order.status = OrderStatus::Complete;
        assert_eq!(ids(&book.due(200)), vec![p]);
        assert_eq!(book.deadlines.lock().unwrap().len(), 2);
        // one being worked on right now is left for the next sweep
        let busy = book.get(p).unwrap();
        let guard = busy.try_lock().unwrap();
        assert!(book.due(200).is_empty());
        drop(guard);
        assert_eq!(ids(&book.due(200)), vec![p]);
    }

    #[test]
    fn a_settled_order_leaves_memory_once_applied_and_unused() {
        let book = OrderBook::default();
        let a = order(100, OrderStatus::Complete);
        let b = order(100, OrderStatus::Cancel);
        let active = order(100, OrderStatus::Create);
        let (a_id, b_id, active_id) = (a.id, b.id, active.id);
        book.insert(OrderEntry {
            order: a,
            last_seq: 5,
        });
        book.insert(OrderEntry {
            order: b,
            last_seq: 9,
        });
        book.insert(OrderEntry {
            order: active,
            last_seq: 2,
        });
        // nothing the database does not hold yet goes
        assert_eq!(book.evict_settled(4), 0);
        assert_eq!(book.len(), 3);
        // a request holding `a` keeps it (and the one behind it) in memory
        let held = book.get(a_id).unwrap();
        assert_eq!(book.evict_settled(9), 0);
        assert!(book.get(a_id).is_some() && book.get(b_id).is_some());
        drop(held);
        assert_eq!(book.evict_settled(9), 2);
        assert!(book.get(a_id).is_none() && book.get(b_id).is_none());
        // the active order stays whatever the checkpoint
        assert!(book.get(active_id).is_some());
        assert_eq!(book.evict_settled(u64::MAX), 0);
        assert_eq!(book.len(), 1);
    }
}
