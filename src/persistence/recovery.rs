//! Recovery at start, in this order: the newest valid snapshot (or a chosen one), the journal
//! after it, the invariant check, then the write-behind's backlog (everything after the database
//! checkpoint) queued again. With neither snapshot nor journal, actors load from the database on
//! first use.
//!
//! Recovery also checks that the database belongs with the snapshot and the journal
//! ([`mismatches`]): that it has a row for every campaign, item and order the snapshot names, and
//! that its checkpoint and the snapshot's sequence are joined by the journal. A mismatch does not
//! stop the start (operators need the admin endpoints to look), but it is logged at ERROR, shown
//! by `/readyz` (503) and counted by `hotdeal_recovery_problems`; `hotdeal snapshot restore`
//! refuses one before serving ([`check_snapshot`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::journal::{EventChunks, Journal, JournalOptions, ReadReport, Seq, read_journal};
use super::repo::EngineStore;
use super::snapshot::{SnapshotBody, SnapshotFile, latest_valid, read_snapshot};
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
    /// Why the database does not match the snapshot and the journal, one sentence each (empty
    /// when they match). See [`mismatches`].
    pub problems: Vec<String>,
}

/// A coupon of a campaign, used by a user on an order.
pub type CouponUse = (CampaignId, UserId, OrderId);

/// Recovered state, ready to be installed into a new engine.
pub struct Recovered {
    pub journal: Arc<Journal>,
    pub campaigns: Vec<(CampaignId, CampaignLedger, Seq)>,
    pub items: Vec<(ItemId, ItemLedger, Seq)>,
    pub orders: Vec<(Order, Seq)>,
    /// Coupons used by an order that was never placed (a crash between the two): to recover.
    pub orphan_coupon_uses: Vec<CouponUse>,
    /// Reservations held for an order that does not exist: to release.
    pub orphan_reservations: Vec<(ItemId, OrderId)>,
    pub report: RecoveryReport,
}

/// Rebuild the engine's state and open the journal for appending.
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

    let snapshot = pick_snapshot(snapshot_dir, restore_from)?;
    let named = snapshot
        .as_ref()
        .map(|(_, body, seq)| SnapshotEntities::of(body, *seq, report.checkpoint));
    let mut state = State::default();
    if let Some((file, body, seq)) = snapshot {
        report.snapshot = Some(file.path.clone());
        report.snapshot_seq = seq;
        state.install(body);
    }

    // Everything after the older of the two points is needed: the snapshot for the actors,
    // the checkpoint for the database (without a snapshot, the checkpoint alone: the actors
    // load from the database). Of that, only the events replay will apply are kept: a
    // million-claim journal held whole in memory costs more to allocate than to replay.
    let from = needed_from(named.as_ref().map(|n| n.seq), report.checkpoint);
    let mut events = EventChunks::default();
    let mut issues: HashMap<CampaignId, usize> = HashMap::new();
    let mut first_after_needed: Option<Seq> = None;
    let journal_report = if journal_options.mode == Durability::None {
        ReadReport::default()
    } else {
        read_journal(&journal_options.dir, from, |seq, e| {
            first_after_needed.get_or_insert(seq);
            if state.will_replay(seq, &e, report.checkpoint) {
                if let Event::CouponIssued { campaign, .. } = &e {
                    *issues.entry(*campaign).or_default() += 1;
                }
                events.push(seq, e);
            }
        })?
    };
    report.journal_records = journal_report.records;
    report.journal_last_seq = journal_report.last_seq;
    report.journal_truncated_bytes = journal_report.truncated_bytes;
    report.journal_skipped_segments = journal_report.skipped_segments.clone();
    let coverage = JournalCoverage {
        first_after_needed,
        last_seq: journal_report.last_seq,
    };

    state.expect_issues(issues);
    let mut coupon_uses: Vec<CouponUse> = Vec::new();
    for (seq, event) in events.iter() {
        let Some(reproduced) = state.replay(store, *seq, event, &mut report).await? else {
            continue;
        };
        if let Event::CouponUsed {
            campaign,
            user,
            order,
            ..
        } = event
            && *seq > from
        {
            coupon_uses.push((*campaign, *user, *order));
        }
        if !reproduced {
            report.replay_mismatches += 1;
            tracing::error!(seq, ?event, "replayed event did not reproduce its decision");
        }
    }

    // The invariants, checked again where state is loaded.
    for (ledger, _) in state.campaigns.values() {
        ledger.check();
    }
    for (ledger, _) in state.items.values() {
        ledger.check();
    }

    let last_seq = journal_report
        .last_seq
        .max(report.snapshot_seq)
        .max(report.checkpoint);
    let journal = Journal::open_with_applied(journal_options, last_seq, report.checkpoint)?;
    events.retain_after(report.checkpoint);
    report.requeued = events.len() as u64;
    journal.requeue_for_writebehind(events);

    let (orphan_coupon_uses, orphan_reservations) =
        state.orphans(store, coupon_uses, report.checkpoint).await?;

    report.problems = mismatches(
        store,
        named.as_ref(),
        report.checkpoint,
        coverage,
        journal_options,
    )
    .await?;
    if report.replay_mismatches > 0 {
        report.problems.push(format!(
            "{} journaled events name campaigns, items or orders the database does not have, or \
             did not reproduce their recorded decision on replay (see the errors logged above)",
            report.replay_mismatches
        ));
    }
    report.campaigns = state.campaigns.len();
    report.items = state.items.len();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    let State {
        campaigns,
        items,
        orders,
        order_seqs,
        ..
    } = state;
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

