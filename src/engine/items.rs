//! Items: reservations (all-or-nothing orders), confirmation, release, restock, stock and sale
//! changes, and the ticker's expiry of reservations.

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
}
