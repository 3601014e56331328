//! What the order path reads from storage: the products' names and companies an order line
//! records, the owner of a delivery address, and pages of a user's order ids (the orders
//! themselves come from the engine's order book). Orders are written by the write-behind only.

use sqlx::Row;
use uuid::Uuid;

use super::Db;
use super::repo::uuid_col;
use crate::domain::ids::{CompanyId, ItemId, OrderId, UserId};
use crate::domain::order::OrderStatus;

/// A product's name and company, as an order line records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    pub name: String,
    pub company_id: CompanyId,
}

/// Name and company of the live products among `ids` (missing ones are left out).
pub async fn product_infos(db: &Db, ids: &[ItemId]) -> anyhow::Result<Vec<(ItemId, ProductInfo)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; ids.len()].join(",");
    let sql = format!(
        "SELECT id, name, company_id FROM p_product WHERE deleted_at IS NULL AND id IN ({placeholders})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id.to_string());
    }
    q.fetch_all(&db.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                ItemId(uuid_col(row, "id")?),
                ProductInfo {
                    name: row.try_get("name")?,
                    company_id: CompanyId(uuid_col(row, "company_id")?),
                },
            ))
        })
        .collect()
}

/// The owner of a live address.
pub async fn address_owner(db: &Db, address: Uuid) -> anyhow::Result<Option<UserId>> {
    let row =
        sqlx::query("SELECT user_id FROM p_address WHERE address_id = ? AND deleted_at IS NULL")
            .bind(address.to_string())
            .fetch_optional(&db.pool)
            .await?;
    row.map(|r| Ok(UserId(uuid_col(&r, "user_id")?)))
        .transpose()
}

/// One page of `owner`'s order ids (optionally of one status; `tail`: ORDER BY and LIMIT) with
/// the total count.
pub async fn order_ids(
    db: &Db,
    owner: UserId,
    status: Option<OrderStatus>,
    tail: &str,
) -> anyhow::Result<(Vec<OrderId>, i64)> {
    let mut filter = String::from(" FROM p_order WHERE user_id = ? AND deleted_at IS NULL");
    if status.is_some() {
        filter.push_str(" AND status = ?");
    }
    let count_sql = format!("SELECT COUNT(*) {filter}");
    let mut count =
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql)).bind(owner.to_string());
    if let Some(s) = status {
        count = count.bind(s.as_str());
    }
    let total = count.fetch_one(&db.pool).await?;
    let ids_sql = format!("SELECT id {filter}{tail}");
    let mut ids = sqlx::query(sqlx::AssertSqlSafe(ids_sql)).bind(owner.to_string());
    if let Some(s) = status {
        ids = ids.bind(s.as_str());
    }
    let rows = ids.fetch_all(&db.pool).await?;
    let ids = rows
        .iter()
        .map(|r| Ok(OrderId(uuid_col(r, "id")?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((ids, total))
}
