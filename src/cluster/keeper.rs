//! The lease keeper: one task per node that heartbeats, renews, takes and gives up partitions.
//!
//! Every third of the lease TTL (and at once after a fenced write) a round:
//! 1. writes this node's heartbeat and extends every lease it holds;
//! 2. reads every lease and node; a held partition whose row names another owner or epoch is
//!    dropped (its actors evicted); the others stay valid for five sixths of a TTL from the
//!    moment the renewal was sent;
//! 3. takes free partitions (released, expired, or this node id's own from an earlier process)
//!    until it holds its share, `ceil(partitions / live nodes)`, and any partition that has been
//!    without a live lease for a whole TTL whatever its share (a dead node's partitions are not
//!    left waiting for its heartbeat to age);
//! 4. gives up the partitions above its share while another live node is below it: it stops
//!    deciding for them, waits until what it decided is committed, evicts their actors and
//!    marks the lease released.
//!
//! A partition this node lost or gave up is not taken again for two TTLs, so a request that
//! passed the ownership check just before cannot be decided under a newer epoch.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Cluster;
use crate::actors::ticker::CancelOnDrop;
use crate::engine::EngineHandle;
use crate::persistence::cluster as rows;

/// Start the keeper; it stops when the returned guard is dropped.
pub fn spawn(cluster: Arc<Cluster>, engine: EngineHandle) -> CancelOnDrop {
    CancelOnDrop(tokio::spawn(async move {
        let period = cluster.ttl / 3;
        loop {
            if let Err(err) = round(&cluster, &engine).await {
                metrics::counter!("hotdeal_cluster_keeper_errors_total").increment(1);
                tracing::warn!(
                    error = %format!("{err:#}"),
                    "cluster lease round failed; leases not renewed lapse on their own"
                );
            }
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = cluster.wake.notified() => {}
            }
        }
    }))
}

/// Run one round at once (startup: so the node has its share before it says it is ready).
pub async fn first_round(cluster: &Arc<Cluster>, engine: &EngineHandle) -> anyhow::Result<()> {
    round(cluster, engine).await
}

async fn round(c: &Arc<Cluster>, engine: &EngineHandle) -> anyhow::Result<()> {
    let ttl_ms = c.ttl.as_millis() as i64;
    let validity = c.ttl.as_nanos() as u64 * 5 / 6;
    let sent = c.now_ns();
    rows::heartbeat(&c.db, &c.me, c.started_ms).await?;
    let held = c.held();
    rows::renew(
        &c.db,
        &c.me.node_id,
        &held.keys().copied().collect::<Vec<_>>(),
        ttl_ms,
    )
    .await?;
    let read = rows::read(&c.db).await?;
    let now = read.now_ms;

    for (&p, &epoch) in &held {
        let still = read
            .leases
            .iter()
            .any(|l| l.partition == p && l.owner == c.me.node_id && l.epoch == epoch);
        let slot = &c.slots[p as usize];
        if still {
            slot.valid_until.store(sent + validity, Ordering::Release);
        } else if slot.epoch.swap(0, Ordering::AcqRel) == epoch {
            slot.valid_until.store(0, Ordering::Release);
            slot.dropped_at.store(c.now_ns().max(1), Ordering::Release);
            engine.evict_partition(p);
            tracing::error!(
                partition = p,
                epoch,
                "partition lost: another node holds its lease now"
            );
        }
    }
    *c.rows.write().expect("cluster lock") = Some(read.clone());

    let alive_after = now - 2 * ttl_ms;
    let alive: Vec<&str> = read
        .nodes
        .iter()
        .filter(|n| n.heartbeat_at > alive_after || n.node_id == c.me.node_id)
        .map(|n| n.node_id.as_str())
        .collect();
    let target = (c.partitions as usize).div_ceil(alive.len().max(1));
    let mut mine = c.held().len();

    // Take free partitions, starting at an offset of this node's own so nodes do not all race
    // for the same rows.
    let start = super::partition_of(
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, c.me.node_id.as_bytes()).as_u128(),
        c.partitions,
    );
    let quarantine = 2 * c.ttl.as_nanos() as u64;
    for i in 0..c.partitions {
        let p = (start + i) % c.partitions;
        let Some(lease) = read.leases.iter().find(|l| l.partition == p) else {
            continue;
        };
        let local = c.epoch_of(p);
        let own_stale = lease.owner == c.me.node_id && lease.epoch != local;
        let free = lease.owner.is_empty() || lease.released || lease.expires_at < now || own_stale;
        if local > 0 || !free {
            continue;
        }
        let orphaned = lease.expires_at < now - ttl_ms && !lease.owner.is_empty();
        if mine >= target && !orphaned && !own_stale {
            continue;
        }
        let dropped = c.slots[p as usize].dropped_at.load(Ordering::Acquire);
        if dropped > 0 && c.now_ns().saturating_sub(dropped) < quarantine {
            continue;
        }
        let sent = c.now_ns();
        let Some((epoch, previous)) =
            rows::try_acquire(&c.db, p, &c.me, ttl_ms, (local > 0).then_some(local)).await?
        else {
            continue;
        };
        let slot = &c.slots[p as usize];
        slot.valid_until.store(sent + validity, Ordering::Release);
        slot.epoch.store(epoch, Ordering::Release);
        mine += 1;
        if !previous.is_empty() && previous != c.me.node_id {
            metrics::counter!("hotdeal_cluster_takeovers_total").increment(1);
        }
        tracing::info!(partition = p, epoch, previous_owner = %previous, "partition lease taken");
    }

    // Give surplus partitions to a node below its share.
    let short = alive.iter().any(|n| {
        *n != c.me.node_id
            && read
                .leases
                .iter()
                .filter(|l| l.owner == *n && l.expires_at > now)
                .count()
                < target
    });
    if mine > target && short {
        let surplus: Vec<(u32, i64)> = c.held().into_iter().rev().take(mine - target).collect();
        for (p, epoch) in surplus {
            give_up(c, engine, p, epoch).await;
        }
    }
    metrics::gauge!("hotdeal_cluster_leases_held").set(c.held().len() as f64);
    Ok(())
}

/// Stop deciding for `p`, let what was decided commit, evict, release the lease.
async fn give_up(c: &Arc<Cluster>, engine: &EngineHandle, p: u32, epoch: i64) {
    let slot = &c.slots[p as usize];
    slot.valid_until.store(0, Ordering::Release);
    let journal = engine.journal();
    let appended = journal.appended();
    let deadline = tokio::time::Instant::now() + c.ttl;
    while journal.durable() < appended && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    engine.evict_partition(p);
    match rows::release(&c.db, p, &c.me.node_id, epoch).await {
        Ok(_) => tracing::info!(partition = p, epoch, "partition lease given up for balance"),
        Err(err) => tracing::warn!(
            partition = p,
            error = %format!("{err:#}"),
            "could not release a partition lease; it lapses after its TTL"
        ),
    }
    slot.epoch.store(0, Ordering::Release);
    slot.dropped_at.store(c.now_ns().max(1), Ordering::Release);
}

/// A clean stop: give every partition up and leave.
pub async fn leave(c: &Arc<Cluster>, engine: &EngineHandle) {
    for (p, epoch) in c.held() {
        give_up(c, engine, p, epoch).await;
    }
    let _ = rows::leave(&c.db, &c.me.node_id).await;
}
