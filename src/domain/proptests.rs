//! Property tests for the ledgers: random interleavings of operations over small pools of users
//! and order ids (so collisions happen), with time moving forward, checked after every step
//! against a simple side model, and replayed from the journal they would have produced.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use uuid::Uuid;

use super::Millis;
use super::campaign::{
    CampaignCommand, CampaignConfig, CampaignLedger, CampaignOutcome, CampaignStatus, CouponState,
};
use super::event::{Event, ReleaseReason, apply_to_campaign, apply_to_item};
use super::ids::{CampaignId, ItemId, OrderId, PromotionId, UserId};
use super::item::{
    ItemCommand, ItemConfig, ItemLedger, ItemOutcome, Reservation, SaleConfig, StockLevels,
};

const USERS: usize = 6;
const ORDERS: usize = 12;
const CAMPAIGN_USERS: usize = 30;
const MAX_OPS: usize = 200;
const T0: Millis = 1_000_000;
const PRICE: i64 = 10_000;
/// Times are multiples of this, so deadlines, sale windows and expirations are often hit exactly.
const TICK: Millis = 50;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        // keep the source tree clean: no proptest-regressions files
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn uid(i: usize) -> UserId {
    UserId(Uuid::from_u128(0x1000 + i as u128))
}

fn oid(i: usize) -> OrderId {
    OrderId(Uuid::from_u128(0x2000 + i as u128))
}

fn pid(i: u64) -> PromotionId {
    PromotionId(Uuid::from_u128(0x3000 + u128::from(i)))
}

const ITEM: ItemId = ItemId(Uuid::from_u128(1));
const CAMPAIGN: CampaignId = CampaignId(Uuid::from_u128(2));

// ---------------------------------------------------------------------------------------------
// Item ledger
// ---------------------------------------------------------------------------------------------

/// How a `set_sale` step picks its promotion.
#[derive(Debug, Clone, Copy)]
enum SaleChange {
    /// A promotion never seen before.
    New,
    /// The current promotion (a new one when there is none).
    Update,
    /// `set_sale(None)`.
    Remove,
    /// One of a pool of two promotion ids, so a removed or replaced sale can come back.
    Pool(u64),
}

#[derive(Debug, Clone)]
enum ItemOp {
    Reserve {
        order: usize,
        user: usize,
        qty: i64,
        ttl: Millis,
    },
    Confirm {
        order: usize,
    },
    Release {
        order: usize,
    },
    /// Refund `qty` units of the `pick`-th confirmed purchase (or, with `over`, more than sold).
    Restock {
        pick: usize,
        qty: i64,
        over: bool,
    },
    Adjust {
        delta: i64,
    },
    Tick,
    SetSale {
        change: SaleChange,
        start_off: Millis,
        len: Millis,
        quantity: i64,
        limit: Option<i64>,
        sale_price: i64,
    },
    Configure {
        on_sale: bool,
        price: i64,
    },
}

fn sale_change(pooled: bool) -> BoxedStrategy<SaleChange> {
    if pooled {
        prop_oneof![
            3 => (0..2u64).prop_map(SaleChange::Pool),
            2 => Just(SaleChange::Update),
            1 => Just(SaleChange::Remove),
        ]
        .boxed()
    } else {
        prop_oneof![
            2 => Just(SaleChange::New),
            3 => Just(SaleChange::Update),
            1 => Just(SaleChange::Remove),
        ]
        .boxed()
    }
}

fn item_op(pooled: bool) -> impl Strategy<Value = ItemOp> {
    prop_oneof![
        10 => (
            0..ORDERS,
            0..USERS,
            prop_oneof![9 => 1..=4i64, 1 => -1..=0i64],
            (1..=60i64).prop_map(|t| t * TICK)
        )
            .prop_map(|(order, user, qty, ttl)| ItemOp::Reserve { order, user, qty, ttl }),
        4 => (0..ORDERS).prop_map(|order| ItemOp::Confirm { order }),
        3 => (0..ORDERS).prop_map(|order| ItemOp::Release { order }),
        2 => (any::<usize>(), 1..=4i64, prop::bool::weighted(0.2))
            .prop_map(|(pick, qty, over)| ItemOp::Restock { pick, qty, over }),
        2 => (-3..=5i64).prop_map(|delta| ItemOp::Adjust { delta }),
        3 => Just(ItemOp::Tick),
        2 => (
            sale_change(pooled),
            (-30..=20i64).prop_map(|t| t * TICK),
            (1..=50i64).prop_map(|t| t * TICK),
            0..=15i64,
            prop::option::weighted(0.6, 1..=4i64),
            prop_oneof![Just(7_000i64), Just(8_000i64)]
        )
            .prop_map(|(change, start_off, len, quantity, limit, sale_price)| {
                ItemOp::SetSale { change, start_off, len, quantity, limit, sale_price }
            }),
        1 => (prop::bool::weighted(0.8), prop_oneof![Just(PRICE), Just(12_000i64)])
            .prop_map(|(on_sale, price)| ItemOp::Configure { on_sale, price }),
    ]
}

