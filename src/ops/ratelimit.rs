//! Rate limits on the expensive shopper actions (coupon issue, order creation): one token bucket
//! per user and one per client IP, refilled at `rate_limit_user_per_s` / `rate_limit_ip_per_s`
//! tokens a second with a burst of twice the rate (0 disables that bucket).
//!
//! The same limiter, with per-minute buckets keyed by account name ([`RateLimiter::check_account`]),
//! bounds password and email-code guessing: see `crate::accounts::AccountsState`.
//!
//! A request takes one token from each of its buckets, or from none: a refused request does not
//! drain the other bucket. Buckets live in memory (one node) or, when `REDIS_URL` is set, in Redis
//! under `hotdeal:rl:` where one Lua script refills and takes atomically, so several nodes share
//! one budget; the script uses Redis's own clock, so the nodes' clocks need not agree.
//!
//! A Redis error fails open (the request is allowed, a warning is logged once per back-off): the
//! limiter protects fairness and the service's capacity, not correctness (the engine alone decides
//! stock and one-coupon-per-user), so a Redis outage must not become an outage of coupon issuing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::domain::ids::UserId;

/// Redis key prefix of the buckets.
pub const REDIS_PREFIX: &str = "hotdeal:rl:";

/// Longest a Redis round trip may take before the check fails open.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// After a Redis error, how long checks skip Redis (and allow) before trying again.
pub const REDIS_BACKOFF: Duration = Duration::from_secs(1);

/// Most buckets kept in memory; past it, idle (refilled) buckets are dropped.
pub const MAX_MEMORY_BUCKETS: usize = 100_000;

/// Which bucket refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    Ip,
    /// An account named by its (lowercased) email, before anyone knows whether it exists.
    Account,
}

impl Scope {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Ip => "ip",
            Scope::Account => "account",
        }
    }
}

/// A refused request: which bucket and how long until it holds a token again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub scope: Scope,
    pub retry_after_ms: u64,
}

impl Refusal {
    /// The `Retry-After` value: whole seconds, at least 1.
    pub fn retry_after_s(&self) -> u64 {
        self.retry_after_ms.div_ceil(1000).max(1)
    }
}

/// A bucket's refill rate and capacity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    pub rate_per_s: f64,
    pub burst: f64,
}

impl BucketSpec {
    /// `rate` tokens a second, burst `2 * rate`; `None` for 0 (disabled).
    pub fn per_second(rate: u32) -> Option<BucketSpec> {
        (rate > 0).then_some(BucketSpec {
            rate_per_s: rate as f64,
            burst: 2.0 * rate as f64,
        })
    }

    /// `per_min` tokens a minute, burst `per_min` (so at most `per_min` in any minute from
    /// full); `None` for 0 (disabled).
    pub fn per_minute(per_min: u32) -> Option<BucketSpec> {
        (per_min > 0).then_some(BucketSpec {
            rate_per_s: per_min as f64 / 60.0,
            burst: per_min as f64,
        })
    }

    /// How long a bucket takes to refill from empty, in milliseconds.
    pub fn refill_ms(&self) -> f64 {
        self.burst * 1000.0 / self.rate_per_s
    }
}

/// One token bucket (pure: time is passed in, in milliseconds on any monotonic scale).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    pub tokens: f64,
    pub updated_ms: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(spec: BucketSpec, now_ms: f64) -> TokenBucket {
        TokenBucket {
            tokens: spec.burst,
            updated_ms: now_ms,
        }
    }

    /// The tokens held at `now_ms`.
    pub fn available(&self, spec: BucketSpec, now_ms: f64) -> f64 {
        let elapsed = (now_ms - self.updated_ms).max(0.0);
        (self.tokens + elapsed * spec.rate_per_s / 1000.0).min(spec.burst)
    }
}

