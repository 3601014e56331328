//! The journal of a cluster node: each group commit is one fenced database transaction.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Cluster;
use crate::domain::clock::SharedClock;
use crate::domain::event::Event;
use crate::persistence::journal::{BatchSink, Seq};

/// Commits journal batches with [`crate::persistence::cluster::commit_fenced`], from the
/// journal's writer thread.
pub struct ClusterSink {
    cluster: Arc<Cluster>,
    clock: SharedClock,
    runtime: tokio::runtime::Handle,
}

impl ClusterSink {
    /// `runtime` runs the database calls (the writer thread blocks on them).
    pub fn new(cluster: Arc<Cluster>, clock: SharedClock, runtime: tokio::runtime::Handle) -> Self {
        Self {
            cluster,
            clock,
            runtime,
        }
    }
}

impl BatchSink for ClusterSink {
    fn commit(&mut self, batch: &[(Seq, Event)]) -> anyhow::Result<Vec<Seq>> {
        let c = &self.cluster;
        let mut backoff = Duration::from_millis(20);
        loop {
            // The partitions of the batch this node still holds, with their epochs; events of
            // the others were decided before this node dropped their partition and are refused.
            let mut held: BTreeMap<u32, i64> = BTreeMap::new();
            let mut refused: Vec<u32> = Vec::new();
            for (_, event) in batch {
                let p = c.partition_of_event(event);
                match c.epoch_of(p) {
                    0 => refused.push(p),
                    e => {
                        held.insert(p, e);
                    }
                }
            }
            if held.is_empty() {
                return Ok(lost_seqs(c, batch, &refused));
            }
            let result = self
                .runtime
                .block_on(crate::persistence::cluster::commit_fenced(
                    c.db(),
                    c.node_id(),
                    &held,
                    batch,
                    |e| c.partition_of_event(e),
                    self.clock.now_ms(),
                ));
            match result {
                Ok(fenced) => {
                    c.fenced(&fenced);
                    refused.extend(fenced);
                    return Ok(lost_seqs(c, batch, &refused));
                }
                Err(err) => {
                    // The database is unreachable or refused the batch: retry while the leases
                    // last; once every one of them has lapsed locally the partitions are
                    // another node's to take, and the batch is refused.
                    if held.keys().all(|p| !c.is_local(*p)) {
                        tracing::error!(
                            error = %format!("{err:#}"),
                            "journal commit failed until the leases lapsed; the batch is refused"
                        );
                        let lapsed: Vec<u32> = held.keys().copied().collect();
                        refused.extend(lapsed);
                        return Ok(lost_seqs(c, batch, &refused));
                    }
                    tracing::warn!(error = %format!("{err:#}"), "journal commit failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(250));
                }
            }
        }
    }
}

fn lost_seqs(c: &Cluster, batch: &[(Seq, Event)], refused: &[u32]) -> Vec<Seq> {
    if refused.is_empty() {
        return Vec::new();
    }
    batch
        .iter()
        .filter(|(_, e)| refused.contains(&c.partition_of_event(e)))
        .map(|(s, _)| *s)
        .collect()
}
