//! A small key-value store with expiry for short-lived shared state: email verification codes,
//! refresh tokens (and later rate-limit counters and idempotency records). The Redis store also
//! lends its connection to the token revocation stream (`crate::accounts::revocation`).
//!
//! Two implementations behind one trait, chosen by [`connect`]: [`RedisKv`] when `REDIS_URL` is
//! set, so several nodes share the state, and [`MemoryKv`] otherwise. Errors are infrastructure
//! only: a Redis outage comes back as a `redis::RedisError` (io/timeout) or a `std::io::Error`,
//! which the HTTP layer turns into 503 with `Retry-After`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;

use crate::config::Config;
use crate::domain::Millis;
use crate::domain::clock::{Clock, SharedClock};

/// The prefix of every key this service writes to Redis.
pub const REDIS_KEY_PREFIX: &str = "hotdeal:";

/// Default bound on the number of live keys in a [`MemoryKv`].
pub const MEMORY_KV_MAX_ENTRIES: usize = 200_000;

/// How often a [`MemoryKv`] drops expired keys in the background.
pub const MEMORY_KV_PURGE_INTERVAL: Duration = Duration::from_secs(30);

/// Timeout of one Redis command and of one connection attempt (then the caller sees 503).
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// A key-value store where every value has a time to live.
#[async_trait]
pub trait KvStore: Send + Sync + 'static {
    /// The value of `key`, unless absent or expired.
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>>;
    /// Set `key` to `value` for `ttl`, replacing any previous value.
    async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()>;
    /// Set `key` to `value` for `ttl` only if it is absent (or expired); whether it was set.
    async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool>;
    /// Remove `key`; whether a live value was there.
    async fn del(&self, key: &str) -> anyhow::Result<bool>;
    /// Remove `key` and return its live value, atomically (two callers never both get it).
    async fn get_del(&self, key: &str) -> anyhow::Result<Option<String>>;
}

/// The store the configuration asks for: Redis when `redis_url` is set, memory otherwise.
pub async fn connect(config: &Config) -> anyhow::Result<Arc<dyn KvStore>> {
    Ok(connect_shared(config).await?.0)
}

/// Like [`connect`], also handing back the Redis store itself when there is one (for the
/// features that need more than get/set, such as the token revocation stream).
pub async fn connect_shared(
    config: &Config,
) -> anyhow::Result<(Arc<dyn KvStore>, Option<RedisKv>)> {
    match config.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => {
            let kv = RedisKv::connect(url, REDIS_KEY_PREFIX).await?;
            tracing::info!("key-value store: redis");
            Ok((Arc::new(kv.clone()), Some(kv)))
        }
        None => {
            tracing::info!("key-value store: memory (set REDIS_URL to share it between nodes)");
            Ok((Arc::new(MemoryKv::new(MEMORY_KV_MAX_ENTRIES)), None))
        }
    }
}

/// Milliseconds of a TTL for Redis `PX` (at least 1: Redis refuses 0).
fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

// ------------------------------------------------------------------------------------- memory

/// Key -> (value, expiry in the store's clock's milliseconds).
type Entries = HashMap<String, (String, Millis)>;

/// Milliseconds since this clock was made, from the monotonic clock: TTLs are immune to the wall
/// clock being set back or forward.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(std::time::Instant);

impl MonotonicClock {
    pub fn new() -> Self {
        MonotonicClock(std::time::Instant::now())
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> Millis {
        Millis::try_from(self.0.elapsed().as_millis()).unwrap_or(Millis::MAX)
    }
}

fn expiry(now: Millis, ttl: Duration) -> Millis {
    now.saturating_add(Millis::try_from(ttl.as_millis()).unwrap_or(Millis::MAX))
}

/// An in-process store: a map behind a mutex. Expiry is honoured on every read; expired keys are
/// also purged on an interval and whenever the map is full. It holds at most `max_entries` keys:
/// a write that would go past that (with nothing expired to drop) fails as an I/O error, so the
/// caller answers 503 rather than the process growing without bound.
///
/// Time comes from an injected [`Clock`] (monotonic by default), so tests move it by hand.
pub struct MemoryKv {
    entries: Arc<Mutex<Entries>>,
    max_entries: usize,
    clock: SharedClock,
}

impl std::fmt::Debug for MemoryKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryKv")
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl MemoryKv {
    /// An empty store holding at most `max_entries` keys. Inside a tokio runtime it also starts a
    /// purge task, which ends when the store is dropped.
    pub fn new(max_entries: usize) -> MemoryKv {
        Self::with_clock(max_entries, Arc::new(MonotonicClock::new()))
    }

    /// Like [`MemoryKv::new`], with time read from `clock`.
    pub fn with_clock(max_entries: usize, clock: SharedClock) -> MemoryKv {
        let entries = Arc::new(Mutex::new(Entries::new()));
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(purge_loop(Arc::downgrade(&entries), clock.clone()));
        }
        MemoryKv {
            entries,
            max_entries: max_entries.max(1),
            clock,
        }
    }

    /// Drop every expired key; how many were dropped.
    pub fn purge_expired(&self) -> usize {
        purge(&mut self.lock(), self.clock.now_ms())
    }

    /// The number of keys held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still safe to use.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make room for one more key: purge expired ones, then refuse if still full.
    fn ensure_room(&self, entries: &mut Entries, key: &str, now: Millis) -> anyhow::Result<()> {
        if entries.len() < self.max_entries || entries.contains_key(key) {
            return Ok(());
        }
        purge(entries, now);
        if entries.len() < self.max_entries {
            return Ok(());
        }
        Err(std::io::Error::other(format!(
            "in-memory key-value store is full ({} keys)",
            self.max_entries
        ))
        .into())
    }
}