/// `(time step, op)` sequences, up to `MAX_OPS` long.
fn item_steps(pooled: bool) -> impl Strategy<Value = Vec<(Millis, ItemOp)>> {
    prop::collection::vec(
        ((0..=5i64).prop_map(|t| t * TICK), item_op(pooled)),
        0..=MAX_OPS,
    )
}

/// Units held by one order in the model (reserved or, once confirmed, bought).
#[derive(Debug, Clone, Copy)]
struct Held {
    /// The order's id (a pool slot gets a new one once its order is confirmed: an order buys
    /// an item once, as in the engine, where every order has a fresh id).
    order: OrderId,
    user: usize,
    qty: i64,
    unit_price: i64,
    promotion: Option<PromotionId>,
    /// The installation of the sale the units were taken from. Installing a sale under a
    /// promotion id that is not the current one starts a new installation with fresh counters.
    generation: Option<u64>,
    deadline_ms: Millis,
}

impl Held {
    fn reservation(&self) -> Reservation {
        Reservation {
            user: uid(self.user),
            qty: self.qty,
            unit_price: self.unit_price,
            promotion: self.promotion,
            deadline_ms: self.deadline_ms,
        }
    }
}

#[derive(Debug, Clone)]
struct SaleModel {
    config: SaleConfig,
    generation: u64,
    /// Units a user held when the sale's limit last changed: a lowered limit does not take back
    /// units already granted, so until they drop these may exceed the limit.
    grandfathered: [i64; USERS],
}

#[derive(Debug, Clone)]
struct ItemModel {
    total: i64,
    config: ItemConfig,
    reservations: BTreeMap<usize, Held>,
    /// Confirmed orders not (fully) refunded.
    purchases: Vec<Held>,
    sale: Option<SaleModel>,
    next_generation: u64,
    /// How many orders of each pool slot were confirmed (part of the slot's current order id).
    order_epochs: [u64; ORDERS],
}

impl ItemModel {
    fn new(config: ItemConfig, total: i64) -> Self {
        Self {
            total,
            config,
            reservations: BTreeMap::new(),
            purchases: Vec::new(),
            sale: None,
            next_generation: 0,
            order_epochs: [0; ORDERS],
        }
    }

    /// The current order id of pool slot `slot`.
    fn order_id(&self, slot: usize) -> OrderId {
        OrderId(Uuid::from_u128(
            0x2000 + slot as u128 + (u128::from(self.order_epochs[slot]) << 32),
        ))
    }

    fn reserved(&self) -> i64 {
        self.reservations.values().map(|h| h.qty).sum()
    }

    fn sold(&self) -> i64 {
        self.purchases.iter().map(|h| h.qty).sum()
    }

    fn levels(&self) -> StockLevels {
        let (reserved, sold) = (self.reserved(), self.sold());
        StockLevels {
            total: self.total,
            available: self.total - reserved - sold,
            reserved,
            sold,
        }
    }

    fn in_sale(&self, h: &Held) -> bool {
        self.sale
            .as_ref()
            .is_some_and(|s| h.generation == Some(s.generation))
    }

    /// `(reserved, sold)` of the current sale installation.
    fn sale_taken(&self) -> (i64, i64) {
        let reserved = self
            .reservations
            .values()
            .filter(|h| self.in_sale(h))
            .map(|h| h.qty)
            .sum();
        let sold = self
            .purchases
            .iter()
            .filter(|h| self.in_sale(h))
            .map(|h| h.qty)
            .sum();
        (reserved, sold)
    }

    fn bought_by(&self, user: usize) -> i64 {
        self.reservations
            .values()
            .chain(self.purchases.iter())
            .filter(|h| h.user == user && self.in_sale(h))
            .map(|h| h.qty)
            .sum()
    }

    fn live_sale(&self, now: Millis) -> Option<&SaleModel> {
        self.sale
            .as_ref()
            .filter(|s| s.config.start_ms <= now && now < s.config.end_ms)
    }

    /// The outcome `reserve` must give, by the documented precedence.
    fn expect_reserve(&self, order: usize, user: usize, qty: i64, now: Millis) -> ItemOutcome {
        if qty <= 0 {
            return ItemOutcome::InvalidQuantity;
        }
        if !self.config.on_sale {
            return ItemOutcome::NotOnSale;
        }
        if let Some(h) = self.reservations.get(&order) {
            return ItemOutcome::AlreadyReserved {
                qty: h.qty,
                unit_price: h.unit_price,
                promotion: h.promotion,
            };
        }
        let mut unit_price = self.config.price;
        let mut promotion = None;
        if let Some(s) = self.live_sale(now) {
            if let Some(limit) = s.config.per_user_limit
                && self.bought_by(user) + qty > limit
            {
                return ItemOutcome::LimitExceeded { limit };
            }
            let (reserved, sold) = self.sale_taken();
            if s.config.quantity - reserved - sold < qty {
                return ItemOutcome::SaleSoldOut;
            }
            unit_price = s.config.sale_price;
            promotion = Some(s.config.promotion_id);
        }
        let available = self.levels().available;
        if available < qty {
            return ItemOutcome::SoldOut { available };
        }
        ItemOutcome::Reserved {
            unit_price,
            promotion,
        }
    }

