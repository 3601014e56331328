//! Access token revocation: "every token of user U issued before T is void".
//!
//! Deleting an account, changing its password or its role records `U -> T` (T = the moment of the
//! change, in milliseconds). [`crate::http::auth::AuthUser`] checks every request's token against
//! that map: one `DashMap` lookup by user id, no allocation, no database read, for cached and
//! freshly verified tokens alike. Tokens carry their issue time in milliseconds (`iatMs`), and a
//! token minted for U is never stamped earlier than U's `T` ([`TokenRevocations::issue_time`]), so
//! a login right after a password change works even within the same millisecond, while every token
//! from before the change is refused.
//!
//! An entry matters only while a token issued before it can still be alive: the access token
//! lifetime plus the verification leeway plus a margin for clock skew ([`retention_ms`]); older
//! entries are purged, so the map holds at most the revocations of that window.
//!
//! Several nodes ([`RevocationFeed`]): with `REDIS_URL`, each revocation is also appended to the
//! Redis stream `hotdeal:token-revocations` (entries `u` = user id, `t` = T), trimmed to the same
//! window by Redis's own clock. Every node reads the stream from the start at boot (before it
//! serves) and then polls it for new entries every `token_revocation_poll_ms`, applying them to its
//! own map. The node that revoked sees the revocation at once; another node within one poll
//! interval plus a Redis round trip. While Redis is unreachable, revoking fails (the handlers
//! revoke before making the change, so the request answers 503 with nothing changed and can be
//! retried) and polling resumes from the last entry read once Redis is back, so no entry is
//! skipped. Without Redis (one node) the map is seeded at boot from the users changed within the
//! window, so a restart does not bring a deleted account's tokens back to life.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dashmap::DashMap;

use crate::domain::Millis;
use crate::domain::clock::SharedClock;
use crate::domain::ids::UserId;
use crate::kv::RedisKv;

/// The stream's key (after the service's `hotdeal:` prefix).
pub const REVOCATION_STREAM_KEY: &str = "token-revocations";

/// Entries read from the stream per round trip.
pub const REVOCATION_READ_BATCH: usize = 1_000;

/// Hard cap on the stream's length (approximate, as Redis trims whole nodes), on top of trimming
/// by age.
pub const REVOCATION_STREAM_MAX_LEN: usize = 1_000_000;

/// How often expired entries are dropped from the local map.
pub const REVOCATION_PURGE_INTERVAL: Duration = Duration::from_secs(10);

/// Margin kept beyond the token lifetime, for the JWT leeway and clock skew between nodes.
pub const REVOCATION_MARGIN_MS: Millis = 60_000;

/// How long a revocation must be kept: a token issued just before it lives `access_token_ttl_s`,
/// plus the margin.
pub fn retention_ms(access_token_ttl_s: u64) -> Millis {
    Millis::try_from(access_token_ttl_s)
        .unwrap_or(Millis::MAX / 2_000)
        .saturating_mul(1_000)
        .saturating_add(REVOCATION_MARGIN_MS)
}

/// The local revocation map: user -> tokens issued before this instant (ms) are void.
#[derive(Debug, Default)]
pub struct TokenRevocations {
    revoked_before: DashMap<UserId, Millis>,
}

impl TokenRevocations {
    pub fn new() -> TokenRevocations {
        TokenRevocations::default()
    }

    /// Whether a token of `user` issued at `issued_at_ms` is revoked. The hot path: one lookup.
    #[inline]
    pub fn is_revoked(&self, user: UserId, issued_at_ms: Millis) -> bool {
        self.revoked_before
            .get(&user)
            .is_some_and(|before| issued_at_ms < *before)
    }

    /// The instant before which `user`'s tokens are void, if any.
    pub fn revoked_before(&self, user: UserId) -> Option<Millis> {
        self.revoked_before.get(&user).map(|b| *b)
    }

    /// The issue time to stamp on a token minted for `user` at `now_ms`: never before the user's
    /// revocation, so a token minted after a revocation (even in the same millisecond, or on a
    /// clock slightly behind) is not caught by it.
    pub fn issue_time(&self, user: UserId, now_ms: Millis) -> Millis {
        self.revoked_before(user).map_or(now_ms, |b| b.max(now_ms))
    }

    /// Void every token of `user` issued before `before_ms` (a later revocation wins).
    pub fn record(&self, user: UserId, before_ms: Millis) {
        self.revoked_before
            .entry(user)
            .and_modify(|b| *b = (*b).max(before_ms))
            .or_insert(before_ms);
    }

