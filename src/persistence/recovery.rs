//! Recovery at start, in this order: the newest valid snapshot (or a chosen one), the journal
//! after it, the invariant check, then the write-behind's backlog (everything after the database
//! checkpoint) queued again. With neither snapshot nor journal, actors load from the database on
//! first use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::journal::{Journal, JournalOptions, ReadReport, Seq, read_journal};
use super::repo::EngineStore;
use super::snapshot::{SnapshotFile, latest_valid, read_snapshot};
use crate::config::Durability;
use crate::domain::campaign::CampaignLedger;
use crate::domain::event::{EntityRef, Event, apply_to_campaign, apply_to_item, apply_to_orders};
use crate::domain::ids::{CampaignId, ItemId, OrderId, UserId};
use crate::domain::item::ItemLedger;
use crate::domain::order::Order;

/// What recovery found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecoveryReport {
    pub snapshot: Option<PathBuf>,
    pub snapshot_seq: Seq,
    pub checkpoint: Seq,
    pub journal_records: u64,
    pub journal_last_seq: Seq,
    pub journal_truncated_bytes: u64,
    pub journal_skipped_segments: Vec<PathBuf>,
    /// Events re-run on actor state.
    pub replayed: u64,
    /// Events whose replay did not give the recorded decision (should be 0).
    pub replay_mismatches: u64,
    /// Events queued again for the write-behind.
    pub requeued: u64,
    pub campaigns: usize,
    pub items: usize,
    pub elapsed_ms: u64,
}

/// Recovered state, ready to be installed into a new engine.
pub struct Recovered {
    pub journal: Arc<Journal>,
    pub campaigns: Vec<(CampaignId, CampaignLedger, Seq)>,
    pub items: Vec<(ItemId, ItemLedger, Seq)>,
    pub orders: Vec<(Order, Seq)>,
    /// Coupons used by an order that was never placed (a crash between the two): to recover.
    pub orphan_coupon_uses: Vec<(CampaignId, UserId, OrderId)>,
    /// Reservations held for an order that does not exist: to release.
    pub orphan_reservations: Vec<(ItemId, OrderId)>,
    pub report: RecoveryReport,
}

