//! Cluster mode's tables (MySQL/MariaDB only): the shared settings (`hd_cluster`), the nodes and
//! their heartbeats (`hd_node`), one lease row per partition (`hd_lease`, named `partition:N`),
//! and the fenced commit of a journal batch.
//!
//! Every time is the database server's (`NOW(3)` in milliseconds), so the nodes' clocks need not
//! agree: a lease expires when the database says so.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::{Any, AssertSqlSafe, QueryBuilder, Row};

use super::Db;
use super::journal::Seq;
use crate::domain::Millis;
use crate::domain::event::Event;

const DB_NOW: &str = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

/// The name of partition `p`'s lease row.
pub fn lease_name(p: u32) -> String {
    format!("partition:{p}")
}

fn partition_of_name(name: &str) -> Option<u32> {
    name.strip_prefix("partition:")?.parse().ok()
}

/// Who this node is.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    pub node_id: String,
    pub advertise_url: String,
    pub host: String,
    pub pid: i64,
}

/// One partition's lease as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLease {
    pub partition: u32,
    /// Empty when nobody holds it.
    pub owner: String,
    pub epoch: i64,
    pub expires_at: i64,
    pub released: bool,
    pub advertise_url: String,
}

/// One node as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node_id: String,
    pub advertise_url: String,
    pub heartbeat_at: i64,
}

/// The database's view of the cluster at one instant.
#[derive(Debug, Clone)]
pub struct ClusterRows {
    pub now_ms: i64,
    pub leases: Vec<PartitionLease>,
    pub nodes: Vec<NodeRow>,
}

/// Record `partitions` as the cluster's partition count at the first start, create the lease
/// rows, and refuse a node configured with another count.
pub async fn init(db: &Db, partitions: u32) -> anyhow::Result<()> {
    sqlx::query("INSERT IGNORE INTO hd_cluster (name, value) VALUES ('partitions', ?)")
        .bind(partitions.to_string())
        .execute(&db.pool)
        .await?;
    let stored: String =
        sqlx::query_scalar("SELECT value FROM hd_cluster WHERE name = 'partitions'")
            .fetch_one(&db.pool)
            .await?;
    let stored: u32 = stored
        .parse()
        .context("hd_cluster.partitions is not a number")?;
    anyhow::ensure!(
        stored == partitions,
        "this cluster was created with --partitions {stored} (stored in the database); this node \
         was started with --partitions {partitions}. Every node must use the same value: start it \
         with HOTDEAL_PARTITIONS={stored}"
    );
    for chunk in (0..partitions).collect::<Vec<_>>().chunks(256) {
        let mut q: QueryBuilder<Any> = QueryBuilder::new(
            "INSERT IGNORE INTO hd_lease (name, owner, epoch, expires_at, released_at, host, pid, \
             advertise_url, acquired_at, renewed_at, connection_id) ",
        );
        q.push_values(chunk, |mut b, p| {
            b.push_bind(lease_name(*p))
                .push_bind("")
                .push_bind(0i64)
                .push_bind(0i64)
                .push_bind(0i64)
                .push_bind("")
                .push_bind(0i64)
                .push_bind("")
                .push_bind(0i64)
                .push_bind(0i64)
                .push("NULL");
        });
        q.build().execute(&db.pool).await?;
    }
    Ok(())
}

/// Write this node's heartbeat.
pub async fn heartbeat(db: &Db, me: &NodeIdentity, started_at: Millis) -> anyhow::Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO hd_node (node_id, advertise_url, host, pid, started_at, heartbeat_at) \
         VALUES (?, ?, ?, ?, ?, {DB_NOW}) ON DUPLICATE KEY UPDATE advertise_url = VALUES(advertise_url), \
         host = VALUES(host), pid = VALUES(pid), started_at = VALUES(started_at), \
         heartbeat_at = VALUES(heartbeat_at)"
    )))
    .bind(&me.node_id)
    .bind(&me.advertise_url)
    .bind(&me.host)
    .bind(me.pid)
    .bind(started_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Mark this node gone (a clean stop), so the others stop counting it at once.
pub async fn leave(db: &Db, node_id: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE hd_node SET heartbeat_at = 0 WHERE node_id = ?")
        .bind(node_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Every partition lease and node, with the database's time.
pub async fn read(db: &Db) -> anyhow::Result<ClusterRows> {
    let mut conn = db.pool.acquire().await?;
    let now_ms: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT {DB_NOW}")))
        .fetch_one(&mut *conn)
        .await?;
    let leases = sqlx::query(
        "SELECT name, owner, epoch, expires_at, released_at, advertise_url FROM hd_lease \
         WHERE name LIKE 'partition:%'",
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .filter_map(|r| {
        let name: String = r.try_get("name").ok()?;
        Some(PartitionLease {
            partition: partition_of_name(&name)?,
            owner: r.try_get("owner").ok()?,
            epoch: r.try_get("epoch").ok()?,
            expires_at: r.try_get::<Option<i64>, _>("expires_at").ok()?.unwrap_or(0),
            released: r
                .try_get::<Option<i64>, _>("released_at")
                .ok()?
                .is_some_and(|t| t > 0),
            advertise_url: r.try_get("advertise_url").ok()?,
        })
    })
    .collect();
    let nodes = sqlx::query("SELECT node_id, advertise_url, heartbeat_at FROM hd_node")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .filter_map(|r| {
            Some(NodeRow {
                node_id: r.try_get("node_id").ok()?,
                advertise_url: r.try_get("advertise_url").ok()?,
                heartbeat_at: r.try_get("heartbeat_at").ok()?,
            })
        })
        .collect();
    Ok(ClusterRows {
        now_ms,
        leases,
        nodes,
    })
}

/// Take partition `p` when it is free (released, expired, or this node's own from an earlier
/// process): its epoch moves on by one. Returns the new epoch and the previous owner, or `None`
/// when someone else holds it.
pub async fn try_acquire(
    db: &Db,
    p: u32,
    me: &NodeIdentity,
    ttl_ms: i64,
    own_epoch: Option<i64>,
) -> anyhow::Result<Option<(i64, String)>> {
    let mut tx = db.pool.begin().await?;
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT owner, epoch, expires_at, released_at, {DB_NOW} AS now_ms FROM hd_lease \
         WHERE name = ? FOR UPDATE"
    )))
    .bind(lease_name(p))
    .fetch_optional(&mut *tx)
    .await?
    .context("a partition lease row is missing")?;
    let owner: String = row.try_get("owner")?;
    let epoch: i64 = row.try_get("epoch")?;
    let expires_at: i64 = row.try_get::<Option<i64>, _>("expires_at")?.unwrap_or(0);
    let released = row
        .try_get::<Option<i64>, _>("released_at")?
        .is_some_and(|t| t > 0);
    let now_ms: i64 = row.try_get("now_ms")?;
    // This node's own row is taken back only when it is not the lease this process holds now.
    let own_stale = owner == me.node_id && own_epoch != Some(epoch);
    let free = owner.is_empty() || released || expires_at < now_ms || own_stale;
    if !free {
        tx.rollback().await?;
        return Ok(None);
    }
    let next = epoch + 1;
    sqlx::query(
        "UPDATE hd_lease SET owner = ?, epoch = ?, expires_at = ?, released_at = NULL, host = ?, \
         pid = ?, advertise_url = ?, acquired_at = ?, renewed_at = ? WHERE name = ?",
    )
    .bind(&me.node_id)
    .bind(next)
    .bind(now_ms + ttl_ms)
    .bind(&me.host)
    .bind(me.pid)
    .bind(&me.advertise_url)
    .bind(now_ms)
    .bind(now_ms)
    .bind(lease_name(p))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some((next, owner)))
}

