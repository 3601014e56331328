//! Basket storage (`p_basket`): one row per product in a user's basket; removal is a soft
//! delete. Nothing here reads the engine: live stock and price are joined in by the service.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Db;
use super::repo::uuid_col;
use crate::domain::Millis;
use crate::domain::ids::UserId;

/// A basket line with its product's row.
#[derive(Debug, Clone, PartialEq)]
pub struct BasketRow {
    pub id: Uuid,
    pub quantity: i64,
    pub product_id: Uuid,
    pub product_name: String,
    pub product_status: String,
    pub product_thumb_img: Option<String>,
}

/// A basket line as an order takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasketLine {
    pub id: Uuid,
    pub product_id: Uuid,
    pub quantity: i64,
}

const BASKET_SELECT: &str = "SELECT b.id, b.quantity, b.product_id, p.name, p.status, p.thumb_img \
     FROM p_basket b JOIN p_product p ON p.id = b.product_id";

fn basket_from_row(r: &AnyRow) -> anyhow::Result<BasketRow> {
    Ok(BasketRow {
        id: uuid_col(r, "id")?,
        quantity: r.try_get("quantity")?,
        product_id: uuid_col(r, "product_id")?,
        product_name: r.try_get("name")?,
        product_status: r.try_get("status")?,
        product_thumb_img: r.try_get("thumb_img")?,
    })
}

/// The live line of `user`'s basket for `product`: its id and quantity.
pub async fn line_of_product(
    db: &Db,
    user: UserId,
    product: Uuid,
) -> anyhow::Result<Option<(Uuid, i64)>> {
    let row = sqlx::query(
        "SELECT id, quantity FROM p_basket WHERE user_id = ? AND product_id = ? AND deleted_at IS NULL",
    )
    .bind(user.to_string())
    .bind(product.to_string())
    .fetch_optional(&db.pool)
    .await?;
    match row {
        Some(r) => Ok(Some((uuid_col(&r, "id")?, r.try_get("quantity")?))),
        None => Ok(None),
    }
}

/// Insert a basket line.
pub async fn insert_basket(
    db: &Db,
    id: Uuid,
    product: Uuid,
    user: UserId,
    quantity: i64,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO p_basket (id, product_id, user_id, quantity, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(product.to_string())
    .bind(user.to_string())
    .bind(quantity)
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Set a basket line's quantity.
pub async fn set_quantity(
    db: &Db,
    id: Uuid,
    quantity: i64,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE p_basket SET quantity = ?, updated_at = ?, updated_by = ? WHERE id = ?")
        .bind(quantity)
        .bind(now_ms)
        .bind(by)
        .bind(id.to_string())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// A live basket line of `user`'s.
pub async fn basket(db: &Db, id: Uuid, user: UserId) -> anyhow::Result<Option<BasketRow>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BASKET_SELECT} WHERE b.id = ? AND b.user_id = ? AND b.deleted_at IS NULL"
    )))
    .bind(id.to_string())
    .bind(user.to_string())
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(basket_from_row).transpose()
}

/// One page of `user`'s live basket lines (`tail`: ORDER BY and LIMIT) with the total count.
pub async fn list_baskets(
    db: &Db,
    user: UserId,
    tail: &str,
) -> anyhow::Result<(Vec<BasketRow>, i64)> {
    let total: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM p_basket WHERE user_id = ? AND deleted_at IS NULL",
    )
    .bind(user.to_string())
    .fetch_one(&db.pool)
    .await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{BASKET_SELECT} WHERE b.user_id = ? AND b.deleted_at IS NULL{tail}"
    )))
    .bind(user.to_string())
    .fetch_all(&db.pool)
    .await?;
    let list = rows
        .iter()
        .map(basket_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((list, total))
}

/// The live lines `ids` of `user`'s basket (those that exist).
pub async fn lines(db: &Db, user: UserId, ids: &[Uuid]) -> anyhow::Result<Vec<BasketLine>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; ids.len()].join(",");
    let sql = format!(
        "SELECT id, product_id, quantity FROM p_basket WHERE user_id = ? AND deleted_at IS NULL AND id IN ({placeholders})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.to_string());
    for b in ids {
        q = q.bind(b.to_string());
    }
    let rows = q.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(BasketLine {
                id: uuid_col(r, "id")?,
                product_id: uuid_col(r, "product_id")?,
                quantity: r.try_get("quantity")?,
            })
        })
        .collect()
}

/// Soft-delete one basket line.
pub async fn delete_basket(db: &Db, id: Uuid, by: &str, now_ms: Millis) -> anyhow::Result<()> {
    sqlx::query("UPDATE p_basket SET deleted_at = ?, deleted_by = ? WHERE id = ?")
        .bind(now_ms)
        .bind(by)
        .bind(id.to_string())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Soft-delete the lines `ids` of `user`'s basket (they were ordered).
pub async fn delete_baskets(
    db: &Db,
    user: UserId,
    ids: &[Uuid],
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let placeholders = vec!["?"; ids.len()].join(",");
    let sql = format!(
        "UPDATE p_basket SET deleted_at = ?, deleted_by = ? WHERE user_id = ? AND id IN ({placeholders})"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_ms)
        .bind(by)
        .bind(user.to_string());
    for b in ids {
        q = q.bind(b.to_string());
    }
    q.execute(&db.pool).await?;
    Ok(())
}
