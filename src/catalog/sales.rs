//! Time sales (promotions).
//!
//! A promotion row is the sale's definition; the product's item actor holds the one sale it
//! applies (price, window, allotment, per-user limit) and decides every claim on it, so the live
//! `status` and `remaining` shown come from the engine (the status is the sale's phase at the
//! exact instant, read from the clock; no top-of-the-hour scheduler).
//!
//! One sale per item actor: the actor holds the product's earliest promotion that is not over
//! yet ("the next sale"). [`reconcile_sale`] makes the actor hold it: after every promotion
//! create, update and delete, and whenever a product or promotion is read, so that the next sale
//! is installed once the current one is over (a product with a PENDING sale that gets a new,
//! earlier one switches to the earlier one). Non-overlapping windows guarantee that the next
//! sale is never replaced while it runs. [`super::rotator`] installs it without waiting for a read.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::products::{LiveViews, MAX_AMOUNT, check_owner, find_product};
use super::{Caller, Catalog, CatalogError, CatalogResult, parse_instant, product_lock, rfc3339};
use crate::actors::item::{ItemView, SaleView};
use crate::domain::Millis;
use crate::domain::ids::{ItemId, PromotionId};
use crate::domain::item::{ItemOutcome, SalePhase};
use crate::error_code::ErrorCode;
use crate::persistence::catalog::{self as repo, Product, Promotion, PromotionFilter, phase_at};
use crate::persistence::page::PageRequest;

/// Whether the actor's sale differs from the one it should hold.
fn needs_change(current: Option<&SaleView>, next: Option<&Promotion>) -> bool {
    match (current, next) {
        (None, None) => false,
        (None, Some(_)) => true,
        // A sale that is over stays as it is (it no longer changes prices); one that is not over
        // but is no longer wanted (deleted) goes.
        (Some(s), None) => s.phase != SalePhase::Completed,
        (Some(s), Some(p)) => s.config != p.sale_config(),
    }
}

/// Make `product`'s item actor hold its next sale; call with the product's lock held. Returns
/// the item's live view afterwards.
pub(crate) async fn reconcile_locked(cat: &Catalog, product: ItemId) -> CatalogResult<ItemView> {
    let now = cat.now_ms();
    let view = cat.engine.item_view(product).await?;
    let next = repo::next_promotions(&cat.db, &[product.0], now)
        .await?
        .remove(&product.0);
    if !needs_change(view.sale.as_ref(), next.as_ref()) {
        return Ok(view);
    }
    let target = next.map(|p| p.sale_config());
    match cat.engine.set_sale(product, target).await? {
        ItemOutcome::SaleSet => {}
        _ => {
            return Err(CatalogError::coded(
                ErrorCode::SaleQuantityOverStock,
                "the sale's quantity is below what it already sold",
            ));
        }
    }
    repo::refresh_promotion_statuses(&cat.db, product.0, now).await?;
    Ok(cat.engine.item_view(product).await?)
}

/// Make `product`'s item actor hold the sale it should (see the module doc) and return the
/// item's live view. Cheap when nothing changes: one engine read and one indexed query. The
/// rotator calls it too.
pub async fn reconcile_sale(cat: &Catalog, product: ItemId) -> CatalogResult<ItemView> {
    let view = cat.engine.item_view(product).await?;
    let next = repo::next_promotions(&cat.db, &[product.0], cat.now_ms())
        .await?
        .remove(&product.0);
    if !needs_change(view.sale.as_ref(), next.as_ref()) {
        return Ok(view);
    }
    let _guard = product_lock(product.0).lock().await;
    reconcile_locked(cat, product).await
}

/// Live views of `products` (read in parallel), their sales reconciled where needed. A product
/// the engine could not answer for is left out (its view falls back to the stored values).
pub(crate) async fn live_views(cat: &Catalog, products: &[Uuid]) -> LiveViews {
    let reads =
        futures::future::join_all(products.iter().map(|id| cat.engine.item_view(ItemId(*id))))
            .await;
    let mut out: LiveViews = HashMap::with_capacity(products.len());
    for (id, r) in products.iter().zip(reads) {
        match r {
            Ok(v) => {
                out.insert(*id, v);
            }
            Err(e) => tracing::warn!(product = %id, error = %e, "no live view"),
        }
    }
    let next = match repo::next_promotions(&cat.db, products, cat.now_ms()).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the next sales");
            return out;
        }
    };
    for id in products {
        let stale = out
            .get(id)
            .is_some_and(|v| needs_change(v.sale.as_ref(), next.get(id)));
        if stale {
            let _guard = product_lock(*id).lock().await;
            match reconcile_locked(cat, ItemId(*id)).await {
                Ok(v) => {
                    out.insert(*id, v);
                }
                Err(e) => tracing::warn!(product = %id, error = %e, "sale not reconciled"),
            }
        }
    }
    out
}

