//! SQL for accounts: `p_user`, `p_email`, `p_address`. Written once for SQLite and MySQL (Any
//! driver): ids as CHAR(36) text, times as epoch milliseconds, soft delete through `deleted_at`.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::domain::Millis;
use crate::persistence::Db;
use crate::persistence::page::PageRequest;
use crate::persistence::repo::{opt_uuid_col, uuid_col};

/// A `p_user` row (the password is the argon2 PHC string).
#[derive(Clone)]
pub struct UserRow {
    pub user_id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub nickname: String,
    pub role: String,
    pub default_address_id: Option<Uuid>,
    pub deleted: bool,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password hash.
        f.debug_struct("UserRow")
            .field("user_id", &self.user_id)
            .field("email", &self.email)
            .field("nickname", &self.nickname)
            .field("role", &self.role)
            .field("deleted", &self.deleted)
            .finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str =
    "user_id, email, password, nickname, role, default_address_id, deleted_at";

fn user_row(row: &AnyRow) -> anyhow::Result<UserRow> {
    Ok(UserRow {
        user_id: uuid_col(row, "user_id")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password")?,
        nickname: row.try_get("nickname")?,
        role: row.try_get("role")?,
        default_address_id: opt_uuid_col(row, "default_address_id")?,
        deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
    })
}

/// A user to insert.
#[derive(Clone)]
pub struct NewUser<'a> {
    pub user_id: Uuid,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub nickname: &'a str,
    pub role: &'a str,
}

/// Which unique key a failed insert or update ran into (`"email"` or `"nickname"`), if any.
pub fn unique_violation(err: &anyhow::Error) -> Option<&'static str> {
    let db_err = err
        .chain()
        .find_map(|e| match e.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Database(d)) => Some(d),
            _ => None,
        })?;
    // SQLite: "UNIQUE constraint failed: p_user.nickname"; MySQL: "Duplicate entry .. for key
    // 'uq_user_nickname'".
    let message = db_err.message().to_ascii_lowercase();
    if !(message.contains("unique") || message.contains("duplicate")) {
        return None;
    }
    if message.contains("nickname") {
        Some("nickname")
    } else if message.contains("email") {
        Some("email")
    } else {
        None
    }
}

/// Whether any user (deleted ones included: the unique key keeps their email) has `email`.
pub async fn email_registered(db: &Db, email: &str) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM p_user WHERE email = ?")
        .bind(email)
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

/// Whether a user other than `except` has `nickname` (deleted ones included).
pub async fn nickname_taken(db: &Db, nickname: &str, except: Option<Uuid>) -> anyhow::Result<bool> {
    let except = except.map(|u| u.to_string()).unwrap_or_default();
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM p_user WHERE nickname = ? AND user_id <> ?")
            .bind(nickname)
            .bind(except)
            .fetch_one(&db.pool)
            .await?;
    Ok(n > 0)
}

/// The user with `email`, deleted or not.
pub async fn find_user_by_email(db: &Db, email: &str) -> anyhow::Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM p_user WHERE email = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(user_row).transpose()
}

/// The user `user_id`, deleted or not.
pub async fn find_user(db: &Db, user_id: Uuid) -> anyhow::Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM p_user WHERE user_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(user_row).transpose()
}

/// Insert a user; its own email is the auditor.
pub async fn insert_user(db: &Db, user: &NewUser<'_>, now_ms: Millis) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO p_user (user_id, email, password, nickname, role, default_address_id, \
         created_at, created_by, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
    )
    .bind(user.user_id.to_string())
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.nickname)
    .bind(user.role)
    .bind(now_ms)
    .bind(user.email)
    .bind(now_ms)
    .bind(user.email)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Change a live user's nickname; whether the user was there.
