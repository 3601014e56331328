//! Repositories the engine reads its state from and the write-behind writes it to.
//!
//! [`EngineStore`] is the trait the actors load through; [`SqlStore`] implements it on a [`Db`]
//! for both backends. The contract suite in `tests/api/storage/engine_store.rs` runs the same
//! assertions on SQLite and on MySQL.

use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

use super::{Db, Dialect};
use crate::domain::Millis;
use crate::domain::campaign::{CampaignConfig, CampaignStatus, CouponState};
use crate::domain::ids::{CampaignId, CompanyId, CouponId, ItemId, OrderId, PromotionId, UserId};
use crate::domain::item::{ItemConfig, ItemLedger, Reservation, SaleConfig, StockLevels};
use crate::domain::order::{Order, OrderCoupon, OrderLine, OrderStatus};

/// An item as stored: configuration, counters and its current time sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    pub id: ItemId,
    /// Stock held by orders waiting for payment.
    pub reservations: Vec<(OrderId, Reservation)>,
    pub company_id: CompanyId,
    pub name: String,
    pub config: ItemConfig,
    pub levels: StockLevels,
    pub sale: Option<StoredSale>,
}

/// A time sale as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSale {
    pub config: SaleConfig,
    pub remaining: i64,
    /// `(order, user, units)` of the COMPLETE orders that bought from this sale (by order id),
    /// so the loaded sale still counts them against per-user limits.
    pub purchases: Vec<(OrderId, UserId, i64)>,
}

impl StoredItem {
    /// The ledger this stored item describes.
    pub fn into_ledger(self) -> ItemLedger {
        let mut ledger = ItemLedger::from_levels(self.config, self.levels);
        let mut purchases = Vec::new();
        if let Some(sale) = self.sale {
            ledger.restore_sale(sale.config, sale.remaining);
            purchases = sale.purchases;
        }
        let stray = ledger.restore_reservations(self.reservations);
        if stray > 0 {
            tracing::warn!(item = %self.id, units = stray, "reserved units without a reservation were put back on sale");
        }
        ledger.restore_purchases(purchases);
        ledger
    }
}

/// A campaign as stored, with every holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCampaign {
    pub id: CampaignId,
    pub config: CampaignConfig,
    pub status: CampaignStatus,
    pub holders: Vec<(UserId, CouponState)>,
    /// The order each used coupon is on, where the row records it.
    pub uses: Vec<(UserId, OrderId)>,
}

/// What the engine needs from storage.
#[async_trait]
pub trait EngineStore: Send + Sync + 'static {
    /// The item with this id, unless missing or deleted.
    async fn load_item(&self, id: ItemId) -> anyhow::Result<Option<StoredItem>>;
    /// The campaign with this id and its holders, unless missing or deleted.
    async fn load_campaign(&self, id: CampaignId) -> anyhow::Result<Option<StoredCampaign>>;
    /// The last journal sequence the database reflects.
    async fn checkpoint(&self) -> anyhow::Result<u64>;
    /// An order with its lines, as the database has it.
    async fn load_order(&self, id: OrderId) -> anyhow::Result<Option<Order>>;
    /// Make every committed write-behind batch survive a power loss. Journal retention calls
    /// this before it trusts the checkpoint: the journal may drop only what the database holds
    /// durably.
    async fn make_durable(&self) -> anyhow::Result<()> {
        Ok(())
    }
    /// Of these ids, the ones without a row at all (a deleted row counts as present: snapshots
    /// keep the actors of deleted products). Recovery uses it to tell a snapshot or journal
    /// that belongs to another database. The default finds nothing missing.
    async fn missing_rows(
        &self,
        _campaigns: &[CampaignId],
        _items: &[ItemId],
        _orders: &[OrderId],
    ) -> anyhow::Result<MissingRows> {
        Ok(MissingRows::default())
    }
}

