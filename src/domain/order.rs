//! Orders: the status machine and the amounts (pure).
//!
//! `CREATE -> PENDING` (payment ready) `-> COMPLETE` (payment approved);
//! `CREATE | PENDING -> CANCEL` (shopper cancel, payment failure, deadline);
//! `COMPLETE -> REFUND` within the refund window.

use serde::{Deserialize, Serialize};

use super::Millis;
use super::ids::{CampaignId, CompanyId, CouponId, ItemId, OrderId, PromotionId, UserId};

/// The seed's `OrderStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Create,
    Pending,
    Complete,
    Cancel,
    Refund,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Create => "CREATE",
            OrderStatus::Pending => "PENDING",
            OrderStatus::Complete => "COMPLETE",
            OrderStatus::Cancel => "CANCEL",
            OrderStatus::Refund => "REFUND",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CREATE" => Some(Self::Create),
            "PENDING" => Some(Self::Pending),
            "COMPLETE" => Some(Self::Complete),
            "CANCEL" => Some(Self::Cancel),
            "REFUND" => Some(Self::Refund),
            _ => None,
        }
    }

    /// Waiting for payment: its stock is reserved.
    pub fn is_active(self) -> bool {
        matches!(self, OrderStatus::Create | OrderStatus::Pending)
    }
}

/// How long after completion a refund is accepted.
pub const REFUND_WINDOW_MS: Millis = 24 * 3_600_000;

/// One order line, priced when its stock was reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub item: ItemId,
    pub name: String,
    pub company_id: CompanyId,
    pub qty: i64,
    pub unit_price: i64,
    pub promotion: Option<PromotionId>,
}

/// `unit_price * qty` summed over `lines`, or `None` when any step does not fit in an `i64`.
pub fn checked_total(lines: &[OrderLine]) -> Option<i64> {
    lines.iter().try_fold(0i64, |sum, l| {
        l.unit_price
            .checked_mul(l.qty)
            .and_then(|amount| sum.checked_add(amount))
    })
}

/// The coupon an order used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCoupon {
    pub campaign: CampaignId,
    pub coupon: CouponId,
    pub expires_at_ms: Millis,
}

/// An order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub user: UserId,
    pub address_id: uuid::Uuid,
    /// "first product" or "first product 외 N개" (the seed's naming).
    pub name: String,
    pub lines: Vec<OrderLine>,
    pub total_amount: i64,
    pub discount_amount: i64,
    pub pay_amount: i64,
    pub coupon: Option<OrderCoupon>,
    pub status: OrderStatus,
    pub created_at_ms: Millis,
    /// Payment must be approved before this instant.
    pub deadline_ms: Millis,
    pub completed_at_ms: Option<Millis>,
}

/// Why a transition was refused, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionRefused {
    /// Already in a state from which this move is impossible.
    AlreadyProcessed(OrderStatus),
    /// Payment came after the deadline.
    DeadlinePassed,
    /// Refund asked after the refund window.
    RefundWindowClosed,
}

impl Order {
    /// The seed's order name.
    pub fn name_for(lines: &[OrderLine]) -> String {
        match lines {
            [] => String::new(),
            [one] => one.name.clone(),
            [first, rest @ ..] => format!("{} 외 {}개", first.name, rest.len()),
        }
    }

    /// Total quantity of units.
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.qty).sum()
    }

    /// Check (without applying) a move to `to` at `now_ms`.
    pub fn check_transition(
        &self,
        to: OrderStatus,
        now_ms: Millis,
    ) -> Result<(), TransitionRefused> {
        use OrderStatus::*;
        match (self.status, to) {
            (Create, Pending) => Ok(()),
            (Create | Pending, Complete) if now_ms >= self.deadline_ms => {
                Err(TransitionRefused::DeadlinePassed)
            }
            (Pending, Complete) => Ok(()),
            (Create | Pending, Cancel) => Ok(()),
            (Complete, Refund) => {
                let done = self.completed_at_ms.unwrap_or(self.created_at_ms);
                if now_ms - done <= REFUND_WINDOW_MS {
                    Ok(())
                } else {
                    Err(TransitionRefused::RefundWindowClosed)
                }
            }
            (from, _) => Err(TransitionRefused::AlreadyProcessed(from)),
        }
    }

    /// Apply a move checked by [`Order::check_transition`].
    pub fn apply(&mut self, to: OrderStatus, now_ms: Millis) {
        if to == OrderStatus::Complete {
            self.completed_at_ms = Some(now_ms);
        }
        self.status = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: OrderStatus) -> Order {
        Order {
            id: OrderId::new(),
            user: UserId::new(),
            address_id: uuid::Uuid::nil(),
            name: "x".into(),
            lines: vec![],
            total_amount: 0,
            discount_amount: 0,
            pay_amount: 0,
            coupon: None,
            status,
            created_at_ms: 0,
            deadline_ms: 1_000,
            completed_at_ms: None,
        }
    }

    #[test]
    fn totals_that_do_not_fit_are_refused() {
        let line = |unit_price, qty| OrderLine {
            item: ItemId::new(),
            name: "x".into(),
            company_id: CompanyId::new(),
            qty,
            unit_price,
            promotion: None,
        };
        assert_eq!(checked_total(&[line(1_000, 3), line(500, 2)]), Some(4_000));
        assert_eq!(checked_total(&[line(i64::MAX, 2)]), None);
        assert_eq!(checked_total(&[line(i64::MAX, 1), line(1, 1)]), None);
        assert_eq!(checked_total(&[line(i64::MIN, 1), line(-1, 1)]), None);
        assert_eq!(checked_total(&[]), Some(0));
    }

    #[test]
    fn script_status_machine() {
        use OrderStatus::*;
        let mut o = order(Create);
        assert_eq!(
            o.check_transition(Complete, 10),
            Err(TransitionRefused::AlreadyProcessed(Create))
        );
        assert!(o.check_transition(Pending, 10).is_ok());
        o.apply(Pending, 10);
        assert_eq!(
            o.check_transition(Complete, 1_000),
            Err(TransitionRefused::DeadlinePassed)
        );
        assert!(o.check_transition(Complete, 999).is_ok());
        o.apply(Complete, 999);
        assert_eq!(
            o.check_transition(Cancel, 1_000),
            Err(TransitionRefused::AlreadyProcessed(Complete))
        );
        assert!(o.check_transition(Refund, 999 + REFUND_WINDOW_MS).is_ok());
        assert_eq!(
            o.check_transition(Refund, 1_000 + REFUND_WINDOW_MS),
            Err(TransitionRefused::RefundWindowClosed)
        );
        o.apply(Refund, 1_000);
        assert_eq!(
            o.check_transition(Refund, 1_000),
            Err(TransitionRefused::AlreadyProcessed(Refund))
        );
        assert!(order(Pending).check_transition(Cancel, 5_000).is_ok());
    }

    #[test]
    fn names_follow_the_seed() {
        let line = |n: &str| OrderLine {
            item: ItemId::new(),
            name: n.into(),
            company_id: CompanyId::new(),
            qty: 1,
            unit_price: 1,
            promotion: None,
        };
        assert_eq!(Order::name_for(&[line("a")]), "a");
        assert_eq!(
            Order::name_for(&[line("a"), line("b"), line("c")]),
            "a 외 2개"
        );
    }
}
