//! `CampaignLedger`: a first-come-first-served coupon campaign.
//!
//! It owns the campaign's issued count, its status, the set of users already issued a coupon and
//! each issued coupon's used/unused state. Every operation takes `now_ms` and returns an outcome
//! value; `issued <= quantity` and `issued == holders.len()` are checked after every mutation.

use griddle::HashMap;

use serde::{Deserialize, Serialize};

use super::Millis;
use super::event::Event;
use super::ids::{CampaignId, CompanyId, IdBuildHasher, OrderId, UserId};

/// The seed's `CouponStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CampaignStatus {
    /// Created, not yet open for issuing.
    Pending,
    /// Open: coupons are being issued.
    Issued,
    /// Every coupon has been issued (or a manager closed the campaign).
    OutOfStock,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Pending => "PENDING",
            CampaignStatus::Issued => "ISSUED",
            CampaignStatus::OutOfStock => "OUT_OF_STOCK",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "PENDING" => Some(Self::Pending),
            "ISSUED" => Some(Self::Issued),
            "OUT_OF_STOCK" => Some(Self::OutOfStock),
            _ => None,
        }
    }
}

/// The configurable part of a campaign (everything a manager may set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignConfig {
    /// Total coupons that may be issued.
    pub quantity: i64,
    /// Fixed amount taken off an order.
    pub discount_amount: i64,
    /// Smallest eligible order amount.
    pub min_order_amount: i64,
    /// Coupons can be used until this instant (exclusive): the end of the expiration date.
    pub expires_at_ms: Millis,
    /// `None` = platform-wide; `Some` = only that company's products.
    pub company_id: Option<CompanyId>,
    /// Optional issuing window `[start, end)`.
    pub issue_start_ms: Option<Millis>,
    pub issue_end_ms: Option<Millis>,
}

/// Every outcome of a campaign operation, one flat enum mapped to HTTP in one place.
///
/// `issue` checks run in this order, the first failing one wins: `NotOpen` (status PENDING) >
/// `NotStarted` (before the window) > `Ended` (after the window or the expiration) > `SoldOut`
/// (status OUT_OF_STOCK or every coupon issued) > `AlreadyIssued` > `Issued`. Sold out precedes
/// already issued so the fast-reject path, which knows nothing of users, answers as the actor would.
///
/// `use_coupon`: `NotHeld` > `AlreadyUsed` > `Expired` > `BelowMinimum` > `Used`.
/// `recover`: `NotHeld` > `NotUsed` > `UsedByAnotherOrder` > `Recovered`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CampaignOutcome {
    Issued {
        issued_count: i64,
        now_sold_out: bool,
    },
    NotOpen,
    NotStarted,
    Ended,
    SoldOut,
    AlreadyIssued,
    Used {
        discount_amount: i64,
    },
    /// The user holds no coupon from this campaign.
    NotHeld,
    AlreadyUsed,
    Expired,
    /// The order's eligible amount is under the minimum.
    BelowMinimum {
        min_order_amount: i64,
    },
    Recovered,
    NotUsed,
    /// The coupon is used, by another order than the one giving it back: it stays used.
    UsedByAnotherOrder,
    /// The status actually set (an exhausted campaign opened stays OUT_OF_STOCK).
    StatusSet {
        status: CampaignStatus,
    },
    /// The configuration of a PENDING campaign was replaced.
    Configured,
    /// A configuration change refused: the campaign is no longer PENDING.
    NotPending {
        status: CampaignStatus,
    },
}

impl CampaignOutcome {
    /// Whether the operation changed the ledger (and so must be journaled).
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            CampaignOutcome::Issued { .. }
                | CampaignOutcome::Used { .. }
                | CampaignOutcome::Recovered
                | CampaignOutcome::StatusSet { .. }
                | CampaignOutcome::Configured
        )
    }
}