/// The snapshot to start from: the one chosen (`restore_from`), or the newest valid one.
fn pick_snapshot(
    snapshot_dir: &Path,
    restore_from: Option<&Path>,
) -> anyhow::Result<Option<(SnapshotFile, SnapshotBody, Seq)>> {
    Ok(match restore_from {
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
    })
}

/// The entities being rebuilt, each with the sequence of the last event applied to it.
#[derive(Default)]
struct State {
    campaigns: HashMap<CampaignId, (CampaignLedger, Seq)>,
    items: HashMap<ItemId, (ItemLedger, Seq)>,
    orders: HashMap<OrderId, Order>,
    order_seqs: HashMap<OrderId, Seq>,
    /// Coupons the journal will issue for each campaign not loaded yet (room is made in its
    /// ledger when it is).
    issues_to_replay: HashMap<CampaignId, usize>,
}

impl State {
    fn install(&mut self, body: SnapshotBody) {
        for c in body.campaigns {
            self.campaigns.insert(c.id, (c.ledger, c.last_seq));
        }
        for i in body.items {
            self.items.insert(i.id, (i.ledger, i.last_seq));
        }
        for o in body.orders {
            self.order_seqs.insert(o.order.id, o.last_seq);
            self.orders.insert(o.order.id, o.order);
        }
    }

    /// Make room in each campaign's ledger for the coupons the journal will issue in it
    /// (`issues`, by campaign): now for the campaigns the snapshot brought, on load for the
    /// others.
    fn expect_issues(&mut self, issues: HashMap<CampaignId, usize>) {
        self.issues_to_replay = issues;
        for (id, (ledger, _)) in &mut self.campaigns {
            if let Some(n) = self.issues_to_replay.remove(id) {
                ledger.reserve_holders(n);
            }
        }
    }

