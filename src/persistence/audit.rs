//! What the operator endpoints read and write: the stored counters the engine/database audit
//! compares with the actors' state, and the operators' audit log (`hd_audit_log`).

use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use super::Db;
use super::page::PageRequest;
use super::repo::{opt_uuid_col, uuid_col};
use crate::domain::Millis;

/// A coupon campaign's stored counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredCampaign {
    pub issued_count: i64,
    pub quantity: i64,
    /// Coupon rows issued from the campaign.
    pub coupon_rows: i64,
}

/// The stored counters of campaign `id`, `None` when it has no row.
pub async fn stored_campaign(db: &Db, id: Uuid) -> anyhow::Result<Option<StoredCampaign>> {
    let row = sqlx::query(
        "SELECT issued_count, quantity, (SELECT COUNT(*) FROM p_coupon c WHERE c.coupon_info_id = i.coupon_info_id) AS rows_count \
         FROM p_coupon_info i WHERE coupon_info_id = ?",
    )
    .bind(id.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| {
        Ok(StoredCampaign {
            issued_count: r.try_get("issued_count")?,
            quantity: r.try_get("quantity")?,
            coupon_rows: r.try_get("rows_count")?,
        })
    })
    .transpose()
}

/// A product's stored stock levels; a column that cannot be read (no row, NULL) is -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLevels {
    pub quantity: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

/// The stored stock levels of product `id` (all -1 when it has no row).
pub async fn stored_levels(db: &Db, id: Uuid) -> anyhow::Result<StoredLevels> {
    let row = sqlx::query("SELECT quantity, available, reserved, sold FROM p_product WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    let get = |c: &str| -> i64 {
        row.as_ref()
            .and_then(|r| r.try_get::<i64, _>(c).ok())
            .unwrap_or(-1)
    };
    Ok(StoredLevels {
        quantity: get("quantity"),
        available: get("available"),
        reserved: get("reserved"),
        sold: get("sold"),
    })
}

/// One operator action to record.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: Uuid,
    pub action: &'static str,
    pub entity_type: &'static str,
    pub entity_id: Uuid,
    /// The action's details, as JSON text.
    pub detail: String,
}

/// Append `rec` to the audit log.
pub async fn insert_audit_record(db: &Db, rec: &AuditRecord, now_ms: Millis) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO hd_audit_log (id, actor_user_id, action, entity_type, entity_id, detail, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(rec.actor.to_string())
    .bind(rec.action)
    .bind(rec.entity_type)
    .bind(rec.entity_id.to_string())
    .bind(rec.detail.clone())
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Filters of the audit log; each given one must match exactly.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
}

/// One stored audit row.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    /// JSON text, as written.
    pub detail: Option<String>,
    pub created_at: Millis,
}

/// A page of the audit log and the number of matching rows.
pub async fn list_audit_records(
    db: &Db,
    filter: &AuditFilter,
    page: &PageRequest,
) -> anyhow::Result<(Vec<AuditRow>, i64)> {
    let mut clause = String::from(" WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    if let Some(action) = &filter.action {
        clause.push_str(" AND action = ?");
        binds.push(action.clone());
    }
    if let Some(t) = &filter.entity_type {
        clause.push_str(" AND entity_type = ?");
        binds.push(t.clone());
    }
    if let Some(e) = filter.entity_id {
        clause.push_str(" AND entity_id = ?");
        binds.push(e.to_string());
    }
    let count_sql = format!("SELECT COUNT(*) AS n FROM hd_audit_log{clause}");
    let mut count = sqlx::query(AssertSqlSafe(count_sql));
    for b in &binds {
        count = count.bind(b.clone());
    }
    let total: i64 = count.fetch_one(&db.pool).await?.try_get("n")?;
    let list_sql = format!(
        "SELECT id, actor_user_id, action, entity_type, entity_id, detail, created_at \
         FROM hd_audit_log{clause}{}",
        page.sql_tail("id")
    );
    let mut list = sqlx::query(AssertSqlSafe(list_sql));
    for b in &binds {
        list = list.bind(b.clone());
    }
    let rows = list.fetch_all(&db.pool).await?;
    let content = rows
        .iter()
        .map(|row| {
            Ok(AuditRow {
                id: uuid_col(row, "id")?,
                actor_user_id: opt_uuid_col(row, "actor_user_id")?,
                action: row.try_get("action")?,
                entity_type: row.try_get("entity_type")?,
                entity_id: uuid_col(row, "entity_id")?,
                detail: row.try_get("detail")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((content, total))
}
