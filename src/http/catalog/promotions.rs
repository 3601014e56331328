//! Time sales (`/api/v1/promotions`).
//!
//! A promotion row is the sale's definition; the product's item actor holds the one sale it
//! applies (price, window, allotment, per-user limit) and decides every claim on it, so the live
//! `status` and `remaining` shown here come from the engine (the status is the sale's phase at
//! the exact instant, read from the clock; no top-of-the-hour scheduler).
//!
//! One sale per item actor: the actor holds the product's earliest promotion that is not over
//! yet ("the next sale"). [`reconcile_sale`] makes the actor hold it: after every promotion
//! create, update and delete, and whenever a product or promotion is read, so that the next sale
//! is installed once the current one is over (a product with a PENDING sale that gets a new,
//! earlier one switches to the earlier one). Non-overlapping windows guarantee that the next
//! sale is never replaced while it runs.

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::products::{LiveViews, MAX_AMOUNT, MAX_FILTER_IDS, check_owner, find_product};
use super::{ListQuery, parse_id, parse_instant, product_lock, rfc3339};
use crate::actors::item::{ItemView, SaleView};
use crate::domain::Millis;
use crate::domain::ids::{ItemId, PromotionId};
use crate::domain::item::{ItemOutcome, SalePhase};
use crate::http::AppState;
use crate::http::auth::{AuthUser, Role};
use crate::http::envelope::{ApiJson, Envelope, Reply};
use crate::http::error::{ApiError, ApiResult, ErrorBody};
use crate::http::extract::Path;
use crate::http::page::Page;
use crate::persistence::catalog::{self as repo, Product, Promotion, PromotionFilter, phase_at};

/// The promotion routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/promotions",
            get(list_promotions).post(create_promotion),
        )
        .route(
            "/api/v1/promotions/{id}",
            get(get_promotion)
                .put(update_promotion)
                .delete(delete_promotion),
        )
}

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
pub(crate) async fn reconcile_locked(state: &AppState, product: ItemId) -> ApiResult<ItemView> {
    let now = state.now_ms();
    let view = state.engine.item_view(product).await?;
    let next = repo::next_promotions(&state.db, &[product.0], now)
        .await?
        .remove(&product.0);
    if !needs_change(view.sale.as_ref(), next.as_ref()) {
        return Ok(view);
    }
    let target = next.map(|p| p.sale_config());
    match state.engine.set_sale(product, target).await? {
        ItemOutcome::SaleSet => {}
        _ => {
            return Err(ApiError::bad_request(
                "P010",
                "the sale's quantity is below what it already sold",
            ));
        }
    }
    repo::refresh_promotion_statuses(&state.db, product.0, now).await?;
    Ok(state.engine.item_view(product).await?)
}

/// Make `product`'s item actor hold the sale it should (see the module doc) and return the
/// item's live view. Cheap when nothing changes: one engine read and one indexed query. A ticker
/// may call it too.
pub async fn reconcile_sale(state: &AppState, product: ItemId) -> ApiResult<ItemView> {
    let view = state.engine.item_view(product).await?;
    let next = repo::next_promotions(&state.db, &[product.0], state.now_ms())
        .await?
        .remove(&product.0);
    if !needs_change(view.sale.as_ref(), next.as_ref()) {
        return Ok(view);
    }
    let _guard = product_lock(product.0).lock().await;
    reconcile_locked(state, product).await
}

