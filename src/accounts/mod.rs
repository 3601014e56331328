//! Accounts: users, addresses, email verification, refresh tokens, password hashing and token
//! revocation.
//!
//! Durable account data (users, verified emails, addresses) lives in SQL ([`repo`]); short-lived
//! secrets (verification codes for 30 minutes, each user's current refresh token) live in the
//! [`KvStore`] (Redis when configured, so several nodes share them). Password hashing runs on a
//! bounded pool ([`password`]); password and code guesses are rate limited per account and per
//! client IP ([`AccountsState::check_guess_rate`]); deleting an account or changing its password
//! or role voids its tokens at once ([`revocation`]). The flows are in [`service`] (errors in
//! [`error`]); the HTTP handlers that call them are in `crate::http::accounts`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::domain::Millis;
use crate::domain::clock::SharedClock;
use crate::domain::ids::UserId;
use crate::kv::KvStore;
use crate::ops::ratelimit::{BucketSpec, RateLimiter, Refusal};
use crate::persistence::Db;

pub mod error;
pub mod mailer;
pub mod password;
pub mod repo;
pub mod revocation;
pub mod rules;
pub mod service;

pub use mailer::{LogMailer, Mailer, SmtpMailer};
use password::PasswordPool;
use revocation::{RevocationFeed, SyncTask, TokenRevocations};

/// How long an email verification code stays valid (the seed's 30 minutes).
pub const VERIFICATION_CODE_TTL: Duration = Duration::from_secs(30 * 60);

/// What a guess is at, for [`AccountsState::check_guess_rate`]: each has its own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// A password: login, and the current password of a password change (one budget).
    Password,
    /// An email verification code.
    EmailCode,
}

impl Guess {
    /// The bucket key prefix.
    fn action(self) -> &'static str {
        match self {
            Guess::Password => "login:",
            Guess::EmailCode => "email-code:",
        }
    }

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Guess::Password => "password",
            Guess::EmailCode => "email_code",
        }
    }
}

/// What the accounts endpoints share: the store for codes and refresh tokens, the mailer, the
/// password hashing pool, the guess limiter and the token revocations.
pub struct AccountsState {
    pub kv: Arc<dyn KvStore>,
    pub mailer: Arc<dyn Mailer>,
    /// Every password hash and verification runs here.
    pub passwords: PasswordPool,
    /// Login and email-code guesses per account and per client IP.
    guesses: RateLimiter,
    /// The map [`crate::http::auth::AuthUser`] checks (the same one the JWT keys hold).
    revocations: Arc<TokenRevocations>,
    feed: Arc<RevocationFeed>,
    revocation_retention_ms: Millis,
    _revocation_sync: SyncTask,
}

impl std::fmt::Debug for AccountsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountsState(..)")
    }
}