    /// Whether [`State::replay`] goes on with the event at `seq` rather than pass over it (it
    /// starts with this): after the checkpoint always (the event is also the database's
    /// backlog); at or before it only for an entity the snapshot brought, after that entity's
    /// own sequence. Replay loads an entity from the database only for an event after the
    /// checkpoint, and events come in order, so recovery decides this while it reads, before
    /// any event is applied, and keeps only these.
    fn will_replay(&self, seq: Seq, event: &Event, checkpoint: Seq) -> bool {
        if seq > checkpoint {
            return true;
        }
        match event.entity() {
            EntityRef::Campaign(id) => self.campaigns.get(&id).is_some_and(|(_, last)| seq > *last),
            EntityRef::Item(id) => self.items.get(&id).is_some_and(|(_, last)| seq > *last),
            EntityRef::Order(id) => {
                self.orders.contains_key(&id)
                    && seq > self.order_seqs.get(&id).copied().unwrap_or(0)
            }
        }
    }

    /// Apply one journaled event to its entity, loading the entity from the database first when
    /// neither the snapshot nor an earlier event brought it. `None`: the event is not applied
    /// (the database or the snapshot already reflects it, or its entity is missing, which is
    /// counted as a mismatch); otherwise whether it reproduced its recorded decision.
    async fn replay(
        &mut self,
        store: &dyn EngineStore,
        seq: Seq,
        event: &Event,
        report: &mut RecoveryReport,
    ) -> anyhow::Result<Option<bool>> {
        let checkpoint = report.checkpoint;
        if !self.will_replay(seq, event, checkpoint) {
            return Ok(None); // the database or the snapshot already reflects it
        }
        // From here an entity not held yet is loaded: the event follows the checkpoint.
        match event.entity() {
            EntityRef::Campaign(id) => {
                if let Entry::Vacant(slot) = self.campaigns.entry(id) {
                    let Some(stored) = store.load_campaign(id).await? else {
                        tracing::error!(campaign = %id, seq, "journaled campaign is missing from the database");
                        report.replay_mismatches += 1;
                        return Ok(None);
                    };
                    let mut ledger = CampaignLedger::restore(
                        stored.config,
                        stored.status,
                        stored.holders,
                        stored.uses,
                    );
                    if let Some(n) = self.issues_to_replay.remove(&id) {
                        ledger.reserve_holders(n);
                    }
                    slot.insert((ledger, checkpoint));
                }
                let (ledger, last) = self.campaigns.get_mut(&id).expect("present");
                if !advance(last, seq, report) {
                    return Ok(None);
                }
                Ok(Some(apply_to_campaign(ledger, event).is_some_and(|o| {
                    o.is_success()
                        || matches!(
                            event,
                            Event::CampaignConfigured { .. } | Event::CampaignStatusSet { .. }
                        )
                })))
            }
            EntityRef::Item(id) => {
                if let Entry::Vacant(slot) = self.items.entry(id) {
                    let Some(stored) = store.load_item(id).await? else {
                        tracing::error!(item = %id, seq, "journaled item is missing from the database");
                        report.replay_mismatches += 1;
                        return Ok(None);
                    };
                    slot.insert((stored.into_ledger(), checkpoint));
                }
                let (ledger, last) = self.items.get_mut(&id).expect("present");
                if !advance(last, seq, report) {
                    return Ok(None);
                }
                Ok(Some(
                    apply_to_item(ledger, event).is_some_and(|o| o.is_success()),
                ))
            }
            EntityRef::Order(id) => {
                if let Entry::Vacant(slot) = self.orders.entry(id)
                    && !matches!(event, Event::OrderPlaced { .. })
                {
                    let Some(o) = store.load_order(id).await? else {
                        tracing::error!(order = %id, seq, "journaled order is missing");
                        report.replay_mismatches += 1;
                        return Ok(None);
                    };
                    slot.insert(o);
                    self.order_seqs.insert(id, checkpoint);
                }
                let last = self.order_seqs.entry(id).or_insert(0);
                if !advance(last, seq, report) {
                    return Ok(None);
                }
                Ok(Some(
                    apply_to_orders(&mut self.orders, event).unwrap_or(false)
                        || matches!(event, Event::OrderPlaced { .. }),
                ))
            }
        }
    }