/// Extend every lease this node holds by `ttl_ms` from now (database time).
pub async fn renew(db: &Db, node_id: &str, partitions: &[u32], ttl_ms: i64) -> anyhow::Result<()> {
    if partitions.is_empty() {
        return Ok(());
    }
    let mut q: QueryBuilder<Any> =
        QueryBuilder::new(format!("UPDATE hd_lease SET expires_at = {DB_NOW} + "));
    q.push_bind(ttl_ms)
        .push(format!(", renewed_at = {DB_NOW} WHERE owner = "))
        .push_bind(node_id.to_string())
        .push(" AND name IN (");
    let mut names = q.separated(", ");
    for p in partitions {
        names.push_bind(lease_name(*p));
    }
    q.push(")");
    q.build().execute(&db.pool).await?;
    Ok(())
}

/// Give partition `p` up (everything this node decided for it is committed already).
pub async fn release(db: &Db, p: u32, node_id: &str, epoch: i64) -> anyhow::Result<bool> {
    let done = sqlx::query(AssertSqlSafe(format!(
        "UPDATE hd_lease SET owner = '', expires_at = 0, released_at = {DB_NOW} \
         WHERE name = ? AND owner = ? AND epoch = ?"
    )))
    .bind(lease_name(p))
    .bind(node_id)
    .bind(epoch)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Commit `events` (each with its partition) in one transaction, fenced: the lease rows of their
/// partitions are locked and checked against the epochs this node holds (`held`); the events of
/// a partition whose lease moved on are left out. Returns the partitions that were fenced; the
/// rest is committed, applied to the tables in the same transaction (so the tables are every
/// partition's durable state: a new owner loads from them and has nothing to replay).
pub async fn commit_fenced(
    db: &Db,
    node_id: &str,
    held: &BTreeMap<u32, i64>,
    events: &[(Seq, Event)],
    partition_of: impl Fn(&Event) -> u32,
    now_ms: Millis,
) -> anyhow::Result<Vec<u32>> {
    let mut tx = db.pool.begin().await?;
    let mut q: QueryBuilder<Any> =
        QueryBuilder::new("SELECT name, owner, epoch FROM hd_lease WHERE name IN (");
    let mut names = q.separated(", ");
    for p in held.keys() {
        names.push_bind(lease_name(*p));
    }
    q.push(") ORDER BY name FOR UPDATE");
    let rows = q.build().fetch_all(&mut *tx).await?;
    let mut current: BTreeMap<u32, (String, i64)> = BTreeMap::new();
    for r in rows {
        let name: String = r.try_get("name")?;
        if let Some(p) = partition_of_name(&name) {
            current.insert(p, (r.try_get("owner")?, r.try_get("epoch")?));
        }
    }
    let fenced: Vec<u32> = held
        .iter()
        .filter(|(p, epoch)| {
            current
                .get(p)
                .is_none_or(|(owner, e)| owner != node_id || e != *epoch)
        })
        .map(|(p, _)| *p)
        .collect();
    let kept = |e: &Event| {
        let p = partition_of(e);
        held.contains_key(&p) && !fenced.contains(&p)
    };
    if events.iter().all(|(_, e)| kept(e)) {
        super::writebehind::apply_in(&mut tx, db.dialect, events, now_ms).await?;
    } else {
        let kept: Vec<(Seq, Event)> = events.iter().filter(|(_, e)| kept(e)).cloned().collect();
        super::writebehind::apply_in(&mut tx, db.dialect, &kept, now_ms).await?;
    }
    tx.commit().await?;
    Ok(fenced)
}
