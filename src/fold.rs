//! A small, fast, seeded hasher for the tables the request path looks up on every request
//! with a viewer's input: distributions by Host, keys by `Key-Pair-Id`, and the memo of
//! verified signatures by a prefix of their material.
//!
//! None of these tables can be filled by a viewer (distributions and keys come from
//! configuration; the memo stores only signatures that verified, which takes the private key),
//! and every lookup compares the whole key on a hit, so the hash needs to spread keys well but
//! not to resist chosen collisions: a viewer's chosen key costs one probe like any other.
//! SipHash, the standard library's default, costs several times as much per byte.

use std::hash::Hasher;

/// Odd 64-bit multiplier (the golden ratio's fraction, as in Fibonacci hashing).
const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// Folds 8-byte words into the state with a multiply and a rotate; [`Hasher::finish`] mixes
/// the state so that its high and low bits both depend on every input bit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FoldHasher(u64);

impl FoldHasher {
    /// A hasher starting from `seed`.
    pub(crate) fn with_seed(seed: u64) -> Self {
        FoldHasher(seed)
    }

    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(MUL).rotate_left(29);
    }
}

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            self.word(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            // The length tells `ab` from `ab\0`.
            self.word(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.word(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.word(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.word(n as u64);
    }

    fn finish(&self) -> u64 {
        // MurmurHash3's 64-bit finaliser.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hash(seed: u64, bytes: &[u8]) -> u64 {
        let mut h = FoldHasher::with_seed(seed);
        h.write(bytes);
        h.finish()
    }

    #[test]
    fn every_byte_and_the_length_count() {
        let base = b"KBENCH0000001-and-some-more-bytes".to_vec();
        let mut seen = HashSet::new();
        assert!(seen.insert(hash(1, &base)));
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] ^= 1;
            assert!(
                seen.insert(hash(1, &b)),
                "flipping byte {i} changed nothing"
            );
        }
        for n in 0..base.len() {
            assert!(
                seen.insert(hash(1, &base[..n])),
                "prefix of {n} bytes collided"
            );
        }
        assert_ne!(hash(1, b"ab"), hash(1, b"ab\0"));
        assert_ne!(hash(1, &base), hash(2, &base), "the seed counts");
    }

    #[test]
    fn spreads_sequential_ids_over_high_and_low_bits() {
        // 4,096 ids like the ones key groups use, into 64 buckets by the low bits and by the
        // high bits: no bucket gets more than twice its share.
        for shift in [0, 58] {
            let mut buckets = [0u32; 64];
            for n in 0..4096 {
                let h = hash(0, format!("K{n:012}").as_bytes());
                buckets[((h >> shift) & 63) as usize] += 1;
            }
            assert!(buckets.iter().all(|&c| c <= 128), "{shift}: {buckets:?}");
        }
    }
}