/// The part of a campaign that refuses an issue request whatever the user (see
/// [`CampaignLedger::gate`]). The one place the precedence lives: not open, then not started,
/// then ended, then sold out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignGate {
    /// The campaign is PENDING.
    pub pending: bool,
    /// Issuing opens at this instant (`Millis::MIN`: no start).
    pub starts_at_ms: Millis,
    /// Issuing ends at this instant: the issue end or the coupons' expiry, the earlier.
    pub ends_at_ms: Millis,
    /// OUT_OF_STOCK, or every coupon issued.
    pub sold_out: bool,
}

impl CampaignGate {
    /// The refusal at `now_ms`, if any.
    pub fn check(&self, now_ms: Millis) -> Option<CampaignOutcome> {
        if self.pending {
            Some(CampaignOutcome::NotOpen)
        } else if now_ms < self.starts_at_ms {
            Some(CampaignOutcome::NotStarted)
        } else if now_ms >= self.ends_at_ms {
            Some(CampaignOutcome::Ended)
        } else if self.sold_out {
            Some(CampaignOutcome::SoldOut)
        } else {
            None
        }
    }
}

/// The state of one holder's coupon. Kept in one byte so a million holders stay small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum CouponState {
    Unused = 0,
    Used = 1,
}

/// A coupon campaign's live state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignLedger {
    pub config: CampaignConfig,
    pub status: CampaignStatus,
    issued: i64,
    /// user id (as u128) -> that user's coupon state. One entry per claim: an incrementally
    /// resized map, so the claim that makes it double moves a few entries instead of all of them
    /// (a plain hash map of a few hundred thousand holders stalls its actor for tens of ms there).
    holders: HashMap<u128, CouponState, IdBuildHasher>,
    /// user id -> the order (as u128) its used coupon is on. Only used coupons are here, and
    /// only those whose order is known (a coupon used before orders were recorded has none).
    used_by: HashMap<u128, u128, IdBuildHasher>,
}

impl CampaignLedger {
    pub fn new(config: CampaignConfig, status: CampaignStatus) -> Self {
        let ledger = Self {
            config,
            status,
            issued: 0,
            holders: HashMap::default(),
            used_by: HashMap::default(),
        };
        ledger.check();
        ledger
    }

    /// Rebuild from stored state: holders, whether each coupon is used, and the orders the used
    /// ones are on (where known).
    pub fn restore(
        config: CampaignConfig,
        status: CampaignStatus,
        holders: impl IntoIterator<Item = (UserId, CouponState)>,
        uses: impl IntoIterator<Item = (UserId, OrderId)>,
    ) -> Self {
        let holders: HashMap<u128, CouponState, IdBuildHasher> =
            holders.into_iter().map(|(u, s)| (u.as_u128(), s)).collect();
        let used_by = uses
            .into_iter()
            .map(|(u, o)| (u.as_u128(), o.0.as_u128()))
            .filter(|(u, _)| holders.get(u) == Some(&CouponState::Used))
            .collect();
        let ledger = Self {
            config,
            status,
            issued: holders.len() as i64,
            holders,
            used_by,
        };
        ledger.check();
        ledger
    }

    pub fn issued_count(&self) -> i64 {
        self.issued
    }

    pub fn remaining(&self) -> i64 {
        self.config.quantity - self.issued
    }

    /// Make room for `additional` more holders at once (recovery, before replaying that many
    /// issues: one resize instead of one per doubling).
    pub fn reserve_holders(&mut self, additional: usize) {
        self.holders.reserve(additional);
    }

    pub fn holds(&self, user: UserId) -> Option<CouponState> {
        self.holders.get(&user.as_u128()).copied()
    }