    /// Decisions a crash cut off halfway: a coupon used (`coupon_uses`, from the journal) or
    /// stock reserved for an order that was never placed. The database is asked too: the order
    /// may be older than the snapshot (it is then kept in memory).
    async fn orphans(
        &mut self,
        store: &dyn EngineStore,
        coupon_uses: Vec<CouponUse>,
        checkpoint: Seq,
    ) -> anyhow::Result<(Vec<CouponUse>, Vec<(ItemId, OrderId)>)> {
        let mut orphan_coupon_uses = Vec::new();
        for (campaign, user, order) in coupon_uses {
            if !self.orders.contains_key(&order) && store.load_order(order).await?.is_none() {
                orphan_coupon_uses.push((campaign, user, order));
            }
        }
        let mut orphan_reservations = Vec::new();
        for (item, (ledger, _)) in &self.items {
            for (order, _) in ledger.reservations() {
                if !self.orders.contains_key(order)
                    && let Some(stored) = store.load_order(*order).await?
                {
                    // Placed before the checkpoint: the database has it; keep it in memory.
                    self.order_seqs.insert(*order, checkpoint);
                    self.orders.insert(*order, stored);
                }
                let active = self.orders.get(order).is_some_and(|o| o.status.is_active());
                if !active {
                    orphan_reservations.push((*item, *order));
                }
            }
        }
        Ok((orphan_coupon_uses, orphan_reservations))
    }
}

/// Move an entity's last applied sequence to `seq`, counting the replay; false when the entity
/// already holds it (the snapshot or the database load came after it).
fn advance(last: &mut Seq, seq: Seq, report: &mut RecoveryReport) -> bool {
    if seq <= *last {
        return false;
    }
    *last = seq;
    report.replayed += 1;
    true
}

/// What a snapshot names, for [`mismatches`].
#[derive(Debug, Clone, Default)]
pub struct SnapshotEntities {
    /// The snapshot's sequence.
    pub seq: Seq,
    pub campaigns: Vec<CampaignId>,
    pub items: Vec<ItemId>,
    /// Orders whose last event the database checkpoint covers: the database must have them.
    pub orders_in_database: Vec<OrderId>,
}

impl SnapshotEntities {
    /// The entities of `body` (a snapshot at `seq`), against a database at `checkpoint`.
    pub fn of(body: &SnapshotBody, seq: Seq, checkpoint: Seq) -> SnapshotEntities {
        SnapshotEntities {
            seq,
            campaigns: body.campaigns.iter().map(|c| c.id).collect(),
            items: body.items.iter().map(|i| i.id).collect(),
            orders_in_database: body
                .orders
                .iter()
                .filter(|o| o.last_seq <= checkpoint)
                .map(|o| o.order.id)
                .collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.campaigns.is_empty() && self.items.is_empty() && self.orders_in_database.is_empty()
    }
}

/// The journal records that follow what recovery needs: the first one after
/// [`needed_from`] and the last one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalCoverage {
    pub first_after_needed: Option<Seq>,
    pub last_seq: Seq,
}

/// The sequence after which every journal record is needed: the older of the snapshot and the
/// checkpoint, or the checkpoint alone without a snapshot (the actors then load from the
/// database, which reflects everything up to it).
pub fn needed_from(snapshot_seq: Option<Seq>, checkpoint: Seq) -> Seq {
    snapshot_seq.map_or(checkpoint, |s| s.min(checkpoint))
}

