//! Coupon discount math (pure).

use super::ids::CompanyId;

/// One priced order line as the coupon rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricedLine {
    pub company_id: CompanyId,
    /// Unit price times quantity.
    pub amount: i64,
}

/// The part of an order a coupon applies to: every line for a platform-wide coupon
/// (`scope == None`), otherwise only the lines of that company.
pub fn eligible_amount(lines: &[PricedLine], scope: Option<CompanyId>) -> i64 {
    lines
        .iter()
        .filter(|l| scope.is_none_or(|c| c == l.company_id))
        .fold(0i64, |sum, l| sum.saturating_add(l.amount))
}

/// What the shopper pays: the total less the discount, never below zero (saturating).
pub fn pay_amount(total_amount: i64, discount_amount: i64) -> i64 {
    total_amount.saturating_sub(discount_amount).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_scope_limits_the_eligible_amount() {
        let (a, b) = (CompanyId::new(), CompanyId::new());
        let lines = [
            PricedLine {
                company_id: a,
                amount: 3_000,
            },
            PricedLine {
                company_id: b,
                amount: 5_000,
            },
        ];
        assert_eq!(eligible_amount(&lines, None), 8_000);
        assert_eq!(eligible_amount(&lines, Some(a)), 3_000);
        assert_eq!(eligible_amount(&lines, Some(CompanyId::new())), 0);
        assert_eq!(pay_amount(8_000, 1_000), 7_000);
        assert_eq!(pay_amount(500, 1_000), 0);
    }

    #[test]
    fn extreme_amounts_saturate_instead_of_wrapping() {
        let c = CompanyId::new();
        let line = |amount| PricedLine {
            company_id: c,
            amount,
        };
        assert_eq!(eligible_amount(&[line(i64::MAX), line(1)], None), i64::MAX);
        assert_eq!(pay_amount(i64::MIN, 1), 0);
        assert_eq!(pay_amount(i64::MAX, i64::MIN), i64::MAX);
    }
}