/// Live views of `products` (read in parallel), their sales reconciled where needed. A product
/// the engine could not answer for is left out (its view falls back to the stored values).
pub(crate) async fn live_views(state: &AppState, products: &[Uuid]) -> LiveViews {
    let reads = futures::future::join_all(
        products
            .iter()
            .map(|id| state.engine.item_view(ItemId(*id))),
    )
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
    let next = match repo::next_promotions(&state.db, products, state.now_ms()).await {
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
            match reconcile_locked(state, ItemId(*id)).await {
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

fn parse_time(s: &str, field: &str) -> ApiResult<Millis> {
    parse_instant(s).ok_or_else(|| {
        ApiError::bad_request(
            "P023",
            format!("{field} must be an RFC 3339 date-time, e.g. 2025-01-10T10:00:00Z"),
        )
    })
}

fn check_numbers(d: &Draft) -> ApiResult<()> {
    if !(1..=MAX_AMOUNT).contains(&d.discount_price) {
        return Err(ApiError::bad_request(
            "P003",
            format!("discountPrice must be 1 to {MAX_AMOUNT}"),
        ));
    }
    if !(1..=MAX_AMOUNT).contains(&d.quantity) {
        return Err(ApiError::bad_request(
            "P003",
            format!("quantity must be 1 to {MAX_AMOUNT}"),
        ));
    }
    if d.per_user_limit
        .is_some_and(|l| !(1..=MAX_AMOUNT).contains(&l))
    {
        return Err(ApiError::bad_request(
            "P003",
            "perUserLimit must be at least 1",
        ));
    }
    Ok(())
}

/// The seed's promotion checks (times, overlap, price, stock) plus `start < end`, in its order.
async fn check_draft(
    state: &AppState,
    product: &Product,
    view: &ItemView,
    d: &Draft,
    exclude: Option<Uuid>,
    now_ms: Millis,
) -> ApiResult<()> {
    if d.start_ms < now_ms || d.end_ms < now_ms {
        return Err(ApiError::bad_request(
            "P023",
            "start and end must not be in the past",
        ));
    }
    if d.start_ms >= d.end_ms {
        return Err(ApiError::bad_request("P023", "start must be before end"));
    }
    if repo::promotion_overlaps(&state.db, product.id, d.start_ms, d.end_ms, exclude).await? {
        return Err(ApiError::bad_request(
            "P013",
            "another promotion of this product overlaps this window",
        ));
    }
    if d.discount_price >= view.config.price {
        return Err(ApiError::bad_request(
            "P011",
            format!(
                "discountPrice must be below the price ({})",
                view.config.price
            ),
        ));
    }
    if d.quantity > view.levels.available {
        return Err(ApiError::bad_request(
            "P010",
            format!(
                "quantity must be at most the available stock ({})",
                view.levels.available
            ),
        ));
    }
    Ok(())
}

/// Create a time sale (the seller of the product's company, or staff).
///
/// It starts PENDING and is installed in the product's item actor when it is the product's next sale.
#[utoipa::path(post, path = "/api/v1/promotions", tag = "promotions", request_body = CreatePromotion,
    security(("bearer" = [])),
    responses((status = 201, description = "created", body = Envelope<PromotionCreated>),
        (status = 400, description = "P003 invalid value, P010 quantity over stock, P011 price not below the product's, P013 overlap, P023 bad window", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: not the product's seller", body = ErrorBody),
        (status = 404, description = "P002 product not found", body = ErrorBody)))]
pub async fn create_promotion(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CreatePromotion>,
) -> ApiResult<Reply<PromotionCreated>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let draft = Draft {
        start_ms: parse_time(&body.start, "start")?,
        end_ms: parse_time(&body.end, "end")?,
        discount_price: body.discount_price,
        quantity: body.quantity,
        per_user_limit: body.per_user_limit,
    };
    check_numbers(&draft)?;
    let product = find_product(&state, body.product_id).await?;
    check_owner(&state, &user, &product).await?;
    let item = ItemId(product.id);
    let _guard = product_lock(product.id).lock().await;
    let now = state.now_ms();
    let view = state.engine.item_view(item).await?;
    check_draft(&state, &product, &view, &draft, None, now).await?;
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
    repo::insert_promotion(&state.db, &promotion, &user.email).await?;
    if let Err(e) = reconcile_locked(&state, item).await {
        // The engine did not take it: the row must not outlive the refusal.
        if let Err(undo) = repo::remove_promotion_row(&state.db, promotion.id).await {
            tracing::error!(error = %format!("{undo:#}"), promotion = %promotion.id, "cannot undo a promotion insert");
        }
        return Err(e);
    }
    Ok(Reply::created(
        "타임세일이 등록되었습니다.",
        PromotionCreated {
            promotion_id: promotion.id,
        },
    ))
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

async fn find_promotion(state: &AppState, id: Uuid) -> ApiResult<Promotion> {
    repo::promotion(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("P012", "promotion not found"))
}

/// Refuse a change to a sale that runs (P014) or is over.
fn check_pending(status: &str) -> ApiResult<()> {
    match status {
        "IN_PROGRESS" => Err(ApiError::bad_request(
            "P014",
            "the promotion is in progress",
        )),
        "COMPLETED" => Err(ApiError::bad_request(
            "PROMOTION_COMPLETED",
            "the promotion is over",
        )),
        _ => Ok(()),
    }
}

/// Update a PENDING promotion (the seller of the product's company, or staff).
#[utoipa::path(put, path = "/api/v1/promotions/{id}", tag = "promotions", request_body = UpdatePromotion,
    params(("id" = Uuid, Path, description = "promotion id")), security(("bearer" = [])),
    responses((status = 200, description = "updated", body = Envelope<PromotionView>),
        (status = 400, description = "P014 in progress, PROMOTION_COMPLETED, and the create checks", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: not the product's seller", body = ErrorBody),
        (status = 404, description = "P012 promotion not found", body = ErrorBody)))]
pub async fn update_promotion(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdatePromotion>,
) -> ApiResult<Reply<PromotionView>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, "P003", "promotion id")?;
    let current = find_promotion(&state, id).await?;
    if body.product_id.is_some_and(|p| p != current.product_id) {
        return Err(ApiError::bad_request(
            "P003",
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
    let product = find_product(&state, current.product_id).await?;
    check_owner(&state, &user, &product).await?;
    let item = ItemId(product.id);
    let _guard = product_lock(product.id).lock().await;
    let now = state.now_ms();
    let current = find_promotion(&state, id).await?;
    let view = state.engine.item_view(item).await?;
    check_pending(live_state(&current, Some(&view), now).0)?;
    check_draft(&state, &product, &view, &draft, Some(id), now).await?;
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
    if !repo::update_promotion(&state.db, &updated, &user.email).await? {
        return Err(ApiError::not_found("P012", "promotion not found"));
    }
    let view = reconcile_locked(&state, item).await?;
    let fresh = find_promotion(&state, id).await?;
    Ok(Reply::ok(
        "타임세일이 수정되었습니다.",
        promotion_view(fresh, Some(&view), state.now_ms()),
    ))
}

/// Delete a promotion that is not in progress (the seller of the product's company, or staff).
#[utoipa::path(delete, path = "/api/v1/promotions/{id}", tag = "promotions",
    params(("id" = Uuid, Path, description = "promotion id")), security(("bearer" = [])),
    responses((status = 200, description = "deleted", body = Envelope<PromotionCreated>),
        (status = 400, description = "P014 in progress", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, description = "`FORBIDDEN`: a CUSTOMER; `P006`: not the product's seller", body = ErrorBody),
        (status = 404, description = "P012 promotion not found", body = ErrorBody)))]
