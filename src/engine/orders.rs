//! The order book: orders placed, their status, and the deadlines the sweeper acts on.

use super::*;

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
        self.check_owner(id.as_u128())?;
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
}
