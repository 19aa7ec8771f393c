//! [`Expiring`]: a map of random keys to values that end at an expiry, with a bound.

use std::collections::HashMap;

/// Values by key, each with the Unix second it expires at. At capacity, an insert first drops
/// what has expired, then the entry that expires soonest.
pub(crate) struct Expiring<V> {
    entries: HashMap<String, (V, i64)>,
    capacity: usize,
}

impl<V> Expiring<V> {
    pub(crate) fn new(capacity: usize) -> Expiring<V> {
        Expiring {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Keep `value` under `key` until `expires_at` (Unix seconds).
    pub(crate) fn insert(&mut self, key: String, value: V, expires_at: i64, now: i64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries.retain(|_, (_, exp)| *exp > now);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, exp))| *exp)
                    .map(|(k, _)| k.clone());
                if let Some(k) = soonest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(key, (value, expires_at));
    }

    /// The live value under `key`.
    pub(crate) fn get(&self, key: &str, now: i64) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v)
    }

    /// The live value under `key`, to change in place.
    pub(crate) fn get_mut(&mut self, key: &str, now: i64) -> Option<&mut V> {
        self.entries
            .get_mut(key)
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v)
    }

    /// The first live entry `pred` accepts.
    pub(crate) fn find(&self, now: i64, mut pred: impl FnMut(&V) -> bool) -> Option<(&str, &V)> {
        self.entries
            .iter()
            .find(|(_, (v, exp))| *exp > now && pred(v))
            .map(|(k, (v, _))| (k.as_str(), v))
    }

    /// Take the value out (it can be taken once); `None` when absent or expired.
    pub(crate) fn take(&mut self, key: &str, now: i64) -> Option<V> {
        let (v, exp) = self.entries.remove(key)?;
        (exp > now).then_some(v)
    }

    /// Drop the entries `keep` refuses.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        self.entries.retain(|_, (v, _)| keep(v));
    }

    /// How many entries are kept, live or not yet pruned.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_end_at_their_expiry_and_are_taken_once() {
        let mut m = Expiring::new(10);
        m.insert("a".into(), 1, 100, 0);
        assert_eq!(m.get("a", 99), Some(&1));
        assert_eq!(m.get("a", 100), None);
        assert_eq!(m.take("a", 50), Some(1));
        assert_eq!(m.take("a", 50), None);
        m.insert("b".into(), 2, 100, 0);
        assert_eq!(m.take("b", 100), None, "an expired value is not handed out");
    }

    #[test]
    fn the_bound_drops_expired_entries_first_then_the_soonest_to_expire() {
        let mut m = Expiring::new(3);
        m.insert("old".into(), 0, 10, 0);
        m.insert("late".into(), 1, 1000, 0);
        m.insert("soon".into(), 2, 500, 0);
        m.insert("new".into(), 3, 900, 20);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("old", 0), None);
        m.insert("newer".into(), 4, 900, 20);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("soon", 20), None, "the soonest to expire made room");
        assert_eq!(m.get("late", 20), Some(&1));
    }
}
