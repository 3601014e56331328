//! `ItemLedger`: one sellable item's stock, its optional time sale and the reservations held by
//! orders waiting for payment.
//!
//! Two-phase stock: `reserve` moves units `available -> reserved` under an order id with a
//! deadline, `confirm` moves them `reserved -> sold`, `release` (cancel, payment failure, deadline)
//! moves them back to `available`, and `restock` (refund) moves `sold -> available`. After every
//! mutation `available + reserved + sold == total` is asserted, and for a time sale
//! `remaining + reserved + sold == quantity` too.
//!
//! A time sale's counters belong to one *installation* of it: installing a sale whose promotion
//! is not the current one (a new one, or one that was replaced or removed before) starts with
//! fresh counters. The sale remembers which orders took units from this installation, so units
//! reserved or bought under an earlier installation of the same promotion never move the
//! current installation's counters when they are released, confirmed or refunded.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Millis;
use super::event::{Event, ReleaseReason};
use super::ids::{ItemId, OrderId, PromotionId, UserId};

/// The item's sellable configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemConfig {
    /// Regular unit price.
    pub price: i64,
    /// Whether the product status is ON_SALE; any other status refuses orders.
    pub on_sale: bool,
}

/// A time sale's configuration (`p_promotion`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleConfig {
    pub promotion_id: PromotionId,
    /// The sale runs over `[start_ms, end_ms)`.
    pub start_ms: Millis,
    pub end_ms: Millis,
    /// Unit price during the sale.
    pub sale_price: i64,
    /// Units allotted to the sale.
    pub quantity: i64,
    /// Most units one user may hold (reserved or bought) from this sale.
    pub per_user_limit: Option<i64>,
}

/// The phase of a time sale at some instant (the seed's `PromotionStatusEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SalePhase {
    Pending,
    InProgress,
    Completed,
}

impl SalePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            SalePhase::Pending => "PENDING",
            SalePhase::InProgress => "IN_PROGRESS",
            SalePhase::Completed => "COMPLETED",
        }
    }
}

/// Units one order took from the installed sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SaleTake {
    user: UserId,
    /// Units still reserved (in `held`) or still bought and not refunded (in `bought`).
    qty: i64,
}

/// A time sale's live counters (of its current installation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sale {
    pub config: SaleConfig,
    pub remaining: i64,
    pub reserved: i64,
    pub sold: i64,
    /// user id (as u128) -> units reserved or bought from this installation.
    per_user: BTreeMap<u128, i64>,
    /// The orders holding reserved units of this installation (their units sum to `reserved`).
    held: BTreeMap<OrderId, SaleTake>,
    /// The orders that bought units of this installation (at most one entry per unit of the
    /// sale's quantity). Sold units no order accounts for (a sale loaded from the database whose
    /// buyers are not all known) are counted in `sold` only.
    bought: BTreeMap<OrderId, SaleTake>,
}

impl Sale {
    pub fn phase(&self, now_ms: Millis) -> SalePhase {
        if now_ms < self.config.start_ms {
            SalePhase::Pending
        } else if now_ms < self.config.end_ms {
            SalePhase::InProgress
        } else {
            SalePhase::Completed
        }
    }

    pub fn bought_by(&self, user: UserId) -> i64 {
        self.per_user.get(&user.as_u128()).copied().unwrap_or(0)
    }

    /// A fresh installation of `config` with nothing taken.
    fn fresh(config: SaleConfig) -> Sale {
        Sale {
            remaining: config.quantity,
            reserved: 0,
            sold: 0,
            per_user: BTreeMap::new(),
            held: BTreeMap::new(),
            bought: BTreeMap::new(),
            config,
        }
    }

    /// Units of this installation sold to an order no refund has given back.
    fn attributed_sold(&self) -> i64 {
        self.bought.values().map(|t| t.qty).sum()
    }

    fn take_back(&mut self, user: UserId, qty: i64) {
        if let Some(n) = self.per_user.get_mut(&user.as_u128()) {
            *n -= qty;
            if *n <= 0 {
                self.per_user.remove(&user.as_u128());
            }
        }
    }
}

/// Units held by one order, waiting for payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub user: UserId,
    pub qty: i64,
    pub unit_price: i64,
    /// The time sale the units came from, if any.
    pub promotion: Option<PromotionId>,
    /// Past this instant the reservation is released by a tick.
    pub deadline_ms: Millis,
}

/// Every outcome of an item operation, one flat enum mapped to HTTP in one place.
///
/// `reserve` checks run in this order, the first failing one wins: `InvalidQuantity` >
/// `NotOnSale` > `AlreadyReserved` (the same order again: answered with the existing reservation,
/// nothing changes) > during a live sale `LimitExceeded` > `SaleSoldOut` > `SoldOut` > `Reserved`.
/// `confirm` / `release`: `NotReserved` > `Confirmed` / `Released`.
/// `restock`: `InvalidQuantity` (more than was sold) > `Restocked`.
/// `adjust`: `InvalidQuantity` (stock would go negative) > `Adjusted`.
/// `set_sale`: `InvalidQuantity` (less than already taken from the same sale) > `SaleSet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemOutcome {
    Reserved {
        unit_price: i64,
        promotion: Option<PromotionId>,
    },
    AlreadyReserved {
        qty: i64,
        unit_price: i64,
        promotion: Option<PromotionId>,
    },
    InvalidQuantity,
    NotOnSale,
    LimitExceeded {
        limit: i64,
    },
    SaleSoldOut,
    SoldOut {
        available: i64,
    },
    Confirmed {
        qty: i64,
    },
    Released {
        qty: i64,
    },
    NotReserved,
    Restocked,
    Adjusted {
        total: i64,
        available: i64,
    },
    SaleSet,
    /// Price and on-sale flag replaced (always applies).
    Configured,
}