/// A time sale to create. Times are RFC 3339 (a time without offset is read as UTC).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePromotion {
    pub product_id: Uuid,
    /// Start instant, not in the past.
    pub start: String,
    /// End instant (exclusive), after `start`.
    pub end: String,
    /// Sale unit price, below the product's price.
    pub discount_price: i64,
    /// Units allotted to the sale, at most the product's available stock.
    pub quantity: i64,
    /// Most units one shopper may buy from this sale (at least 1); none = no limit.
    pub per_user_limit: Option<i64>,
}

/// `{promotionId}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionCreated {
    pub promotion_id: Uuid,
}

/// A time sale as shown, with its live status and remaining units.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionView {
    pub promotion_id: Uuid,
    pub product_id: Uuid,
    /// RFC 3339, UTC.
    pub start: String,
    /// RFC 3339, UTC (exclusive).
    pub end: String,
    /// round((price - discountPrice) / price * 100) at the last create or update.
    pub discount_rate: i64,
    pub discount_price: i64,
    pub quantity: i64,
    /// Units left to sell (live while the product's actor holds the sale).
    pub remaining: i64,
    pub per_user_limit: Option<i64>,
    /// PENDING, IN_PROGRESS or COMPLETED, at this instant.
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

fn promotion_view(p: Promotion, live: Option<&ItemView>, now_ms: Millis) -> PromotionView {
    let (status, remaining) = live_state(&p, live, now_ms);
    PromotionView {
        promotion_id: p.id,
        product_id: p.product_id,
        start: rfc3339(p.start_at),
        end: rfc3339(p.end_at),
        discount_rate: p.discount_rate,
        discount_price: p.discount_price,
        quantity: p.quantity,
        remaining,
        per_user_limit: p.per_user_limit,
        status: status.to_string(),
        created_at: rfc3339(p.created_at),
        updated_at: rfc3339(p.updated_at),
    }
}

/// The live phase and remaining units: the actor's when it holds this sale, else the window's
/// phase at `now_ms` and the stored remaining.
fn live_state(p: &Promotion, live: Option<&ItemView>, now_ms: Millis) -> (&'static str, i64) {
    let held = live
        .and_then(|v| v.sale.as_ref())
        .filter(|s| s.config.promotion_id == PromotionId(p.id));
    match held {
        Some(s) => (s.phase.as_str(), s.remaining),
        None => (phase_at(p.start_at, p.end_at, now_ms), p.remaining),
    }
}

/// `round((price - sale) / price * 100)`, half up.
pub fn discount_rate(price: i64, sale_price: i64) -> i64 {
    if price <= 0 {
        return 0;
    }
    ((price - sale_price) * 100 + price / 2) / price
}

/// A sale's window and numbers, before the checks that need the database and the engine.
#[derive(Debug, Clone, Copy)]
struct Draft {
    start_ms: Millis,
    end_ms: Millis,
    discount_price: i64,
    quantity: i64,
    per_user_limit: Option<i64>,
}

fn parse_time(s: &str, field: &str) -> CatalogResult<Millis> {
    parse_instant(s).ok_or_else(|| {
        CatalogError::coded(
            ErrorCode::InvalidSaleWindow,
            format!("{field} must be an RFC 3339 date-time, e.g. 2025-01-10T10:00:00Z"),
        )
    })
}

fn check_numbers(d: &Draft) -> CatalogResult<()> {
    if !(1..=MAX_AMOUNT).contains(&d.discount_price) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            format!("discountPrice must be 1 to {MAX_AMOUNT}"),
        ));
    }
    if !(1..=MAX_AMOUNT).contains(&d.quantity) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            format!("quantity must be 1 to {MAX_AMOUNT}"),
        ));
    }
    if d.per_user_limit
        .is_some_and(|l| !(1..=MAX_AMOUNT).contains(&l))
    {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            "perUserLimit must be at least 1",
        ));
    }
    Ok(())
}

/// The seed's promotion checks (times, overlap, price, stock) plus `start < end`, in its order.
async fn check_draft(
    cat: &Catalog,
    product: &Product,
    view: &ItemView,
    d: &Draft,
    exclude: Option<Uuid>,
    now_ms: Millis,
) -> CatalogResult<()> {
    if d.start_ms < now_ms || d.end_ms < now_ms {
        return Err(CatalogError::coded(
            ErrorCode::InvalidSaleWindow,
            "start and end must not be in the past",
        ));
    }
    if d.start_ms >= d.end_ms {
        return Err(CatalogError::coded(
            ErrorCode::InvalidSaleWindow,
            "start must be before end",
        ));
    }
    if repo::promotion_overlaps(&cat.db, product.id, d.start_ms, d.end_ms, exclude).await? {
        return Err(ErrorCode::PromotionOverlaps.into());
    }
    if d.discount_price >= view.config.price {
        return Err(CatalogError::coded(
            ErrorCode::SalePriceNotBelowPrice,
            format!(
                "discountPrice must be below the price ({})",
                view.config.price
            ),
        ));
    }
    if d.quantity > view.levels.available {
        return Err(CatalogError::coded(
            ErrorCode::SaleQuantityOverStock,
            format!(
                "quantity must be at most the available stock ({})",
                view.levels.available
            ),
        ));
    }
    Ok(())
}

