//! Event ids as the dedupe remembers them: fixed-width digests instead of strings.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first 128 bits of the SHA-256 of an event id (its UTF-8 bytes): what the dedupe remembers,
/// and what a sink stores for it, in place of the id — 16 bytes whatever the id's length.
///
/// Two ids with the same digest would count as one event (the second dropped as a retry). At 128
/// bits that does not happen: among `n` ids remembered at once, the chance that any two share a
/// digest is below `n² / 2¹²⁹` (the birthday bound) — for a 7-day window at 50,000 events/s
/// (3·10¹⁰ ids) about 10⁻¹⁸, far below the rate of undetected memory or disk errors. SHA-256
/// keeps it so for ids chosen to collide: finding any colliding pair takes about 2⁶⁴ hashes, and
/// an id matching someone else's given id about 2¹²⁸.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventDigest(pub [u8; 16]);

impl EventDigest {
    /// The digest of `event_id`.
    pub fn of(event_id: &str) -> EventDigest {
        let hash = Sha256::digest(event_id.as_bytes());
        let mut digest = [0; 16];
        digest.copy_from_slice(&hash[..16]);
        EventDigest(digest)
    }

    /// The first 64 bits, most significant first: digests in order have their prefixes in order,
    /// and the prefixes of many digests spread evenly over `u64`.
    pub fn prefix(&self) -> u64 {
        let mut prefix = [0; 8];
        prefix.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(prefix)
    }
}

/// In hex, as Postgres prints the stored bytes.
impl fmt::Debug for EventDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_the_first_half_of_the_ids_sha_256() {
        // `printf evt-0-1 | sha256sum`, first 32 hex digits.
        assert_eq!(format!("{:?}", EventDigest::of("evt-0-1")), "43fe85dec7af6e1500e39489de2feaa2");
    }

    #[test]
    fn prefixes_order_as_digests_do() {
        let mut digests = (0..1000).map(|n| EventDigest::of(&format!("evt-{n}"))).collect::<Vec<_>>();
        digests.sort_unstable();
        assert!(digests.windows(2).all(|pair| pair[0].prefix() <= pair[1].prefix()));
    }
}