impl ItemOutcome {
    /// Whether the operation changed the ledger (and so must be journaled).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            ItemOutcome::Reserved { .. }
                | ItemOutcome::Confirmed { .. }
                | ItemOutcome::Released { .. }
                | ItemOutcome::Restocked
                | ItemOutcome::Adjusted { .. }
                | ItemOutcome::SaleSet
                | ItemOutcome::Configured
        )
    }
}

/// Why every reservation would be refused right now, whoever asks: the fast-reject state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemClosed {
    Open,
    NotOnSale,
    SoldOut,
    /// The live sale has nothing left; it holds until the sale ends at `until_ms`.
    SaleSoldOut {
        until_ms: Millis,
    },
}

/// An item's reservations, by order and by deadline: the earliest deadline and the ones due
/// are found without looking at the rest, so an item holding many unpaid orders costs the
/// same per decision as one holding none. Serialized as the map by order alone (the deadline
/// index is rebuilt when read back).
///
/// The per-order maps of an item and of its sale are B-trees, not hash maps: they grow by one
/// entry per order of a hot sale, and a hash map doubling at a few hundred thousand entries
/// rehashes them all in one call (40 ms at 229 K, 80 ms at 459 K on this project's machine),
/// stalling the item's actor and every order waiting on it. A B-tree grows a node at a time.
#[derive(Debug, Clone, Default)]
struct Reservations {
    by_order: BTreeMap<OrderId, Reservation>,
    by_deadline: BTreeSet<(Millis, OrderId)>,
}

impl Reservations {
    fn get(&self, order: &OrderId) -> Option<&Reservation> {
        self.by_order.get(order)
    }

    fn iter(&self) -> impl Iterator<Item = (&OrderId, &Reservation)> {
        self.by_order.iter()
    }

    fn insert(&mut self, order: OrderId, r: Reservation) {
        self.by_deadline.insert((r.deadline_ms, order));
        if let Some(old) = self.by_order.insert(order, r)
            && self.by_order[&order].deadline_ms != old.deadline_ms
        {
            self.by_deadline.remove(&(old.deadline_ms, order));
        }
    }

    fn remove(&mut self, order: &OrderId) -> Option<Reservation> {
        let r = self.by_order.remove(order)?;
        self.by_deadline.remove(&(r.deadline_ms, *order));
        Some(r)
    }

    fn next_deadline(&self) -> Option<Millis> {
        self.by_deadline.first().map(|(deadline, _)| *deadline)
    }

    /// The orders whose deadline is at or before `now_ms`, earliest deadline first.
    fn due(&self, now_ms: Millis) -> Vec<OrderId> {
        self.by_deadline
            .iter()
            .take_while(|(deadline, _)| *deadline <= now_ms)
            .map(|(_, order)| *order)
            .collect()
    }
}

impl Serialize for Reservations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_order.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Reservations {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let by_order = BTreeMap::<OrderId, Reservation>::deserialize(d)?;
        let by_deadline = by_order
            .iter()
            .map(|(order, r)| (r.deadline_ms, *order))
            .collect();
        Ok(Reservations {
            by_order,
            by_deadline,
        })
    }
}

/// An item's live state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemLedger {
    pub config: ItemConfig,
    total: i64,
    available: i64,
    reserved: i64,
    sold: i64,
    sale: Option<Sale>,
    reservations: Reservations,
}

/// The counters of an item at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevels {
    pub total: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}

impl ItemLedger {
    /// A new item whose `total` units are all available.
    pub fn new(config: ItemConfig, total: i64) -> Self {
        Self::from_levels(
            config,
            StockLevels {
                total,
                available: total,
                reserved: 0,
                sold: 0,
            },
        )
    }

    /// An item rebuilt from stored counters (no reservations: those come from snapshots).
    pub fn from_levels(config: ItemConfig, levels: StockLevels) -> Self {
        let ledger = Self {
            config,
            total: levels.total,
            available: levels.available,
            reserved: levels.reserved,
            sold: levels.sold,
            sale: None,
            reservations: Reservations::default(),
        };
        ledger.check();
        ledger
    }

    pub fn levels(&self) -> StockLevels {
        StockLevels {
            total: self.total,
            available: self.available,
            reserved: self.reserved,
            sold: self.sold,
        }
    }

    pub fn sale(&self) -> Option<&Sale> {
        self.sale.as_ref()
    }

    pub fn reservation(&self, order: OrderId) -> Option<&Reservation> {
        self.reservations.get(&order)
    }

    pub fn reservations(&self) -> impl Iterator<Item = (&OrderId, &Reservation)> {
        self.reservations.iter()
    }

    /// The sale that is live at `now_ms`, if any.
    fn live_sale(&self, now_ms: Millis) -> Option<&Sale> {
        self.sale
            .as_ref()
            .filter(|s| s.phase(now_ms) == SalePhase::InProgress)
    }