    fn expected_reservations(&self) -> Vec<(OrderId, Reservation)> {
        let mut v: Vec<_> = self
            .reservations
            .values()
            .map(|h| (h.order, h.reservation()))
            .collect();
        v.sort_by_key(|(o, _)| *o);
        v
    }
}

/// Everything observable about an item ledger, for "nothing changed" and replay comparisons.
#[derive(Debug, Clone, PartialEq)]
struct ItemSnap {
    config: ItemConfig,
    levels: StockLevels,
    sale: Option<(SaleConfig, i64, i64, i64)>,
    bought: Vec<i64>,
    reservations: Vec<(OrderId, Reservation)>,
}

fn snap(ledger: &ItemLedger) -> ItemSnap {
    let mut reservations: Vec<_> = ledger
        .reservations()
        .map(|(o, r)| (*o, r.clone()))
        .collect();
    reservations.sort_by_key(|(o, _)| *o);
    ItemSnap {
        config: ledger.config.clone(),
        levels: ledger.levels(),
        sale: ledger
            .sale()
            .map(|s| (s.config.clone(), s.remaining, s.reserved, s.sold)),
        bought: (0..USERS)
            .map(|u| ledger.sale().map_or(0, |s| s.bought_by(uid(u))))
            .collect(),
        reservations,
    }
}

fn new_item(total: i64) -> ItemLedger {
    ItemLedger::new(
        ItemConfig {
            price: PRICE,
            on_sale: true,
        },
        total,
    )
}

/// The invariants that must hold after every step, and agreement with the model.
fn check_item(ledger: &ItemLedger, model: &ItemModel) -> Result<(), TestCaseError> {
    ledger.check();
    let l = ledger.levels();
    prop_assert!(l.available >= 0, "negative available: {:?}", l);
    prop_assert!(l.sold + l.reserved <= l.total, "oversold: {:?}", l);
    prop_assert_eq!(
        l.available + l.reserved + l.sold,
        l.total,
        "unbalanced: {:?}",
        l
    );
    prop_assert_eq!(l, model.levels(), "levels differ from the model");
    prop_assert_eq!(
        snap(ledger).reservations,
        model.expected_reservations(),
        "reservations differ from the model"
    );
    match (ledger.sale(), &model.sale) {
        (None, None) => {}
        (Some(s), Some(m)) => {
            prop_assert_eq!(&s.config, &m.config);
            prop_assert!(s.remaining >= 0 && s.reserved >= 0 && s.sold >= 0);
            prop_assert_eq!(
                s.remaining + s.reserved + s.sold,
                s.config.quantity,
                "sale unbalanced"
            );
            let (reserved, sold) = model.sale_taken();
            prop_assert_eq!((s.reserved, s.sold), (reserved, sold), "sale counters");
            for u in 0..USERS {
                let bought = s.bought_by(uid(u));
                prop_assert_eq!(bought, model.bought_by(u), "bought_by(user {})", u);
                if let Some(limit) = s.config.per_user_limit {
                    prop_assert!(
                        bought <= limit.max(m.grandfathered[u]),
                        "user {} holds {} over the limit {}",
                        u,
                        bought,
                        limit
                    );
                }
            }
        }
        (got, want) => prop_assert!(false, "sale {:?}, model {:?}", got, want),
    }
    Ok(())
}

