//! A bounded memo of successful signature checks, so a URL or cookie that a viewer repeats
//! (every segment of a video, every asset of a page) costs one public-key operation.
//!
//! Keyed by SHA-256 over (key id, key fingerprint, hash algorithm, exact signed bytes,
//! signature), so an entry only ever answers for the very same signature by the very same key.
//! Only successes are stored (failures would let anyone fill the cache), and an entry is void
//! from the policy's `DateLessThan` on. When full, expired entries are dropped first, then an
//! arbitrary half.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::keys::HashAlg;

/// Entries kept by [`VerifiedCache::default`].
const DEFAULT_CAPACITY: usize = 10_000;

/// Successful signature verifications, bounded and expiring with each policy.
#[derive(Debug)]
pub struct VerifiedCache {
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], i64>>,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl VerifiedCache {
    /// A cache holding at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        VerifiedCache {
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Number of entries currently held (expired ones included until evicted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (e.g. when keys change).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], i64>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn key(
        key_id: &str,
        fingerprint: &[u8; 32],
        hash: HashAlg,
        signed: &[u8],
        signature: &[u8],
    ) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [key_id.as_bytes(), fingerprint, signed, signature] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.update([match hash {
            HashAlg::Sha1 => 1u8,
            HashAlg::Sha256 => 2u8,
        }]);
        h.finalize().into()
    }

    /// Whether a live entry exists; an expired one is removed.
    pub(crate) fn contains(&self, key: &[u8; 32], now: i64) -> bool {
        let mut map = self.lock();
        match map.get(key) {
            Some(&until) if now < until => true,
            Some(_) => {
                map.remove(key);
                false
            }
            None => false,
        }
    }

    /// Remembers a verified signature until `until` (the policy's `DateLessThan`).
    pub(crate) fn insert(&self, key: [u8; 32], until: i64, now: i64) {
        if now >= until {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, &mut u| now < u);
            if map.len() >= self.capacity {
                let drop: Vec<[u8; 32]> = map.keys().take(map.len() / 2 + 1).copied().collect();
                for k in drop {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> [u8; 32] {
        VerifiedCache::key("K", &[0; 32], HashAlg::Sha1, &[n], b"sig")
    }

    #[test]
    fn entries_expire_with_the_policy() {
        let c = VerifiedCache::new(4);
        c.insert(k(1), 100, 10);
        assert!(c.contains(&k(1), 99));
        assert!(!c.contains(&k(1), 100));
        assert!(c.is_empty());
        c.insert(k(2), 100, 100); // already expired: not stored
        assert!(c.is_empty());
    }

    #[test]
    fn keys_separate_every_component() {
        let base = VerifiedCache::key("K", &[0; 32], HashAlg::Sha1, b"ab", b"c");
        assert_ne!(
            base,
            VerifiedCache::key("K", &[0; 32], HashAlg::Sha1, b"a", b"bc")
        );
        assert_ne!(
            base,
            VerifiedCache::key("K", &[0; 32], HashAlg::Sha256, b"ab", b"c")
        );
        assert_ne!(
            base,
            VerifiedCache::key("K", &[1; 32], HashAlg::Sha1, b"ab", b"c")
        );
        assert_ne!(
            base,
            VerifiedCache::key("L", &[0; 32], HashAlg::Sha1, b"ab", b"c")
        );
    }

    #[test]
    fn stays_bounded() {
        let c = VerifiedCache::new(8);
        for n in 0..100u8 {
            c.insert(k(n), 1000, 0);
            assert!(c.len() <= 8);
        }
        assert!(c.contains(&k(99), 0));
        // Expired entries go first.
        let c = VerifiedCache::new(2);
        c.insert(k(1), 5, 0);
        c.insert(k(2), 1000, 0);
        c.insert(k(3), 1000, 10);
        assert!(c.contains(&k(2), 10) && c.contains(&k(3), 10));
        c.clear();
        assert!(c.is_empty());
    }
}
