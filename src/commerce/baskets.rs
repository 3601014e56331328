//! Baskets: the seed's basket lines, with the product's live stock and price from its item
//! actor; adding a product already in the basket merges the lines.

use uuid::Uuid;

use super::{Caller, Commerce, CommerceError, CommerceResult};
use crate::domain::ids::ItemId;
use crate::domain::item::SalePhase;
use crate::engine::EngineError;
use crate::error_code::ErrorCode;
use crate::persistence::baskets::{self as basket_store, BasketRow};

/// Most units of one basket line.
pub const MAX_BASKET_QUANTITY: i64 = 10_000;

/// A basket line with its product's live stock and price.
#[derive(Debug, Clone, PartialEq)]
pub struct BasketLine {
    pub row: BasketRow,
    /// Units on sale now (0 for a product the engine does not know).
    pub available: i64,
    pub price: i64,
    /// The time-sale price while a sale is in progress.
    pub discount_price: Option<i64>,
}

fn check_quantity(q: i64) -> CommerceResult<()> {
    if (1..=MAX_BASKET_QUANTITY).contains(&q) {
        Ok(())
    } else {
        Err(CommerceError::coded(
            ErrorCode::InvalidBasket,
            format!("quantity must be 1 to {MAX_BASKET_QUANTITY}"),
        ))
    }
}

/// Put `quantity` of `product` in the caller's basket; returns the line's id.
pub async fn add(
    c: &Commerce,
    caller: &Caller,
    product: Uuid,
    quantity: i64,
) -> CommerceResult<Uuid> {
    check_quantity(quantity)?;
    match c.engine.item_view(ItemId(product)).await {
        Ok(_) => {}
        Err(EngineError::UnknownItem) => return Err(ErrorCode::OrderProductNotFound.into()),
        Err(e) => return Err(e.into()),
    }
    let now = c.now_ms();
    if let Some((id, q)) = basket_store::line_of_product(&c.db, caller.user, product).await? {
        let merged = q.saturating_add(quantity).min(MAX_BASKET_QUANTITY);
        basket_store::set_quantity(&c.db, id, merged, &caller.email, now).await?;
        return Ok(id);
    }
    let id = Uuid::now_v7();
    basket_store::insert_basket(
        &c.db,
        id,
        product,
        caller.user,
        quantity,
        &caller.email,
        now,
    )
    .await?;
    Ok(id)
}

async fn with_live(c: &Commerce, row: BasketRow) -> CommerceResult<BasketLine> {
    let (available, price, discount_price) = match c.engine.item_view(ItemId(row.product_id)).await
    {
        Ok(v) => {
            let discount = v
                .sale
                .as_ref()
                .filter(|s| s.phase == SalePhase::InProgress)
                .map(|s| s.config.sale_price);
            (v.levels.available, v.config.price, discount)
        }
        Err(EngineError::UnknownItem) => (0, 0, None),
        Err(e) => return Err(e.into()),
    };
    Ok(BasketLine {
        row,
        available,
        price,
        discount_price,
    })
}

fn parse_id(id: &str) -> CommerceResult<Uuid> {
    id.parse()
        .map_err(|_| CommerceError::coded(ErrorCode::InvalidBasket, "invalid basket id"))
}

async fn own_basket(c: &Commerce, caller: &Caller, id: &str) -> CommerceResult<BasketRow> {
    let id = parse_id(id)?;
    basket_store::basket(&c.db, id, caller.user)
        .await?
        .ok_or_else(|| ErrorCode::BasketNotFound.into())
}

/// One line of the caller's basket (`id` as given in the path).
pub async fn detail(c: &Commerce, caller: &Caller, id: &str) -> CommerceResult<BasketLine> {
    let row = own_basket(c, caller, id).await?;
    with_live(c, row).await
}

/// One page of the caller's basket (`tail`: ORDER BY and LIMIT) with the total count.
pub async fn list(
    c: &Commerce,
    caller: &Caller,
    tail: &str,
) -> CommerceResult<(Vec<BasketLine>, i64)> {
    let (rows, total) = basket_store::list_baskets(&c.db, caller.user, tail).await?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        lines.push(with_live(c, row).await?);
    }
    Ok((lines, total))
}

/// Change the quantity of a line of the caller's basket; returns the line's id.
pub async fn update(
    c: &Commerce,
    caller: &Caller,
    id: &str,
    quantity: i64,
) -> CommerceResult<Uuid> {
    check_quantity(quantity)?;
    let row = own_basket(c, caller, id).await?;
    basket_store::set_quantity(&c.db, row.id, quantity, &caller.email, c.now_ms()).await?;
    Ok(row.id)
}

/// Remove a line from the caller's basket; returns the line's id.
pub async fn remove(c: &Commerce, caller: &Caller, id: &str) -> CommerceResult<Uuid> {
    let row = own_basket(c, caller, id).await?;
    basket_store::delete_basket(&c.db, row.id, &caller.email, c.now_ms()).await?;
    Ok(row.id)
}