impl AccountsState {
    /// Build from the configuration, with `revocations` the map the JWT keys check: Redis when
    /// `REDIS_URL` is set (memory otherwise), SMTP when
    /// `SMTP_URL` is set (the log otherwise). Loads the token revocations still in force (from the
    /// Redis stream, or from the users changed recently without Redis) before returning, so no
    /// request is served with a stale list, and starts keeping them in step. Also creates or
    /// updates the MASTER account named by `HOTDEAL_ADMIN_EMAIL` / `HOTDEAL_ADMIN_PASSWORD` when
    /// both are set.
    pub async fn build(
        config: &Config,
        db: &Db,
        revocations: Arc<TokenRevocations>,
        clock: SharedClock,
    ) -> anyhow::Result<AccountsState> {
        let (kv, redis) = crate::kv::connect_shared(config).await?;
        let mailer: Arc<dyn Mailer> = match config.smtp_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => {
                tracing::info!("verification emails: SMTP");
                Arc::new(SmtpMailer::from_url(url)?)
            }
            None => {
                tracing::info!(
                    "verification emails: written to the log (set SMTP_URL to send them)"
                );
                Arc::new(LogMailer::new())
            }
        };
        let passwords =
            PasswordPool::new(config.password_hash_concurrency, config.password_hash_queue);
        tracing::info!(
            concurrency = passwords.concurrency(),
            queue = config.password_hash_queue,
            "password hashing pool"
        );
        let account = BucketSpec::per_minute(config.login_rate_limit_account_per_min);
        let ip = BucketSpec::per_minute(config.login_rate_limit_ip_per_min);
        let guesses = match config.redis_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => RateLimiter::redis_with(url, account, ip).await?,
            _ => RateLimiter::in_memory_with(account, ip),
        };

        let retention = revocation::retention_ms(config.access_token_ttl_s);
        let now = clock.now_ms();
        let feed = Arc::new(match &redis {
            Some(redis) => RevocationFeed::redis(redis),
            None => RevocationFeed::local(),
        });
        if feed.is_shared() {
            let loaded = feed
                .catch_up(&revocations, now, retention)
                .await
                .context("loading token revocations from Redis")?;
            tracing::info!(loaded, "token revocations: shared through Redis");
        } else {
            let changed = repo::users_changed_since(db, now.saturating_sub(retention))
                .await
                .context("loading recent account changes")?;
            for (user, at_ms) in &changed {
                revocations.revoke_at(UserId(*user), *at_ms);
            }
            tracing::info!(
                loaded = changed.len(),
                "token revocations: in memory (set REDIS_URL to share them between nodes)"
            );
        }
        let sync = revocation::spawn_sync(
            feed.clone(),
            revocations.clone(),
            clock.clone(),
            retention,
            Duration::from_millis(config.token_revocation_poll_ms),
        );
        let state = AccountsState {
            kv,
            mailer,
            passwords,
            guesses,
            revocations,
            feed,
            revocation_retention_ms: retention,
            _revocation_sync: sync,
        };
        if let (Some(email), Some(password)) = (
            config.admin_email.as_deref().map(str::trim),
            config.admin_password.as_deref(),
        ) && !email.is_empty()
            && !password.is_empty()
        {
            state
                .ensure_admin(db, email, password, clock.now_ms())
                .await?;
        }
        Ok(state)
    }

    /// The last verification code the mailer sent to `email` (log mailer only; for local use
    /// and tests).
    pub fn last_code(&self, email: &str) -> Option<String> {
        self.mailer.last_code(email)
    }

    /// Take one guess at `account` (an email) from `ip`: `Err` with the wait when the account's
    /// or the address's budget for this kind of guess is spent. Redis errors allow the guess
    /// (see `crate::ops::ratelimit`); the hashing bound still caps the rate.
    pub async fn check_guess_rate(
        &self,
        guess: Guess,
        account: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), Refusal> {
        let checked = self
            .guesses
            .check_account(guess.action(), account, ip)
            .await;
        if let Err(refusal) = &checked {
            metrics::counter!(
                "hotdeal_guess_rate_limited_total",
                "guess" => guess.as_str(),
                "scope" => refusal.scope.as_str()
            )
            .increment(1);
        }
        checked
    }

    /// Void every access token of `user` issued up to `now_ms`, here at once and (with Redis) on
    /// every node within a poll interval, and its refresh token. Called before and after an
    /// account is deleted or its password or role changed (before: a failure leaves the account
    /// unchanged; after: it also catches a token minted while the change was being made). An
    /// error means Redis could not take it (the caller answers 503; this node has it already).
    pub async fn revoke_tokens(&self, user: UserId, now_ms: Millis) -> anyhow::Result<()> {
        let before = self.revocations.revoke_at(user, now_ms);
        self.feed
            .publish(user, before, self.revocation_retention_ms)
            .await?;
        self.kv.del(&refresh_key(user)).await?;
        tracing::info!(%user, "tokens revoked");
        Ok(())
    }

    /// The revocation map (shared with the JWT keys).
    pub fn revocations(&self) -> &Arc<TokenRevocations> {
        &self.revocations
    }

    /// Make the MASTER account `email` exist with `password`. When the account exists with that
    /// role and password already, nothing changes (a restart does not void the admin's tokens);
    /// otherwise it is created or updated and its older tokens are revoked (a role or password
    /// change).
    async fn ensure_admin(
        &self,
        db: &Db,
        email: &str,
        password: &str,
        now_ms: Millis,
    ) -> anyhow::Result<()> {
        if !rules::is_valid_email(email) {
            anyhow::bail!("HOTDEAL_ADMIN_EMAIL is not a valid email address");
        }
        if !rules::is_valid_password(password) {
            tracing::warn!(
                "HOTDEAL_ADMIN_PASSWORD does not follow the signup rule (8 to 15 of a-z A-Z 0-9 !@#$%^&*()_+-=); used anyway"
            );
        }
        if let Some(user) = repo::find_user_by_email(db, email).await?
            && user.role == "MASTER"
            && !user.deleted
            && self.passwords.verify(password, &user.password_hash).await?
        {
            repo::mark_email_verified(db, email).await?;
            tracing::info!(user_id = %user.user_id, "MASTER account ready for {email}");
            return Ok(());
        }
        let hash = self.passwords.hash(password).await?;
        let user_id = repo::ensure_master(db, email, &hash, now_ms)
            .await
            .context("creating the admin account")?;
        self.revoke_tokens(UserId(user_id), now_ms).await?;
        tracing::info!(%user_id, "MASTER account ready for {email}");
        Ok(())
    }
}

/// The KV key of the verification code sent to `email`.
pub fn code_key(email: &str) -> String {
    format!("email-code:{}", email.to_ascii_lowercase())
}

/// The KV key of `user`'s current refresh token.
pub fn refresh_key(user: UserId) -> String {
    format!("refresh:{user}")
}