pub async fn delete_promotion(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<PromotionCreated>> {
    user.require(&[Role::Seller, Role::Manager, Role::Master])?;
    let id = parse_id(&id, "P003", "promotion id")?;
    let current = find_promotion(&state, id).await?;
    let product = repo::product(&state.db, current.product_id).await?;
    match &product {
        Some(p) => check_owner(&state, &user, p).await?,
        None if user.role.is_staff() => {}
        None => {
            return Err(ApiError::forbidden(
                "P006",
                "only staff may delete a deleted product's promotions",
            ));
        }
    }
    let item = ItemId(current.product_id);
    let _guard = product_lock(current.product_id).lock().await;
    let now = state.now_ms();
    let live = match product {
        Some(_) => Some(state.engine.item_view(item).await?),
        None => None,
    };
    if live_state(&current, live.as_ref(), now).0 == "IN_PROGRESS" {
        return Err(ApiError::bad_request(
            "P014",
            "the promotion is in progress",
        ));
    }
    if !repo::delete_promotion(&state.db, id, &user.email, now).await? {
        return Err(ApiError::not_found("P012", "promotion not found"));
    }
    if live.is_some() {
        reconcile_locked(&state, item).await?;
    }
    Ok(Reply::ok(
        "타임세일이 삭제되었습니다.",
        PromotionCreated { promotion_id: id },
    ))
}

/// The live view of a product for showing its promotions; `None` when the product is gone.
async fn live_for(state: &AppState, product: Uuid) -> ApiResult<Option<ItemView>> {
    match reconcile_sale(state, ItemId(product)).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == axum::http::StatusCode::NOT_FOUND => Ok(None),
        Err(e) => Err(e),
    }
}

