//! `id -> actor` maps. An actor is created on first use, loading its state; concurrent first uses
//! of one id wait for the same load, so there is never more than one actor per id.

use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::OnceCell;

/// A registry of actors of one kind. `E` is the cheap-to-clone entry (address plus shared state).
pub struct Registry<K, E> {
    map: DashMap<K, Arc<OnceCell<E>>>,
}

impl<K: Eq + Hash + Copy, E: Clone> Default for Registry<K, E> {
    fn default() -> Self {
        Self {
            map: DashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Copy, E: Clone> Registry<K, E> {
    /// The entry for `key` if its actor exists.
    pub fn get(&self, key: &K) -> Option<E> {
        self.map.get(key).and_then(|cell| cell.get().cloned())
    }

    /// The entry for `key`, creating it with `create` on first use. `create` returning `None`
    /// (no such entity) leaves nothing behind, so a later creation of the entity is seen.
    pub async fn get_or_create<F, Fut>(&self, key: K, create: F) -> anyhow::Result<Option<E>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<E>>>,
    {
        if let Some(e) = self.get(&key) {
            return Ok(Some(e));
        }
        let cell = self.map.entry(key).or_default().clone();
        let result = cell
            .get_or_try_init(|| async {
                match create().await {
                    Ok(Some(e)) => Ok(e),
                    Ok(None) => Err(None),
                    Err(err) => Err(Some(err)),
                }
            })
            .await;
        match result {
            Ok(e) => Ok(Some(e.clone())),
            Err(failure) => {
                self.map.remove_if(&key, |_, c| c.get().is_none());
                match failure {
                    None => Ok(None),
                    Some(err) => Err(err),
                }
            }
        }
    }

    /// Install an entry built elsewhere (recovery). Replaces nothing that exists.
    pub fn insert(&self, key: K, entry: E) -> bool {
        let cell = self.map.entry(key).or_default().clone();
        cell.set(entry).is_ok()
    }

    /// Every live entry.
    pub fn entries(&self) -> Vec<(K, E)> {
        self.map
            .iter()
            .filter_map(|kv| kv.value().get().map(|e| (*kv.key(), e.clone())))
            .collect()
    }

    /// Drop every entry whose key matches `doomed` (their actors stop once the last address is
    /// gone); returns how many were dropped.
    pub fn remove_where(&self, doomed: impl Fn(&K) -> bool) -> usize {
        let before = self.map.len();
        self.map.retain(|k, _| !doomed(k));
        before - self.map.len()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
