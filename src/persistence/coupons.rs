//! Coupon storage read and written outside the engine: a campaign's descriptive fields
//! (`p_coupon_info` name and type; its counters and status belong to the campaign actor and come
//! through the write-behind) and users' coupons (`p_coupon`, written behind; deleted here).

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Db;
use super::repo::uuid_col;
use crate::domain::Millis;
use crate::domain::campaign::CampaignStatus;
use crate::domain::ids::{CampaignId, UserId};

/// The fields of a campaign the engine does not own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRow {
    pub id: CampaignId,
    pub name: String,
    pub coupon_type: String,
}

/// A user's coupon with its campaign's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCoupon {
    pub coupon_id: Uuid,
    pub coupon_info_id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub discount_amount: i64,
    pub min_order_amount: i64,
    pub expiration_date: String,
    pub used: bool,
    pub used_date: Option<String>,
    pub daily_issued_date: Option<String>,
}

/// A coupon as an order uses it: its holder, its campaign and the campaign's last day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCoupon {
    pub user: UserId,
    pub campaign: CampaignId,
    /// `YYYY-MM-DD`.
    pub expiration_date: String,
}

/// Filters of the campaign list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignFilter {
    /// Name contains (case-insensitive).
    pub search: Option<String>,
    /// Only campaigns in these statuses (all given must match).
    pub statuses: Vec<CampaignStatus>,
}

/// The status of a live company.
pub async fn company_status(db: &Db, company: Uuid) -> anyhow::Result<Option<String>> {
    let row = sqlx::query("SELECT status FROM p_companies WHERE id = ? AND deleted_at IS NULL")
        .bind(company.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| Ok(r.try_get("status")?)).transpose()
}

/// A live campaign's own fields.
pub async fn campaign(db: &Db, id: CampaignId) -> anyhow::Result<Option<CampaignRow>> {
    let row = sqlx::query(
        "SELECT coupon_info_id, name, coupon_type FROM p_coupon_info \
         WHERE coupon_info_id = ? AND deleted_at IS NULL",
    )
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(campaign_from_row).transpose()
}

fn campaign_from_row(r: &AnyRow) -> anyhow::Result<CampaignRow> {
    Ok(CampaignRow {
        id: CampaignId(uuid_col(r, "coupon_info_id")?),
        name: r.try_get("name")?,
        coupon_type: r.try_get("coupon_type")?,
    })
}

/// Set a campaign's name and type.
pub async fn update_campaign_fields(
    db: &Db,
    id: CampaignId,
    name: &str,
    coupon_type: &str,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE p_coupon_info SET name = ?, coupon_type = ?, updated_at = ?, updated_by = ? \
         WHERE coupon_info_id = ?",
    )
    .bind(name)
    .bind(coupon_type)
    .bind(now_ms)
    .bind(by)
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One page of live campaigns (`tail`: ORDER BY and LIMIT) with the total count.
pub async fn list_campaigns(
    db: &Db,
    filter: &CampaignFilter,
    tail: &str,
) -> anyhow::Result<(Vec<CampaignRow>, i64)> {
    let mut conditions = String::from(" WHERE deleted_at IS NULL");
    let mut binds: Vec<String> = Vec::new();
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        conditions.push_str(" AND LOWER(name) LIKE ?");
        let escaped: String = search
            .to_lowercase()
            .chars()
            .filter(|c| *c != '%' && *c != '_')
            .collect();
        binds.push(format!("%{escaped}%"));
    }
    for status in &filter.statuses {
        conditions.push_str(" AND status = ?");
        binds.push(status.as_str().to_string());
    }
    let count_sql = format!("SELECT COUNT(*) AS n FROM p_coupon_info{conditions}");
    let mut count = sqlx::query(sqlx::AssertSqlSafe(count_sql));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(&db.pool).await?.try_get("n")?;
    let list_sql =
        format!("SELECT coupon_info_id, name, coupon_type FROM p_coupon_info{conditions}{tail}");
    let mut list = sqlx::query(sqlx::AssertSqlSafe(list_sql));
    for b in &binds {
        list = list.bind(b.clone());
    }
    let rows = list.fetch_all(&db.pool).await?;
    let rows = rows
        .iter()
        .map(campaign_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((rows, total))
}

const COUPON_SELECT: &str = "SELECT c.coupon_id, c.coupon_info_id, c.user_id, c.is_used, c.used_date, \
     c.daily_issued_date, i.name, i.discount_amount, i.min_order_amount, i.expiration_date \
     FROM p_coupon c JOIN p_coupon_info i ON i.coupon_info_id = c.coupon_info_id \
     WHERE c.deleted_at IS NULL";

fn coupon_from_row(row: &AnyRow) -> anyhow::Result<UserCoupon> {
    Ok(UserCoupon {
        coupon_id: uuid_col(row, "coupon_id")?,
        coupon_info_id: uuid_col(row, "coupon_info_id")?,
        user_id: uuid_col(row, "user_id")?,
        name: row.try_get("name")?,
        discount_amount: row.try_get("discount_amount")?,
        min_order_amount: row.try_get("min_order_amount")?,
        expiration_date: row.try_get("expiration_date")?,
        used: row.try_get::<i64, _>("is_used")? != 0,
        used_date: row.try_get("used_date")?,
        daily_issued_date: row.try_get("daily_issued_date")?,
    })
}

/// `owner`'s live coupons, newest first (at most 1,000), optionally only used or unused ones.
pub async fn user_coupons(
    db: &Db,
    owner: UserId,
    used: Option<bool>,
) -> anyhow::Result<Vec<UserCoupon>> {
    let mut sql = format!("{COUPON_SELECT} AND c.user_id = ?");
    if let Some(used) = used {
        sql.push_str(if used {
            " AND c.is_used = 1"
        } else {
            " AND c.is_used = 0"
        });
    }
    sql.push_str(" ORDER BY c.created_at DESC LIMIT 1000");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(owner.to_string())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(coupon_from_row).collect()
}

/// A live coupon.
pub async fn user_coupon(db: &Db, id: Uuid) -> anyhow::Result<Option<UserCoupon>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{COUPON_SELECT} AND c.coupon_id = ?"
    )))
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(coupon_from_row).transpose()
}

/// A live coupon of a live campaign, as an order uses it.
pub async fn held_coupon(db: &Db, coupon: Uuid) -> anyhow::Result<Option<HeldCoupon>> {
    let row = sqlx::query(
        "SELECT c.user_id, c.coupon_info_id, i.expiration_date FROM p_coupon c \
         JOIN p_coupon_info i ON i.coupon_info_id = c.coupon_info_id \
         WHERE c.coupon_id = ? AND c.deleted_at IS NULL AND i.deleted_at IS NULL",
    )
    .bind(coupon.to_string())
    .fetch_optional(&db.pool)
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(HeldCoupon {
        user: UserId(uuid_col(&r, "user_id")?),
        campaign: CampaignId(uuid_col(&r, "coupon_info_id")?),
        expiration_date: r.try_get("expiration_date")?,
    }))
}

/// Soft-delete a live coupon. `false` when there is none.
pub async fn delete_coupon(db: &Db, id: Uuid, by: &str, now_ms: Millis) -> anyhow::Result<bool> {
    let done = sqlx::query(
        "UPDATE p_coupon SET deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? \
         WHERE coupon_id = ? AND deleted_at IS NULL",
    )
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
