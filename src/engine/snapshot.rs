//! Snapshots: every actor's state collected at one journal sequence and written to a file.

use super::*;

impl EngineHandle {
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

    async fn orders_for_snapshot(&self) -> Vec<(Order, Seq)> {
        let now = self.now_ms();
        let refs: Vec<OrderRef> = self.order_entries();
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
}