/// Runs `steps` on a fresh item of `total` units, checking after every step, then replays the
/// journal on another fresh item.
fn run_item(total: i64, steps: &[(Millis, ItemOp)]) -> Result<(), TestCaseError> {
    let mut ledger = new_item(total);
    let mut model = ItemModel::new(ledger.config.clone(), total);
    // every successful operation as the event the actor journals, with its outcome
    let mut journal: Vec<(Event, ItemOutcome)> = Vec::new();
    let mut fresh_promotions = 100u64;
    let mut now = T0;
    check_item(&ledger, &model)?;

    for (dt, op) in steps {
        now += dt;
        let before = snap(&ledger);
        match *op {
            ItemOp::Reserve {
                order,
                user,
                qty,
                ttl,
            } => {
                let deadline_ms = now + ttl;
                let expected = model.expect_reserve(order, user, qty, now);
                let order_id = model.order_id(order);
                let out = ledger.reserve(order_id, uid(user), qty, deadline_ms, now);
                prop_assert_eq!(out, expected);
                if let ItemOutcome::Reserved {
                    unit_price,
                    promotion,
                } = out
                {
                    let generation = promotion.map(|_| model.sale.as_ref().unwrap().generation);
                    model.reservations.insert(
                        order,
                        Held {
                            order: order_id,
                            user,
                            qty,
                            unit_price,
                            promotion,
                            generation,
                            deadline_ms,
                        },
                    );
                    if promotion.is_some()
                        && let Some(limit) = ledger.sale().unwrap().config.per_user_limit
                    {
                        prop_assert!(ledger.sale().unwrap().bought_by(uid(user)) <= limit);
                    }
                    journal.push((
                        Event::ItemReserved {
                            item: ITEM,
                            order: order_id,
                            user: uid(user),
                            qty,
                            deadline_ms,
                            unit_price,
                            promotion,
                            at_ms: now,
                        },
                        out,
                    ));
                } else {
                    prop_assert_eq!(
                        &snap(&ledger),
                        &before,
                        "refused reserve {:?} changed state",
                        out
                    );
                }
            }
            ItemOp::Confirm { order } => {
                let out = ledger.confirm(model.order_id(order));
                match model.reservations.remove(&order) {
                    Some(h) => {
                        prop_assert_eq!(out, ItemOutcome::Confirmed { qty: h.qty });
                        model.purchases.push(h);
                        model.order_epochs[order] += 1;
                        journal.push((
                            Event::ItemConfirmed {
                                item: ITEM,
                                order: h.order,
                                qty: h.qty,
                                promotion: h.promotion,
                                at_ms: now,
                            },
                            out,
                        ));
                    }
                    None => {
                        prop_assert_eq!(out, ItemOutcome::NotReserved);
                        prop_assert_eq!(
                            &snap(&ledger),
                            &before,
                            "confirm of no order changed state"
                        );
                    }
                }
            }
            ItemOp::Release { order } => {
                let out = ledger.release(model.order_id(order));
                match model.reservations.remove(&order) {
                    Some(h) => {
                        prop_assert_eq!(out, ItemOutcome::Released { qty: h.qty });
                        journal.push((
                            Event::ItemReleased {
                                item: ITEM,
                                order: h.order,
                                qty: h.qty,
                                promotion: h.promotion,
                                reason: ReleaseReason::Cancelled,
                                at_ms: now,
                            },
                            out,
                        ));
                    }
                    None => {
                        prop_assert_eq!(out, ItemOutcome::NotReserved);
                        prop_assert_eq!(
                            &snap(&ledger),
                            &before,
                            "release of no order changed state"
                        );
                    }
                }
            }
            ItemOp::Restock { pick, qty, over } => {
                if over || model.purchases.is_empty() {
                    let order = model
                        .purchases
                        .first()
                        .map_or(model.order_id(0), |h| h.order);
                    let out = ledger.restock(order, model.sold() + qty);
                    prop_assert_eq!(out, ItemOutcome::InvalidQuantity);
                    prop_assert_eq!(&snap(&ledger), &before, "refused restock changed state");
                } else {
                    let i = pick % model.purchases.len();
                    let h = model.purchases[i];
                    let qty = qty.min(h.qty);
                    let out = ledger.restock(h.order, qty);
                    prop_assert_eq!(out, ItemOutcome::Restocked);
                    model.purchases[i].qty -= qty;
                    if model.purchases[i].qty == 0 {
                        model.purchases.remove(i);
                    }
                    journal.push((
                        Event::ItemRefunded {
                            item: ITEM,
                            order: h.order,
                            user: uid(h.user),
                            qty,
                            promotion: h.promotion,
                            at_ms: now,
                        },
                        out,
                    ));
                }
            }
            ItemOp::Adjust { delta } => {
                let available = model.levels().available;
                let out = ledger.adjust(delta);
                if available + delta < 0 {
                    prop_assert_eq!(out, ItemOutcome::InvalidQuantity);
                    prop_assert_eq!(&snap(&ledger), &before, "refused adjust changed state");
                } else {
                    model.total += delta;
                    prop_assert_eq!(
                        out,
                        ItemOutcome::Adjusted {
                            total: model.total,
                            available: available + delta
                        }
                    );
                    journal.push((
                        Event::ItemAdjusted {
                            item: ITEM,
                            delta,
                            at_ms: now,
                        },
                        out,
                    ));
                }
            }
            ItemOp::Tick => {
                let due: Vec<usize> = model
                    .reservations
                    .iter()
                    .filter(|(_, h)| h.deadline_ms <= now)
                    .map(|(o, _)| *o)
                    .collect();
                let mut expected: Vec<(OrderId, Reservation)> = due
                    .iter()
                    .map(|o| {
                        (
                            model.reservations[o].order,
                            model.reservations[o].reservation(),
                        )
                    })
                    .collect();
                expected.sort_by_key(|(o, _)| *o);
                let expired = ledger.expire(now);
                prop_assert_eq!(&expired, &expected, "expired reservations");
                for o in &due {
                    model.reservations.remove(o);
                }
                prop_assert!(ledger.reservations().all(|(_, r)| r.deadline_ms > now));
                for (order, r) in expired {
                    journal.push((
                        Event::ItemReleased {
                            item: ITEM,
                            order,
                            qty: r.qty,
                            promotion: r.promotion,
                            reason: ReleaseReason::Expired,
                            at_ms: now,
                        },
                        ItemOutcome::Released { qty: r.qty },
                    ));
                }
            }
            ItemOp::SetSale {
                change,
                start_off,
                len,
                quantity,
                limit,
                sale_price,
            } => {
                let current = model.sale.as_ref().map(|s| s.config.promotion_id);
                let promotion_id = match change {
                    SaleChange::Remove => None,
                    SaleChange::Update if current.is_some() => current,
                    SaleChange::New | SaleChange::Update => {
                        fresh_promotions += 1;
                        Some(pid(fresh_promotions))
                    }
                    SaleChange::Pool(i) => Some(pid(i)),
                };
                let config = promotion_id.map(|promotion_id| SaleConfig {
                    promotion_id,
                    start_ms: now + start_off,
                    end_ms: now + start_off + len,
                    sale_price,
                    quantity,
                    per_user_limit: limit,
                });
                let out = ledger.set_sale(config.clone());
                match config {
                    None => {
                        prop_assert_eq!(out, ItemOutcome::SaleSet);
                        model.sale = None;
                    }
                    Some(config) if Some(config.promotion_id) == current => {
                        let (reserved, sold) = model.sale_taken();
                        if config.quantity < reserved + sold {
                            prop_assert_eq!(out, ItemOutcome::InvalidQuantity);
                            prop_assert_eq!(
                                &snap(&ledger),
                                &before,
                                "refused set_sale changed state"
                            );
                        } else {
                            prop_assert_eq!(out, ItemOutcome::SaleSet);
                            let grandfathered: [i64; USERS] =
                                std::array::from_fn(|u| model.bought_by(u));
                            let sale = model.sale.as_mut().unwrap();
                            sale.config = config;
                            sale.grandfathered = grandfathered;
                        }
                    }
                    Some(config) => {
                        prop_assert_eq!(out, ItemOutcome::SaleSet);
                        model.next_generation += 1;
                        model.sale = Some(SaleModel {
                            config,
                            generation: model.next_generation,
                            grandfathered: [0; USERS],
                        });
                    }
                }
                if out.is_success() {
                    journal.push((
                        Event::ItemSaleSet {
                            item: ITEM,
                            sale: model.sale.as_ref().map(|s| s.config.clone()),
                            at_ms: now,
                        },
                        out,
                    ));
                }
            }
            ItemOp::Configure { on_sale, price } => {
                let config = ItemConfig { price, on_sale };
                ledger.configure(config.clone());
                model.config = config.clone();
                journal.push((
                    Event::ItemConfigured {
                        item: ITEM,
                        config,
                        at_ms: now,
                    },
                    ItemOutcome::Configured,
                ));
            }
        }
        check_item(&ledger, &model)?;
    }

    // Replay: every journaled decision, re-run on a fresh item built the same way, succeeds
    // again with the same outcome and ends in the same state.
    // Deciding each event's recorded command again journals that very event.
    let mut replica = new_item(total);
    let mut redecided = new_item(total);
    for (i, (event, outcome)) in journal.iter().enumerate() {
        let replayed = apply_to_item(&mut replica, event);
        prop_assert_eq!(
            replayed,
            Some(*outcome),
            "replay of event {}: {:?}",
            i,
            event
        );
        prop_assert!(replayed.unwrap().is_success());
        let (item, command, at_ms) =
            ItemCommand::recorded(event).expect("an item event records its command");
        let (_, redone) = redecided.decide(item, command, at_ms);
        prop_assert_eq!(redone.as_ref(), Some(event), "event {} decided again", i);
    }
    prop_assert_eq!(snap(&replica), snap(&ledger), "replayed state differs");
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Stock never oversold and always balanced, sale counters balanced, per-user limits held,
    /// refusals change nothing, outcomes follow the documented precedence, and the journal
    /// replays to the same state. Every `set_sale` either updates the current promotion, installs
    /// a brand-new one or removes the sale.
    #[test]
    fn item_interleavings_keep_invariants_and_replay(
        total in 0..=20i64,
        steps in item_steps(false),
    ) {
        run_item(total, &steps)?;
    }

    /// The same, with sales installed from a pool of two promotion ids, so a sale that was
    /// replaced or removed can be installed again while orders taken from it are still open:
    /// each installation keeps its own counters (see `reinstalled_sale_*` below).
    #[test]
    fn item_interleavings_with_reused_promotions(
        total in 0..=20i64,
        steps in item_steps(true),
    ) {
        run_item(total, &steps)?;
    }
}