    /// The unit price at `now_ms`.
    pub fn unit_price(&self, now_ms: Millis) -> i64 {
        self.live_sale(now_ms)
            .map(|s| s.config.sale_price)
            .unwrap_or(self.config.price)
    }

    /// Whether a reservation at `now_ms` would be refused whatever the caller.
    pub fn closed(&self, now_ms: Millis) -> ItemClosed {
        if !self.config.on_sale {
            ItemClosed::NotOnSale
        } else if self.available == 0 {
            ItemClosed::SoldOut
        } else if let Some(s) = self.live_sale(now_ms).filter(|s| s.remaining == 0) {
            ItemClosed::SaleSoldOut {
                until_ms: s.config.end_ms,
            }
        } else {
            ItemClosed::Open
        }
    }

    /// Hold `qty` units for `order` until `deadline_ms`.
    pub fn reserve(
        &mut self,
        order: OrderId,
        user: UserId,
        qty: i64,
        deadline_ms: Millis,
        now_ms: Millis,
    ) -> ItemOutcome {
        if qty <= 0 {
            return ItemOutcome::InvalidQuantity;
        }
        if !self.config.on_sale {
            return ItemOutcome::NotOnSale;
        }
        if let Some(r) = self.reservations.get(&order) {
            return ItemOutcome::AlreadyReserved {
                qty: r.qty,
                unit_price: r.unit_price,
                promotion: r.promotion,
            };
        }
        let mut promotion = None;
        let mut unit_price = self.config.price;
        if let Some(sale) = self.live_sale(now_ms) {
            if let Some(limit) = sale.config.per_user_limit
                && sale.bought_by(user).saturating_add(qty) > limit
            {
                return ItemOutcome::LimitExceeded { limit };
            }
            if sale.remaining < qty {
                return ItemOutcome::SaleSoldOut;
            }
            promotion = Some(sale.config.promotion_id);
            unit_price = sale.config.sale_price;
        }
        if self.available < qty {
            return ItemOutcome::SoldOut {
                available: self.available,
            };
        }
        self.available -= qty;
        self.reserved += qty;
        if promotion.is_some() {
            let sale = self.sale.as_mut().expect("live sale");
            sale.remaining -= qty;
            sale.reserved += qty;
            *sale.per_user.entry(user.as_u128()).or_insert(0) += qty;
            sale.held.insert(order, SaleTake { user, qty });
        }
        self.reservations.insert(
            order,
            Reservation {
                user,
                qty,
                unit_price,
                promotion,
                deadline_ms,
            },
        );
        self.check();
        ItemOutcome::Reserved {
            unit_price,
            promotion,
        }
    }

    /// Payment approved: the order's units are sold.
    pub fn confirm(&mut self, order: OrderId) -> ItemOutcome {
        let Some(r) = self.reservations.remove(&order) else {
            return ItemOutcome::NotReserved;
        };
        self.reserved -= r.qty;
        self.sold += r.qty;
        if let Some(sale) = self.sale.as_mut()
            && let Some(take) = sale.held.remove(&order)
        {
            sale.reserved -= take.qty;
            sale.sold += take.qty;
            sale.bought
                .entry(order)
                .and_modify(|t| t.qty += take.qty)
                .or_insert(take);
        }
        self.check();
        ItemOutcome::Confirmed { qty: r.qty }
    }

    /// Cancel, payment failure or deadline: the order's units go back on sale.
    pub fn release(&mut self, order: OrderId) -> ItemOutcome {
        let Some(r) = self.reservations.remove(&order) else {
            return ItemOutcome::NotReserved;
        };
        self.undo_reservation(order, &r);
        self.check();
        ItemOutcome::Released { qty: r.qty }
    }

    fn undo_reservation(&mut self, order: OrderId, r: &Reservation) {
        self.reserved -= r.qty;
        self.available += r.qty;
        if let Some(sale) = self.sale.as_mut()
            && let Some(take) = sale.held.remove(&order)
        {
            sale.reserved -= take.qty;
            sale.remaining += take.qty;
            sale.take_back(take.user, take.qty);
        }
    }

    /// Refund: `qty` units sold to `order` go back on sale. They go back to the time sale too
    /// when the order bought them from its current installation; units bought under an earlier
    /// installation (or at the regular price) only return to the item's stock.
    pub fn restock(&mut self, order: OrderId, qty: i64) -> ItemOutcome {
        if qty <= 0 || qty > self.sold {
            return ItemOutcome::InvalidQuantity;
        }
        self.sold -= qty;
        self.available += qty;
        if let Some(sale) = self.sale.as_mut()
            && let Some(take) = sale.bought.remove(&order)
        {
            let back = qty.min(take.qty).min(sale.sold);
            sale.sold -= back;
            sale.remaining += back;
            sale.take_back(take.user, back);
            if take.qty > back {
                sale.bought.insert(
                    order,
                    SaleTake {
                        qty: take.qty - back,
                        ..take
                    },
                );
            }
        }
        self.check();
        ItemOutcome::Restocked
    }