/// Why the database does not match the snapshot (if any) and the journal, one sentence each;
/// empty when they match:
/// - a campaign, item or order of the snapshot has no row in the database (a snapshot of
///   another database: its products would answer 404 and its events could never be written);
/// - the database checkpoint is behind the snapshot and the journal does not hold the events in
///   between (they can never reach the database), or ahead of it and the journal does not hold
///   them either (the snapshot's actors would start behind the database);
/// - the journal resumes later than the first sequence needed (events are missing).
///
/// With durability `none` there is no journal, and only the rows are checked.
pub async fn mismatches(
    store: &dyn EngineStore,
    snapshot: Option<&SnapshotEntities>,
    checkpoint: Seq,
    journal: JournalCoverage,
    journal_options: &JournalOptions,
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    if let Some(named) = snapshot {
        let missing = store
            .missing_rows(&named.campaigns, &named.items, &named.orders_in_database)
            .await
            .context("looking up the snapshot's campaigns, items and orders")?;
        lacks(
            &mut problems,
            "campaigns",
            &missing.campaigns,
            named.campaigns.len(),
        );
        lacks(
            &mut problems,
            "items (products)",
            &missing.items,
            named.items.len(),
        );
        lacks(
            &mut problems,
            "orders",
            &missing.orders,
            named.orders_in_database.len(),
        );
    }
    if journal_options.mode == Durability::None {
        return Ok(problems);
    }
    let dir = journal_options.dir.display();
    let from = needed_from(snapshot.map(|n| n.seq), checkpoint);
    // The highest sequence the journal must reach: the snapshot when the database is behind
    // it; the checkpoint when the snapshot's actors are behind the database.
    let need = match snapshot {
        Some(n) if n.seq > checkpoint => n.seq,
        Some(n) if n.seq < checkpoint && !n.is_empty() => checkpoint,
        _ => from,
    };
    let gap = journal
        .first_after_needed
        .filter(|first| *first != from + 1);
    let short = need > from && (journal.first_after_needed.is_none() || journal.last_seq < need);
    let holds = match (journal.first_after_needed, gap) {
        (None, _) => format!("holds no event after sequence {from}"),
        (Some(_), Some(first)) => format!("resumes at sequence {first}"),
        (Some(_), None) => format!("ends at sequence {}", journal.last_seq),
    };
    let broken = short || gap.is_some();
    match snapshot {
        Some(n) if broken && n.seq > checkpoint => problems.push(format!(
            "the database has applied events up to sequence {checkpoint} and the snapshot is at \
             {}, but the journal in {dir} {holds}: events {} to {}, which the snapshot includes, \
             can never be written to the database",
            n.seq,
            checkpoint + 1,
            n.seq
        )),
        Some(n) if broken && n.seq < checkpoint && need > from => problems.push(format!(
            "the database has applied events up to sequence {checkpoint}, past the snapshot at \
             {}, but the journal in {dir} {holds}: the snapshot's campaigns and items would start \
             behind the database",
            n.seq
        )),
        _ => {
            if let Some(first) = gap {
                problems.push(format!(
                    "the journal in {dir} resumes at sequence {first} after sequence {from}: \
                     events {} to {} are missing",
                    from + 1,
                    first - 1
                ));
            }
        }
    }
    Ok(problems)
}

fn lacks(problems: &mut Vec<String>, kind: &str, missing: &[impl std::fmt::Display], total: usize) {
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(3).map(|id| id.to_string()).collect();
        problems.push(format!(
            "the database has no row for {} of the snapshot's {total} {kind} (e.g. {})",
            missing.len(),
            shown.join(", ")
        ));
    }
}

