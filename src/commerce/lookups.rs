//! Read-through caches for the rows the order path checks on every order: a product's name and
//! company, and an address's owner. Without them every buy-now order makes two database round
//! trips before it reaches the engine; with them a repeat order stays in memory.
//!
//! Entries are filled from the database on a miss (an address also when this process creates
//! it: its owner is known then, and a new address is usually ordered with next) and dropped by
//! the handlers that change or
//! delete the row ([`Lookups::forget_product`], [`Lookups::forget_address`]). A fill that read
//! the database before a concurrent forget is not stored (an epoch per map), so a stale row cannot
//! outlive the change that made it stale. Each map holds at most [`MAX_ENTRIES`]; beyond that it
//! starts over (the next orders refill it).

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;
use uuid::Uuid;

use crate::domain::ids::{ItemId, UserId};

/// Most entries per map.
pub const MAX_ENTRIES: usize = 1_000_000;

pub use crate::persistence::orders::ProductInfo;

/// A cache that refuses fills older than its last invalidation.
#[derive(Debug)]
struct Cache<K: std::hash::Hash + Eq, V> {
    map: DashMap<K, V>,
    epoch: AtomicU64,
}

impl<K: std::hash::Hash + Eq, V> Default for Cache<K, V> {
    fn default() -> Self {
        Self {
            map: DashMap::new(),
            epoch: AtomicU64::new(0),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Cache<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).map(|v| v.value().clone())
    }

    /// The epoch to pass to [`Cache::fill`], taken before reading the database.
    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn fill(&self, read_at: u64, key: K, value: V) {
        if self.map.len() >= MAX_ENTRIES {
            self.map.clear();
        }
        self.map.insert(key, value);
        // A forget that ran meanwhile may have missed this entry: undo the fill.
        if self.epoch() != read_at {
            self.map.clear();
        }
    }

    fn forget(&self, key: &K) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.map.remove(key);
    }
}

/// The order path's caches (one per app).
#[derive(Debug, Default)]
pub struct Lookups {
    products: Cache<ItemId, ProductInfo>,
    addresses: Cache<Uuid, UserId>,
}

impl Lookups {
    pub fn product(&self, id: ItemId) -> Option<ProductInfo> {
        self.products.get(&id)
    }

    pub fn products_epoch(&self) -> u64 {
        self.products.epoch()
    }

    /// Remember a product row read from the database after [`Lookups::products_epoch`] gave
    /// `read_at`.
    pub fn remember_product(&self, read_at: u64, id: ItemId, info: ProductInfo) {
        self.products.fill(read_at, id, info);
    }

    /// Call after changing or deleting the product's row.
    pub fn forget_product(&self, id: ItemId) {
        self.products.forget(&id);
    }

    /// The owner of a live address, if cached.
    pub fn address_owner(&self, id: Uuid) -> Option<UserId> {
        self.addresses.get(&id)
    }

    pub fn addresses_epoch(&self) -> u64 {
        self.addresses.epoch()
    }

    pub fn remember_address(&self, read_at: u64, id: Uuid, owner: UserId) {
        self.addresses.fill(read_at, id, owner);
    }

    /// Call after deleting the address.
    pub fn forget_address(&self, id: Uuid) {
        self.addresses.forget(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::CompanyId;

    fn info(name: &str) -> ProductInfo {
        ProductInfo {
            name: name.into(),
            company_id: CompanyId(Uuid::from_u128(1)),
        }
    }

    #[test]
    fn a_fill_that_read_before_a_forget_is_not_kept() {
        let l = Lookups::default();
        let p = ItemId(Uuid::from_u128(7));
        let read_at = l.products_epoch();
        // The row changes (and is forgotten) while the old row is in flight.
        l.forget_product(p);
        l.remember_product(read_at, p, info("old name"));
        assert_eq!(l.product(p), None, "the stale row must not be cached");
        let read_at = l.products_epoch();
        l.remember_product(read_at, p, info("new name"));
        assert_eq!(l.product(p), Some(info("new name")));
        l.forget_product(p);
        assert_eq!(l.product(p), None);
    }

    #[test]
    fn addresses_are_remembered_until_deleted() {
        let l = Lookups::default();
        let (a, owner) = (Uuid::from_u128(3), UserId(Uuid::from_u128(4)));
        assert_eq!(l.address_owner(a), None);
        l.remember_address(l.addresses_epoch(), a, owner);
        assert_eq!(l.address_owner(a), Some(owner));
        l.forget_address(a);
        assert_eq!(l.address_owner(a), None);
    }
}