/// Create a time sale (the seller of the product's company, or staff). It starts PENDING and
/// is installed in the product's item actor when it is the product's next sale.
pub async fn create_promotion(
    cat: &Catalog,
    caller: Caller<'_>,
    body: &CreatePromotion,
) -> CatalogResult<PromotionCreated> {
    let draft = Draft {
        start_ms: parse_time(&body.start, "start")?,
        end_ms: parse_time(&body.end, "end")?,
        discount_price: body.discount_price,
        quantity: body.quantity,
        per_user_limit: body.per_user_limit,
    };
    check_numbers(&draft)?;
    let product = find_product(cat, body.product_id).await?;
    check_owner(cat, caller, &product).await?;
    let item = ItemId(product.id);
    let _guard = product_lock(product.id).lock().await;
    let now = cat.now_ms();
    let view = cat.engine.item_view(item).await?;
    check_draft(cat, &product, &view, &draft, None, now).await?;
    let promotion = Promotion {
        id: PromotionId::new().0,
        product_id: product.id,
        start_at: draft.start_ms,
        end_at: draft.end_ms,
        discount_rate: discount_rate(view.config.price, draft.discount_price),
        discount_price: draft.discount_price,
        quantity: draft.quantity,
        remaining: draft.quantity,
        per_user_limit: draft.per_user_limit,
        status: "PENDING".to_string(),
        created_at: now,
        updated_at: now,
    };
    repo::insert_promotion(&cat.db, &promotion, caller.email).await?;
    if let Err(e) = reconcile_locked(cat, item).await {
        // The engine did not take it: the row must not outlive the refusal.
        if let Err(undo) = repo::remove_promotion_row(&cat.db, promotion.id).await {
            tracing::error!(error = %format!("{undo:#}"), promotion = %promotion.id, "cannot undo a promotion insert");
        }
        return Err(e);
    }
    Ok(PromotionCreated {
        promotion_id: promotion.id,
    })
}

/// A partial update of a PENDING promotion; absent fields are kept. A new `quantity` resets
/// `remaining`; a new `discountPrice` recomputes `discountRate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePromotion {
    /// Must be the promotion's product when given (a sale cannot move to another product).
    pub product_id: Option<Uuid>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub discount_price: Option<i64>,
    pub quantity: Option<i64>,
    pub per_user_limit: Option<i64>,
}

async fn find_promotion(cat: &Catalog, id: Uuid) -> CatalogResult<Promotion> {
    repo::promotion(&cat.db, id)
        .await?
        .ok_or_else(|| ErrorCode::PromotionNotFound.into())
}

/// Refuse a change to a sale that runs (P014) or is over.
fn check_pending(status: &str) -> CatalogResult<()> {
    match status {
        "IN_PROGRESS" => Err(ErrorCode::PromotionInProgress.into()),
        "COMPLETED" => Err(ErrorCode::PromotionCompleted.into()),
        _ => Ok(()),
    }
}

/// Update a PENDING promotion (the seller of the product's company, or staff).
pub async fn update_promotion(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
    body: &UpdatePromotion,
) -> CatalogResult<PromotionView> {
    let current = find_promotion(cat, id).await?;
    if body.product_id.is_some_and(|p| p != current.product_id) {
        return Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            "a promotion cannot move to another product",
        ));
    }
    let draft = Draft {
        start_ms: match &body.start {
            Some(s) => parse_time(s, "start")?,
            None => current.start_at,
        },
        end_ms: match &body.end {
            Some(s) => parse_time(s, "end")?,
            None => current.end_at,
        },
        discount_price: body.discount_price.unwrap_or(current.discount_price),
        quantity: body.quantity.unwrap_or(current.quantity),
        per_user_limit: body.per_user_limit.or(current.per_user_limit),
    };
    check_numbers(&draft)?;
    let product = find_product(cat, current.product_id).await?;
    check_owner(cat, caller, &product).await?;
    let item = ItemId(product.id);
    let _guard = product_lock(product.id).lock().await;
    let now = cat.now_ms();
    let current = find_promotion(cat, id).await?;
    let view = cat.engine.item_view(item).await?;
    check_pending(live_state(&current, Some(&view), now).0)?;
    check_draft(cat, &product, &view, &draft, Some(id), now).await?;
    let updated = Promotion {
        start_at: draft.start_ms,
        end_at: draft.end_ms,
        discount_rate: discount_rate(view.config.price, draft.discount_price),
        discount_price: draft.discount_price,
        quantity: draft.quantity,
        remaining: draft.quantity,
        per_user_limit: draft.per_user_limit,
        status: "PENDING".to_string(),
        updated_at: now,
        ..current
    };
    if !repo::update_promotion(&cat.db, &updated, caller.email).await? {
        return Err(ErrorCode::PromotionNotFound.into());
    }
    let view = reconcile_locked(cat, item).await?;
    let fresh = find_promotion(cat, id).await?;
    Ok(promotion_view(fresh, Some(&view), cat.now_ms()))
}

