//! Replay protection for client assertions: the `jti`s seen, each until its assertion expires.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use aws_lc_rs::digest;

/// The client assertions seen, by a digest of (client id, `jti`), each until its `exp`. Entries
/// are evicted once expired, and assertions are valid for a bounded time
/// (`State::max_assertion_lifetime`), so this holds at most the assertions accepted during that
/// time, 32 bytes of key each whatever the size of the `jti`.
#[derive(Default)]
pub(crate) struct SeenAssertions {
    expiry: HashMap<[u8; 32], i64>,
    /// The same entries, soonest expiry first.
    queue: BinaryHeap<Reverse<(i64, [u8; 32])>>,
}

impl SeenAssertions {
    /// Forget what expired before `now`, then remember the `jti` of `client_id` until `exp`.
    /// `false` if it was already remembered (a replay).
    pub(crate) fn insert(&mut self, client_id: &str, jti: &str, exp: i64, now: i64) -> bool {
        while let Some(Reverse((e, key))) = self.queue.peek().copied() {
            if e >= now {
                break;
            }
            self.queue.pop();
            self.expiry.remove(&key);
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(client_id.to_ascii_lowercase().as_bytes());
        ctx.update(b"\0");
        ctx.update(jti.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        if self.expiry.contains_key(&key) {
            return false;
        }
        let exp = exp.max(now);
        self.expiry.insert(key, exp);
        self.queue.push(Reverse((exp, key)));
        true
    }

    /// How many assertions are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.expiry.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_jtis_evicts_expired_entries() {
        let mut seen = SeenAssertions::default();
        assert!(seen.insert("Client", "a", 100, 0));
        assert!(
            !seen.insert("client", "a", 100, 50),
            "replay, client id case-insensitive"
        );
        assert!(seen.insert("client", "A", 100, 50), "jti is case-sensitive");
        assert!(seen.insert("other", "a", 200, 50));
        assert!(
            seen.insert("client", "b", 10, 50),
            "an expired exp is kept until now"
        );
        assert_eq!(seen.len(), 4);
        // At 100 the entries expiring at 100 are still there; the one at 50 is gone.
        assert!(!seen.insert("client", "a", 100, 100));
        assert_eq!(seen.len(), 3);
        // After 100, only the entry expiring at 200 remains (plus the new one).
        assert!(seen.insert("client", "c", 300, 101));
        assert_eq!(seen.len(), 2);
        assert!(seen.insert("client", "a", 150, 101), "forgotten after exp");
        // Many assertions over time: memory follows what is still valid, not the total.
        for i in 0..10_000i64 {
            assert!(seen.insert("client", &i.to_string(), 1_000 + i + 60, 1_000 + i));
        }
        assert!(seen.len() <= 62, "{}", seen.len());
        // A huge jti costs no more than a short one.
        assert!(seen.insert("client", &"x".repeat(1 << 20), 20_000, 11_000));
    }
}