/// One promotion with its live status and remaining units (public).
#[utoipa::path(get, path = "/api/v1/promotions/{id}", tag = "promotions",
    params(("id" = Uuid, Path, description = "promotion id")),
    responses((status = 200, description = "the promotion", body = Envelope<PromotionView>),
        (status = 400, description = "`P003`: not a promotion id", body = ErrorBody), (status = 404, description = "`P012`: no such promotion", body = ErrorBody)))]
pub async fn get_promotion(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Reply<PromotionView>> {
    let id = parse_id(&id, "P003", "promotion id")?;
    let p = find_promotion(&state, id).await?;
    let live = live_for(&state, p.product_id).await?;
    Ok(Reply::ok(
        "타임세일 조회 성공",
        promotion_view(p, live.as_ref(), state.now_ms()),
    ))
}

/// Sortable properties of the promotion list.
const PROMOTION_SORTS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("start", "start_at"),
    ("end", "end_at"),
];

/// Time sales, a page at a time (public).
///
/// `page`, `size`, `sort` (createdAt, updatedAt, start, end; newest first
/// by default), `productIds` (comma-separated or repeated), `status` (PENDING, IN_PROGRESS,
/// COMPLETED at this instant).
#[utoipa::path(get, path = "/api/v1/promotions", tag = "promotions",
    params(("page" = Option<i64>, Query, description = "0-based page"),
        ("size" = Option<i64>, Query, description = "page size"),
        ("sort" = Option<String>, Query, description = "createdAt|updatedAt|start|end,asc|desc"),
        ("productIds" = Option<String>, Query, description = "product ids, comma-separated or repeated"),
        ("status" = Option<String>, Query, description = "PENDING|IN_PROGRESS|COMPLETED")),
    responses((status = 200, description = "a page of promotions", body = Envelope<Page<PromotionView>>),
        (status = 400, description = "`P003`: a query parameter of the wrong type; `P008`: page, size or sort out of range", body = ErrorBody)))]
pub async fn list_promotions(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Reply<Page<PromotionView>>> {
    let q = ListQuery::parse(raw.as_deref());
    let req = q
        .page("P008")?
        .validate(PROMOTION_SORTS, 10, state.config.page_limits(), "P008")?;
    let phase = match q.get("status").map(str::to_ascii_uppercase) {
        None => None,
        Some(s) if ["PENDING", "IN_PROGRESS", "COMPLETED"].contains(&s.as_str()) => Some(s),
        Some(_) => {
            return Err(ApiError::bad_request(
                "P003",
                "status must be PENDING, IN_PROGRESS or COMPLETED",
            ));
        }
    };
    let now = state.now_ms();
    let filter = PromotionFilter {
        product_ids: q
            .has("productIds")
            .then(|| q.uuids("productIds", MAX_FILTER_IDS, "P003"))
            .transpose()?,
        phase,
        now_ms: now,
    };
    let (list, total) = repo::list_promotions(&state.db, &filter, &req.sql_tail("id")).await?;
    let mut seen = HashSet::new();
    let products: Vec<Uuid> = list
        .iter()
        .map(|p| p.product_id)
        .filter(|id| seen.insert(*id))
        .collect();
    let live = live_views(&state, &products).await;
    let content = list
        .into_iter()
        .map(|p| {
            let v = live.get(&p.product_id);
            promotion_view(p, v, now)
        })
        .collect();
    Ok(Reply::ok(
        "타임세일 목록 조회 성공",
        Page::new(content, total, &req),
    ))
}

/// Install each product's next sale when its current one ends, without waiting for a read.
/// Each ended sale is looked at once (a product with no next sale keeps its finished one).
pub fn spawn_sale_rotator(
    state: AppState,
    every: std::time::Duration,
) -> crate::actors::ticker::CancelOnDrop {
    crate::actors::ticker::CancelOnDrop(tokio::spawn(async move {
        let mut seen: std::collections::HashMap<ItemId, i64> = std::collections::HashMap::new();
        let mut tick = tokio::time::interval(every.max(std::time::Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            for (item, end) in state.engine.items_with_ended_sale(state.now_ms()) {
                if seen.get(&item) == Some(&end) {
                    continue;
                }
                match reconcile_sale(&state, item).await {
                    Ok(_) => {
                        seen.insert(item, end);
                    }
                    Err(e) => {
                        tracing::warn!(%item, error = %e, "could not install the next sale; retrying")
                    }
                }
            }
        }
    }))
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