/// Take one token from every bucket, or from none. On refusal, returns the index of the bucket
/// that must wait longest and that wait in milliseconds (rounded up). The buckets are refilled to
/// `now_ms` either way.
pub fn take_all(
    buckets: &mut [(TokenBucket, BucketSpec)],
    now_ms: f64,
) -> Result<(), (usize, u64)> {
    let mut refusal: Option<(usize, u64)> = None;
    for (i, (bucket, spec)) in buckets.iter_mut().enumerate() {
        bucket.tokens = bucket.available(*spec, now_ms);
        bucket.updated_ms = now_ms.max(bucket.updated_ms);
        if bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens) * 1000.0 / spec.rate_per_s)
                .ceil()
                .max(1.0) as u64;
            if refusal.is_none_or(|(_, w)| wait > w) {
                refusal = Some((i, wait));
            }
        }
    }
    if let Some(r) = refusal {
        return Err(r);
    }
    for (bucket, _) in buckets.iter_mut() {
        bucket.tokens -= 1.0;
    }
    Ok(())
}

/// Who a bucket counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    User(UserId),
    Ip(IpAddr),
    Account(Box<str>),
}

/// A bucket's identity: the action it limits (`""` for coupon issue and orders, e.g. `login:`)
/// and who it counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BucketKey {
    action: &'static str,
    subject: Subject,
}

impl BucketKey {
    fn scope(&self) -> Scope {
        match self.subject {
            Subject::User(_) => Scope::User,
            Subject::Ip(_) => Scope::Ip,
            Subject::Account(_) => Scope::Account,
        }
    }

    fn redis_key(&self) -> String {
        let action = self.action;
        match &self.subject {
            Subject::User(u) => format!("{REDIS_PREFIX}{action}user:{u}"),
            Subject::Ip(ip) => format!("{REDIS_PREFIX}{action}ip:{ip}"),
            Subject::Account(a) => format!("{REDIS_PREFIX}{action}account:{a}"),
        }
    }
}

/// The limiter: which buckets apply, and where they live. `subject` is the bucket of the user
/// ([`RateLimiter::check`]) or of the account ([`RateLimiter::check_account`]).
pub struct RateLimiter {
    subject: Option<BucketSpec>,
    ip: Option<BucketSpec>,
    backend: Backend,
}

enum Backend {
    Memory(MemoryBuckets),
    Redis(RedisBuckets),
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("subject", &self.subject)
            .field("ip", &self.ip)
            .field(
                "backend",
                &match self.backend {
                    Backend::Memory(_) => "memory",
                    Backend::Redis(_) => "redis",
                },
            )
            .finish()
    }
}

impl RateLimiter {
    /// Buckets in memory.
    pub fn in_memory(user_per_s: u32, ip_per_s: u32) -> RateLimiter {
        Self::in_memory_with(
            BucketSpec::per_second(user_per_s),
            BucketSpec::per_second(ip_per_s),
        )
    }

    /// Buckets in memory with these specs (`None` disables that bucket).
    pub fn in_memory_with(subject: Option<BucketSpec>, ip: Option<BucketSpec>) -> RateLimiter {
        RateLimiter {
            subject,
            ip,
            backend: Backend::Memory(MemoryBuckets::default()),
        }
    }

    /// Buckets in the Redis at `url`. Connects now when it can; when Redis cannot be reached the
    /// service still starts (checks fail open and reconnect later).
    pub async fn redis(url: &str, user_per_s: u32, ip_per_s: u32) -> anyhow::Result<RateLimiter> {
        Self::redis_with(
            url,
            BucketSpec::per_second(user_per_s),
            BucketSpec::per_second(ip_per_s),
        )
        .await
    }

    /// Buckets in the Redis at `url` with these specs (`None` disables that bucket).
    pub async fn redis_with(
        url: &str,
        subject: Option<BucketSpec>,
        ip: Option<BucketSpec>,
    ) -> anyhow::Result<RateLimiter> {
        let redis = RedisBuckets::new(url)?;
        let limiter = RateLimiter {
            subject,
            ip,
            backend: Backend::Redis(redis),
        };
        if limiter.is_enabled()
            && let Backend::Redis(r) = &limiter.backend
            && let Err(err) = r.connection().await
        {
            tracing::warn!(error = %format!("{err:#}"), "rate limiter: Redis unreachable at start; limits fail open until it is back");
        }
        Ok(limiter)
    }

    /// Whether any bucket applies.
    pub fn is_enabled(&self) -> bool {
        self.subject.is_some() || self.ip.is_some()
    }

    /// Where the buckets live: `memory` or `redis`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// Take a token for `user` (and `ip` when known), or say which bucket refused.
    pub async fn check(&self, user: UserId, ip: Option<IpAddr>) -> Result<(), Refusal> {
        if !self.is_enabled() {
            return Ok(());
        }
        self.take("", Subject::User(user), ip).await
    }