    /// Replay of a refund journaled before refunds named their order
    /// ([`super::event::Event::ItemRestocked`]): decided as it was then, by promotion and user.
    /// The units go back to the installed sale when it is `promotion` and has sold that many;
    /// its sold takes then shrink to match (the user's first, smallest order id first).
    pub fn restock_unattributed(
        &mut self,
        user: UserId,
        qty: i64,
        promotion: Option<PromotionId>,
    ) -> ItemOutcome {
        if qty <= 0 || qty > self.sold {
            return ItemOutcome::InvalidQuantity;
        }
        self.sold -= qty;
        self.available += qty;
        if let Some(sale) = self.sale.as_mut()
            && promotion == Some(sale.config.promotion_id)
            && sale.sold >= qty
        {
            sale.sold -= qty;
            sale.remaining += qty;
            sale.take_back(user, qty);
            let mut excess = sale.attributed_sold() - sale.sold;
            let mut orders: Vec<(bool, OrderId)> = sale
                .bought
                .iter()
                .map(|(o, t)| (t.user != user, *o))
                .collect();
            orders.sort();
            for (_, o) in orders {
                if excess <= 0 {
                    break;
                }
                let t = sale.bought.get_mut(&o).expect("listed take");
                let n = excess.min(t.qty);
                t.qty -= n;
                excess -= n;
                if t.qty == 0 {
                    sale.bought.remove(&o);
                }
            }
        }
        self.check();
        ItemOutcome::Restocked
    }

    /// Operator stock change: `delta` units added to (or taken from) the available stock.
    pub fn adjust(&mut self, delta: i64) -> ItemOutcome {
        let (Some(available), Some(total)) = (
            self.available.checked_add(delta),
            self.total.checked_add(delta),
        ) else {
            return ItemOutcome::InvalidQuantity;
        };
        if available < 0 {
            return ItemOutcome::InvalidQuantity;
        }
        self.available = available;
        self.total = total;
        self.check();
        ItemOutcome::Adjusted {
            total: self.total,
            available: self.available,
        }
    }

    /// Replace the price and on-sale flag.
    pub fn configure(&mut self, config: ItemConfig) {
        self.config = config;
    }

    /// Install, change or remove the time sale. Changing the current sale keeps what it has
    /// already reserved and sold; its new quantity must cover those.
    pub fn set_sale(&mut self, config: Option<SaleConfig>) -> ItemOutcome {
        match config {
            None => self.sale = None,
            Some(config) => match self.sale.as_mut() {
                Some(sale) if sale.config.promotion_id == config.promotion_id => {
                    let taken = sale.reserved + sale.sold;
                    if config.quantity < taken {
                        return ItemOutcome::InvalidQuantity;
                    }
                    sale.remaining = config.quantity - taken;
                    sale.config = config;
                }
                // A new installation: fresh counters. Units still held or bought under an
                // earlier installation of the same promotion stay that installation's.
                _ => self.sale = Some(Sale::fresh(config)),
            },
        }
        self.check();
        ItemOutcome::SaleSet
    }

    /// Install a stored sale whose `remaining` is known (loading from the database, where the
    /// sale's units not remaining count as sold).
    pub fn restore_sale(&mut self, config: SaleConfig, remaining: i64) -> ItemOutcome {
        if remaining < 0 || remaining > config.quantity {
            return ItemOutcome::InvalidQuantity;
        }
        self.sale = Some(Sale {
            remaining,
            reserved: 0,
            sold: config.quantity - remaining,
            per_user: BTreeMap::new(),
            held: BTreeMap::new(),
            bought: BTreeMap::new(),
            config,
        });
        self.check();
        ItemOutcome::SaleSet
    }

    /// Give a sale loaded from the database its past buyers back: `purchases` are the orders
    /// that bought units of it (`(order, user, units)`, from COMPLETE orders), so per-user limits
    /// count them and refunds return their units to the sale. Call after
    /// [`Self::restore_reservations`]. Purchases beyond the sale's sold units no order accounts
    /// for yet are ignored (the database may hold buyers of an earlier installation of the same
    /// promotion). Returns the units attributed.
    pub fn restore_purchases(&mut self, purchases: Vec<(OrderId, UserId, i64)>) -> i64 {
        let Some(sale) = self.sale.as_mut() else {
            return 0;
        };
        let mut left = (sale.sold - sale.attributed_sold()).max(0);
        let mut restored = 0;
        for (order, user, qty) in purchases {
            if left == 0 {
                break;
            }
            if qty <= 0 || sale.bought.contains_key(&order) {
                continue;
            }
            let qty = qty.min(left);
            left -= qty;
            restored += qty;
            *sale.per_user.entry(user.as_u128()).or_insert(0) += qty;
            sale.bought.insert(order, SaleTake { user, qty });
        }
        self.check();
        restored
    }

    /// Give an item loaded from the database its reservations back (the write-behind keeps them
    /// in `hd_reservation`). Their units are already counted in `levels.reserved`; any reserved
    /// units no reservation accounts for are put back on sale, since nothing could release them.
    /// Returns how many units that freed.
    pub fn restore_reservations(&mut self, reservations: Vec<(OrderId, Reservation)>) -> i64 {
        let held: i64 = reservations.iter().map(|(_, r)| r.qty).sum();
        let stray = (self.reserved - held).max(0);
        self.reserved -= stray;
        self.available += stray;
        if held > self.reserved {
            // The counters lag the reservations (cannot happen when both come from one
            // transaction); trust the reservations.
            let missing = held - self.reserved;
            self.available -= missing;
            self.reserved += missing;
        }
        for (order, r) in reservations {
            if let Some(sale) = self.sale.as_mut()
                && r.promotion == Some(sale.config.promotion_id)
                && !sale.held.contains_key(&order)
            {
                let qty = r.qty.min(sale.sold);
                if qty > 0 {
                    sale.sold -= qty;
                    sale.reserved += qty;
                    *sale.per_user.entry(r.user.as_u128()).or_insert(0) += qty;
                    sale.held.insert(order, SaleTake { user: r.user, qty });
                }
            }
            self.reservations.insert(order, r);
        }
        self.check();
        stray
    }

