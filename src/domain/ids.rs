//! Identifier newtypes. All ids are UUIDs; newtypes keep a user id from being passed as an item id.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        // No `Default`: a default value would be a random id, which no caller means by
        // "default" (a derived `Default` on a struct holding one would invent ids silently).
        #[allow(clippy::new_without_default)]
        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id as a 128-bit integer (compact set keys).
            pub fn as_u128(self) -> u128 {
                self.0.as_u128()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// A user (`p_user.user_id`).
    UserId
);
id_type!(
    /// A sellable item: a product (`p_product.id`), owned by one item actor.
    ItemId
);
id_type!(
    /// A coupon campaign (`p_coupon_info.coupon_info_id`), owned by one campaign actor.
    CampaignId
);
id_type!(
    /// An order (`p_order.id`).
    OrderId
);
id_type!(
    /// An issued coupon (`p_coupon.coupon_id`).
    CouponId
);
id_type!(
    /// A time sale (`p_promotion.id`).
    PromotionId
);
id_type!(
    /// A company (`p_companies.id`).
    CompanyId
);

/// The coupon id of `user`'s coupon from `campaign`.
///
/// Deterministic (UUID v5 over both ids), so a user who already holds a coupon can be told which
/// one without the campaign storing coupon ids: the campaign keeps only a set of user ids.
pub fn coupon_id_for(campaign: CampaignId, user: UserId) -> CouponId {
    CouponId(Uuid::new_v5(&campaign.0, user.0.as_bytes()))
}

/// A fast hasher for keys that are already uniformly random or nearly so (UUIDs).
///
/// It folds the written bytes into a 64-bit word and finishes with a multiply, which spreads the
/// bits hashbrown takes its control byte from. Used for the per-campaign user sets, where SipHash
/// would dominate the cost of a claim.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = ((v as u64) ^ ((v >> 64) as u64).rotate_left(32))
            .wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }
}

/// `BuildHasher` for [`IdHasher`].
pub type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupon_ids_are_stable_and_distinct() {
        let c = CampaignId::new();
        let (u1, u2) = (UserId::new(), UserId::new());
        assert_eq!(coupon_id_for(c, u1), coupon_id_for(c, u1));
        assert_ne!(coupon_id_for(c, u1), coupon_id_for(c, u2));
        assert_ne!(coupon_id_for(c, u1), coupon_id_for(CampaignId::new(), u1));
    }
}
