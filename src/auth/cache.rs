//! A bounded memo of successful signature checks, so a URL or cookie that a viewer repeats
//! (every segment of a video, every asset of a page) costs no decoding and no public-key
//! operation.
//!
//! An entry is keyed by the exact material a verification depended on: the key id, the
//! fingerprint of the key it named, the raw `Hash-Algorithm`, the raw `Signature`, and either the
//! raw `Policy` (custom) or the request URL plus raw `Expires` (canned, whose signed bytes are
//! built from them). Keys are compared byte for byte, never by a digest, so an entry only ever
//! answers for the very same credentials checked by the very same key. The entry keeps the
//! parsed custom policy, whose conditions (dates, IP, resource) are still evaluated on every
//! request. Only successes are stored (failures would let anyone fill the cache), and an entry
//! is void from the policy's `DateLessThan` on.
//!
//! The map is split into shards behind their own locks, so concurrent viewers rarely wait for
//! each other. When a shard is full, its expired entries are dropped first, then an arbitrary
//! half.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::policy::Policy;

/// Entries kept by [`VerifiedCache::default`].
const DEFAULT_CAPACITY: usize = 16_384;
/// Number of independently locked shards.
const SHARDS: usize = 16;

/// What a cached verification established.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    /// The policy's `DateLessThan`: the entry is void from then on.
    pub(crate) until: i64,
    /// The parsed custom policy, `None` for a canned one.
    pub(crate) policy: Option<Arc<Policy>>,
}

type Shard = HashMap<Box<[u8]>, Verified>;

/// Successful signature verifications, bounded and expiring with each policy.
#[derive(Debug)]
pub struct VerifiedCache {
    per_shard: usize,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl VerifiedCache {
    /// A cache holding about `capacity` entries (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        VerifiedCache {
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Number of entries currently held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            lock(s).clear();
        }
    }

    fn shard(&self, material: &[u8]) -> &Mutex<Shard> {
        let h = self.hasher.hash_one(material) as usize;
        &self.shards[h % SHARDS]
    }

    /// The live entry for exactly this material; an expired one is removed.
    pub(crate) fn get(&self, material: &[u8], now: i64) -> Option<Verified> {
        let mut map = lock(self.shard(material));
        match map.get(material) {
            Some(v) if now < v.until => Some(v.clone()),
            Some(_) => {
                map.remove(material);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified signature until `verified.until`.
    pub(crate) fn insert(&self, material: Box<[u8]>, verified: Verified, now: i64) {
        if now >= verified.until {
            return;
        }
        let mut map = lock(self.shard(&material));
        if map.len() >= self.per_shard && !map.contains_key(&material) {
            map.retain(|_, v| now < v.until);
            if map.len() >= self.per_shard {
                let drop: Vec<Box<[u8]>> = map.keys().take(map.len() / 2 + 1).cloned().collect();
                for k in drop {
                    map.remove(&k);
                }
            }
        }
        map.insert(material, verified);
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Builds the byte-exact cache key from length-prefixed parts, so no two different lists of
/// parts give the same bytes.
#[derive(Debug, Default)]
pub(crate) struct Material(Vec<u8>);

impl Material {
    /// An empty key with room for a typical signed URL.
    pub(crate) fn new() -> Self {
        Material(Vec::with_capacity(768))
    }

    /// Appends one part.
    pub(crate) fn part(&mut self, bytes: &[u8]) -> &mut Self {
        self.0
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    /// Appends an optional part, distinguishing absent from empty.
    pub(crate) fn opt(&mut self, bytes: Option<&[u8]>) -> &mut Self {
        match bytes {
            Some(b) => {
                self.0.push(1);
                self.part(b)
            }
            None => {
                self.0.push(0);
                self
            }
        }
    }

    /// The finished key.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The finished key, owned.
    pub(crate) fn into_boxed(self) -> Box<[u8]> {
        self.0.into_boxed_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> Box<[u8]> {
        let mut m = Material::new();
        m.part(b"K").part(&[n]);
        m.into_boxed()
    }

    fn v(until: i64) -> Verified {
        Verified {
            until,
            policy: None,
        }
    }

    #[test]
    fn entries_expire_with_the_policy() {
        let c = VerifiedCache::new(4);
        c.insert(k(1), v(100), 10);
        assert!(c.get(&k(1), 99).is_some());
        assert!(c.get(&k(1), 100).is_none());
        assert!(c.is_empty());
        c.insert(k(2), v(100), 100); // already expired: not stored
        assert!(c.is_empty());
    }

    #[test]
    fn material_separates_every_part() {
        let key = |parts: &[Option<&[u8]>]| {
            let mut m = Material::new();
            for p in parts {
                m.opt(*p);
            }
            m.into_boxed()
        };
        let base = key(&[Some(b"ab"), Some(b"c")]);
        assert_ne!(base, key(&[Some(b"a"), Some(b"bc")]));
        assert_ne!(base, key(&[Some(b"abc"), None]));
        assert_ne!(key(&[None, Some(b"")]), key(&[Some(b""), None]));
        assert_eq!(base, key(&[Some(b"ab"), Some(b"c")]));
    }

    #[test]
    fn stays_bounded() {
        let c = VerifiedCache::new(SHARDS * 2);
        for n in 0..=255u8 {
            c.insert(k(n), v(1000), 0);
            assert!(c.len() <= SHARDS * 2, "{}", c.len());
        }
        assert!(c.get(&k(255), 0).is_some());
        // Expired entries go first.
        let c = VerifiedCache::new(SHARDS * 2);
        let same_shard: Vec<Box<[u8]>> = (0..=255u8)
            .map(k)
            .filter(|m| std::ptr::eq(c.shard(m), c.shard(&k(0))))
            .take(3)
            .collect();
        let [a, b, d] = [&same_shard[0], &same_shard[1], &same_shard[2]];
        c.insert(a.clone(), v(5), 0);
        c.insert(b.clone(), v(1000), 0);
        c.insert(d.clone(), v(1000), 10);
        assert!(c.get(b, 10).is_some() && c.get(d, 10).is_some());
        assert!(c.get(a, 0).is_none());
        c.clear();
        assert!(c.is_empty());
    }
}
