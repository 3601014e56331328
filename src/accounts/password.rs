//! Password hashing: argon2id (PHC strings), run on the blocking pool so a hash never stalls the
//! async workers.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): the crate's defaults, named here.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

fn hash_now(password: &str) -> anyhow::Result<String> {
    // 16 random bytes from the thread's CSPRNG (rand), as the PHC salt.
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes)
        .map_err(|e| anyhow::anyhow!("encoding a password salt: {e}"))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?
        .to_string())
}

fn verify_now(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Hash `password` (argon2id, random salt) off the async workers.
pub async fn hash(password: &str) -> anyhow::Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .context("password hashing task")?
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub async fn verify(password: &str, hash: &str) -> anyhow::Result<bool> {
    let (password, hash) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || verify_now(&password, &hash))
        .await
        .context("password verification task")
}

/// Spend the time of one verification against a fixed hash, so an unknown email answers as
/// slowly as a wrong password does.
pub async fn verify_dummy(password: &str) -> anyhow::Result<()> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        let hash = DUMMY.get_or_init(|| hash_now("not-a-real-password").unwrap_or_default());
        verify_now(&password, hash);
    })
    .await
    .context("password verification task")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let a = hash("Secret12!").await.unwrap();
        let b = hash("Secret12!").await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(verify("Secret12!", &a).await.unwrap());
        assert!(!verify("Secret12?", &a).await.unwrap());
        assert!(!verify("Secret12!", "garbage").await.unwrap());
    }
}