    /// Release every reservation whose deadline is at or before `now_ms`; returns them, in order
    /// id order so replay and tests see a stable sequence.
    pub fn expire(&mut self, now_ms: Millis) -> Vec<(OrderId, Reservation)> {
        let mut due = self.reservations.due(now_ms);
        due.sort();
        let mut out = Vec::with_capacity(due.len());
        for id in due {
            if let Some(r) = self.reservations.remove(&id) {
                self.undo_reservation(id, &r);
                out.push((id, r));
            }
        }
        self.check();
        out
    }

    /// The earliest reservation deadline, for tickers that want to skip idle items.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.reservations.next_deadline()
    }

    /// The ledger invariants; a violation is a bug, so it panics.
    pub fn check(&self) {
        assert!(
            self.available >= 0 && self.reserved >= 0 && self.sold >= 0,
            "negative stock: {:?}",
            self.levels()
        );
        assert_eq!(
            self.available + self.reserved + self.sold,
            self.total,
            "stock does not balance: {:?}",
            self.levels()
        );
        if cfg!(debug_assertions) {
            // O(reservations): debug builds (the tests) only.
            let r = &self.reservations;
            assert!(
                r.by_deadline.len() == r.by_order.len()
                    && r.by_deadline.iter().all(|(deadline, order)| {
                        r.by_order.get(order).map(|x| x.deadline_ms) == Some(*deadline)
                    }),
                "the deadline index differs from the reservations"
            );
        }
        if let Some(s) = &self.sale {
            assert!(
                s.remaining >= 0 && s.reserved >= 0 && s.sold >= 0,
                "negative sale counters"
            );
            assert_eq!(
                s.remaining + s.reserved + s.sold,
                s.config.quantity,
                "sale does not balance"
            );
            if cfg!(debug_assertions) {
                // O(orders of the sale): debug builds (the tests) only.
                assert!(
                    s.held.values().chain(s.bought.values()).all(|t| t.qty > 0),
                    "empty sale take"
                );
                let held: i64 = s.held.values().map(|t| t.qty).sum();
                assert_eq!(held, s.reserved, "sale reservations differ from its orders");
                assert!(
                    s.attributed_sold() <= s.sold,
                    "sale orders exceed its sold units"
                );
            }
        }
    }
}

/// A request to an item: what its actor receives, and what recovery rebuilds from a journaled
/// event to replay it through the same [`ItemLedger::decide`]. It also travels between nodes as a
/// peer call (JSON), to the node that owns the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ItemCommand {
    /// Hold `qty` units for `order` until `deadline_ms`.
    Reserve {
        order: OrderId,
        user: UserId,
        qty: i64,
        deadline_ms: Millis,
    },
    /// Payment approved: sell the order's units.
    Confirm { order: OrderId },
    /// Put the order's reserved units back on sale.
    Release {
        order: OrderId,
        reason: ReleaseReason,
    },
    /// Refund: `qty` units sold to `order` (by `user`, from `promotion`) go back on sale.
    Restock {
        order: OrderId,
        user: UserId,
        qty: i64,
        promotion: Option<PromotionId>,
    },
    /// Operator stock change.
    Adjust { delta: i64 },
    /// Replace price and on-sale flag.
    Configure { config: ItemConfig },
    /// Install, change or remove the time sale.
    SetSale { sale: Option<SaleConfig> },
}

impl ItemCommand {
    /// The command a journaled event of an item records, with the instant it was decided at.
    /// `None` for other entities' events, and for `ItemRestocked` (a refund journaled before
    /// refunds named their order, replayed by [`ItemLedger::restock_unattributed`]).
    pub fn recorded(event: &Event) -> Option<(ItemId, ItemCommand, Millis)> {
        Some(match event {
            Event::ItemReserved {
                item,
                order,
                user,
                qty,
                deadline_ms,
                at_ms,
                ..
            } => (
                *item,
                ItemCommand::Reserve {
                    order: *order,
                    user: *user,
                    qty: *qty,
                    deadline_ms: *deadline_ms,
                },
                *at_ms,
            ),
            Event::ItemConfirmed {
                item, order, at_ms, ..
            } => (*item, ItemCommand::Confirm { order: *order }, *at_ms),
            Event::ItemReleased {
                item,
                order,
                reason,
                at_ms,
                ..
            } => (
                *item,
                ItemCommand::Release {
                    order: *order,
                    reason: *reason,
                },
                *at_ms,
            ),
            Event::ItemRefunded {
                item,
                order,
                user,
                qty,
                promotion,
                at_ms,
            } => (
                *item,
                ItemCommand::Restock {
                    order: *order,
                    user: *user,
                    qty: *qty,
                    promotion: *promotion,
                },
                *at_ms,
            ),
            Event::ItemAdjusted { item, delta, at_ms } => {
                (*item, ItemCommand::Adjust { delta: *delta }, *at_ms)
            }
            Event::ItemConfigured {
                item,
                config,
                at_ms,
            } => (
                *item,
                ItemCommand::Configure {
                    config: config.clone(),
                },
                *at_ms,
            ),
            Event::ItemSaleSet { item, sale, at_ms } => {
                (*item, ItemCommand::SetSale { sale: sale.clone() }, *at_ms)
            }
            _ => return None,
        })
    }
}