/// A live sale of `quantity` units under promotion `id`, from `T0` for a while.
fn live_sale(id: u64, quantity: i64) -> SaleConfig {
    SaleConfig {
        promotion_id: pid(id),
        start_ms: T0,
        end_ms: T0 + 10_000,
        sale_price: 7_000,
        quantity,
        per_user_limit: None,
    }
}

/// Removing a sale and installing the same promotion again starts a fresh installation: a
/// reservation still held from the first one is not counted in it, and releasing it later
/// leaves the new counters alone (it used to drive them negative and panic, also at replay).
#[test]
fn reinstalled_sale_release_of_an_earlier_reservation() {
    let mut it = new_item(1);
    assert_eq!(it.set_sale(Some(live_sale(0, 1))), ItemOutcome::SaleSet);
    assert_eq!(
        it.reserve(oid(0), uid(0), 1, T0 + 1_000, T0),
        ItemOutcome::Reserved {
            unit_price: 7_000,
            promotion: Some(pid(0))
        }
    );
    assert_eq!(it.set_sale(None), ItemOutcome::SaleSet); // or set_sale(Some(another promotion))
    assert_eq!(it.set_sale(Some(live_sale(0, 1))), ItemOutcome::SaleSet);
    let s = it.sale().unwrap();
    // fresh: the earlier installation's reservation is not this one's
    assert_eq!((s.remaining, s.reserved, s.sold), (1, 0, 0));
    assert_eq!(it.release(oid(0)), ItemOutcome::Released { qty: 1 });
    let s = it.sale().unwrap();
    assert_eq!((s.remaining, s.reserved, s.sold), (1, 0, 0));
}