    /// Every holder and their coupon state (for snapshots and audits).
    pub fn holders(&self) -> impl Iterator<Item = (UserId, CouponState)> + '_ {
        self.holders
            .iter()
            .map(|(u, s)| (UserId(uuid::Uuid::from_u128(*u)), *s))
    }

    /// Every used coupon whose order is known: its holder and the order.
    pub fn uses(&self) -> impl Iterator<Item = (UserId, OrderId)> + '_ {
        self.used_by.iter().map(|(u, o)| {
            (
                UserId(uuid::Uuid::from_u128(*u)),
                OrderId(uuid::Uuid::from_u128(*o)),
            )
        })
    }

    /// The order `user`'s coupon is used on, when it is used and the order is known.
    pub fn used_on(&self, user: UserId) -> Option<OrderId> {
        self.used_by
            .get(&user.as_u128())
            .map(|o| OrderId(uuid::Uuid::from_u128(*o)))
    }

    /// What decides, whatever the user, whether an issue request is refused: the actor
    /// publishes it for the fast-reject check, and [`CampaignLedger::issue`] applies the same.
    pub fn gate(&self) -> CampaignGate {
        CampaignGate {
            pending: self.status == CampaignStatus::Pending,
            starts_at_ms: self.config.issue_start_ms.unwrap_or(Millis::MIN),
            ends_at_ms: self
                .config
                .issue_end_ms
                .unwrap_or(Millis::MAX)
                .min(self.config.expires_at_ms),
            sold_out: self.status == CampaignStatus::OutOfStock
                || self.issued >= self.config.quantity,
        }
    }

    /// Whether an issue request at `now_ms` would be refused whatever the user. `None` when the
    /// campaign may still issue.
    pub fn closed_reason(&self, now_ms: Millis) -> Option<CampaignOutcome> {
        self.gate().check(now_ms)
    }

    /// Issue one coupon to `user` (first come, first served; one per user).
    pub fn issue(&mut self, user: UserId, now_ms: Millis) -> CampaignOutcome {
        if let Some(reason) = self.closed_reason(now_ms) {
            return reason;
        }
        match self.holders.entry(user.as_u128()) {
            griddle::hash_map::Entry::Occupied(_) => CampaignOutcome::AlreadyIssued,
            griddle::hash_map::Entry::Vacant(v) => {
                v.insert(CouponState::Unused);
                self.issued += 1;
                let now_sold_out = self.issued == self.config.quantity;
                if now_sold_out {
                    self.status = CampaignStatus::OutOfStock;
                }
                self.check();
                CampaignOutcome::Issued {
                    issued_count: self.issued,
                    now_sold_out,
                }
            }
        }
    }

    /// Use `user`'s coupon on an order whose eligible amount (the lines the coupon applies to)
    /// is `eligible_amount`.
    pub fn use_coupon(
        &mut self,
        user: UserId,
        order: OrderId,
        eligible_amount: i64,
        now_ms: Millis,
    ) -> CampaignOutcome {
        let Some(state) = self.holders.get_mut(&user.as_u128()) else {
            return CampaignOutcome::NotHeld;
        };
        if *state == CouponState::Used {
            return CampaignOutcome::AlreadyUsed;
        }
        if now_ms >= self.config.expires_at_ms {
            return CampaignOutcome::Expired;
        }
        if eligible_amount < self.config.min_order_amount || eligible_amount <= 0 {
            return CampaignOutcome::BelowMinimum {
                min_order_amount: self.config.min_order_amount,
            };
        }
        *state = CouponState::Used;
        self.used_by.insert(user.as_u128(), order.0.as_u128());
        CampaignOutcome::Used {
            discount_amount: self.config.discount_amount.min(eligible_amount),
        }
    }

    /// Give back the coupon `order` used (the order was cancelled, failed, expired, refunded,
    /// or its placing was abandoned). A coupon used on another order stays used, so an order
    /// that is not sure whether its use landed (a lost answer) can always give it back.
    pub fn recover(&mut self, user: UserId, order: OrderId) -> CampaignOutcome {
        let key = user.as_u128();
        match self.holders.get(&key) {
            None => CampaignOutcome::NotHeld,
            Some(CouponState::Unused) => CampaignOutcome::NotUsed,
            Some(CouponState::Used) => match self.used_by.get(&key) {
                Some(on) if *on != order.0.as_u128() => CampaignOutcome::UsedByAnotherOrder,
                // Its own order, or one not recorded (used before orders were kept): back.
                _ => self.unuse(key),
            },
        }
    }

    /// Replay of a recovery journaled without its order: the live decision was taken by
    /// [`Self::recover`], so the coupon is given back whatever order it is on.
    pub fn replay_recover(&mut self, user: UserId) -> CampaignOutcome {
        match self.holders.get(&user.as_u128()) {
            None => CampaignOutcome::NotHeld,
            Some(CouponState::Unused) => CampaignOutcome::NotUsed,
            Some(CouponState::Used) => self.unuse(user.as_u128()),
        }
    }

    fn unuse(&mut self, user: u128) -> CampaignOutcome {
        self.holders.insert(user, CouponState::Unused);
        self.used_by.remove(&user);
        CampaignOutcome::Recovered
    }

    /// Change the status (manager action). Opening a campaign that has nothing left keeps it
    /// OUT_OF_STOCK. Returns the status actually set.
    pub fn set_status(&mut self, status: CampaignStatus) -> CampaignStatus {
        self.status = if status == CampaignStatus::Issued && self.issued >= self.config.quantity {
            CampaignStatus::OutOfStock
        } else {
            status
        };
        self.check();
        self.status
    }

    /// Replace the configuration. The quantity never drops below what was already issued.
    pub fn configure(&mut self, mut config: CampaignConfig) {
        config.quantity = config.quantity.max(self.issued);
        self.config = config;
        if self.status == CampaignStatus::Issued && self.issued >= self.config.quantity {
            self.status = CampaignStatus::OutOfStock;
        }
        self.check();
    }

    /// Replace the configuration only while the campaign is PENDING (not published yet), checked
    /// and applied in one step so that an opening in between cannot slip through. Refused with
    /// the current status otherwise, changing nothing.
    pub fn configure_pending(&mut self, config: CampaignConfig) -> Result<(), CampaignStatus> {
        if self.status != CampaignStatus::Pending {
            return Err(self.status);
        }
        self.configure(config);
        Ok(())
    }

    /// The campaign invariants; a violation is a bug, so it panics.
    pub fn check(&self) {
        assert!(
            self.issued >= 0 && self.issued <= self.config.quantity,
            "campaign issued {} outside 0..={}",
            self.issued,
            self.config.quantity
        );
        assert_eq!(
            self.issued as usize,
            self.holders.len(),
            "campaign issued count differs from its holders"
        );
        debug_assert!(
            self.used_by
                .keys()
                .all(|u| self.holders.get(u) == Some(&CouponState::Used)),
            "an order is recorded for a coupon that is not used"
        );
    }
}