/// Ids named by a snapshot (or journal) that the database has no row for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissingRows {
    pub campaigns: Vec<CampaignId>,
    pub items: Vec<ItemId>,
    pub orders: Vec<OrderId>,
}

impl MissingRows {
    pub fn is_empty(&self) -> bool {
        self.campaigns.is_empty() && self.items.is_empty() && self.orders.is_empty()
    }
}

/// [`EngineStore`] over SQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// `(order, user, units)` of every COMPLETE order that bought `item` from `promotion`, in
    /// order id order. At most one row per unit of the sale's quantity.
    async fn sale_purchases(
        &self,
        item: ItemId,
        promotion: PromotionId,
    ) -> anyhow::Result<Vec<(OrderId, UserId, i64)>> {
        let rows = sqlx::query(
            "SELECT op.order_id, o.user_id, op.quantity FROM p_order_product op \
             JOIN p_order o ON o.id = op.order_id \
             WHERE op.product_id = ? AND op.promotion_id = ? AND o.status = 'COMPLETE' \
             AND op.deleted_at IS NULL AND o.deleted_at IS NULL ORDER BY op.order_id",
        )
        .bind(item.to_string())
        .bind(promotion.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    OrderId(uuid_col(r, "order_id")?),
                    UserId(uuid_col(r, "user_id")?),
                    r.try_get("quantity")?,
                ))
            })
            .collect()
    }
}

/// Parse a UUID column.
pub fn uuid_col(row: &sqlx::any::AnyRow, col: &str) -> anyhow::Result<Uuid> {
    let s: String = row.try_get(col)?;
    Ok(Uuid::parse_str(s.trim())?)
}

/// Parse an optional UUID column.
pub fn opt_uuid_col(row: &sqlx::any::AnyRow, col: &str) -> anyhow::Result<Option<Uuid>> {
    let s: Option<String> = row.try_get(col)?;
    Ok(match s {
        Some(s) if !s.trim().is_empty() => Some(Uuid::parse_str(s.trim())?),
        _ => None,
    })
}

/// The instant a coupon dated `date` (YYYY-MM-DD) stops being usable: the next midnight, UTC.
pub fn date_end_ms(date: &str) -> anyhow::Result<Millis> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")?;
    let next = d
        .succ_opt()
        .ok_or_else(|| anyhow::anyhow!("date out of range"))?;
    Ok(next
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis())
}