    /// Void every token of `user` issued at or before `now_ms`; returns the recorded instant.
    pub fn revoke_at(&self, user: UserId, now_ms: Millis) -> Millis {
        let before = now_ms.saturating_add(1);
        self.record(user, before);
        before
    }

    /// Drop the entries older than `cutoff_ms` (no token they void can still be alive); how many.
    pub fn purge_older_than(&self, cutoff_ms: Millis) -> usize {
        let before = self.revoked_before.len();
        self.revoked_before.retain(|_, b| *b >= cutoff_ms);
        before - self.revoked_before.len()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.revoked_before.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.revoked_before.is_empty()
    }
}

/// Where revocations are shared with other nodes: nowhere (one node), or a Redis stream.
pub struct RevocationFeed {
    redis: Option<RedisFeed>,
}

struct RedisFeed {
    conn: redis::aio::ConnectionManager,
    key: String,
    /// The id of the last stream entry applied (`0-0` before the first read).
    last_id: tokio::sync::Mutex<String>,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.redis.is_some() {
            "RevocationFeed(redis)"
        } else {
            "RevocationFeed(local)"
        })
    }
}

impl RevocationFeed {
    /// No sharing: revocations stay in this process.
    pub fn local() -> RevocationFeed {
        RevocationFeed { redis: None }
    }

    /// The stream in the Redis behind `kv`.
    pub fn redis(kv: &RedisKv) -> RevocationFeed {
        RevocationFeed {
            redis: Some(RedisFeed {
                conn: kv.connection(),
                key: kv.prefixed(REVOCATION_STREAM_KEY),
                last_id: tokio::sync::Mutex::new("0-0".to_string()),
            }),
        }
    }

    /// Whether revocations go through Redis.
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Tell the other nodes that `user`'s tokens issued before `before_ms` are void. A no-op
    /// without Redis; with it, an error when Redis cannot take the entry.
    pub async fn publish(
        &self,
        user: UserId,
        before_ms: Millis,
        retention_ms: Millis,
    ) -> anyhow::Result<()> {
        let Some(feed) = &self.redis else {
            return Ok(());
        };
        let mut conn = feed.conn.clone();
        let id: String = redis::cmd("XADD")
            .arg(&feed.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(REVOCATION_STREAM_MAX_LEN)
            .arg("*")
            .arg("u")
            .arg(user.to_string())
            .arg("t")
            .arg(before_ms)
            .query_async(&mut conn)
            .await
            .context("appending a token revocation to Redis")?;
        // Trim by age with Redis's clock (the entry ids are its milliseconds). Needs Redis 6.2;
        // on an older one the length cap above still bounds the stream.
        if let Some(ms) = id
            .split('-')
            .next()
            .and_then(|ms| ms.parse::<Millis>().ok())
        {
            let trimmed: redis::RedisResult<i64> = redis::cmd("XTRIM")
                .arg(&feed.key)
                .arg("MINID")
                .arg("~")
                .arg(ms.saturating_sub(retention_ms).max(0))
                .query_async(&mut conn)
                .await;
            if let Err(err) = trimmed {
                tracing::debug!(error = %err, "trimming the token revocation stream failed");
            }
        }
        Ok(())
    }

    /// Apply every stream entry not yet applied to `revocations` (entries older than the
    /// retention are skipped); how many were applied. A no-op without Redis.
    pub async fn catch_up(
        &self,
        revocations: &TokenRevocations,
        now_ms: Millis,
        retention_ms: Millis,
    ) -> anyhow::Result<usize> {
        let Some(feed) = &self.redis else {
            return Ok(0);
        };
        let mut last_id = feed.last_id.lock().await;
        let mut conn = feed.conn.clone();
        let mut applied = 0;
        loop {
            let reply: redis::Value = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(REVOCATION_READ_BATCH)
                .arg("STREAMS")
                .arg(&feed.key)
                .arg(last_id.as_str())
                .query_async(&mut conn)
                .await
                .context("reading token revocations from Redis")?;
            let entries = stream_entries(reply)?;
            let read = entries.len();
            for (id, fields) in entries {
                if let Some((user, before)) = parse_entry(&fields)
                    && before.saturating_add(retention_ms) >= now_ms
                {
                    revocations.record(user, before);
                    applied += 1;
                }
                *last_id = id;
            }
            if read < REVOCATION_READ_BATCH {
                return Ok(applied);
            }
        }
    }
}

/// The entries of an `XREAD` reply for one stream (RESP2 arrays or RESP3 maps).
fn stream_entries(reply: redis::Value) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    use redis::{FromRedisValue, Value};
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams,
        Value::Map(pairs) => pairs
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        other => anyhow::bail!("unexpected XREAD reply: {other:?}"),
    };
    let mut out = Vec::new();
    for stream in streams {
        let (_key, entries): (String, Vec<(String, Vec<String>)>) =
            FromRedisValue::from_owned_redis_value(stream).context("parsing an XREAD reply")?;
        out.extend(entries);
    }
    Ok(out)
}