    /// Take a token for `action` (a short key prefix such as `login:`) from the bucket of
    /// `account` (compared case-insensitively) and from that of `ip` when known, or say which
    /// bucket refused. Accounts need not exist: a guess at an unknown email counts the same.
    pub async fn check_account(
        &self,
        action: &'static str,
        account: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), Refusal> {
        if !self.is_enabled() {
            return Ok(());
        }
        let account = account.trim().to_lowercase().into_boxed_str();
        self.take(action, Subject::Account(account), ip).await
    }

    async fn take(
        &self,
        action: &'static str,
        subject: Subject,
        ip: Option<IpAddr>,
    ) -> Result<(), Refusal> {
        let mut keys: Vec<(BucketKey, BucketSpec)> = Vec::with_capacity(2);
        if let Some(spec) = self.subject {
            keys.push((BucketKey { action, subject }, spec));
        }
        if let (Some(spec), Some(ip)) = (self.ip, ip) {
            let subject = Subject::Ip(ip);
            keys.push((BucketKey { action, subject }, spec));
        }
        if keys.is_empty() {
            return Ok(());
        }
        let decided = match &self.backend {
            Backend::Memory(m) => m.take(&keys),
            Backend::Redis(r) => r.take(&keys).await,
        };
        decided.map_err(|(i, wait)| Refusal {
            scope: keys[i].0.scope(),
            retry_after_ms: wait,
        })
    }
}

// ------------------------------------------------------------------------------------ memory

/// Buckets of one node, behind one short lock (a check is a hash lookup and a few float ops).
struct MemoryBuckets {
    started: Instant,
    buckets: Mutex<HashMap<BucketKey, TokenBucket>>,
}

impl Default for MemoryBuckets {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

impl MemoryBuckets {
    fn take(&self, keys: &[(BucketKey, BucketSpec)]) -> Result<(), (usize, u64)> {
        let now = self.started.elapsed().as_secs_f64() * 1000.0;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_MEMORY_BUCKETS {
            // A bucket that has refilled completely is the same as no bucket: drop those.
            let longest = keys.iter().map(|(_, s)| s.refill_ms()).fold(0.0, f64::max);
            map.retain(|_, b| now - b.updated_ms < longest);
            if map.len() >= MAX_MEMORY_BUCKETS {
                tracing::warn!(
                    buckets = map.len(),
                    "rate limiter: too many live buckets, starting over"
                );
                map.clear();
            }
        }
        let mut buckets: Vec<(TokenBucket, BucketSpec)> = keys
            .iter()
            .map(|(k, spec)| {
                let b = map
                    .get(k)
                    .copied()
                    .unwrap_or_else(|| TokenBucket::full(*spec, now));
                (b, *spec)
            })
            .collect();
        let decided = take_all(&mut buckets, now);
        for ((k, _), (b, _)) in keys.iter().zip(buckets) {
            map.insert(k.clone(), b);
        }
        decided
    }
}

// ------------------------------------------------------------------------------------- redis

/// The token bucket in Lua: KEYS are the buckets, ARGV holds `rate, burst` per key. Refill and
/// take are one atomic step; time is Redis's `TIME`. Returns `{allowed, wait_ms, refused_index}`
/// (index 1-based, 0 when allowed). Each key expires once it would have refilled anyway.
const TOKEN_BUCKET_LUA: &str = r#"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n = #KEYS
local tokens = {}
local wait_ms = 0
local refused = 0
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tk = tonumber(state[1])
  local ts = tonumber(state[2])
  if tk == nil or ts == nil then
    tk = burst
    ts = now
  end
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tk = math.min(burst, tk + elapsed * rate / 1000)
  tokens[i] = tk
  if tk < 1 then
    local w = math.max(1, math.ceil((1 - tk) * 1000 / rate))
    if w > wait_ms then
      wait_ms = w
      refused = i
    end
  end
end
local allowed = 0
if refused == 0 then allowed = 1 end
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tk = tokens[i]
  if allowed == 1 then tk = tk - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tk), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst * 1000 / rate) + 1000)
end
return {allowed, wait_ms, refused}
"#;