/// The UTC calendar date of an instant, as YYYY-MM-DD.
pub fn date_of(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[async_trait]
impl EngineStore for SqlStore {
    /// SQLite runs in WAL mode with `synchronous = NORMAL`: a commit is durable only once the WAL
    /// is synced, which every checkpoint does first; a passive checkpoint never blocks the
    /// write-behind. MySQL/MariaDB commits are durable already (`innodb_flush_log_at_trx_commit`
    /// = 1, the default).
    async fn make_durable(&self) -> anyhow::Result<()> {
        if self.db.dialect == super::Dialect::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.db.pool)
                .await?;
        }
        Ok(())
    }

    async fn missing_rows(
        &self,
        campaigns: &[CampaignId],
        items: &[ItemId],
        orders: &[OrderId],
    ) -> anyhow::Result<MissingRows> {
        fn strings<T: std::fmt::Display>(ids: &[T]) -> Vec<String> {
            ids.iter().map(T::to_string).collect()
        }
        fn uuids(v: Vec<String>) -> anyhow::Result<Vec<Uuid>> {
            v.iter().map(|s| Ok(Uuid::parse_str(s)?)).collect()
        }
        let campaigns = self
            .absent_ids("p_coupon_info", "coupon_info_id", strings(campaigns))
            .await?;
        let items = self.absent_ids("p_product", "id", strings(items)).await?;
        let orders = self.absent_ids("p_order", "id", strings(orders)).await?;
        Ok(MissingRows {
            campaigns: uuids(campaigns)?.into_iter().map(CampaignId).collect(),
            items: uuids(items)?.into_iter().map(ItemId).collect(),
            orders: uuids(orders)?.into_iter().map(OrderId).collect(),
        })
    }

    async fn load_item(&self, id: ItemId) -> anyhow::Result<Option<StoredItem>> {
        let row = sqlx::query(
            "SELECT id, company_id, name, price, quantity, available, reserved, sold, status \
             FROM p_product WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        let sale_row = sqlx::query(
            "SELECT id, start_at, end_at, discount_price, quantity, remaining, per_user_limit \
             FROM p_promotion WHERE product_id = ? AND deleted_at IS NULL AND status <> 'COMPLETED' \
             ORDER BY start_at LIMIT 1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await?;
        let sale = match sale_row {
            None => None,
            Some(r) => {
                let promotion = PromotionId(uuid_col(&r, "id")?);
                Some(StoredSale {
                    config: SaleConfig {
                        promotion_id: promotion,
                        start_ms: r.try_get("start_at")?,
                        end_ms: r.try_get("end_at")?,
                        sale_price: r.try_get("discount_price")?,
                        quantity: r.try_get("quantity")?,
                        per_user_limit: r.try_get("per_user_limit")?,
                    },
                    remaining: r.try_get("remaining")?,
                    purchases: self.sale_purchases(id, promotion).await?,
                })
            }
        };
        let rows = sqlx::query(
            "SELECT order_id, user_id, qty, unit_price, promotion_id, deadline_at FROM hd_reservation \
             WHERE item_id = ? ORDER BY order_id",
        )
        .bind(id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        let mut reservations = Vec::with_capacity(rows.len());
        for r in &rows {
            reservations.push((
                OrderId(uuid_col(r, "order_id")?),
                Reservation {
                    user: UserId(uuid_col(r, "user_id")?),
                    qty: r.try_get("qty")?,
                    unit_price: r.try_get("unit_price")?,
                    promotion: opt_uuid_col(r, "promotion_id")?.map(PromotionId),
                    deadline_ms: r.try_get("deadline_at")?,
                },
            ));
        }
        Ok(Some(StoredItem {
            id,
            reservations,
            company_id: CompanyId(uuid_col(&row, "company_id")?),
            name: row.try_get("name")?,
            config: ItemConfig {
                price: row.try_get("price")?,
                on_sale: status == "ON_SALE",
            },
            levels: StockLevels {
                total: row.try_get("quantity")?,
                available: row.try_get("available")?,
                reserved: row.try_get("reserved")?,
                sold: row.try_get("sold")?,
            },
            sale,
        }))
    }

    async fn load_campaign(&self, id: CampaignId) -> anyhow::Result<Option<StoredCampaign>> {
        let row = sqlx::query(
            "SELECT quantity, discount_amount, min_order_amount, expiration_date, status, \
             company_id, issue_start_at, issue_end_at \
             FROM p_coupon_info WHERE coupon_info_id = ? AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get("status")?;
        let expiration: String = row.try_get("expiration_date")?;
        let config = CampaignConfig {
            quantity: row.try_get("quantity")?,
            discount_amount: row.try_get("discount_amount")?,
            min_order_amount: row.try_get("min_order_amount")?,
            expires_at_ms: date_end_ms(&expiration)?,
            company_id: opt_uuid_col(&row, "company_id")?.map(CompanyId),
            issue_start_ms: row.try_get("issue_start_at")?,
            issue_end_ms: row.try_get("issue_end_at")?,
        };
        let rows = sqlx::query(
            "SELECT user_id, is_used, used_order_id FROM p_coupon WHERE coupon_info_id = ?",
        )
        .bind(id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        let mut holders = Vec::with_capacity(rows.len());
        let mut uses = Vec::new();
        for r in &rows {
            let user = UserId(uuid_col(r, "user_id")?);
            let used: i64 = r.try_get("is_used")?;
            if used == 0 {
                holders.push((user, CouponState::Unused));
                continue;
            }
            holders.push((user, CouponState::Used));
            if let Some(order) = opt_uuid_col(r, "used_order_id")? {
                uses.push((user, OrderId(order)));
            }
        }
        Ok(Some(StoredCampaign {
            id,
            config,
            status: CampaignStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("unknown campaign status {status}"))?,
            holders,
            uses,
        }))
    }

    async fn load_order(&self, id: OrderId) -> anyhow::Result<Option<Order>> {
        let row = sqlx::query(
            "SELECT o.user_id, o.address_id, o.status, o.total_amount, o.discount_amount, o.pay_amount, \
             o.name, o.coupon_id, o.expires_at, o.completed_at, o.created_at, \
             c.coupon_info_id, i.expiration_date \
             FROM p_order o LEFT JOIN p_coupon c ON c.coupon_id = o.coupon_id \
             LEFT JOIN p_coupon_info i ON i.coupon_info_id = c.coupon_info_id \
             WHERE o.id = ? AND o.deleted_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let lines = sqlx::query(
            "SELECT op.product_id, op.product_name, op.quantity, op.price, op.promotion_id, p.company_id \
             FROM p_order_product op LEFT JOIN p_product p ON p.id = op.product_id \
             WHERE op.order_id = ? ORDER BY op.product_id",
        )
        .bind(id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        let mut out_lines = Vec::with_capacity(lines.len());
        for l in &lines {
            out_lines.push(OrderLine {
                item: ItemId(uuid_col(l, "product_id")?),
                name: l.try_get("product_name")?,
                company_id: CompanyId(opt_uuid_col(l, "company_id")?.unwrap_or_default()),
                qty: l.try_get("quantity")?,
                unit_price: l.try_get("price")?,
                promotion: opt_uuid_col(l, "promotion_id")?.map(PromotionId),
            });
        }
        let status: String = row.try_get("status")?;
        let coupon = match (
            opt_uuid_col(&row, "coupon_id")?,
            opt_uuid_col(&row, "coupon_info_id")?,
        ) {
            (Some(coupon), Some(campaign)) => {
                let expiration: Option<String> = row.try_get("expiration_date")?;
                Some(OrderCoupon {
                    campaign: CampaignId(campaign),
                    coupon: CouponId(coupon),
                    expires_at_ms: expiration
                        .as_deref()
                        .map(date_end_ms)
                        .transpose()?
                        .unwrap_or(i64::MAX),
                })
            }
            _ => None,
        };
        let created_at: i64 = row.try_get("created_at")?;
        Ok(Some(Order {
            id,
            user: UserId(uuid_col(&row, "user_id")?),
            address_id: uuid_col(&row, "address_id")?,
            name: row.try_get("name")?,
            lines: out_lines,
            total_amount: row.try_get("total_amount")?,
            discount_amount: row.try_get("discount_amount")?,
            pay_amount: row.try_get("pay_amount")?,
            coupon,
            status: OrderStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("unknown order status {status}"))?,
            created_at_ms: created_at,
            deadline_ms: row
                .try_get::<Option<i64>, _>("expires_at")?
                .unwrap_or(created_at),
            completed_at_ms: row.try_get("completed_at")?,
        }))
    }

    async fn checkpoint(&self) -> anyhow::Result<u64> {
        let row = sqlx::query("SELECT last_seq FROM hd_checkpoint WHERE name = 'writebehind'")
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("last_seq")? as u64,
            None => 0,
        })
    }
}