/// Refunding a unit bought from the earlier installation is not taken off the new
/// installation's `sold` (it used to be, because someone else had bought from the new one):
/// otherwise the sale's `remaining` grows while that buyer still holds the unit, and the sale
/// sells more than its quantity.
#[test]
fn reinstalled_sale_restock_of_an_earlier_purchase() {
    let mut it = new_item(4);
    it.set_sale(Some(live_sale(0, 2)));
    assert!(it.reserve(oid(0), uid(0), 1, T0 + 1_000, T0).is_success());
    assert!(it.confirm(oid(0)).is_success());
    it.set_sale(None);
    it.set_sale(Some(live_sale(0, 1)));
    assert!(it.reserve(oid(1), uid(1), 1, T0 + 1_000, T0).is_success());
    assert!(it.confirm(oid(1)).is_success());
    assert_eq!(it.restock(oid(0), 1), ItemOutcome::Restocked);
    let s = it.sale().unwrap();
    // user 1 still holds the one unit of this installation, so nothing remains
    assert_eq!((s.remaining, s.sold, s.bought_by(uid(1))), (0, 1, 1));
}

// ---------------------------------------------------------------------------------------------
// Campaign ledger
// ---------------------------------------------------------------------------------------------

const DISCOUNT: i64 = 1_000;
const MIN_ORDER: i64 = 5_000;

#[derive(Debug, Clone)]
enum CampaignOp {
    Issue {
        user: usize,
    },
    Use {
        user: usize,
        amount: i64,
    },
    /// `own`: by the order the coupon is used on (else by some other order).
    Recover {
        user: usize,
        own: bool,
    },
    SetStatus {
        status: CampaignStatus,
    },
    Configure {
        quantity: i64,
    },
}

fn campaign_status() -> impl Strategy<Value = CampaignStatus> {
    prop_oneof![
        6 => Just(CampaignStatus::Issued),
        1 => Just(CampaignStatus::Pending),
        1 => Just(CampaignStatus::OutOfStock),
    ]
}

fn campaign_op() -> impl Strategy<Value = CampaignOp> {
    prop_oneof![
        12 => (0..CAMPAIGN_USERS).prop_map(|user| CampaignOp::Issue { user }),
        4 => (0..CAMPAIGN_USERS, -1_000..=12_000i64)
            .prop_map(|(user, amount)| CampaignOp::Use { user, amount }),
        3 => (0..CAMPAIGN_USERS, prop::bool::weighted(0.8))
            .prop_map(|(user, own)| CampaignOp::Recover { user, own }),
        1 => campaign_status().prop_map(|status| CampaignOp::SetStatus { status }),
        1 => (1..=20i64).prop_map(|quantity| CampaignOp::Configure { quantity }),
    ]
}

/// The initial configuration: quantity, expiration and an optional issuing window, all relative
/// to `T0`.
fn campaign_setup() -> impl Strategy<Value = (CampaignConfig, CampaignStatus)> {
    (
        1..=20i64,
        (100..=1_200i64).prop_map(|t| t * TICK),
        prop::option::weighted(
            0.3,
            (
                (-40..=100i64).prop_map(|t| t * TICK),
                (20..=800i64).prop_map(|t| t * TICK),
            ),
        ),
        campaign_status(),
    )
        .prop_map(|(quantity, expires, window, status)| {
            (
                CampaignConfig {
                    quantity,
                    discount_amount: DISCOUNT,
                    min_order_amount: MIN_ORDER,
                    expires_at_ms: T0 + expires,
                    company_id: None,
                    issue_start_ms: window.map(|(start, _)| T0 + start),
                    issue_end_ms: window.map(|(start, len)| T0 + start + len),
                },
                status,
            )
        })
}