/// A request to a campaign: what its actor receives, and what recovery rebuilds from a journaled
/// event to replay it through the same [`CampaignLedger::decide`]. It also travels between nodes
/// as a peer call (JSON), to the node that owns the campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum CampaignCommand {
    /// Issue one coupon to `user` (first come, first served; one per user).
    Issue { user: UserId },
    /// Use `user`'s coupon on `order`, whose lines the coupon applies to add up to
    /// `eligible_amount`.
    Use {
        user: UserId,
        order: OrderId,
        eligible_amount: i64,
    },
    /// Give back the coupon `user` used on `order`.
    Recover { user: UserId, order: OrderId },
    /// Change the status (manager action).
    SetStatus { status: CampaignStatus },
    /// Replace the configuration while the campaign is PENDING.
    ConfigurePending { config: CampaignConfig },
}

impl CampaignCommand {
    /// The command a journaled event of a campaign records, with the instant it was decided at.
    /// `None` for other entities' events and for the two replayed as they are recorded (see
    /// [`super::event::apply_to_campaign`]): a recovery, whose event does not name its order,
    /// and a configuration, applied whatever the status the campaign was loaded with.
    pub fn recorded(event: &Event) -> Option<(CampaignId, CampaignCommand, Millis)> {
        Some(match event {
            Event::CouponIssued {
                campaign,
                user,
                at_ms,
            } => (*campaign, CampaignCommand::Issue { user: *user }, *at_ms),
            Event::CouponUsed {
                campaign,
                user,
                order,
                eligible_amount,
                at_ms,
            } => (
                *campaign,
                CampaignCommand::Use {
                    user: *user,
                    order: *order,
                    eligible_amount: *eligible_amount,
                },
                *at_ms,
            ),
            Event::CampaignStatusSet {
                campaign,
                status,
                at_ms,
            } => (
                *campaign,
                CampaignCommand::SetStatus { status: *status },
                *at_ms,
            ),
            _ => return None,
        })
    }
}