/// A new product row, as a seller or a test creates it.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub id: ItemId,
    pub company_id: CompanyId,
    pub name: String,
    pub price: i64,
    pub quantity: i64,
    pub category: String,
    pub description: Option<String>,
    pub thumb_img: Option<String>,
    pub detail_imgs: Vec<String>,
    pub created_by: Option<String>,
}

/// A new campaign row.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub id: CampaignId,
    pub name: String,
    pub quantity: i64,
    pub discount_amount: i64,
    pub min_order_amount: i64,
    pub expiration_date: String,
    pub coupon_type: String,
    pub company_id: Option<CompanyId>,
    pub issue_start_ms: Option<Millis>,
    pub issue_end_ms: Option<Millis>,
    pub created_by: Option<String>,
}

impl SqlStore {
    pub fn dialect(&self) -> Dialect {
        self.db.dialect
    }

    /// Insert a product, ON_SALE, with all its stock available.
    pub async fn insert_product(&self, p: &NewProduct, now_ms: Millis) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO p_product (id, name, price, quantity, available, reserved, sold, category, \
             description, thumb_img, detail_imgs, company_id, status, rating_sum, review_cnt, \
             created_at, created_by, updated_at, updated_by) \
             VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, 'ON_SALE', 0, 0, ?, ?, ?, ?)",
        )
        .bind(p.id.to_string())
        .bind(&p.name)
        .bind(p.price)
        .bind(p.quantity)
        .bind(p.quantity)
        .bind(&p.category)
        .bind(&p.description)
        .bind(&p.thumb_img)
        .bind(serde_json::to_string(&p.detail_imgs)?)
        .bind(p.company_id.to_string())
        .bind(now_ms)
        .bind(&p.created_by)
        .bind(now_ms)
        .bind(&p.created_by)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Insert a campaign in status PENDING with nothing issued.
    pub async fn insert_campaign(&self, c: &NewCampaign, now_ms: Millis) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO p_coupon_info (coupon_info_id, name, quantity, issued_count, discount_amount, \
             min_order_amount, expiration_date, status, coupon_type, company_id, issue_start_at, \
             issue_end_at, created_at, created_by, updated_at, updated_by) \
             VALUES (?, ?, ?, 0, ?, ?, ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.id.to_string())
        .bind(&c.name)
        .bind(c.quantity)
        .bind(c.discount_amount)
        .bind(c.min_order_amount)
        .bind(&c.expiration_date)
        .bind(&c.coupon_type)
        .bind(c.company_id.map(|x| x.to_string()))
        .bind(c.issue_start_ms)
        .bind(c.issue_end_ms)
        .bind(now_ms)
        .bind(&c.created_by)
        .bind(now_ms)
        .bind(&c.created_by)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Of `wanted` (ids of `table`.`column`), the ones with no row, in the given order.
    async fn absent_ids(
        &self,
        table: &'static str,
        column: &'static str,
        wanted: Vec<String>,
    ) -> anyhow::Result<Vec<String>> {
        const CHUNK: usize = 500;
        let mut present = std::collections::HashSet::new();
        for chunk in wanted.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            // Table and column are this file's constants; the ids are bound.
            let sql = format!("SELECT {column} FROM {table} WHERE {column} IN ({marks})");
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(&self.db.pool).await? {
                let id: String = row.try_get(0)?;
                present.insert(id.trim().to_ascii_lowercase());
            }
        }
        Ok(wanted
            .into_iter()
            .filter(|id| !present.contains(&id.to_ascii_lowercase()))
            .collect())
    }

    /// Whether the database holds anything a person made: a company, product, campaign or
    /// order, or a user other than `except_email` (the configured admin, created at every start).
    /// `hotdeal serve --demo` seeds only a database without any.
    pub async fn holds_data(&self, except_email: Option<&str>) -> anyhow::Result<bool> {
        for table in ["p_companies", "p_product", "p_coupon_info", "p_order"] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_one(&self.db.pool)
                .await?
                .try_get(0)?;
            if n > 0 {
                return Ok(true);
            }
        }
        let users: i64 = sqlx::query("SELECT COUNT(*) FROM p_user WHERE LOWER(email) <> LOWER(?)")
            .bind(except_email.unwrap_or(""))
            .fetch_one(&self.db.pool)
            .await?
            .try_get(0)?;
        Ok(users > 0)
    }
}