/// `[u, <uuid>, t, <ms>]` in any order; `None` for an entry this version cannot read.
fn parse_entry(fields: &[String]) -> Option<(UserId, Millis)> {
    let (mut user, mut before) = (None, None);
    for pair in fields.chunks_exact(2) {
        match pair[0].as_str() {
            "u" => user = uuid::Uuid::parse_str(&pair[1]).ok().map(UserId),
            "t" => before = pair[1].parse::<Millis>().ok(),
            _ => {}
        }
    }
    Some((user?, before?))
}

/// Aborts its task when dropped (the accounts state owns the revocation sync this way).
#[derive(Debug)]
pub struct SyncTask(tokio::task::JoinHandle<()>);

impl Drop for SyncTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keep `revocations` in step with `feed` every `poll` (when shared) and purge expired entries.
/// Errors are logged once per outage; reading resumes where it stopped.
pub fn spawn_sync(
    feed: Arc<RevocationFeed>,
    revocations: Arc<TokenRevocations>,
    clock: SharedClock,
    retention_ms: Millis,
    poll: Duration,
) -> SyncTask {
    let every = if feed.is_shared() {
        poll.max(Duration::from_millis(1))
    } else {
        REVOCATION_PURGE_INTERVAL
    };
    SyncTask(tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        let mut last_purge = tokio::time::Instant::now();
        loop {
            interval.tick().await;
            let now = clock.now_ms();
            match feed.catch_up(&revocations, now, retention_ms).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("token revocations: reading from Redis again");
                }
                Ok(_) => {}
                Err(err) if !failing => {
                    failing = true;
                    tracing::warn!(error = %format!("{err:#}"), "token revocations: Redis read failed; retrying every poll");
                }
                Err(_) => {}
            }
            if last_purge.elapsed() >= REVOCATION_PURGE_INTERVAL {
                last_purge = tokio::time::Instant::now();
                revocations.purge_older_than(now.saturating_sub(retention_ms));
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_before_the_revocation_are_void_and_later_ones_are_not() {
        let r = TokenRevocations::new();
        let (u, other) = (UserId::new(), UserId::new());
        assert!(!r.is_revoked(u, 1_000));
        // Revoked at 5_000: everything issued up to and including 5_000 is void.
        assert_eq!(r.revoke_at(u, 5_000), 5_001);
        assert!(r.is_revoked(u, 4_999));
        assert!(r.is_revoked(u, 5_000));
        assert!(!r.is_revoked(other, 5_000));
        // A token minted in the same millisecond is stamped after the revocation.
        assert_eq!(r.issue_time(u, 5_000), 5_001);
        assert!(!r.is_revoked(u, r.issue_time(u, 5_000)));
        assert_eq!(r.issue_time(u, 9_000), 9_000);
        assert_eq!(r.issue_time(other, 5_000), 5_000);
        // An older revocation arriving late does not undo a newer one.
        r.record(u, 2_000);
        assert_eq!(r.revoked_before(u), Some(5_001));
        r.record(u, 8_000);
        assert!(r.is_revoked(u, 7_999));
        // Entries past the retention are purged.
        r.record(other, 1_000);
        assert_eq!(r.purge_older_than(5_000), 1);
        assert_eq!(r.len(), 1);
        assert!(!r.is_revoked(other, 0));
    }

    #[test]
    fn stream_entries_parse_in_both_protocols() {
        use redis::Value;
        let s = |v: &str| Value::BulkString(v.as_bytes().to_vec());
        let u = UserId::new();
        let entry = Value::Array(vec![
            s("1-0"),
            Value::Array(vec![s("u"), s(&u.to_string()), s("t"), s("42")]),
        ]);
        let resp2 = Value::Array(vec![Value::Array(vec![
            s("hotdeal:token-revocations"),
            Value::Array(vec![entry.clone()]),
        ])]);
        let resp3 = Value::Map(vec![(
            s("hotdeal:token-revocations"),
            Value::Array(vec![entry]),
        )]);
        for reply in [resp2, resp3] {
            let entries = stream_entries(reply).unwrap();
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].0, "1-0");
            assert_eq!(parse_entry(&entries[0].1), Some((u, 42)));
        }
        assert!(stream_entries(Value::Nil).unwrap().is_empty());
        assert_eq!(parse_entry(&["u".into(), "nope".into()]), None);
        assert_eq!(retention_ms(600), 660_000);
    }
}
