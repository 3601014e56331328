//! Cluster mode (`--cluster`): several nodes on one MySQL/MariaDB database, each item and
//! campaign owned by one node at a time.
//!
//! - **Partitions.** Every item, campaign and order belongs to partition
//!   `crc32c(id) mod --partitions` ([`Cluster::partition_of`]); an order is given an id in the
//!   partition of its first line, so it lives where that line's stock does.
//! - **Leases.** Each partition has one lease row (`hd_lease`, `partition:N`: owner, epoch,
//!   expires_at in database time). The [`keeper`] renews this node's leases every third of
//!   `--lease-ttl-ms`, takes free or expired ones up to this node's share of the live nodes
//!   (plus any left orphaned for a whole TTL), and gives surplus ones up so a joining node gets
//!   its share. Taking a lease increments its epoch. This node decides for a partition only
//!   while its local copy of the lease is valid: from the moment a renewal was *sent*, for five
//!   sixths of the TTL, so it stops before the database can consider the lease expired.
//! - **Fencing.** The journal of a cluster node has no files: each group commit is one database
//!   transaction ([`sink::ClusterSink`]) that locks the lease rows of the batch's partitions,
//!   checks that this node still holds them with the epochs it decided under, and applies the
//!   events to the tables. A partition whose lease moved on (a paused or cut-off ex-owner) is
//!   left out: its callers get 503, the node logs and counts the fenced write and drops the
//!   partition. Since the tables hold every acknowledged decision, a new owner loads the
//!   partition's entities from them, with nothing to replay.
//! - **Routing.** The engine answers [`crate::engine::EngineError::NotOwner`] for an entity of a
//!   partition this node does not hold; the HTTP layer forwards the request to the owner
//!   (`http::cluster`).

pub mod keeper;
pub mod peer;
pub mod sink;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::domain::event::{EntityRef, Event};
use crate::persistence::Db;
use crate::persistence::cluster::{ClusterRows, NodeIdentity, PartitionLease};

/// The loop guard on a request one node sends another (a forwarded request, a peer call): the
/// sending node. A request carrying it is decided where it arrives, never sent on.
pub const FORWARDED_HEADER: &str = "x-hotdeal-forwarded";

/// Where a partition's decisions are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Here.
    Local,
    /// On another node, at `url`.
    Elsewhere { owner: String, url: String },
    /// Nowhere right now (no owner, or a handover in progress).
    Unowned,
}

/// This node's copy of one partition's lease.
#[derive(Default)]
struct Slot {
    /// The epoch this node holds the partition under; 0 when it does not.
    epoch: AtomicI64,
    /// Until when (nanoseconds after [`Cluster::started`]) this node may decide for it.
    valid_until: AtomicU64,
    /// When this node last lost or gave it up (nanoseconds after start; 0: never).
    dropped_at: AtomicU64,
}

/// One node's share of the cluster: its identity, its leases and what it last read of the others.
pub struct Cluster {
    me: NodeIdentity,
    partitions: u32,
    ttl: Duration,
    started: Instant,
    started_ms: i64,
    slots: Box<[Slot]>,
    rows: RwLock<Option<ClusterRows>>,
    db: Db,
    /// Woken when a partition is fenced, so the keeper acts at once.
    wake: Notify,
    /// Signed calls to the other nodes (orders whose lines span partitions).
    peers: peer::Peers,
}

/// A node as `GET /api/v1/admin/cluster` shows it.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub node_id: String,
    pub url: String,
    pub alive: bool,
    pub partitions: usize,
}