/// Delete a promotion that is not in progress (the seller of the product's company, or staff).
pub async fn delete_promotion(
    cat: &Catalog,
    caller: Caller<'_>,
    id: Uuid,
) -> CatalogResult<PromotionCreated> {
    let current = find_promotion(cat, id).await?;
    let product = repo::product(&cat.db, current.product_id).await?;
    match &product {
        Some(p) => check_owner(cat, caller, p).await?,
        None if caller.staff => {}
        None => {
            return Err(CatalogError::coded(
                ErrorCode::NotProductOwner,
                "only staff may delete a deleted product's promotions",
            ));
        }
    }
    let item = ItemId(current.product_id);
    let _guard = product_lock(current.product_id).lock().await;
    let now = cat.now_ms();
    let live = match product {
        Some(_) => Some(cat.engine.item_view(item).await?),
        None => None,
    };
    if live_state(&current, live.as_ref(), now).0 == "IN_PROGRESS" {
        return Err(ErrorCode::PromotionInProgress.into());
    }
    if !repo::delete_promotion(&cat.db, id, caller.email, now).await? {
        return Err(ErrorCode::PromotionNotFound.into());
    }
    if live.is_some() {
        reconcile_locked(cat, item).await?;
    }
    Ok(PromotionCreated { promotion_id: id })
}

/// The live view of a product for showing its promotions; `None` when the product is gone.
async fn live_for(cat: &Catalog, product: Uuid) -> CatalogResult<Option<ItemView>> {
    match reconcile_sale(cat, ItemId(product)).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// One promotion with its live status and remaining units.
pub async fn get_promotion(cat: &Catalog, id: Uuid) -> CatalogResult<PromotionView> {
    let p = find_promotion(cat, id).await?;
    let live = live_for(cat, p.product_id).await?;
    Ok(promotion_view(p, live.as_ref(), cat.now_ms()))
}

/// Sortable properties of the promotion list.
pub const PROMOTION_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("start", "start_at"),
    ("end", "end_at"),
];

/// The `status` filter of the promotion list: PENDING, IN_PROGRESS or COMPLETED (any case).
pub fn check_phase(raw: Option<&str>) -> CatalogResult<Option<String>> {
    match raw.map(str::to_ascii_uppercase) {
        None => Ok(None),
        Some(s) if ["PENDING", "IN_PROGRESS", "COMPLETED"].contains(&s.as_str()) => Ok(Some(s)),
        Some(_) => Err(CatalogError::coded(
            ErrorCode::InvalidCatalogValue,
            "status must be PENDING, IN_PROGRESS or COMPLETED",
        )),
    }
}

/// A page of promotions with their live state, and the number of matching rows. The filter's
/// `now_ms` is set here.
pub async fn list_promotions(
    cat: &Catalog,
    product_ids: Option<Vec<Uuid>>,
    phase: Option<String>,
    req: &PageRequest,
) -> CatalogResult<(Vec<PromotionView>, i64)> {
    let now = cat.now_ms();
    let filter = PromotionFilter {
        product_ids,
        phase,
        now_ms: now,
    };
    let (list, total) = repo::list_promotions(&cat.db, &filter, &req.sql_tail("id")).await?;
    let mut seen = HashSet::new();
    let products: Vec<Uuid> = list
        .iter()
        .map(|p| p.product_id)
        .filter(|id| seen.insert(*id))
        .collect();
    let live = live_views(cat, &products).await;
    let content = list
        .into_iter()
        .map(|p| {
            let v = live.get(&p.product_id);
            promotion_view(p, v, now)
        })
        .collect();
    Ok((content, total))
}

#[cfg(test)]
mod tests {
    use super::discount_rate;

    #[test]
    fn discount_rate_rounds_half_up() {
        assert_eq!(discount_rate(10_000, 7_000), 30);
        assert_eq!(discount_rate(3, 2), 33);
        assert_eq!(discount_rate(8, 7), 13); // 12.5 -> 13
        assert_eq!(discount_rate(1_000, 999), 0);
    }
}