impl ItemLedger {
    /// Decide `command` for item `id` at `now_ms`: the outcome, and the event to journal when
    /// it changed the ledger. The actor journals what this returns; recovery replays a
    /// journaled event by deciding its [`ItemCommand::recorded`] again.
    pub fn decide(
        &mut self,
        id: ItemId,
        command: ItemCommand,
        now_ms: Millis,
    ) -> (ItemOutcome, Option<Event>) {
        let item = id;
        let at_ms = now_ms;
        match command {
            ItemCommand::Reserve {
                order,
                user,
                qty,
                deadline_ms,
            } => {
                let outcome = self.reserve(order, user, qty, deadline_ms, now_ms);
                let event = match outcome {
                    ItemOutcome::Reserved {
                        unit_price,
                        promotion,
                    } => Some(Event::ItemReserved {
                        item,
                        order,
                        user,
                        qty,
                        deadline_ms,
                        unit_price,
                        promotion,
                        at_ms,
                    }),
                    _ => None,
                };
                (outcome, event)
            }
            ItemCommand::Confirm { order } => {
                let promotion = self.reservation(order).and_then(|r| r.promotion);
                let outcome = self.confirm(order);
                let event = match outcome {
                    ItemOutcome::Confirmed { qty } => Some(Event::ItemConfirmed {
                        item,
                        order,
                        qty,
                        promotion,
                        at_ms,
                    }),
                    _ => None,
                };
                (outcome, event)
            }
            ItemCommand::Release { order, reason } => {
                let promotion = self.reservation(order).and_then(|r| r.promotion);
                let outcome = self.release(order);
                let event = match outcome {
                    ItemOutcome::Released { qty } => Some(Event::ItemReleased {
                        item,
                        order,
                        qty,
                        promotion,
                        reason,
                        at_ms,
                    }),
                    _ => None,
                };
                (outcome, event)
            }
            ItemCommand::Restock {
                order,
                user,
                qty,
                promotion,
            } => {
                let outcome = self.restock(order, qty);
                let event = outcome.is_success().then_some(Event::ItemRefunded {
                    item,
                    order,
                    user,
                    qty,
                    promotion,
                    at_ms,
                });
                (outcome, event)
            }
            ItemCommand::Adjust { delta } => {
                let outcome = self.adjust(delta);
                let event =
                    outcome
                        .is_success()
                        .then_some(Event::ItemAdjusted { item, delta, at_ms });
                (outcome, event)
            }
            ItemCommand::Configure { config } => {
                self.configure(config.clone());
                (
                    ItemOutcome::Configured,
                    Some(Event::ItemConfigured {
                        item,
                        config,
                        at_ms,
                    }),
                )
            }
            ItemCommand::SetSale { sale } => {
                let outcome = self.set_sale(sale.clone());
                let event =
                    outcome
                        .is_success()
                        .then_some(Event::ItemSaleSet { item, sale, at_ms });
                (outcome, event)
            }
        }
    }