fn sorted_holders(ledger: &CampaignLedger) -> Vec<(UserId, CouponState)> {
    let mut v: Vec<_> = ledger.holders().collect();
    v.sort_by_key(|(u, _)| *u);
    v
}

fn cuid(i: usize) -> UserId {
    UserId(Uuid::from_u128(0x4000 + i as u128))
}

/// The outcome `issue` must give, by the documented precedence.
fn expect_issue(
    config: &CampaignConfig,
    status: CampaignStatus,
    holders: &BTreeMap<usize, CouponState>,
    user: usize,
    now: Millis,
) -> CampaignOutcome {
    let issued = holders.len() as i64;
    if status == CampaignStatus::Pending {
        CampaignOutcome::NotOpen
    } else if config.issue_start_ms.is_some_and(|s| now < s) {
        CampaignOutcome::NotStarted
    } else if config.issue_end_ms.is_some_and(|e| now >= e) || now >= config.expires_at_ms {
        CampaignOutcome::Ended
    } else if status == CampaignStatus::OutOfStock || issued >= config.quantity {
        CampaignOutcome::SoldOut
    } else if holders.contains_key(&user) {
        CampaignOutcome::AlreadyIssued
    } else {
        CampaignOutcome::Issued {
            issued_count: issued + 1,
            now_sold_out: issued + 1 == config.quantity,
        }
    }
}