/// The [`mismatches`] of the snapshot at `path` against the database behind `store` and the
/// journal of `journal_options` (for `hotdeal snapshot restore`, before it serves). Reads the
/// journal the way a start does, cutting a torn tail.
pub async fn check_snapshot(
    store: &dyn EngineStore,
    journal_options: &JournalOptions,
    path: &Path,
) -> anyhow::Result<Vec<String>> {
    let (header, body) =
        read_snapshot(path).with_context(|| format!("reading the snapshot {}", path.display()))?;
    let checkpoint = store.checkpoint().await.context("reading the checkpoint")?;
    let named = SnapshotEntities::of(&body, header.seq, checkpoint);
    drop(body);
    let after = needed_from(Some(header.seq), checkpoint);
    let mut first_after_needed = None;
    let journal_report = if journal_options.mode == Durability::None {
        ReadReport::default()
    } else {
        read_journal(&journal_options.dir, after, |seq, _| {
            first_after_needed.get_or_insert(seq);
        })?
    };
    let coverage = JournalCoverage {
        first_after_needed,
        last_seq: journal_report.last_seq,
    };
    mismatches(store, Some(&named), checkpoint, coverage, journal_options).await
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::persistence::repo::{MissingRows, StoredCampaign, StoredItem};

    #[test]
    fn only_events_replay_applies_are_kept_from_the_journal() {
        use crate::domain::campaign::{CampaignConfig, CampaignStatus};
        let in_snapshot = CampaignId(uuid::Uuid::from_u128(1));
        let loaded_later = CampaignId(uuid::Uuid::from_u128(2));
        let ledger = CampaignLedger::new(
            CampaignConfig {
                quantity: 10,
                discount_amount: 1_000,
                min_order_amount: 5_000,
                expires_at_ms: i64::MAX,
                company_id: None,
                issue_start_ms: None,
                issue_end_ms: None,
            },
            CampaignStatus::Issued,
        );
        let mut state = State::default();
        // the snapshot brought this campaign as of sequence 5; the database checkpoint is 10
        state.campaigns.insert(in_snapshot, (ledger, 5));
        let issue = |campaign| Event::CouponIssued {
            campaign,
            user: UserId(uuid::Uuid::from_u128(9)),
            at_ms: 0,
        };
        let checkpoint = 10;
        // covered by the snapshot's own state
        assert!(!state.will_replay(5, &issue(in_snapshot), checkpoint));
        // after the snapshot's state, before the checkpoint: replayed onto it
        assert!(state.will_replay(6, &issue(in_snapshot), checkpoint));
        // an entity the database already reflects up to the checkpoint: passed over
        assert!(!state.will_replay(7, &issue(loaded_later), checkpoint));
        assert!(!state.will_replay(10, &issue(loaded_later), checkpoint));
        // after the checkpoint, always (replayed and queued for the database)
        assert!(state.will_replay(11, &issue(loaded_later), checkpoint));
        assert!(state.will_replay(11, &issue(in_snapshot), checkpoint));
        let order = OrderId(uuid::Uuid::from_u128(3));
        let status = Event::OrderStatusChanged {
            order,
            status: crate::domain::order::OrderStatus::Cancel,
            at_ms: 0,
        };
        assert!(!state.will_replay(8, &status, checkpoint));
        assert!(state.will_replay(12, &status, checkpoint));
    }

    /// A store that has no row for `missing` campaigns (and every other row).
    struct Store {
        missing: Vec<CampaignId>,
    }

    #[async_trait]
    impl EngineStore for Store {
        async fn load_item(&self, _: ItemId) -> anyhow::Result<Option<StoredItem>> {
            Ok(None)
        }
        async fn load_campaign(&self, _: CampaignId) -> anyhow::Result<Option<StoredCampaign>> {
            Ok(None)
        }
        async fn checkpoint(&self) -> anyhow::Result<u64> {
            Ok(0)
        }
        async fn load_order(&self, _: OrderId) -> anyhow::Result<Option<Order>> {
            Ok(None)
        }
        async fn missing_rows(
            &self,
            campaigns: &[CampaignId],
            _: &[ItemId],
            _: &[OrderId],
        ) -> anyhow::Result<MissingRows> {
            Ok(MissingRows {
                campaigns: campaigns
                    .iter()
                    .filter(|c| self.missing.contains(c))
                    .copied()
                    .collect(),
                ..Default::default()
            })
        }
    }

    fn options(mode: Durability) -> JournalOptions {
        JournalOptions {
            dir: PathBuf::from("j"),
            mode,
            segment_bytes: 1 << 20,
            async_fsync_interval: std::time::Duration::from_millis(10),
        }
    }

    fn snapshot(seq: Seq, campaigns: &[CampaignId]) -> SnapshotEntities {
        SnapshotEntities {
            seq,
            campaigns: campaigns.to_vec(),
            ..Default::default()
        }
    }

    fn journal(first: Option<Seq>, last: Seq) -> JournalCoverage {
        JournalCoverage {
            first_after_needed: first,
            last_seq: last,
        }
    }

    /// The problems of a snapshot at `s` (with one campaign) against checkpoint `c`.
    async fn check(
        s: Option<Seq>,
        c: Seq,
        coverage: JournalCoverage,
        mode: Durability,
    ) -> Vec<String> {
        let store = Store { missing: vec![] };
        let named = s.map(|s| snapshot(s, &[CampaignId::new()]));
        mismatches(&store, named.as_ref(), c, coverage, &options(mode))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_journal_that_joins_the_snapshot_and_the_checkpoint_matches() {
        let sync = Durability::Sync;
        // Snapshot ahead of the database: events c+1..=s are in the journal.
        assert!(
            check(Some(10), 4, journal(Some(5), 12), sync)
                .await
                .is_empty()
        );
        // Database ahead of the snapshot: events s+1..=c are in the journal.
        assert!(
            check(Some(4), 10, journal(Some(5), 12), sync)
                .await
                .is_empty()
        );
        // Equal, and nothing after them.
        assert!(check(Some(7), 7, journal(None, 7), sync).await.is_empty());
        // No snapshot: the journal before the checkpoint may be gone.
        assert!(check(None, 500, journal(None, 0), sync).await.is_empty());
        assert!(
            check(None, 500, journal(Some(501), 600), sync)
                .await
                .is_empty()
        );
        // Durability none keeps no journal.
        assert!(
            check(Some(10), 0, journal(None, 0), Durability::None)
                .await
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_missing_journal_between_them_is_named() {
        let sync = Durability::Sync;
        let behind = check(Some(41), 0, journal(None, 0), sync).await;
        assert_eq!(behind.len(), 1, "{behind:?}");
        assert!(
            behind[0].contains("events 1 to 41") && behind[0].contains("can never be written"),
            "{behind:?}"
        );
        let short = check(Some(41), 10, journal(Some(11), 30), sync).await;
        assert!(short[0].contains("ends at sequence 30"), "{short:?}");
        let ahead = check(Some(4), 10, journal(None, 0), sync).await;
        assert!(ahead[0].contains("past the snapshot at 4"), "{ahead:?}");
        let gap = check(Some(7), 7, journal(Some(20), 25), sync).await;
        assert!(
            gap[0].contains("resumes at sequence 20") && gap[0].contains("events 8 to 19"),
            "{gap:?}"
        );
        let no_snapshot_gap = check(None, 500, journal(Some(600), 700), sync).await;
        assert!(
            no_snapshot_gap[0].contains("events 501 to 599"),
            "{no_snapshot_gap:?}"
        );
    }

    #[tokio::test]
    async fn an_empty_snapshot_behind_the_database_needs_no_journal() {
        let store = Store { missing: vec![] };
        let empty = snapshot(0, &[]);
        let problems = mismatches(
            &store,
            Some(&empty),
            10,
            journal(None, 0),
            &options(Durability::Sync),
        )
        .await
        .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[tokio::test]
    async fn rows_the_database_lacks_are_counted_and_shown() {
        let (a, b) = (CampaignId::new(), CampaignId::new());
        let store = Store { missing: vec![b] };
        let named = snapshot(3, &[a, b]);
        let problems = mismatches(
            &store,
            Some(&named),
            3,
            journal(None, 3),
            &options(Durability::None),
        )
        .await
        .unwrap();
        assert_eq!(
            problems,
            vec![format!(
                "the database has no row for 1 of the snapshot's 2 campaigns (e.g. {b})"
            )]
        );
    }
}