pub async fn update_nickname(
    db: &Db,
    user_id: Uuid,
    nickname: &str,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE p_user SET nickname = ?, updated_at = ?, updated_by = ? \
         WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(nickname)
    .bind(now_ms)
    .bind(by)
    .bind(user_id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Change a live user's password hash; whether the user was there.
pub async fn update_password(
    db: &Db,
    user_id: Uuid,
    password_hash: &str,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE p_user SET password = ?, updated_at = ?, updated_by = ? \
         WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(password_hash)
    .bind(now_ms)
    .bind(by)
    .bind(user_id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Soft-delete a live user; whether the user was there.
pub async fn soft_delete_user(
    db: &Db,
    user_id: Uuid,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE p_user SET deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? \
         WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .bind(user_id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The users whose row changed (signup, password, deletion, role, nickname, default address) at
/// or after `since_ms`, with when: the token revocations a node without Redis restores at start.
pub async fn users_changed_since(db: &Db, since_ms: Millis) -> anyhow::Result<Vec<(Uuid, Millis)>> {
    let rows = sqlx::query("SELECT user_id, updated_at FROM p_user WHERE updated_at >= ?")
        .bind(since_ms)
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                uuid_col(row, "user_id")?,
                row.try_get::<i64, _>("updated_at")?,
            ))
        })
        .collect()
}

/// Create the MASTER account `email` with `password_hash`, or, if the email is taken, give that
/// account this password and the MASTER role (and undo a soft delete). Its email counts as
/// verified. Returns the account's id.
pub async fn ensure_master(
    db: &Db,
    email: &str,
    password_hash: &str,
    now_ms: Millis,
) -> anyhow::Result<Uuid> {
    mark_email_verified(db, email).await?;
    if let Some(user) = find_user_by_email(db, email).await? {
        return make_master(db, user.user_id, password_hash, now_ms).await;
    }
    let user_id = Uuid::now_v7();
    let mut nickname = "admin".to_string();
    for _ in 0..20 {
        if !nickname_taken(db, &nickname, None).await? {
            break;
        }
        nickname = format!("admin{:05}", rand::random::<u32>() % 100_000);
    }
    let inserted = insert_user(
        db,
        &NewUser {
            user_id,
            email,
            password_hash,
            nickname: &nickname,
            role: "MASTER",
        },
        now_ms,
    )
    .await;
    if let Err(err) = inserted {
        // Several nodes starting at once each create the account: whoever lost the race makes
        // the winner's row the MASTER it was asked for.
        return match find_user_by_email(db, email).await? {
            Some(user) => make_master(db, user.user_id, password_hash, now_ms).await,
            None => Err(err),
        };
    }
    Ok(user_id)
}

async fn make_master(
    db: &Db,
    user_id: Uuid,
    password_hash: &str,
    now_ms: Millis,
) -> anyhow::Result<Uuid> {
    sqlx::query(
        "UPDATE p_user SET password = ?, role = 'MASTER', deleted_at = NULL, deleted_by = NULL, \
         updated_at = ?, updated_by = 'SYSTEM' WHERE user_id = ?",
    )
    .bind(password_hash)
    .bind(now_ms)
    .bind(user_id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(user_id)
}

// ------------------------------------------------------------------------------------ p_email

/// Record that a code was requested for `email` (unverified), unless already recorded.
pub async fn record_email(db: &Db, email: &str) -> anyhow::Result<()> {
    let sql = format!(
        "{} INTO p_email (email, is_verified) VALUES (?, 0)",
        db.dialect.insert_ignore()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// `None` when no code was ever requested for `email`, else whether it was confirmed.
pub async fn email_verified(db: &Db, email: &str) -> anyhow::Result<Option<bool>> {
    let v: Option<i64> = sqlx::query_scalar("SELECT is_verified FROM p_email WHERE email = ?")
        .bind(email)
        .fetch_optional(&db.pool)
        .await?;
    Ok(v.map(|v| v != 0))
}

/// Mark `email` verified (recording it if needed).
pub async fn mark_email_verified(db: &Db, email: &str) -> anyhow::Result<()> {
    record_email(db, email).await?;
    sqlx::query("UPDATE p_email SET is_verified = 1 WHERE email = ?")
        .bind(email)
        .execute(&db.pool)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------- p_address

/// The six fields of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressFields {
    pub zip_num: String,
    pub city: String,
    pub district: String,
    pub street_name: String,
    pub street_num: String,
    pub detail_addr: String,
}

/// A `p_address` row.
#[derive(Debug, Clone)]
pub struct AddressRow {
    pub address_id: Uuid,
    pub user_id: Uuid,
    pub fields: AddressFields,
    pub deleted: bool,
}

const ADDRESS_COLUMNS: &str = "a.address_id, a.user_id, a.zip_num, a.city, a.district, \
     a.street_name, a.street_num, a.detail_addr, a.deleted_at";

fn address_row(row: &AnyRow) -> anyhow::Result<AddressRow> {
    Ok(AddressRow {
        address_id: uuid_col(row, "address_id")?,
        user_id: uuid_col(row, "user_id")?,
        fields: AddressFields {
            zip_num: row.try_get("zip_num")?,
            city: row.try_get("city")?,
            district: row.try_get("district")?,
            street_name: row.try_get("street_name")?,
            street_num: row.try_get("street_num")?,
            detail_addr: row.try_get("detail_addr")?,
        },
        deleted: row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
    })
}

/// How many live addresses `user_id` has.
pub async fn count_live_addresses(db: &Db, user_id: Uuid) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM p_address WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(user_id.to_string())
    .fetch_one(&db.pool)
    .await?)
}

/// Insert an address for `user_id`.
pub async fn insert_address(
    db: &Db,
    address_id: Uuid,
    user_id: Uuid,
    f: &AddressFields,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO p_address (address_id, user_id, zip_num, city, district, street_name, \
         street_num, detail_addr, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(address_id.to_string())
    .bind(user_id.to_string())
    .bind(&f.zip_num)
    .bind(&f.city)
    .bind(&f.district)
    .bind(&f.street_name)
    .bind(&f.street_num)
    .bind(&f.detail_addr)
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The address `address_id`, deleted or not. Other modules (orders) use this to check that an
/// address belongs to the caller.
pub async fn find_address(db: &Db, address_id: Uuid) -> anyhow::Result<Option<AddressRow>> {
    let sql = format!("SELECT {ADDRESS_COLUMNS} FROM p_address a WHERE a.address_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(address_id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(address_row).transpose()
}

/// One page of `user_id`'s live addresses and their total count.
pub async fn list_addresses(
    db: &Db,
    user_id: Uuid,
    page: &PageRequest,
) -> anyhow::Result<(Vec<AddressRow>, i64)> {
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM p_address WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(user_id.to_string())
    .fetch_one(&db.pool)
    .await?;
    let sql = format!(
        "SELECT {ADDRESS_COLUMNS} FROM p_address a WHERE a.user_id = ? AND a.deleted_at IS NULL{}",
        page.sql_tail("a.address_id")
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .fetch_all(&db.pool)
        .await?;
    let content = rows
        .iter()
        .map(address_row)
        .collect::<anyhow::Result<_>>()?;
    Ok((content, total))
}

/// Overwrite a live address's fields; whether it was there.
pub async fn update_address(
    db: &Db,
    address_id: Uuid,
    f: &AddressFields,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE p_address SET zip_num = ?, city = ?, district = ?, street_name = ?, street_num = ?, \
         detail_addr = ?, updated_at = ?, updated_by = ? WHERE address_id = ? AND deleted_at IS NULL",
    )
    .bind(&f.zip_num)
    .bind(&f.city)
    .bind(&f.district)
    .bind(&f.street_name)
    .bind(&f.street_num)
    .bind(&f.detail_addr)
    .bind(now_ms)
    .bind(by)
    .bind(address_id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Soft-delete a live address of `user_id`, clearing it as the user's default if it was, in one
/// transaction; whether it was there.
pub async fn soft_delete_address(
    db: &Db,
    address_id: Uuid,
    user_id: Uuid,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query(
        "UPDATE p_address SET deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? \
         WHERE address_id = ? AND user_id = ? AND deleted_at IS NULL",
    )
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .bind(address_id.to_string())
    .bind(user_id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "UPDATE p_user SET default_address_id = NULL, updated_at = ?, updated_by = ? \
         WHERE user_id = ? AND default_address_id = ?",
    )
    .bind(now_ms)
    .bind(by)
    .bind(user_id.to_string())
    .bind(address_id.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Make `address_id` the default of live user `user_id`, only if it is a live address of theirs
/// (checked in the same statement, so a concurrent delete cannot leave a dangling default);
/// whether it was set.
pub async fn set_default_address(
    db: &Db,
    user_id: Uuid,
    address_id: Uuid,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE p_user SET default_address_id = ?, updated_at = ?, updated_by = ? \
         WHERE user_id = ? AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM p_address a \
         WHERE a.address_id = ? AND a.user_id = ? AND a.deleted_at IS NULL)",
    )
    .bind(address_id.to_string())
    .bind(now_ms)
    .bind(by)
    .bind(user_id.to_string())
    .bind(address_id.to_string())
    .bind(user_id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The live default address of live user `user_id`, if any.
pub async fn default_address(db: &Db, user_id: Uuid) -> anyhow::Result<Option<AddressRow>> {
    let sql = format!(
        "SELECT {ADDRESS_COLUMNS} FROM p_user u JOIN p_address a \
         ON a.address_id = u.default_address_id AND a.user_id = u.user_id \
         WHERE u.user_id = ? AND u.deleted_at IS NULL AND a.deleted_at IS NULL"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(address_row).transpose()
}
