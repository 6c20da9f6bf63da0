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
//! each other, and hashes only the start of the material (which begins with the signature), so
//! a long signed URL costs one short hash and one comparison. When a shard is full, its expired
//! entries are dropped first, then an arbitrary half.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::policy::Policy;
use crate::fold::FoldHasher;

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

/// Entries by a seeded hash ([`FoldHasher`]) of the material's length and first
/// [`HASHED_PREFIX`] bytes (the material starts with the signature, unpredictable without the
/// private key); entries that share a hash are told apart by comparing every byte.
#[derive(Debug, Default)]
struct Shard {
    by_hash: HashMap<u64, Vec<Entry>, BuildHasherDefault<Prehashed>>,
    len: usize,
}

/// The map's hasher: its keys are already outputs of the material hash, so they are used
/// as they are instead of being hashed a second time.
#[derive(Debug, Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by a `u64` key; fold anything else in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// One remembered verification: the exact material and what it established.
type Entry = (Box<[u8]>, Verified);

/// Bytes of the material fed to the hasher.
const HASHED_PREFIX: usize = 64;

impl Shard {
    fn get(&self, h: u64, material: &[u8]) -> Option<&Verified> {
        self.by_hash
            .get(&h)?
            .iter()
            .find(|(m, _)| &**m == material)
            .map(|(_, v)| v)
    }

    fn remove(&mut self, h: u64, material: &[u8]) {
        if let Some(list) = self.by_hash.get_mut(&h) {
            let before = list.len();
            list.retain(|(m, _)| &**m != material);
            self.len -= before - list.len();
            if list.is_empty() {
                self.by_hash.remove(&h);
            }
        }
    }

    fn insert(&mut self, h: u64, material: Box<[u8]>, v: Verified) {
        let list = self.by_hash.entry(h).or_default();
        match list.iter_mut().find(|(m, _)| *m == material) {
            Some(slot) => slot.1 = v,
            None => {
                list.push((material, v));
                self.len += 1;
            }
        }
    }

    /// Keeps only entries for which `keep` holds.
    fn retain(&mut self, mut keep: impl FnMut(&Verified) -> bool) {
        let mut len = 0;
        self.by_hash.retain(|_, list| {
            list.retain(|(_, v)| keep(v));
            len += list.len();
            !list.is_empty()
        });
        self.len = len;
    }

    /// Drops about half the entries (whole hash buckets, arbitrary ones).
    fn drop_half(&mut self) {
        let target = self.len / 2;
        let mut dropped = 0;
        let victims: Vec<u64> = self
            .by_hash
            .iter()
            .take_while(|(_, list)| {
                let go = dropped < target.max(1);
                dropped += list.len();
                go
            })
            .map(|(h, _)| *h)
            .collect();
        for h in victims {
            if let Some(list) = self.by_hash.remove(&h) {
                self.len -= list.len();
            }
        }
    }
}

/// Successful signature verifications, bounded and expiring with each policy.
#[derive(Debug)]
pub struct VerifiedCache {
    per_shard: usize,
    /// Seed of the material hash, random per cache.
    seed: u64,
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
            seed: RandomState::new().hash_one(0x5eed_u64),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Number of entries currently held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len).sum()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            *lock(s) = Shard::default();
        }
    }

    fn hash(&self, material: &[u8]) -> u64 {
        let mut h = FoldHasher::with_seed(self.seed);
        h.write_usize(material.len());
        h.write(&material[..material.len().min(HASHED_PREFIX)]);
        h.finish()
    }

    fn shard(&self, h: u64) -> &Mutex<Shard> {
        &self.shards[(h >> 32) as usize % SHARDS]
    }

    /// The live entry for exactly this material; an expired one is removed.
    pub(crate) fn get(&self, material: &[u8], now: i64) -> Option<Verified> {
        let h = self.hash(material);
        let mut shard = lock(self.shard(h));
        match shard.get(h, material) {
            Some(v) if now < v.until => Some(v.clone()),
            Some(_) => {
                shard.remove(h, material);
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
        let h = self.hash(&material);
        let mut shard = lock(self.shard(h));
        if shard.len >= self.per_shard && shard.get(h, &material).is_none() {
            shard.retain(|v| now < v.until);
            if shard.len >= self.per_shard {
                shard.drop_half();
            }
        }
        shard.insert(h, material, verified);
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
    fn materials_alike_in_their_hashed_prefix_are_told_apart() {
        let c = VerifiedCache::new(64);
        let a: Box<[u8]> = [vec![7u8; 100], vec![1]].concat().into();
        let b: Box<[u8]> = [vec![7u8; 100], vec![2]].concat().into();
        assert_eq!(c.hash(&a), c.hash(&b));
        c.insert(a.clone(), v(100), 0);
        assert!(c.get(&a, 0).is_some());
        assert!(c.get(&b, 0).is_none());
        c.insert(b.clone(), v(50), 0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&b, 0).map(|x| x.until), Some(50));
        assert!(c.get(&a, 60).is_some() && c.get(&b, 60).is_none());
        assert_eq!(c.len(), 1);
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
            .filter(|m| std::ptr::eq(c.shard(c.hash(m)), c.shard(c.hash(&k(0)))))
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
