//! Catalog storage: companies (`p_companies`), products (`p_product`), time sales (`p_promotion`)
//! and reviews (`p_review`), for both backends.
//!
//! What this module never writes: a product's stock counters (`quantity`, `available`,
//! `reserved`, `sold`) and a promotion's `remaining` after creation. Those belong to the item
//! actors and reach the database through the write-behind. A product's price and status are
//! written here too (after the engine accepted them) so that the row is right at once.
//!
//! Review changes and the product's `rating_sum` / `review_cnt` move together in one transaction.

use std::collections::HashMap;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AssertSqlSafe, Row};
use uuid::Uuid;

use super::Db;
use super::repo::{opt_uuid_col, uuid_col};
use crate::domain::Millis;
use crate::domain::ids::PromotionId;
use crate::domain::item::SaleConfig;

/// A bind value for SQL built at run time.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Int(i64),
}

type AnyQuery<'a> = sqlx::query::Query<'a, Any, AnyArguments>;

fn bind_args<'a>(mut q: AnyQuery<'a>, args: &[Arg]) -> AnyQuery<'a> {
    for a in args {
        q = match a {
            Arg::Text(s) => q.bind(s.clone()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

/// A `WHERE` clause built from optional filters; every value is a bind parameter.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Filter {
    /// A filter that starts with a fixed condition (such as `deleted_at IS NULL`).
    pub fn new(base: &str) -> Self {
        Self {
            clauses: vec![base.to_string()],
            args: Vec::new(),
        }
    }

    /// `clause` with its `?` placeholders bound to `args`, in order.
    pub fn push(&mut self, clause: impl Into<String>, args: impl IntoIterator<Item = Arg>) {
        self.clauses.push(clause.into());
        self.args.extend(args);
    }

    /// `column IN (?, ...)`; an empty list matches nothing.
    pub fn push_in(&mut self, column: &str, values: &[Uuid]) {
        if values.is_empty() {
            self.clauses.push("1 = 0".to_string());
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.clauses.push(format!("{column} IN ({marks})"));
        self.args
            .extend(values.iter().map(|v| Arg::Text(v.to_string())));
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// `LIKE` pattern for "contains `needle`", escaped with `!` (an escape character both backends
/// read the same way).
pub fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Run `SELECT <cols> FROM <table> <filter> <tail>` and `SELECT COUNT(*)` for the same filter.
async fn fetch_page(
    db: &Db,
    cols: &str,
    table: &str,
    filter: &Filter,
    tail: &str,
) -> anyhow::Result<(Vec<AnyRow>, i64)> {
    let where_sql = filter.sql();
    let count_sql = format!("SELECT COUNT(*) AS n FROM {table}{where_sql}");
    let total: i64 = bind_args(sqlx::query(AssertSqlSafe(count_sql)), &filter.args)
        .fetch_one(&db.pool)
        .await?
        .try_get("n")?;
    let sql = format!("SELECT {cols} FROM {table}{where_sql}{tail}");
    let rows = bind_args(sqlx::query(AssertSqlSafe(sql)), &filter.args)
        .fetch_all(&db.pool)
        .await?;
    Ok((rows, total))
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

fn json_list(raw: Option<String>) -> Vec<String> {
    raw.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

// ------------------------------------------------------------------------------ companies

/// A company (`p_companies`).
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    pub id: Uuid,
    pub business_registration_number: i64,
    pub company_phone_number: i64,
    /// The seller who manages the company.
    pub manager_id: Uuid,
    pub company_email: String,
    pub brand_name: String,
    /// REQUESTED, PENDING, APPROVED or REJECTED.
    pub status: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const COMPANY_COLS: &str = "id, business_registration_number, company_phone_number, manager_id, \
                            company_email, brand_name, status, created_at, updated_at";

fn company_from_row(r: &AnyRow) -> anyhow::Result<Company> {
    Ok(Company {
        id: uuid_col(r, "id")?,
        business_registration_number: r.try_get("business_registration_number")?,
        company_phone_number: r.try_get("company_phone_number")?,
        manager_id: uuid_col(r, "manager_id")?,
        company_email: r.try_get("company_email")?,
        brand_name: r.try_get("brand_name")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Insert a company. `false` when the business registration number is taken (by any row,
/// deleted or not: the unique key covers them all).
pub async fn insert_company(db: &Db, c: &Company, by: &str) -> anyhow::Result<bool> {
    let taken =
        sqlx::query("SELECT 1 AS x FROM p_companies WHERE business_registration_number = ?")
            .bind(c.business_registration_number)
            .fetch_optional(&db.pool)
            .await?;
    if taken.is_some() {
        return Ok(false);
    }
    let res = sqlx::query(
        "INSERT INTO p_companies (id, business_registration_number, company_phone_number, \
         manager_id, company_email, brand_name, status, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(c.id.to_string())
    .bind(c.business_registration_number)
    .bind(c.company_phone_number)
    .bind(c.manager_id.to_string())
    .bind(&c.company_email)
    .bind(&c.brand_name)
    .bind(&c.status)
    .bind(c.created_at)
    .bind(by)
    .bind(c.updated_at)
    .bind(by)
    .execute(&db.pool)
    .await;
    match res {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The company with this id, unless missing or deleted.
pub async fn company(db: &Db, id: Uuid) -> anyhow::Result<Option<Company>> {
    let sql = format!("SELECT {COMPANY_COLS} FROM p_companies WHERE id = ? AND deleted_at IS NULL");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(company_from_row).transpose()
}

/// The fields of a company its manager may change; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct CompanyPatch {
    pub company_phone_number: Option<i64>,
    pub manager_id: Option<Uuid>,
    pub company_email: Option<String>,
    pub brand_name: Option<String>,
}

/// Apply `patch`; `false` when the company is missing or deleted.
pub async fn update_company(
    db: &Db,
    id: Uuid,
    patch: &CompanyPatch,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let res = sqlx::query(
        "UPDATE p_companies SET company_phone_number = COALESCE(?, company_phone_number), \
         manager_id = COALESCE(?, manager_id), company_email = COALESCE(?, company_email), \
         brand_name = COALESCE(?, brand_name), updated_at = ?, updated_by = ? \
         WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(patch.company_phone_number)
    .bind(patch.manager_id.map(|m| m.to_string()))
    .bind(patch.company_email.clone())
    .bind(patch.brand_name.clone())
    .bind(now_ms)
    .bind(by)
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Move the company to `to` if its status is one of `from` (compare-and-set, so two reviewers
/// deciding at once cannot both win). `false` when it was not in one of those statuses.
pub async fn set_company_status(
    db: &Db,
    id: Uuid,
    from: &[&str],
    to: &str,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let marks = vec!["?"; from.len()].join(", ");
    let sql = format!(
        "UPDATE p_companies SET status = ?, updated_at = ?, updated_by = ? \
         WHERE id = ? AND deleted_at IS NULL AND status IN ({marks})"
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(to)
        .bind(now_ms)
        .bind(by)
        .bind(id.to_string());
    for f in from {
        q = q.bind(*f);
    }
    Ok(q.execute(&db.pool).await?.rows_affected() == 1)
}

/// One page of companies, optionally only one status and one manager's, with the total count.
pub async fn list_companies(
    db: &Db,
    status: Option<&str>,
    manager: Option<Uuid>,
    tail: &str,
) -> anyhow::Result<(Vec<Company>, i64)> {
    let mut f = Filter::new("deleted_at IS NULL");
    if let Some(s) = status {
        f.push("status = ?", [Arg::Text(s.to_string())]);
    }
    if let Some(m) = manager {
        f.push("manager_id = ?", [Arg::Text(m.to_string())]);
    }
    let (rows, total) = fetch_page(db, COMPANY_COLS, "p_companies", &f, tail).await?;
    let list = rows
        .iter()
        .map(company_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((list, total))
}

// ------------------------------------------------------------------------------- products

/// A product row (`p_product`). The stock counters are what the write-behind last wrote; the
/// live ones are the item actor's.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub price: i64,
    /// Total stock.
    pub quantity: i64,
    pub available: i64,
    pub category: String,
    pub description: Option<String>,
    pub thumb_img: Option<String>,
    pub detail_imgs: Vec<String>,
    pub company_id: Uuid,
    pub status: String,
    pub rating_sum: f64,
    pub review_cnt: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const PRODUCT_COLS: &str = "id, name, price, quantity, available, category, description, \
                            thumb_img, detail_imgs, company_id, status, rating_sum, review_cnt, \
                            created_at, updated_at";

fn product_from_row(r: &AnyRow) -> anyhow::Result<Product> {
    Ok(Product {
        id: uuid_col(r, "id")?,
        name: r.try_get("name")?,
        price: r.try_get("price")?,
        quantity: r.try_get("quantity")?,
        available: r.try_get("available")?,
        category: r.try_get("category")?,
        description: r.try_get("description")?,
        thumb_img: r.try_get("thumb_img")?,
        detail_imgs: json_list(r.try_get("detail_imgs")?),
        company_id: uuid_col(r, "company_id")?,
        status: r.try_get("status")?,
        rating_sum: r.try_get("rating_sum")?,
        review_cnt: r.try_get("review_cnt")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// The product with this id, unless missing or deleted.
pub async fn product(db: &Db, id: Uuid) -> anyhow::Result<Option<Product>> {
    let sql = format!("SELECT {PRODUCT_COLS} FROM p_product WHERE id = ? AND deleted_at IS NULL");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(product_from_row).transpose()
}

/// The descriptive fields of a product; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub thumb_img: Option<String>,
    pub detail_imgs: Option<Vec<String>>,
}

impl ProductPatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.category.is_none()
            && self.thumb_img.is_none()
            && self.detail_imgs.is_none()
    }
}

/// Apply `patch`; `false` when the product is missing or deleted.
pub async fn update_product(
    db: &Db,
    id: Uuid,
    patch: &ProductPatch,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let detail = patch
        .detail_imgs
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let res = sqlx::query(
        "UPDATE p_product SET name = COALESCE(?, name), description = COALESCE(?, description), \
         category = COALESCE(?, category), thumb_img = COALESCE(?, thumb_img), \
         detail_imgs = COALESCE(?, detail_imgs), updated_at = ?, updated_by = ? \
         WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(patch.name.clone())
    .bind(patch.description.clone())
    .bind(patch.category.clone())
    .bind(patch.thumb_img.clone())
    .bind(detail)
    .bind(now_ms)
    .bind(by)
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Write the price and status the engine accepted.
pub async fn set_product_price_status(
    db: &Db,
    id: Uuid,
    price: i64,
    status: &str,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let res = sqlx::query(
        "UPDATE p_product SET price = ?, status = ?, updated_at = ?, updated_by = ? \
         WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(price)
    .bind(status)
    .bind(now_ms)
    .bind(by)
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Soft-delete a product; `false` when it was already gone.
pub async fn delete_product(db: &Db, id: Uuid, by: &str, now_ms: Millis) -> anyhow::Result<bool> {
    let res = sqlx::query(
        "UPDATE p_product SET deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? \
         WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Filters of the product list.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Matches the name or the description, case-insensitively.
    pub search: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    /// Only these products (when `Some`).
    pub ids: Option<Vec<Uuid>>,
    pub company_id: Option<Uuid>,
}

/// One page of live products with the total count.
pub async fn list_products(
    db: &Db,
    pf: &ProductFilter,
    tail: &str,
) -> anyhow::Result<(Vec<Product>, i64)> {
    let mut f = Filter::new("deleted_at IS NULL");
    if let Some(s) = &pf.search {
        let pattern = contains_pattern(s);
        f.push(
            "(LOWER(name) LIKE ? ESCAPE '!' OR LOWER(COALESCE(description, '')) LIKE ? ESCAPE '!')",
            [Arg::Text(pattern.clone()), Arg::Text(pattern)],
        );
    }
    if let Some(c) = &pf.category {
        f.push("category = ?", [Arg::Text(c.clone())]);
    }
    if let Some(s) = &pf.status {
        f.push("status = ?", [Arg::Text(s.clone())]);
    }
    if let Some(ids) = &pf.ids {
        f.push_in("id", ids);
    }
    if let Some(c) = pf.company_id {
        f.push("company_id = ?", [Arg::Text(c.to_string())]);
    }
    let (rows, total) = fetch_page(db, PRODUCT_COLS, "p_product", &f, tail).await?;
    let list = rows
        .iter()
        .map(product_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((list, total))
}

// ----------------------------------------------------------------------------- promotions

/// A time sale (`p_promotion`). `status` is the stored one, refreshed when the catalog moves
/// the product's sale in the engine; the live phase comes from the engine and the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    pub id: Uuid,
    pub product_id: Uuid,
    pub start_at: Millis,
    pub end_at: Millis,
    pub discount_rate: i64,
    pub discount_price: i64,
    pub quantity: i64,
    /// What the write-behind last wrote.
    pub remaining: i64,
    pub per_user_limit: Option<i64>,
    pub status: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Promotion {
    /// The sale as the item actor holds it.
    pub fn sale_config(&self) -> SaleConfig {
        SaleConfig {
            promotion_id: PromotionId(self.id),
            start_ms: self.start_at,
            end_ms: self.end_at,
            sale_price: self.discount_price,
            quantity: self.quantity,
            per_user_limit: self.per_user_limit,
        }
    }
}

const PROMOTION_COLS: &str = "id, product_id, start_at, end_at, discount_rate, discount_price, \
                              quantity, remaining, per_user_limit, status, created_at, updated_at";

fn promotion_from_row(r: &AnyRow) -> anyhow::Result<Promotion> {
    Ok(Promotion {
        id: uuid_col(r, "id")?,
        product_id: uuid_col(r, "product_id")?,
        start_at: r.try_get("start_at")?,
        end_at: r.try_get("end_at")?,
        discount_rate: r.try_get("discount_rate")?,
        discount_price: r.try_get("discount_price")?,
        quantity: r.try_get("quantity")?,
        remaining: r.try_get("remaining")?,
        per_user_limit: r.try_get("per_user_limit")?,
        status: r.try_get("status")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Insert a promotion as given (the caller sets status PENDING and remaining = quantity).
pub async fn insert_promotion(db: &Db, p: &Promotion, by: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO p_promotion (id, product_id, start_at, end_at, discount_rate, discount_price, \
         quantity, remaining, per_user_limit, status, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.id.to_string())
    .bind(p.product_id.to_string())
    .bind(p.start_at)
    .bind(p.end_at)
    .bind(p.discount_rate)
    .bind(p.discount_price)
    .bind(p.quantity)
    .bind(p.remaining)
    .bind(p.per_user_limit)
    .bind(&p.status)
    .bind(p.created_at)
    .bind(by)
    .bind(p.updated_at)
    .bind(by)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Remove a promotion row outright (undoing an insert the engine then refused).
pub async fn remove_promotion_row(db: &Db, id: Uuid) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM p_promotion WHERE id = ?")
        .bind(id.to_string())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The promotion with this id, unless missing or deleted.
pub async fn promotion(db: &Db, id: Uuid) -> anyhow::Result<Option<Promotion>> {
    let sql =
        format!("SELECT {PROMOTION_COLS} FROM p_promotion WHERE id = ? AND deleted_at IS NULL");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(promotion_from_row).transpose()
}

/// Whether another live promotion of `product` overlaps `[start, end)`:
/// `existing.start < end AND existing.end > start`, leaving out `exclude`.
pub async fn promotion_overlaps(
    db: &Db,
    product: Uuid,
    start_ms: Millis,
    end_ms: Millis,
    exclude: Option<Uuid>,
) -> anyhow::Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM p_promotion WHERE product_id = ? AND deleted_at IS NULL \
         AND start_at < ? AND end_at > ? AND id <> ?",
    )
    .bind(product.to_string())
    .bind(end_ms)
    .bind(start_ms)
    .bind(exclude.map(|e| e.to_string()).unwrap_or_default())
    .fetch_one(&db.pool)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Replace a promotion's window, prices, quantity (and `remaining`) and per-user limit.
pub async fn update_promotion(db: &Db, p: &Promotion, by: &str) -> anyhow::Result<bool> {
    let res = sqlx::query(
        "UPDATE p_promotion SET start_at = ?, end_at = ?, discount_rate = ?, discount_price = ?, \
         quantity = ?, remaining = ?, per_user_limit = ?, status = ?, updated_at = ?, updated_by = ? \
         WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(p.start_at)
    .bind(p.end_at)
    .bind(p.discount_rate)
    .bind(p.discount_price)
    .bind(p.quantity)
    .bind(p.remaining)
    .bind(p.per_user_limit)
    .bind(&p.status)
    .bind(p.updated_at)
    .bind(by)
    .bind(p.id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Soft-delete a promotion; `false` when it was already gone.
pub async fn delete_promotion(db: &Db, id: Uuid, by: &str, now_ms: Millis) -> anyhow::Result<bool> {
    let res = sqlx::query(
        "UPDATE p_promotion SET deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? \
         WHERE id = ? AND deleted_at IS NULL",
    )
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .bind(id.to_string())
    .execute(&db.pool)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// For each of `products`, its live promotion that starts first among those not over yet
/// (`end_at > now_ms`): the sale its item actor should hold.
pub async fn next_promotions(
    db: &Db,
    products: &[Uuid],
    now_ms: Millis,
) -> anyhow::Result<HashMap<Uuid, Promotion>> {
    let mut out: HashMap<Uuid, Promotion> = HashMap::new();
    if products.is_empty() {
        return Ok(out);
    }
    let mut f = Filter::new("deleted_at IS NULL");
    f.push("end_at > ?", [Arg::Int(now_ms)]);
    f.push_in("product_id", products);
    let sql = format!(
        "SELECT {PROMOTION_COLS} FROM p_promotion{} ORDER BY start_at, id",
        f.sql()
    );
    let rows = bind_args(sqlx::query(AssertSqlSafe(sql)), &f.args)
        .fetch_all(&db.pool)
        .await?;
    for r in &rows {
        let p = promotion_from_row(r)?;
        out.entry(p.product_id).or_insert(p);
    }
    Ok(out)
}

/// The time-based phase of a window at `now_ms`, as the item actor computes it.
pub fn phase_at(start_ms: Millis, end_ms: Millis, now_ms: Millis) -> &'static str {
    if now_ms < start_ms {
        "PENDING"
    } else if now_ms < end_ms {
        "IN_PROGRESS"
    } else {
        "COMPLETED"
    }
}

/// Bring the stored `status` of `product`'s live promotions in line with the clock (so that an
/// item actor loaded from the database after a restart skips sales that are over).
pub async fn refresh_promotion_statuses(
    db: &Db,
    product: Uuid,
    now_ms: Millis,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE p_promotion SET status = CASE WHEN end_at <= ? THEN 'COMPLETED' \
         WHEN start_at <= ? THEN 'IN_PROGRESS' ELSE 'PENDING' END \
         WHERE product_id = ? AND deleted_at IS NULL AND status <> CASE WHEN end_at <= ? THEN 'COMPLETED' \
         WHEN start_at <= ? THEN 'IN_PROGRESS' ELSE 'PENDING' END",
    )
    .bind(now_ms)
    .bind(now_ms)
    .bind(product.to_string())
    .bind(now_ms)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Filters of the promotion list.
#[derive(Debug, Clone, Default)]
pub struct PromotionFilter {
    /// Only these products' promotions (when `Some`).
    pub product_ids: Option<Vec<Uuid>>,
    /// PENDING, IN_PROGRESS or COMPLETED at `now_ms` (by the window, as the engine decides).
    pub phase: Option<String>,
    pub now_ms: Millis,
}

/// One page of live promotions with the total count.
pub async fn list_promotions(
    db: &Db,
    pf: &PromotionFilter,
    tail: &str,
) -> anyhow::Result<(Vec<Promotion>, i64)> {
    let mut f = Filter::new("deleted_at IS NULL");
    if let Some(ids) = &pf.product_ids {
        f.push_in("product_id", ids);
    }
    match pf.phase.as_deref() {
        Some("PENDING") => f.push("start_at > ?", [Arg::Int(pf.now_ms)]),
        Some("IN_PROGRESS") => f.push(
            "start_at <= ? AND end_at > ?",
            [Arg::Int(pf.now_ms), Arg::Int(pf.now_ms)],
        ),
        Some("COMPLETED") => f.push("end_at <= ?", [Arg::Int(pf.now_ms)]),
        _ => {}
    }
    let (rows, total) = fetch_page(db, PROMOTION_COLS, "p_promotion", &f, tail).await?;
    let list = rows
        .iter()
        .map(promotion_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((list, total))
}

// -------------------------------------------------------------------------------- reviews

/// A review (`p_review`).
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: Uuid,
    pub order_id: Uuid,
    /// The order line reviewed (one review per line).
    pub order_product_id: Option<Uuid>,
    pub product_id: Uuid,
    pub user_id: Uuid,
    pub nickname: String,
    pub rating: f64,
    pub review: String,
    pub review_imgs: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

const REVIEW_COLS: &str = "id, order_id, order_product_id, product_id, user_id, nickname, rating, \
                           review, review_imgs, created_at, updated_at";

fn review_from_row(r: &AnyRow) -> anyhow::Result<Review> {
    Ok(Review {
        id: uuid_col(r, "id")?,
        order_id: uuid_col(r, "order_id")?,
        order_product_id: opt_uuid_col(r, "order_product_id")?,
        product_id: uuid_col(r, "product_id")?,
        user_id: uuid_col(r, "user_id")?,
        nickname: r.try_get("nickname")?,
        rating: r.try_get("rating")?,
        review: r.try_get("review")?,
        review_imgs: json_list(r.try_get("review_imgs")?),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// What the order tables say about `user` having bought `product` in `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purchase {
    /// No such order of this user.
    NoOrder,
    /// The order exists but is not COMPLETE (paid).
    NotComplete,
    /// The order does not contain the product.
    NotInOrder,
    /// The order line (`p_order_product.id`).
    Line(Uuid),
}

/// Whether `user` bought `product` in the COMPLETE order `order`.
pub async fn purchase(db: &Db, order: Uuid, user: Uuid, product: Uuid) -> anyhow::Result<Purchase> {
    let row = sqlx::query(
        "SELECT status FROM p_order WHERE id = ? AND user_id = ? AND deleted_at IS NULL",
    )
    .bind(order.to_string())
    .bind(user.to_string())
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(Purchase::NoOrder);
    };
    if row.try_get::<String, _>("status")? != "COMPLETE" {
        return Ok(Purchase::NotComplete);
    }
    let line = sqlx::query(
        "SELECT id FROM p_order_product WHERE order_id = ? AND product_id = ? AND deleted_at IS NULL",
    )
    .bind(order.to_string())
    .bind(product.to_string())
    .fetch_optional(&db.pool)
    .await?;
    Ok(match line {
        Some(l) => Purchase::Line(uuid_col(&l, "id")?),
        None => Purchase::NotInOrder,
    })
}

/// The user's nickname, when the user is registered.
pub async fn nickname(db: &Db, user: Uuid) -> anyhow::Result<Option<String>> {
    let row = sqlx::query("SELECT nickname FROM p_user WHERE user_id = ? AND deleted_at IS NULL")
        .bind(user.to_string())
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(|r| r.try_get("nickname")).transpose()?)
}

/// Insert a review and add its rating to the product, in one transaction. `false` when the
/// order line already has a review (deleted ones included: one review per line, ever).
pub async fn insert_review(db: &Db, r: &Review, by: &str) -> anyhow::Result<bool> {
    let mut tx = db.pool.begin().await?;
    let res = sqlx::query(
        "INSERT INTO p_review (id, order_id, order_product_id, product_id, user_id, nickname, rating, \
         review, review_imgs, created_at, created_by, updated_at, updated_by) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(r.id.to_string())
    .bind(r.order_id.to_string())
    .bind(r.order_product_id.map(|x| x.to_string()))
    .bind(r.product_id.to_string())
    .bind(r.user_id.to_string())
    .bind(&r.nickname)
    .bind(r.rating)
    .bind(&r.review)
    .bind(serde_json::to_string(&r.review_imgs)?)
    .bind(r.created_at)
    .bind(by)
    .bind(r.updated_at)
    .bind(by)
    .execute(&mut *tx)
    .await;
    match res {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    sqlx::query(
        "UPDATE p_product SET rating_sum = rating_sum + ?, review_cnt = review_cnt + 1 WHERE id = ?",
    )
    .bind(r.rating)
    .bind(r.product_id.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The new content of a review; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct ReviewPatch {
    pub rating: Option<f64>,
    pub review: Option<String>,
    pub review_imgs: Option<Vec<String>>,
}

/// Apply `patch` to `current` and move the product's rating sum by the difference, in one
/// transaction. The review row is changed only if its rating is still `current.rating`
/// (compare-and-set); `false` when it changed or was deleted meanwhile.
pub async fn update_review(
    db: &Db,
    current: &Review,
    patch: &ReviewPatch,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let new_rating = patch.rating.unwrap_or(current.rating);
    let imgs = patch
        .review_imgs
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let mut tx = db.pool.begin().await?;
    let res = sqlx::query(
        "UPDATE p_review SET rating = ?, review = COALESCE(?, review), \
         review_imgs = COALESCE(?, review_imgs), updated_at = ?, updated_by = ? \
         WHERE id = ? AND rating = ? AND deleted_at IS NULL",
    )
    .bind(new_rating)
    .bind(patch.review.clone())
    .bind(imgs)
    .bind(now_ms)
    .bind(by)
    .bind(current.id.to_string())
    .bind(current.rating)
    .execute(&mut *tx)
    .await?;
    if res.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("UPDATE p_product SET rating_sum = rating_sum + ? WHERE id = ?")
        .bind(new_rating - current.rating)
        .bind(current.product_id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Soft-delete a review and take its rating off the product, in one transaction; `false` when
/// it was already deleted or its rating changed meanwhile.
pub async fn delete_review(
    db: &Db,
    current: &Review,
    by: &str,
    now_ms: Millis,
) -> anyhow::Result<bool> {
    let mut tx = db.pool.begin().await?;
    let res = sqlx::query(
        "UPDATE p_review SET deleted_at = ?, deleted_by = ?, updated_at = ?, updated_by = ? \
         WHERE id = ? AND rating = ? AND deleted_at IS NULL",
    )
    .bind(now_ms)
    .bind(by)
    .bind(now_ms)
    .bind(by)
    .bind(current.id.to_string())
    .bind(current.rating)
    .execute(&mut *tx)
    .await?;
    if res.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE p_product SET rating_sum = rating_sum - ?, review_cnt = review_cnt - 1 WHERE id = ?",
    )
    .bind(current.rating)
    .bind(current.product_id.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The review with this id, unless missing or deleted.
pub async fn review(db: &Db, id: Uuid) -> anyhow::Result<Option<Review>> {
    let sql = format!("SELECT {REVIEW_COLS} FROM p_review WHERE id = ? AND deleted_at IS NULL");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(review_from_row).transpose()
}

/// One page of live reviews (of one product, when given) with the total count.
pub async fn list_reviews(
    db: &Db,
    product: Option<Uuid>,
    tail: &str,
) -> anyhow::Result<(Vec<Review>, i64)> {
    let mut f = Filter::new("deleted_at IS NULL");
    if let Some(p) = product {
        f.push("product_id = ?", [Arg::Text(p.to_string())]);
    }
    let (rows, total) = fetch_page(db, REVIEW_COLS, "p_review", &f, tail).await?;
    let list = rows
        .iter()
        .map(review_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((list, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("50%_Off!"), "%50!%!_off!!%");
        assert_eq!(phase_at(10, 20, 9), "PENDING");
        assert_eq!(phase_at(10, 20, 10), "IN_PROGRESS");
        assert_eq!(phase_at(10, 20, 20), "COMPLETED");
    }
}