impl Cluster {
    /// Check the cluster's settings against the database (the partition count is stored at the
    /// first start) and create the partition lease rows.
    pub async fn join(config: &crate::config::Config, db: Db) -> anyhow::Result<Arc<Cluster>> {
        config.check_cluster()?;
        crate::persistence::cluster::init(&db, config.partitions).await?;
        let me = NodeIdentity {
            node_id: config.node_id.clone().expect("checked"),
            advertise_url: config
                .advertise_url
                .clone()
                .expect("checked")
                .trim_end_matches('/')
                .to_string(),
            host: hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "unknown".into()),
            pid: i64::from(std::process::id()),
        };
        let peers = peer::Peers::new(&me.node_id, config.jwt_secret.as_deref().expect("checked"))?;
        let started_ms = chrono::Utc::now().timestamp_millis();
        crate::persistence::cluster::heartbeat(&db, &me, started_ms).await?;
        Ok(Arc::new(Cluster {
            me,
            partitions: config.partitions,
            ttl: Duration::from_millis(config.lease_ttl_ms),
            started: Instant::now(),
            started_ms,
            slots: (0..config.partitions).map(|_| Slot::default()).collect(),
            rows: RwLock::new(None),
            db,
            wake: Notify::new(),
            peers,
        }))
    }

    /// Calls to the other nodes.
    pub fn peers(&self) -> &peer::Peers {
        &self.peers
    }

    pub fn node_id(&self) -> &str {
        &self.me.node_id
    }

    pub fn advertise_url(&self) -> &str {
        &self.me.advertise_url
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    pub fn lease_ttl(&self) -> Duration {
        self.ttl
    }

    /// The partition of an entity id.
    pub fn partition_of(&self, id: u128) -> u32 {
        partition_of(id, self.partitions)
    }

    /// The partition of the entity an event belongs to.
    pub fn partition_of_event(&self, event: &Event) -> u32 {
        self.partition_of(match event.entity() {
            EntityRef::Campaign(id) => id.as_u128(),
            EntityRef::Item(id) => id.as_u128(),
            EntityRef::Order(id) => id.as_u128(),
        })
    }

    fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// Whether this node may decide for partition `p` now.
    pub fn is_local(&self, p: u32) -> bool {
        let slot = &self.slots[p as usize];
        slot.epoch.load(Ordering::Acquire) > 0
            && slot.valid_until.load(Ordering::Acquire) > self.now_ns()
    }

    /// Where partition `p` is decided.
    pub fn route(&self, p: u32) -> Route {
        if self.is_local(p) {
            return Route::Local;
        }
        let rows = self.rows.read().expect("cluster lock");
        let Some(rows) = rows.as_ref() else {
            return Route::Unowned;
        };
        // The last read may be a third of a lease old: send the request to the node the row
        // names even if its lease looked close to expiry then. That node answers for itself (it
        // forwards no further), and a dead one refuses the connection: 503 either way.
        match rows.leases.iter().find(|l| l.partition == p) {
            Some(l) if !l.owner.is_empty() && !l.released && l.owner != self.me.node_id => {
                Route::Elsewhere {
                    owner: l.owner.clone(),
                    url: l.advertise_url.clone(),
                }
            }
            _ => Route::Unowned,
        }
    }

    /// The epoch this node holds `p` under (0: not held).
    pub fn epoch_of(&self, p: u32) -> i64 {
        self.slots[p as usize].epoch.load(Ordering::Acquire)
    }

    /// The partitions this node holds, with their epochs.
    pub fn held(&self) -> BTreeMap<u32, i64> {
        (0..self.partitions)
            .filter_map(|p| {
                let e = self.epoch_of(p);
                (e > 0).then_some((p, e))
            })
            .collect()
    }

    /// The sink found `partitions` taken over by another node: stop deciding for them.
    pub fn fenced(&self, partitions: &[u32]) {
        for &p in partitions {
            let slot = &self.slots[p as usize];
            let epoch = slot.epoch.swap(0, Ordering::AcqRel);
            slot.valid_until.store(0, Ordering::Release);
            slot.dropped_at
                .store(self.now_ns().max(1), Ordering::Release);
            metrics::counter!("hotdeal_cluster_fenced_writes_total").increment(1);
            tracing::error!(
                partition = p,
                epoch,
                node_id = %self.me.node_id,
                "write fenced: another node holds this partition now; its decisions here were \
                 refused and the partition is dropped"
            );
        }
        if !partitions.is_empty() {
            self.wake.notify_one();
        }
    }

    /// What this node last read of the cluster.
    pub fn rows(&self) -> Option<ClusterRows> {
        self.rows.read().expect("cluster lock").clone()
    }

    /// The nodes with their liveness and lease counts, from the last read.
    pub fn nodes(&self) -> Vec<NodeView> {
        let Some(rows) = self.rows() else {
            return Vec::new();
        };
        let alive_after = rows.now_ms - 2 * self.ttl.as_millis() as i64;
        let mut nodes: Vec<NodeView> = rows
            .nodes
            .iter()
            .map(|n| NodeView {
                node_id: n.node_id.clone(),
                url: n.advertise_url.clone(),
                alive: n.heartbeat_at > alive_after,
                partitions: rows
                    .leases
                    .iter()
                    .filter(|l| l.owner == n.node_id && l.expires_at > rows.now_ms)
                    .count(),
            })
            .collect();
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        nodes
    }

    /// Every partition's lease from the last read (owner empty when it has none or it expired).
    pub fn leases(&self) -> Vec<PartitionLease> {
        let Some(rows) = self.rows() else {
            return Vec::new();
        };
        let mut leases = rows.leases.clone();
        for l in &mut leases {
            if l.expires_at <= rows.now_ms {
                l.owner.clear();
            }
        }
        leases.sort_by_key(|l| l.partition);
        leases
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }
}

/// `crc32c(id as 16 big-endian bytes) mod partitions`: the same on every node and release.
pub fn partition_of(id: u128, partitions: u32) -> u32 {
    crc32c::crc32c(&id.to_be_bytes()) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_and_are_stable() {
        assert_eq!(partition_of(0, 64), crc32c::crc32c(&[0u8; 16]) % 64);
        let mut counts = [0usize; 8];
        for i in 0..8_000u128 {
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, &i.to_be_bytes()).as_u128();
            counts[partition_of(id, 8) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(partition_of(12345, 1), 0);
    }
}