    /// The reservations whose deadline passed, released at `now_ms`, with the events to journal.
    pub fn decide_expiry(
        &mut self,
        id: ItemId,
        now_ms: Millis,
    ) -> Vec<((OrderId, Reservation), Event)> {
        self.expire(now_ms)
            .into_iter()
            .map(|(order, r)| {
                let event = Event::ItemReleased {
                    item: id,
                    order,
                    qty: r.qty,
                    promotion: r.promotion,
                    reason: ReleaseReason::Expired,
                    at_ms: now_ms,
                };
                ((order, r), event)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(total: i64) -> ItemLedger {
        ItemLedger::new(
            ItemConfig {
                price: 10_000,
                on_sale: true,
            },
            total,
        )
    }

    fn sale(qty: i64, limit: Option<i64>) -> SaleConfig {
        SaleConfig {
            promotion_id: PromotionId::new(),
            start_ms: 1_000,
            end_ms: 2_000,
            sale_price: 7_000,
            quantity: qty,
            per_user_limit: limit,
        }
    }

    #[test]
    fn script_two_phase_stock() {
        // item qty=3; reserve O1 x2 -> reserved; reserve O2 x2 -> sold out; confirm O1;
        // reserve O2 x1 -> reserved; release O2; restock 1 of O1.
        let mut it = item(3);
        let (o1, o2, u) = (OrderId::new(), OrderId::new(), UserId::new());
        assert_eq!(
            it.reserve(o1, u, 2, 100, 0),
            ItemOutcome::Reserved {
                unit_price: 10_000,
                promotion: None
            }
        );
        assert_eq!(
            it.reserve(o2, u, 2, 100, 0),
            ItemOutcome::SoldOut { available: 1 }
        );
        assert_eq!(it.confirm(o1), ItemOutcome::Confirmed { qty: 2 });
        assert_eq!(it.confirm(o1), ItemOutcome::NotReserved);
        assert!(matches!(
            it.reserve(o2, u, 1, 100, 0),
            ItemOutcome::Reserved { .. }
        ));
        assert_eq!(it.closed(0), ItemClosed::SoldOut);
        assert_eq!(it.release(o2), ItemOutcome::Released { qty: 1 });
        assert_eq!(it.release(o2), ItemOutcome::NotReserved);
        assert_eq!(it.restock(o1, 1), ItemOutcome::Restocked);
        assert_eq!(
            it.levels(),
            StockLevels {
                total: 3,
                available: 2,
                reserved: 0,
                sold: 1
            }
        );
        assert_eq!(it.restock(o1, 2), ItemOutcome::InvalidQuantity);
    }

    #[test]
    fn script_same_order_twice_is_idempotent() {
        let mut it = item(5);
        let (o, u) = (OrderId::new(), UserId::new());
        it.reserve(o, u, 2, 100, 0);
        assert_eq!(
            it.reserve(o, u, 2, 100, 0),
            ItemOutcome::AlreadyReserved {
                qty: 2,
                unit_price: 10_000,
                promotion: None
            }
        );
        assert_eq!(it.levels().reserved, 2);
    }

    #[test]
    fn script_refusals_in_precedence_order() {
        let mut it = item(1);
        let u = UserId::new();
        assert_eq!(
            it.reserve(OrderId::new(), u, 0, 100, 0),
            ItemOutcome::InvalidQuantity
        );
        it.configure(ItemConfig {
            price: 10_000,
            on_sale: false,
        });
        assert_eq!(
            it.reserve(OrderId::new(), u, 1, 100, 0),
            ItemOutcome::NotOnSale
        );
        assert_eq!(it.closed(0), ItemClosed::NotOnSale);
    }

    #[test]
    fn script_time_sale_window_price_and_limit() {
        let mut it = item(10);
        let s = sale(3, Some(2));
        let pid = s.promotion_id;
        assert_eq!(it.set_sale(Some(s)), ItemOutcome::SaleSet);
        let (u1, u2) = (UserId::new(), UserId::new());
        // before the sale: regular price, sale untouched
        assert_eq!(
            it.reserve(OrderId::new(), u1, 1, 9_999, 999),
            ItemOutcome::Reserved {
                unit_price: 10_000,
                promotion: None
            }
        );
        // during the sale: sale price, per-user limit 2
        assert_eq!(
            it.reserve(OrderId::new(), u1, 2, 9_999, 1_000),
            ItemOutcome::Reserved {
                unit_price: 7_000,
                promotion: Some(pid)
            }
        );
        assert_eq!(
            it.reserve(OrderId::new(), u1, 1, 9_999, 1_500),
            ItemOutcome::LimitExceeded { limit: 2 }
        );
        let o = OrderId::new();
        assert!(matches!(
            it.reserve(o, u2, 1, 9_999, 1_500),
            ItemOutcome::Reserved { .. }
        ));
        assert_eq!(it.sale().unwrap().remaining, 0);
        assert_eq!(
            it.closed(1_500),
            ItemClosed::SaleSoldOut { until_ms: 2_000 }
        );
        assert_eq!(
            it.reserve(OrderId::new(), UserId::new(), 1, 9_999, 1_500),
            ItemOutcome::SaleSoldOut
        );
        // releasing gives the unit back to the sale and to the user's allowance
        it.release(o);
        assert_eq!(it.sale().unwrap().remaining, 1);
        assert_eq!(it.sale().unwrap().bought_by(u2), 0);
        // after the sale: regular price again
        assert_eq!(it.unit_price(2_000), 10_000);
        assert_eq!(it.sale().unwrap().phase(2_000), SalePhase::Completed);
    }

    #[test]
    fn script_deadlines_expire_on_tick() {
        let mut it = item(4);
        let u = UserId::new();
        let (early, late) = (OrderId::new(), OrderId::new());
        it.reserve(early, u, 1, 100, 0);
        it.reserve(late, u, 2, 200, 0);
        assert_eq!(it.next_deadline(), Some(100));
        assert!(it.expire(99).is_empty());
        let gone = it.expire(150);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].0, early);
        assert_eq!(it.levels().available, 2);
        assert_eq!(it.expire(200).len(), 1);
        assert_eq!(it.levels().available, 4);
    }

    #[test]
    fn the_next_deadline_follows_confirms_releases_and_a_snapshot_round_trip() {
        let mut it = item(100);
        let u = UserId::new();
        let orders: Vec<OrderId> = (0..50).map(|_| OrderId::new()).collect();
        // deadlines 1_049 down to 1_000: the last reserved is the earliest
        for (i, o) in orders.iter().enumerate() {
            it.reserve(*o, u, 1, 1_049 - i as i64, 0);
        }
        assert_eq!(it.next_deadline(), Some(1_000));
        it.confirm(orders[49]);
        assert_eq!(it.next_deadline(), Some(1_001));
        it.release(orders[48]);
        assert_eq!(it.next_deadline(), Some(1_002));
        // a snapshot is the map by order only; the index comes back with it
        let bytes = bincode::serde::encode_to_vec(&it, bincode::config::standard()).unwrap();
        let (mut back, _): (ItemLedger, _) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        back.check();
        assert_eq!(back.next_deadline(), Some(1_002));
        let due: Vec<OrderId> = back.expire(1_004).into_iter().map(|(o, _)| o).collect();
        let mut want = vec![orders[45], orders[46], orders[47]];
        want.sort();
        assert_eq!(due, want, "due reservations come back in order id order");
        assert_eq!(back.next_deadline(), Some(1_005));
        assert_eq!(back.levels().reserved, 45);
        assert!(back.expire(2_000).len() == 45 && back.next_deadline().is_none());
    }

    #[test]
    fn script_adjust_and_resize_sale() {
        let mut it = item(2);
        assert_eq!(it.adjust(-3), ItemOutcome::InvalidQuantity);
        assert_eq!(
            it.adjust(3),
            ItemOutcome::Adjusted {
                total: 5,
                available: 5
            }
        );
        let mut s = sale(2, None);
        it.set_sale(Some(s.clone()));
        it.reserve(OrderId::new(), UserId::new(), 2, 9_999, 1_000);
        s.quantity = 1;
        assert_eq!(it.set_sale(Some(s.clone())), ItemOutcome::InvalidQuantity);
        s.quantity = 4;
        assert_eq!(it.set_sale(Some(s)), ItemOutcome::SaleSet);
        assert_eq!(it.sale().unwrap().remaining, 2);
    }

    #[test]
    fn script_adjust_at_the_edges_of_i64() {
        let mut it = item(2);
        let before = it.levels();
        for delta in [i64::MIN, i64::MIN + 1, -3] {
            assert_eq!(it.adjust(delta), ItemOutcome::InvalidQuantity, "{delta}");
        }
        assert_eq!(it.adjust(i64::MAX), ItemOutcome::InvalidQuantity);
        assert_eq!(it.levels(), before, "refusals change nothing");
        assert_eq!(
            it.adjust(i64::MAX - 2),
            ItemOutcome::Adjusted {
                total: i64::MAX,
                available: i64::MAX
            }
        );
        assert_eq!(it.adjust(1), ItemOutcome::InvalidQuantity);
        // a huge quantity against a per-user limit is refused, not wrapped
        let mut it = item(10);
        it.set_sale(Some(sale(5, Some(2))));
        it.reserve(OrderId::new(), UserId::new(), 1, 9_999, 1_000);
        let u = UserId::new();
        it.reserve(OrderId::new(), u, 1, 9_999, 1_000);
        assert_eq!(
            it.reserve(OrderId::new(), u, i64::MAX, 9_999, 1_000),
            ItemOutcome::LimitExceeded { limit: 2 }
        );
    }

    #[test]
    fn script_a_sale_loaded_from_the_database_counts_past_purchases() {
        // sale qty=5, limit 2; stored: 3 units gone (2 bought by U1, 1 reserved by U2's O3).
        let mut it = ItemLedger::from_levels(
            ItemConfig {
                price: 10_000,
                on_sale: true,
            },
            StockLevels {
                total: 10,
                available: 7,
                reserved: 1,
                sold: 2,
            },
        );
        let s = sale(5, Some(2));
        it.restore_sale(s.clone(), 2);
        let (u1, u2) = (UserId::new(), UserId::new());
        let (o1, o3) = (OrderId::new(), OrderId::new());
        it.restore_reservations(vec![(
            o3,
            Reservation {
                user: u2,
                qty: 1,
                unit_price: 7_000,
                promotion: Some(s.promotion_id),
                deadline_ms: 9_999,
            },
        )]);
        // a purchase beyond the sale's sold units (another installation's) is not counted
        let stray = OrderId::new();
        assert_eq!(
            it.restore_purchases(vec![(o1, u1, 2), (stray, UserId::new(), 1)]),
            2
        );
        let sale_now = it.sale().unwrap();
        assert_eq!(
            (sale_now.remaining, sale_now.reserved, sale_now.sold),
            (2, 1, 2)
        );
        assert_eq!((sale_now.bought_by(u1), sale_now.bought_by(u2)), (2, 1));
        // U1 already bought 2 of 2: refused, as before the reload
        assert_eq!(
            it.reserve(OrderId::new(), u1, 1, 9_999, 1_000),
            ItemOutcome::LimitExceeded { limit: 2 }
        );
        // U1's refund gives both units back to the sale and to U1's allowance
        assert_eq!(it.restock(o1, 2), ItemOutcome::Restocked);
        let sale_now = it.sale().unwrap();
        assert_eq!(
            (sale_now.remaining, sale_now.sold, sale_now.bought_by(u1)),
            (4, 0, 0)
        );
    }

    #[test]
    fn script_a_legacy_refund_event_replays_as_it_was_decided() {
        let mut it = item(5);
        let s = sale(3, None);
        let pid = s.promotion_id;
        it.set_sale(Some(s));
        let (u, o) = (UserId::new(), OrderId::new());
        it.reserve(o, u, 2, 9_999, 1_000);
        it.confirm(o);
        assert_eq!(
            it.restock_unattributed(u, 1, Some(pid)),
            ItemOutcome::Restocked
        );
        let sale_now = it.sale().unwrap();
        assert_eq!(
            (sale_now.remaining, sale_now.sold, sale_now.bought_by(u)),
            (2, 1, 1)
        );
        // the order's remaining unit still goes back to the sale by order id
        assert_eq!(it.restock(o, 1), ItemOutcome::Restocked);
        assert_eq!(it.sale().unwrap().remaining, 3);
        assert_eq!(
            it.restock_unattributed(u, 1, Some(pid)),
            ItemOutcome::InvalidQuantity
        );
    }
}
