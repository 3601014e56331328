//! Items: reservations (all-or-nothing orders), confirmation, release, restock, stock and sale
//! changes, and the ticker's expiry of reservations.

use super::remote::Owner;
use super::*;

impl EngineHandle {
    /// Reserve every line of `order` or none: lines in item id order (duplicates merged), the
    /// reserved ones released again when a later line is refused.
    pub async fn reserve_order(
        &self,
        order: OrderId,
        user: UserId,
        lines: &[LineRequest],
        deadline_ms: Millis,
    ) -> Result<OrderReservation, EngineError> {
        let (reservation, seq) = self
            .reserve_order_unacked(order, user, lines, deadline_ms)
            .await?;
        self.durable(seq).await?;
        Ok(reservation)
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
        // Resolve every item first: an unknown id refuses the order before anything is held
        // (a line another node owns is checked by that node when it is reserved).
        let mut owners = Vec::with_capacity(merged.len());
        let now = self.now_ms();
        for l in &merged {
            let owner = self.item_owner(l.item).await?;
            if let Owner::Here(entry) = &owner
                && let Some(outcome) = entry.shared.fast_reject(now)
            {
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
            owners.push(owner);
        }
        self.check_backlog()?;
        let mut reserved: Vec<(ReservedLine, usize)> = Vec::with_capacity(merged.len());
        let mut last_seq = None;
        for (index, (l, owner)) in merged.iter().zip(&owners).enumerate() {
            let command = ItemCommand::Reserve {
                order,
                user,
                qty: l.qty,
                deadline_ms,
            };
            let result = self.decide_item_on(owner, l.item, command).await;
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
            // A line failed: release what this order holds so far. A peer that did not answer
            // may have reserved the failed line too, so it is released as well.
            let mut holding: Vec<usize> = reserved.iter().map(|(_, i)| *i).collect();
            if refusal.is_err() && matches!(owner, Owner::Peer(_)) {
                holding.push(index);
            }
            for i in holding {
                if let Err(e) = self
                    .release_on(&owners[i], merged[i].item, order, ReleaseReason::Cancelled)
                    .await
                {
                    tracing::error!(%order, item = %merged[i].item, error = %e,
                        "could not release a refused order's line; it expires by its deadline");
                }
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

    /// Release `order`'s units of `item` where it is decided (a peer's release is durable on
    /// return; a local one returns its sequence).
    async fn release_on(
        &self,
        owner: &Owner<ItemEntry>,
        item: ItemId,
        order: OrderId,
        reason: ReleaseReason,
    ) -> Result<(ItemOutcome, Option<Seq>), EngineError> {
        match owner {
            Owner::Here(entry) => self.release_one(entry, order, reason).await,
            Owner::Peer(url) => self
                .peer_item(url, item, ItemCommand::Release { order, reason })
                .await
                .map(|outcome| (outcome, None)),
        }
    }

    pub(super) async fn release_one(
        &self,
        entry: &ItemEntry,
        order: OrderId,
        reason: ReleaseReason,
    ) -> Result<(ItemOutcome, Option<Seq>), EngineError> {
        // Releases must not be refused for a full mailbox: they free stock. Retry briefly.
        let mut delay = Duration::from_millis(1);
        loop {
            match self
                .decide_item(entry, ItemCommand::Release { order, reason })
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
    /// Sell the order's reserved units in every item. Like [`Self::release_order`], every item
    /// is tried even when one fails, and the first error is returned (a confirm is idempotent,
    /// so the caller retries the whole order).
    pub async fn confirm_order(
        &self,
        order: OrderId,
        items: &[ItemId],
    ) -> Result<Vec<(ItemId, ItemOutcome)>, EngineError> {
        self.each_item(items, |item, owner| async move {
            self.decide_item_on(&owner, item, ItemCommand::Confirm { order })
                .await
        })
        .await
    }

    /// Run `step` on every item at its owner, then wait until every step decided here is
    /// durable. Every item is tried even when one fails (its owner in cluster mode may be
    /// unreachable), so the others take effect at once; the first error is returned.
    async fn each_item<F, Fut>(
        &self,
        items: &[ItemId],
        step: F,
    ) -> Result<Vec<(ItemId, ItemOutcome)>, EngineError>
    where
        F: Fn(ItemId, Owner<ItemEntry>) -> Fut,
        Fut: std::future::Future<Output = Result<(ItemOutcome, Option<Seq>), EngineError>>,
    {
        let mut out = Vec::with_capacity(items.len());
        let mut last_seq = None;
        let mut failed = None;
        for item in items {
            let done = match self.item_owner(*item).await {
                Ok(owner) => step(*item, owner).await,
                Err(e) => Err(e),
            };
            match done {
                Ok((outcome, seq)) => {
                    last_seq = last_seq.max(seq);
                    out.push((*item, outcome));
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        self.durable(last_seq).await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Put the order's reserved units back on sale in every item, trying every item even when
    /// one fails ([`Self::each_item`]): the others' stock is freed at once, and the first error
    /// is returned so the caller retries (a release is idempotent).
    pub async fn release_order(
        &self,
        order: OrderId,
        items: &[ItemId],
        reason: ReleaseReason,
    ) -> Result<Vec<(ItemId, ItemOutcome)>, EngineError> {
        self.each_item(items, |item, owner| async move {
            self.release_on(&owner, item, order, reason).await
        })
        .await
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
        let owner = self.item_owner(item).await?;
        let command = ItemCommand::Restock {
            order,
            user,
            qty,
            promotion,
        };
        let (outcome, seq) = self.decide_item_on(&owner, item, command).await?;
        self.durable(seq).await?;
        Ok(outcome)
    }

    /// Operator stock change.
    pub async fn adjust_stock(&self, item: ItemId, delta: i64) -> Result<ItemOutcome, EngineError> {
        self.decide_item_durably(item, ItemCommand::Adjust { delta })
            .await
    }

    /// Replace an item's price and on-sale flag.
    pub async fn configure_item(
        &self,
        item: ItemId,
        config: ItemConfig,
    ) -> Result<(), EngineError> {
        self.decide_item_durably(item, ItemCommand::Configure { config })
            .await
            .map(|_| ())
    }

    /// Install, change or remove an item's time sale.
    pub async fn set_sale(
        &self,
        item: ItemId,
        sale: Option<SaleConfig>,
    ) -> Result<ItemOutcome, EngineError> {
        self.decide_item_durably(item, ItemCommand::SetSale { sale })
            .await
    }

    /// Ask the actor of `entry` to decide `command`: the outcome and the journal sequence of its
    /// event (not waited for).
    pub(super) async fn decide_item(
        &self,
        entry: &ItemEntry,
        command: ItemCommand,
    ) -> Result<(ItemOutcome, Option<Seq>), EngineError> {
        self.ask(&entry.addr, &entry.shared.gauge, DecideItem(command))
            .await
    }

    /// Decide `command` where `item` is owned: on this node's actor (returning the sequence to
    /// wait for), or on its owner's (durable when it returns, so no sequence).
    async fn decide_item_on(
        &self,
        owner: &Owner<ItemEntry>,
        item: ItemId,
        command: ItemCommand,
    ) -> Result<(ItemOutcome, Option<Seq>), EngineError> {
        match owner {
            Owner::Here(entry) => self.decide_item(entry, command).await,
            Owner::Peer(url) => self
                .peer_item(url, item, command)
                .await
                .map(|outcome| (outcome, None)),
        }
    }

    /// Decide `command` on this node's actor of `item` and wait until its event is durable.
    async fn decide_item_durably(
        &self,
        item: ItemId,
        command: ItemCommand,
    ) -> Result<ItemOutcome, EngineError> {
        let entry = self.item(item).await?;
        let (outcome, seq) = self.decide_item(&entry, command).await?;
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
}