fn run_campaign(
    initial: (CampaignConfig, CampaignStatus),
    steps: &[(Millis, CampaignOp)],
) -> Result<(), TestCaseError> {
    let mut ledger = CampaignLedger::new(initial.0.clone(), initial.1);
    // the model
    let mut config = initial.0.clone();
    let mut status = initial.1;
    let mut holders: BTreeMap<usize, CouponState> = BTreeMap::new();
    let mut used_on: BTreeMap<usize, OrderId> = BTreeMap::new();
    let mut ever_issued: BTreeSet<usize> = BTreeSet::new();
    let mut issued_outcomes = 0i64;
    let mut journal: Vec<(Event, Option<CampaignOutcome>)> = Vec::new();
    let mut now = T0;

    for (dt, op) in steps {
        now += dt;
        let (issued_before, quantity_before, status_before) =
            (ledger.issued_count(), ledger.config.quantity, ledger.status);
        let holders_before = sorted_holders(&ledger);
        match *op {
            CampaignOp::Issue { user } => {
                let expected = expect_issue(&config, status, &holders, user, now);
                let out = ledger.issue(cuid(user), now);
                prop_assert_eq!(out, expected);
                if out == CampaignOutcome::SoldOut {
                    prop_assert!(
                        issued_before == quantity_before
                            || status_before == CampaignStatus::OutOfStock,
                        "SoldOut with {}/{} issued and status {:?}",
                        issued_before,
                        quantity_before,
                        status_before
                    );
                }
                if let CampaignOutcome::Issued { now_sold_out, .. } = out {
                    prop_assert!(ever_issued.insert(user), "user {} issued twice", user);
                    issued_outcomes += 1;
                    holders.insert(user, CouponState::Unused);
                    if now_sold_out {
                        status = CampaignStatus::OutOfStock;
                    }
                    journal.push((
                        Event::CouponIssued {
                            campaign: CAMPAIGN,
                            user: cuid(user),
                            at_ms: now,
                        },
                        Some(out),
                    ));
                } else {
                    prop_assert_eq!(sorted_holders(&ledger), holders_before);
                    prop_assert_eq!(ledger.issued_count(), issued_before);
                    prop_assert_eq!(ledger.status, status_before);
                }
            }
            CampaignOp::Use { user, amount } => {
                let expected = match holders.get(&user) {
                    None => CampaignOutcome::NotHeld,
                    Some(CouponState::Used) => CampaignOutcome::AlreadyUsed,
                    Some(CouponState::Unused) if now >= config.expires_at_ms => {
                        CampaignOutcome::Expired
                    }
                    Some(CouponState::Unused) if amount < MIN_ORDER || amount <= 0 => {
                        CampaignOutcome::BelowMinimum {
                            min_order_amount: MIN_ORDER,
                        }
                    }
                    Some(CouponState::Unused) => CampaignOutcome::Used {
                        discount_amount: DISCOUNT.min(amount),
                    },
                };
                let order = OrderId(Uuid::from_u128(0x5000 + journal.len() as u128));
                let out = ledger.use_coupon(cuid(user), order, amount, now);
                prop_assert_eq!(out, expected);
                if out.is_success() {
                    holders.insert(user, CouponState::Used);
                    used_on.insert(user, order);
                    journal.push((
                        Event::CouponUsed {
                            campaign: CAMPAIGN,
                            user: cuid(user),
                            order,
                            eligible_amount: amount,
                            at_ms: now,
                        },
                        Some(out),
                    ));
                } else {
                    prop_assert_eq!(sorted_holders(&ledger), holders_before);
                }
            }
            CampaignOp::Recover { user, own } => {
                let order = match used_on.get(&user) {
                    Some(o) if own => *o,
                    _ => OrderId(Uuid::from_u128(0x9000 + journal.len() as u128)),
                };
                let expected = match holders.get(&user) {
                    None => CampaignOutcome::NotHeld,
                    Some(CouponState::Unused) => CampaignOutcome::NotUsed,
                    Some(CouponState::Used) if used_on.get(&user) != Some(&order) => {
                        CampaignOutcome::UsedByAnotherOrder
                    }
                    Some(CouponState::Used) => CampaignOutcome::Recovered,
                };
                let out = ledger.recover(cuid(user), order);
                prop_assert_eq!(out, expected);
                if out.is_success() {
                    holders.insert(user, CouponState::Unused);
                    used_on.remove(&user);
                    journal.push((
                        Event::CouponRecovered {
                            campaign: CAMPAIGN,
                            user: cuid(user),
                            at_ms: now,
                        },
                        Some(out),
                    ));
                } else {
                    prop_assert_eq!(sorted_holders(&ledger), holders_before);
                }
            }
            CampaignOp::SetStatus { status: wanted } => {
                let set = ledger.set_status(wanted);
                status = if wanted == CampaignStatus::Issued
                    && holders.len() as i64 >= config.quantity
                {
                    CampaignStatus::OutOfStock
                } else {
                    wanted
                };
                prop_assert_eq!(set, status);
                journal.push((
                    Event::CampaignStatusSet {
                        campaign: CAMPAIGN,
                        status: set,
                        at_ms: now,
                    },
                    None,
                ));
            }
            CampaignOp::Configure { quantity } => {
                let mut wanted = config.clone();
                wanted.quantity = quantity;
                ledger.configure(wanted);
                config.quantity = quantity.max(holders.len() as i64);
                if status == CampaignStatus::Issued && holders.len() as i64 >= config.quantity {
                    status = CampaignStatus::OutOfStock;
                }
                prop_assert_eq!(&ledger.config, &config);
                journal.push((
                    Event::CampaignConfigured {
                        campaign: CAMPAIGN,
                        config: ledger.config.clone(),
                        status: ledger.status,
                        at_ms: now,
                    },
                    None,
                ));
            }
        }

        ledger.check();
        prop_assert!(ledger.issued_count() <= ledger.config.quantity);
        prop_assert_eq!(ledger.issued_count(), issued_outcomes);
        prop_assert_eq!(ledger.issued_count(), holders.len() as i64);
        prop_assert_eq!(ledger.status, status);
        let want: Vec<_> = holders.iter().map(|(u, s)| (cuid(*u), *s)).collect();
        let mut want = want;
        want.sort_by_key(|(u, _)| *u);
        prop_assert_eq!(sorted_holders(&ledger), want);
    }

    // Replay the journal on a fresh campaign built the same way.
    // Deciding each event's recorded command again journals that very event.
    let mut replica = CampaignLedger::new(initial.0.clone(), initial.1);
    let mut redecided = CampaignLedger::new(initial.0, initial.1);
    for (i, (event, outcome)) in journal.iter().enumerate() {
        match CampaignCommand::recorded(event) {
            Some((campaign, command, at_ms)) => {
                let (_, redone) = redecided.decide(campaign, command, at_ms);
                prop_assert_eq!(redone.as_ref(), Some(event), "event {} decided again", i);
            }
            None => {
                apply_to_campaign(&mut redecided, event);
            }
        }
        let replayed = apply_to_campaign(&mut replica, event);
        prop_assert!(replayed.is_some(), "event {} not a campaign event", i);
        if let Some(outcome) = outcome {
            prop_assert_eq!(
                replayed,
                Some(*outcome),
                "replay of event {}: {:?}",
                i,
                event
            );
        }
    }
    prop_assert_eq!(sorted_holders(&replica), sorted_holders(&ledger));
    let uses = |l: &CampaignLedger| {
        let mut v: Vec<_> = l.uses().collect();
        v.sort_by_key(|(u, _)| *u);
        v
    };
    prop_assert_eq!(uses(&replica), uses(&ledger));
    let want: Vec<_> = used_on.iter().map(|(u, o)| (cuid(*u), *o)).collect();
    let mut want = want;
    want.sort_by_key(|(u, _)| *u);
    prop_assert_eq!(uses(&ledger), want);
    prop_assert_eq!(replica.issued_count(), ledger.issued_count());
    prop_assert_eq!(replica.status, ledger.status);
    prop_assert_eq!(&replica.config, &ledger.config);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// First come, first served: never more than the quantity, at most one coupon per user,
    /// `Issued` outcomes counted by `issued_count()`, `SoldOut` only when sold out, outcomes in
    /// the documented precedence, and the journal replays to the same holders.
    #[test]
    fn campaign_interleavings_keep_invariants_and_replay(
        initial in campaign_setup(),
        steps in prop::collection::vec(((0..=6i64).prop_map(|t| t * TICK), campaign_op()), 0..=MAX_OPS),
    ) {
        run_campaign(initial, &steps)?;
    }
}