fn purge(entries: &mut Entries, now: Millis) -> usize {
    let before = entries.len();
    entries.retain(|_, (_, expires)| *expires > now);
    before - entries.len()
}

async fn purge_loop(entries: Weak<Mutex<Entries>>, clock: SharedClock) {
    let mut interval = tokio::time::interval(MEMORY_KV_PURGE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        let Some(entries) = entries.upgrade() else {
            return;
        };
        let mut guard = entries.lock().unwrap_or_else(|p| p.into_inner());
        purge(&mut guard, clock.now_ms());
    }
}

/// The live value of `key` at `now`, dropping it if expired.
fn live(entries: &mut Entries, key: &str, now: Millis) -> Option<String> {
    match entries.get(key) {
        Some((value, expires)) if *expires > now => Some(value.clone()),
        Some(_) => {
            entries.remove(key);
            None
        }
        None => None,
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        Ok(live(&mut self.lock(), key, self.clock.now_ms()))
    }

    async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        let now = self.clock.now_ms();
        let mut entries = self.lock();
        self.ensure_room(&mut entries, key, now)?;
        entries.insert(key.to_string(), (value.to_string(), expiry(now, ttl)));
        Ok(())
    }

    async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool> {
        let now = self.clock.now_ms();
        let mut entries = self.lock();
        if live(&mut entries, key, now).is_some() {
            return Ok(false);
        }
        self.ensure_room(&mut entries, key, now)?;
        entries.insert(key.to_string(), (value.to_string(), expiry(now, ttl)));
        Ok(true)
    }

    async fn del(&self, key: &str) -> anyhow::Result<bool> {
        let now = self.clock.now_ms();
        Ok(self
            .lock()
            .remove(key)
            .is_some_and(|(_, expires)| expires > now))
    }

    async fn get_del(&self, key: &str) -> anyhow::Result<Option<String>> {
        let now = self.clock.now_ms();
        Ok(self
            .lock()
            .remove(key)
            .and_then(|(value, expires)| (expires > now).then_some(value)))
    }
}

// -------------------------------------------------------------------------------------- redis

/// Redis through a [`redis::aio::ConnectionManager`] (one multiplexed connection, reconnected
/// on failure). Every key is prefixed (`hotdeal:` in the service) so the service can share a
/// Redis with others. Commands time out after [`REDIS_TIMEOUT`].
#[derive(Clone)]
pub struct RedisKv {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    /// Connect to `url`; every key gets `prefix` in front. Fails when Redis cannot be reached.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<RedisKv> {
        use anyhow::Context;
        let client = redis::Client::open(url).context("parsing REDIS_URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(2)
            .set_max_delay(500);
        let conn = redis::aio::ConnectionManager::new_with_config(client, config)
            .await
            .context("connecting to Redis")?;
        Ok(RedisKv {
            conn,
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// `key` with this store's prefix, for callers that run their own commands on
    /// [`RedisKv::connection`] (the token revocation stream).
    pub fn prefixed(&self, key: &str) -> String {
        self.key(key)
    }

    /// A handle on the shared connection (cheap: the manager multiplexes one connection).
    pub fn connection(&self) -> redis::aio::ConnectionManager {
        self.conn.clone()
    }
}

#[async_trait]
impl KvStore for RedisKv {
    async fn get(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.conn.clone();
        let value: Option<String> = redis::cmd("GET")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await?;
        Ok(value)
    }

    async fn set_ex(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let () = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn set_nx_ex(&self, key: &str, value: &str, ttl: Duration) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        // `SET .. NX` answers OK when set and nil when the key was there.
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    async fn del(&self, key: &str) -> anyhow::Result<bool> {
        let mut conn = self.conn.clone();
        let removed: i64 = redis::cmd("DEL")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await?;
        Ok(removed > 0)
    }

    async fn get_del(&self, key: &str) -> anyhow::Result<Option<String>> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        // MULTI/EXEC rather than GETDEL so Redis before 6.2 works too.
        let (value, _removed): (Option<String>, i64) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg(&key)
            .cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_store_expires_and_stays_bounded() {
        let clock = crate::domain::clock::ManualClock::new(0);
        let kv = MemoryKv::with_clock(2, Arc::new(clock.clone()));
        kv.set_ex("a", "1", Duration::from_secs(1)).await.unwrap();
        kv.set_ex("b", "2", Duration::from_secs(10)).await.unwrap();
        // Full: a third key is refused as an I/O error (so the API answers 503).
        let err = kv
            .set_ex("c", "3", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(err.downcast_ref::<std::io::Error>().is_some());
        // Replacing an existing key is fine when full.
        kv.set_ex("b", "2b", Duration::from_secs(10)).await.unwrap();
        clock.advance(2_000);
        // "a" expired, so there is room again.
        kv.set_ex("c", "3", Duration::from_secs(10)).await.unwrap();
        assert_eq!(kv.get("a").await.unwrap(), None);
        assert_eq!(kv.get("b").await.unwrap().as_deref(), Some("2b"));
        assert_eq!(kv.len(), 2);
        clock.advance(60_000);
        assert_eq!(kv.purge_expired(), 2);
        assert!(kv.is_empty());
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let c = MonotonicClock::new();
        let a = c.now_ms();
        assert!(c.now_ms() >= a);
        assert_eq!(expiry(Millis::MAX - 1, Duration::from_secs(5)), Millis::MAX);
    }
}