impl CampaignLedger {
    /// Decide `command` for campaign `id` at `now_ms`: the outcome, and the event to journal
    /// when it changed the ledger. The actor journals what this returns; recovery replays a
    /// journaled event by deciding its [`CampaignCommand::recorded`] again.
    pub fn decide(
        &mut self,
        id: CampaignId,
        command: CampaignCommand,
        now_ms: Millis,
    ) -> (CampaignOutcome, Option<Event>) {
        let campaign = id;
        let at_ms = now_ms;
        match command {
            CampaignCommand::Issue { user } => {
                let outcome = self.issue(user, now_ms);
                let event = outcome.is_success().then_some(Event::CouponIssued {
                    campaign,
                    user,
                    at_ms,
                });
                (outcome, event)
            }
            CampaignCommand::Use {
                user,
                order,
                eligible_amount,
            } => {
                let outcome = self.use_coupon(user, order, eligible_amount, now_ms);
                let event = outcome.is_success().then_some(Event::CouponUsed {
                    campaign,
                    user,
                    order,
                    eligible_amount,
                    at_ms,
                });
                (outcome, event)
            }
            CampaignCommand::Recover { user, order } => {
                let outcome = self.recover(user, order);
                let event = outcome.is_success().then_some(Event::CouponRecovered {
                    campaign,
                    user,
                    at_ms,
                });
                (outcome, event)
            }
            CampaignCommand::SetStatus { status } => {
                let status = self.set_status(status);
                (
                    CampaignOutcome::StatusSet { status },
                    Some(Event::CampaignStatusSet {
                        campaign,
                        status,
                        at_ms,
                    }),
                )
            }
            CampaignCommand::ConfigurePending { config } => match self.configure_pending(config) {
                Err(status) => (CampaignOutcome::NotPending { status }, None),
                Ok(()) => (
                    CampaignOutcome::Configured,
                    Some(Event::CampaignConfigured {
                        campaign,
                        config: self.config.clone(),
                        status: self.status,
                        at_ms,
                    }),
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = 86_400_000;

    fn campaign(qty: i64) -> CampaignLedger {
        CampaignLedger::new(
            CampaignConfig {
                quantity: qty,
                discount_amount: 1_000,
                min_order_amount: 5_000,
                expires_at_ms: 10 * DAY,
                company_id: None,
                issue_start_ms: None,
                issue_end_ms: None,
            },
            CampaignStatus::Issued,
        )
    }

    #[test]
    fn script_first_come_first_served() {
        // campaign C qty=2; issue U1 -> issued; issue U1 -> already; issue U2 -> issued (sold out);
        // issue U3 -> sold out; issue U1 -> sold out (sold out precedes already issued).
        let mut c = campaign(2);
        let (u1, u2, u3) = (UserId::new(), UserId::new(), UserId::new());
        assert_eq!(
            c.issue(u1, 0),
            CampaignOutcome::Issued {
                issued_count: 1,
                now_sold_out: false
            }
        );
        assert_eq!(c.issue(u1, 0), CampaignOutcome::AlreadyIssued);
        assert_eq!(
            c.issue(u2, 0),
            CampaignOutcome::Issued {
                issued_count: 2,
                now_sold_out: true
            }
        );
        assert_eq!(c.status, CampaignStatus::OutOfStock);
        assert_eq!(c.issue(u3, 0), CampaignOutcome::SoldOut);
        assert_eq!(c.issue(u1, 0), CampaignOutcome::SoldOut);
        assert_eq!(c.issued_count(), 2);
    }

    #[test]
    fn script_status_and_window() {
        let mut c = campaign(5);
        c.set_status(CampaignStatus::Pending);
        let u = UserId::new();
        assert_eq!(c.issue(u, 0), CampaignOutcome::NotOpen);
        c.set_status(CampaignStatus::Issued);
        c.config.issue_start_ms = Some(100);
        c.config.issue_end_ms = Some(200);
        assert_eq!(c.issue(u, 99), CampaignOutcome::NotStarted);
        assert_eq!(c.issue(u, 200), CampaignOutcome::Ended);
        assert!(matches!(c.issue(u, 150), CampaignOutcome::Issued { .. }));
        // past the expiration nothing is issued
        c.config.issue_end_ms = None;
        assert_eq!(c.issue(UserId::new(), 10 * DAY), CampaignOutcome::Ended);
    }

    #[test]
    fn script_use_and_recover() {
        let mut c = campaign(5);
        let (u, stranger) = (UserId::new(), UserId::new());
        let order = OrderId::new();
        c.issue(u, 0);
        assert_eq!(
            c.use_coupon(stranger, order, 10_000, 0),
            CampaignOutcome::NotHeld
        );
        assert_eq!(
            c.use_coupon(u, order, 4_999, 0),
            CampaignOutcome::BelowMinimum {
                min_order_amount: 5_000
            }
        );
        assert_eq!(
            c.use_coupon(u, order, 5_000, 0),
            CampaignOutcome::Used {
                discount_amount: 1_000
            }
        );
        assert_eq!(
            c.use_coupon(u, order, 5_000, 0),
            CampaignOutcome::AlreadyUsed
        );
        assert_eq!(c.used_on(u), Some(order));
        // another order (one whose own use never landed) cannot take it back
        let other = OrderId::new();
        assert_eq!(c.recover(u, other), CampaignOutcome::UsedByAnotherOrder);
        assert_eq!(c.holds(u), Some(CouponState::Used));
        assert_eq!(c.recover(u, order), CampaignOutcome::Recovered);
        assert_eq!(c.used_on(u), None);
        assert_eq!(c.recover(u, order), CampaignOutcome::NotUsed);
        assert_eq!(
            c.use_coupon(u, order, 5_000, 10 * DAY),
            CampaignOutcome::Expired
        );
        assert_eq!(c.recover(stranger, order), CampaignOutcome::NotHeld);
    }

    #[test]
    fn reopening_an_exhausted_campaign_stays_out_of_stock() {
        let mut c = campaign(1);
        c.issue(UserId::new(), 0);
        assert_eq!(
            c.set_status(CampaignStatus::Issued),
            CampaignStatus::OutOfStock
        );
        // shrinking below the issued count is clamped
        let mut cfg = c.config.clone();
        cfg.quantity = 0;
        c.configure(cfg);
        assert_eq!(c.config.quantity, 1);
    }

    #[test]
    fn restore_keeps_holders_and_counts() {
        let mut c = campaign(3);
        let (u1, u2) = (UserId::new(), UserId::new());
        c.issue(u1, 0);
        c.issue(u2, 0);
        let order = OrderId::new();
        c.use_coupon(u2, order, 9_000, 0);
        let back = CampaignLedger::restore(
            c.config.clone(),
            c.status,
            c.holders(),
            c.uses().chain([(u1, OrderId::new())]),
        );
        assert_eq!(back.issued_count(), 2);
        assert_eq!(back.holds(u2), Some(CouponState::Used));
        assert_eq!(back.used_on(u2), Some(order));
        assert_eq!(back.holds(u1), Some(CouponState::Unused));
        assert_eq!(back.used_on(u1), None, "an unused coupon is on no order");
        // a used coupon whose order was not recorded still goes back to any order
        let mut legacy = CampaignLedger::restore(c.config.clone(), c.status, c.holders(), []);
        assert_eq!(
            legacy.recover(u2, OrderId::new()),
            CampaignOutcome::Recovered
        );
    }

    #[test]
    fn script_configure_only_while_pending() {
        // campaign qty=10 PENDING; configure qty=5 -> ok; open; configure qty=7 -> refused.
        let mut c = campaign(10);
        c.set_status(CampaignStatus::Pending);
        let mut wanted = c.config.clone();
        wanted.quantity = 5;
        assert_eq!(c.configure_pending(wanted.clone()), Ok(()));
        assert_eq!(c.config.quantity, 5);
        c.set_status(CampaignStatus::Issued);
        wanted.quantity = 7;
        assert_eq!(c.configure_pending(wanted), Err(CampaignStatus::Issued));
        assert_eq!(c.config.quantity, 5, "a refused change changes nothing");
    }
}