/// Rebuild the engine's state and open the journal for appending.
// The entry API cannot hold a map entry across the awaited database load.
#[allow(clippy::map_entry)]
pub async fn recover(
    store: &dyn EngineStore,
    journal_options: &JournalOptions,
    snapshot_dir: &Path,
    restore_from: Option<&Path>,
) -> anyhow::Result<Recovered> {
    let started = Instant::now();
    let mut report = RecoveryReport {
        checkpoint: store.checkpoint().await.context("reading the checkpoint")?,
        ..Default::default()
    };

    let snapshot: Option<(SnapshotFile, super::snapshot::SnapshotBody, Seq)> = match restore_from {
        Some(path) => {
            let (header, body) = read_snapshot(path)
                .with_context(|| format!("restoring from {}", path.display()))?;
            Some((
                SnapshotFile {
                    path: path.to_path_buf(),
                    seq: header.seq,
                    created_at_ms: header.created_at_ms,
                    size_bytes: header.body_len,
                },
                body,
                header.seq,
            ))
        }
        None => latest_valid(snapshot_dir)?.map(|(f, h, b)| (f, b, h.seq)),
    };

    let mut campaigns: HashMap<CampaignId, (CampaignLedger, Seq)> = HashMap::new();
    let mut items: HashMap<ItemId, (ItemLedger, Seq)> = HashMap::new();
    let mut orders: HashMap<OrderId, Order> = HashMap::new();
    let mut order_seqs: HashMap<OrderId, Seq> = HashMap::new();
    let mut coupon_uses: Vec<(CampaignId, UserId, OrderId)> = Vec::new();
    if let Some((file, body, seq)) = snapshot {
        report.snapshot = Some(file.path.clone());
        report.snapshot_seq = seq;
        for c in body.campaigns {
            campaigns.insert(c.id, (c.ledger, c.last_seq));
        }
        for i in body.items {
            items.insert(i.id, (i.ledger, i.last_seq));
        }
        for o in body.orders {
            order_seqs.insert(o.order.id, o.last_seq);
            orders.insert(o.order.id, o.order);
        }
    }

    // Everything after the older of the two points is needed: the snapshot for the actors,
    // the checkpoint for the database.
    let from = report.snapshot_seq.min(report.checkpoint);
    let mut events: Vec<(Seq, Event)> = Vec::new();
    let journal_report = if journal_options.mode == Durability::None {
        ReadReport::default()
    } else {
        read_journal(&journal_options.dir, from, |seq, e| events.push((seq, e)))?
    };
    report.journal_records = journal_report.records;
    report.journal_last_seq = journal_report.last_seq;
    report.journal_truncated_bytes = journal_report.truncated_bytes;
    report.journal_skipped_segments = journal_report.skipped_segments.clone();

    for (seq, event) in &events {
        let seq = *seq;
        let outcome_ok = match event.entity() {
            EntityRef::Campaign(id) => {
                if !campaigns.contains_key(&id) {
                    if seq <= report.checkpoint {
                        continue; // the database already reflects it
                    }
                    let Some(stored) = store.load_campaign(id).await? else {
                        tracing::error!(campaign = %id, seq, "journaled campaign is missing from the database");
                        report.replay_mismatches += 1;
                        continue;
                    };
                    let ledger =
                        CampaignLedger::restore(stored.config, stored.status, stored.holders);
                    campaigns.insert(id, (ledger, report.checkpoint));
                }
                let (ledger, last) = campaigns.get_mut(&id).expect("present");
                if seq <= *last {
                    continue;
                }
                *last = seq;
                report.replayed += 1;
                apply_to_campaign(ledger, event).is_some_and(|o| {
                    o.is_success()
                        || matches!(
                            event,
                            Event::CampaignConfigured { .. } | Event::CampaignStatusSet { .. }
                        )
                })
            }
            EntityRef::Item(id) => {
                if !items.contains_key(&id) {
                    if seq <= report.checkpoint {
                        continue;
                    }
                    let Some(stored) = store.load_item(id).await? else {
                        tracing::error!(item = %id, seq, "journaled item is missing from the database");
                        report.replay_mismatches += 1;
                        continue;
                    };
                    let ledger = stored.into_ledger();
                    items.insert(id, (ledger, report.checkpoint));
                }
                let (ledger, last) = items.get_mut(&id).expect("present");
                if seq <= *last {
                    continue;
                }
                *last = seq;
                report.replayed += 1;
                apply_to_item(ledger, event).is_some_and(|o| o.is_success())
            }
            EntityRef::Order(id) => {
                if !orders.contains_key(&id) {
                    if seq <= report.checkpoint {
                        continue;
                    }
                    if !matches!(event, Event::OrderPlaced { .. }) {
                        match store.load_order(id).await? {
                            Some(o) => {
                                orders.insert(id, o);
                                order_seqs.insert(id, report.checkpoint);
                            }
                            None => {
                                tracing::error!(order = %id, seq, "journaled order is missing");
                                report.replay_mismatches += 1;
                                continue;
                            }
                        }
                    }
                }
                let last = order_seqs.entry(id).or_insert(0);
                if seq <= *last {
                    continue;
                }
                *last = seq;
                report.replayed += 1;
                apply_to_orders(&mut orders, event).unwrap_or(false)
                    || matches!(event, Event::OrderPlaced { .. })
            }
        };
        if let Event::CouponUsed {
            campaign,
            user,
            order,
            ..
        } = event
            && seq > report.snapshot_seq.min(report.checkpoint)
        {
            coupon_uses.push((*campaign, *user, *order));
        }
        if !outcome_ok {
            report.replay_mismatches += 1;
            tracing::error!(seq, ?event, "replayed event did not reproduce its decision");
        }
    }

    // The invariants, checked again where state is loaded.
    for (ledger, _) in campaigns.values() {
        ledger.check();
    }
    for (ledger, _) in items.values() {
        ledger.check();
    }

    let last_seq = journal_report
        .last_seq
        .max(report.snapshot_seq)
        .max(report.checkpoint);
    let journal = Journal::open_with_applied(journal_options, last_seq, report.checkpoint)?;
    let backlog: Vec<(Seq, Event)> = events
        .into_iter()
        .filter(|(seq, _)| *seq > report.checkpoint)
        .collect();
    report.requeued = backlog.len() as u64;
    journal.requeue_for_writebehind(backlog);

    // Decisions a crash cut off halfway: a coupon used or stock reserved for an order that was
    // never placed. The database is asked too: the order may be older than the snapshot.
    let mut orphan_coupon_uses = Vec::new();
    for (campaign, user, order) in coupon_uses {
        if !orders.contains_key(&order) && store.load_order(order).await?.is_none() {
            orphan_coupon_uses.push((campaign, user, order));
        }
    }
    let mut orphan_reservations = Vec::new();
    for (item, (ledger, _)) in &items {
        for (order, _) in ledger.reservations() {
            if !orders.contains_key(order)
                && let Some(stored) = store.load_order(*order).await?
            {
                // Placed before the checkpoint: the database has it; keep it in memory.
                order_seqs.insert(*order, report.checkpoint);
                orders.insert(*order, stored);
            }
            let active = orders.get(order).is_some_and(|o| o.status.is_active());
            if !active {
                orphan_reservations.push((*item, *order));
            }
        }
    }

    report.campaigns = campaigns.len();
    report.items = items.len();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Recovered {
        journal,
        campaigns: campaigns
            .into_iter()
            .map(|(id, (l, s))| (id, l, s))
            .collect(),
        items: items.into_iter().map(|(id, (l, s))| (id, l, s)).collect(),
        orders: orders
            .into_iter()
            .map(|(id, o)| {
                let seq = order_seqs.get(&id).copied().unwrap_or(0);
                (o, seq)
            })
            .collect(),
        orphan_coupon_uses,
        orphan_reservations,
        report,
    })
}
