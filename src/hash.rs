//! The hasher of tables whose keys no peer chooses: registered method names, a client's own
//! sequence numbers, a gob encoder's Rust type ids and struct names. SipHash, the standard
//! library's default, resists a peer who picks keys to crowd one bucket, at a cost every call
//! pays; a table that holds only our own keys needs no such resistance. Anything a peer's data
//! can shape (the gob types a dynamic value is sent as, say) stays on SipHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hashed by [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// FNV-1a over bytes; a multiplication for a whole number.
pub(crate) struct FastHasher(u64);

impl Default for FastHasher {
    fn default() -> FastHasher {
        FastHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // The product's high bits mix every bit of the number; the rotation brings them down
        // to the low bits a table indexes by (numbers that share their low bits, such as one
        // shard's sequence numbers, still spread).
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(20);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn one_shard_s_sequence_numbers_spread_over_a_table() {
        // A shard of 16 holds every 16th number: their buckets (the low bits) must still differ.
        let build = BuildHasherDefault::<FastHasher>::default();
        let mut buckets: Vec<u64> = (0..64u64)
            .map(|i| build.hash_one(i * 16 + 3) & 63)
            .collect();
        buckets.sort_unstable();
        buckets.dedup();
        assert!(
            buckets.len() > 32,
            "64 numbers fell in {} buckets",
            buckets.len()
        );
    }

    #[test]
    fn names_that_differ_hash_apart() {
        let build = BuildHasherDefault::<FastHasher>::default();
        assert_ne!(build.hash_one("Arith.Add"), build.hash_one("Arith.Mul"));
        assert_ne!(build.hash_one(("a", "bc")), build.hash_one(("ab", "c")));
    }
}
