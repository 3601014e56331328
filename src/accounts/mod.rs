//! Accounts: users, addresses, email verification, refresh tokens.
//!
//! Durable account data (users, verified emails, addresses) lives in SQL ([`repo`]); short-lived
//! secrets (verification codes for 30 minutes, each user's current refresh token) live in the
//! [`KvStore`] (Redis when configured, so several nodes share them). The HTTP handlers are in
//! `crate::http::accounts`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::domain::ids::UserId;
use crate::kv::KvStore;
use crate::persistence::Db;

pub mod mailer;
pub mod password;
pub mod repo;
pub mod rules;

pub use mailer::{LogMailer, Mailer, SmtpMailer};

/// How long an email verification code stays valid (the seed's 30 minutes).
pub const VERIFICATION_CODE_TTL: Duration = Duration::from_secs(30 * 60);

/// What the accounts endpoints share: the store for codes and refresh tokens, and the mailer.
pub struct AccountsState {
    pub kv: Arc<dyn KvStore>,
    pub mailer: Arc<dyn Mailer>,
}

impl std::fmt::Debug for AccountsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountsState(..)")
    }
}

impl AccountsState {
    /// Build from the configuration: Redis when `REDIS_URL` is set (memory otherwise), SMTP when
    /// `SMTP_URL` is set (the log otherwise). Also creates or updates the MASTER account named by
    /// `HOTDEAL_ADMIN_EMAIL` / `HOTDEAL_ADMIN_PASSWORD` when both are set.
    pub async fn build(config: &Config, db: &Db) -> anyhow::Result<AccountsState> {
        let kv = crate::kv::connect(config).await?;
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
        if let (Some(email), Some(password)) = (
            config.admin_email.as_deref().map(str::trim),
            config.admin_password.as_deref(),
        ) && !email.is_empty()
            && !password.is_empty()
        {
            ensure_admin(db, email, password).await?;
        }
        Ok(AccountsState { kv, mailer })
    }

    /// The last verification code the mailer sent to `email` (log mailer only; for local use
    /// and tests).
    pub fn last_code(&self, email: &str) -> Option<String> {
        self.mailer.last_code(email)
    }
}

/// Create (or reset the password of) the MASTER account `email`.
async fn ensure_admin(db: &Db, email: &str, password: &str) -> anyhow::Result<()> {
    if !rules::is_valid_email(email) {
        anyhow::bail!("HOTDEAL_ADMIN_EMAIL is not a valid email address");
    }
    if !rules::is_valid_password(password) {
        tracing::warn!(
            "HOTDEAL_ADMIN_PASSWORD does not follow the signup rule (8 to 15 of a-z A-Z 0-9 !@#$%^&*()_+-=); used anyway"
        );
    }
    let hash = password::hash(password).await?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let user_id = repo::ensure_master(db, email, &hash, now_ms)
        .await
        .context("creating the admin account")?;
    tracing::info!(%user_id, "MASTER account ready for {email}");
    Ok(())
}

/// The KV key of the verification code sent to `email`.
pub fn code_key(email: &str) -> String {
    format!("email-code:{}", email.to_ascii_lowercase())
}

/// The KV key of `user`'s current refresh token.
pub fn refresh_key(user: UserId) -> String {
    format!("refresh:{user}")
}