/// Buckets in Redis, shared by every node using that Redis.
struct RedisBuckets {
    client: redis::Client,
    conn: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    script: redis::Script,
    started: Instant,
    /// Until when (ms since `started`) checks skip Redis after an error.
    skip_until_ms: AtomicU64,
}

impl RedisBuckets {
    fn new(url: &str) -> anyhow::Result<RedisBuckets> {
        Ok(RedisBuckets {
            client: redis::Client::open(url).context("parsing REDIS_URL")?,
            conn: tokio::sync::OnceCell::new(),
            script: redis::Script::new(TOKEN_BUCKET_LUA),
            started: Instant::now(),
            skip_until_ms: AtomicU64::new(0),
        })
    }

    async fn connection(&self) -> anyhow::Result<redis::aio::ConnectionManager> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(REDIS_TIMEOUT)
                    .set_response_timeout(REDIS_TIMEOUT)
                    .set_number_of_retries(1)
                    .set_max_delay(500);
                redis::aio::ConnectionManager::new_with_config(self.client.clone(), config)
                    .await
                    .context("connecting to Redis")
            })
            .await?;
        Ok(conn.clone())
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn take(&self, keys: &[(BucketKey, BucketSpec)]) -> Result<(), (usize, u64)> {
        if self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed) {
            metrics::counter!("hotdeal_rate_limit_errors_total").increment(1);
            return Ok(());
        }
        let asked = tokio::time::timeout(REDIS_TIMEOUT * 2, self.invoke(keys)).await;
        let err = match asked {
            Ok(Ok((allowed, wait_ms, refused))) => {
                if allowed == 1 || refused < 1 || refused as usize > keys.len() {
                    return Ok(());
                }
                return Err((refused as usize - 1, wait_ms.max(1) as u64));
            }
            Ok(Err(err)) => err,
            Err(_) => anyhow::anyhow!("Redis did not answer within {REDIS_TIMEOUT:?}"),
        };
        metrics::counter!("hotdeal_rate_limit_errors_total").increment(1);
        let until = self.now_ms() + REDIS_BACKOFF.as_millis() as u64;
        let previous = self.skip_until_ms.swap(until, Ordering::Relaxed);
        if previous <= self.now_ms() {
            tracing::warn!(
                error = %format!("{err:#}"),
                backoff_ms = REDIS_BACKOFF.as_millis() as u64,
                "rate limiter: Redis error, allowing requests (fail open)"
            );
        }
        Ok(())
    }

    async fn invoke(&self, keys: &[(BucketKey, BucketSpec)]) -> anyhow::Result<(i64, i64, i64)> {
        let mut conn = self.connection().await?;
        let mut call = self.script.prepare_invoke();
        for (key, spec) in keys {
            // Rates below one a second (per-minute buckets) must not be truncated to 0.
            call.key(key.redis_key())
                .arg(spec.rate_per_s)
                .arg(spec.burst);
        }
        let answer: (i64, i64, i64) = call.invoke_async(&mut conn).await?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(rate: u32) -> BucketSpec {
        BucketSpec::per_second(rate).unwrap()
    }

    #[test]
    fn burst_is_twice_the_rate_then_refills_at_the_rate() {
        let s = spec(2);
        let mut b = [(TokenBucket::full(s, 0.0), s)];
        assert!(take_all(&mut b, 0.0).is_ok());
        assert!(take_all(&mut b, 0.0).is_ok());
        assert!(take_all(&mut b, 0.0).is_ok());
        assert!(take_all(&mut b, 0.0).is_ok());
        // Empty: one token comes back after 500 ms at 2/s.
        assert_eq!(take_all(&mut b, 0.0), Err((0, 500)));
        assert_eq!(take_all(&mut b, 250.0), Err((0, 250)));
        assert!(take_all(&mut b, 500.0).is_ok());
        // Never more than the burst, however long it idles.
        b[0].0 = TokenBucket::full(s, 0.0);
        assert_eq!(b[0].0.available(s, 1_000_000.0), 4.0);
    }

    #[test]
    fn a_refusal_takes_from_no_bucket() {
        let (u, i) = (spec(1), spec(5));
        let mut b = [
            (
                TokenBucket {
                    tokens: 0.0,
                    updated_ms: 0.0,
                },
                u,
            ),
            (TokenBucket::full(i, 0.0), i),
        ];
        assert_eq!(take_all(&mut b, 0.0), Err((0, 1000)));
        assert_eq!(b[1].0.tokens, 10.0);
        assert_eq!(BucketSpec::per_second(0), None);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = |ms| Refusal {
            scope: Scope::User,
            retry_after_ms: ms,
        };
        assert_eq!(r(1).retry_after_s(), 1);
        assert_eq!(r(1000).retry_after_s(), 1);
        assert_eq!(r(1001).retry_after_s(), 2);
    }

    #[tokio::test]
    async fn memory_limiter_counts_users_and_ips_apart() {
        let limiter = RateLimiter::in_memory(1, 0);
        let (a, b) = (UserId::new(), UserId::new());
        assert!(limiter.check(a, None).await.is_ok());
        assert!(limiter.check(a, None).await.is_ok());
        let refused = limiter.check(a, None).await.unwrap_err();
        assert_eq!(refused.scope, Scope::User);
        assert!(limiter.check(b, None).await.is_ok());

        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let by_ip = RateLimiter::in_memory(0, 1);
        assert!(by_ip.check(a, Some(ip)).await.is_ok());
        assert!(by_ip.check(b, Some(ip)).await.is_ok());
        assert_eq!(
            by_ip
                .check(UserId::new(), Some(ip))
                .await
                .unwrap_err()
                .scope,
            Scope::Ip
        );
        assert!(by_ip.check(a, None).await.is_ok(), "no ip, no ip bucket");
        assert!(!RateLimiter::in_memory(0, 0).is_enabled());
    }

    #[test]
    fn per_minute_buckets_hold_the_minute_and_refill_slowly() {
        let s = BucketSpec::per_minute(30).unwrap();
        let mut b = [(TokenBucket::full(s, 0.0), s)];
        for _ in 0..30 {
            assert!(take_all(&mut b, 0.0).is_ok());
        }
        // One token every 2 s.
        assert_eq!(take_all(&mut b, 0.0), Err((0, 2_000)));
        assert_eq!(take_all(&mut b, 1_000.0), Err((0, 1_000)));
        assert!(take_all(&mut b, 2_000.0).is_ok());
        assert_eq!(b[0].0.available(s, 1e9), 30.0);
        assert_eq!(BucketSpec::per_minute(0), None);
    }

    #[tokio::test]
    async fn account_buckets_are_per_action_and_case_insensitive() {
        let limiter = RateLimiter::in_memory_with(BucketSpec::per_minute(2), None);
        assert!(
            limiter
                .check_account("login:", "A@b.co", None)
                .await
                .is_ok()
        );
        assert!(
            limiter
                .check_account("login:", "a@B.co ", None)
                .await
                .is_ok()
        );
        let refused = limiter
            .check_account("login:", "a@b.co", None)
            .await
            .unwrap_err();
        assert_eq!(refused.scope, Scope::Account);
        assert!(refused.retry_after_s() >= 29);
        // Another action and another account have buckets of their own.
        assert!(limiter.check_account("code:", "a@b.co", None).await.is_ok());
        assert!(
            limiter
                .check_account("login:", "c@b.co", None)
                .await
                .is_ok()
        );
        // The user buckets of coupon issuing are apart too.
        assert!(limiter.check(UserId::new(), None).await.is_ok());

        let ip: IpAddr = "10.0.0.3".parse().unwrap();
        let by_ip = RateLimiter::in_memory_with(None, BucketSpec::per_minute(1));
        assert!(
            by_ip
                .check_account("login:", "x@b.co", Some(ip))
                .await
                .is_ok()
        );
        let refused = by_ip
            .check_account("login:", "y@b.co", Some(ip))
            .await
            .unwrap_err();
        assert_eq!(refused.scope, Scope::Ip);
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_open() {
        let limiter = RateLimiter::redis("redis://127.0.0.1:1", 1, 1)
            .await
            .unwrap();
        assert_eq!(limiter.backend_name(), "redis");
        let (user, ip) = (UserId::new(), Some("10.0.0.2".parse().unwrap()));
        for _ in 0..5 {
            assert_eq!(limiter.check(user, ip).await, Ok(()));
        }
    }
}
