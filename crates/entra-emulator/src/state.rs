//! Shared, lock-protected state of a running emulator.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::app::App;
use crate::fault::{Endpoint, Fault, LoggedRequest};
use crate::keys::SigningKey;

/// At most this many requests are kept in the log (oldest dropped first).
const MAX_LOG: usize = 10_000;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub(crate) struct Tenant {
    pub(crate) apps: HashMap<String, App>,
    /// (client app id, resource app id, role), ids lower-cased.
    pub(crate) assignments: Vec<(String, String, String)>,
    /// App-specific signing keys, by lower-cased client id.
    pub(crate) app_keys: HashMap<String, Vec<SigningKey>>,
}

impl Tenant {
    pub(crate) fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.get(&client_id.to_ascii_lowercase())
    }

    pub(crate) fn resource(&self, resource: &str) -> Option<&App> {
        self.app(resource)
            .or_else(|| self.apps.values().find(|a| a.matches_resource(resource)))
    }

    pub(crate) fn roles(&self, client_id: &str, resource_id: &str) -> Vec<String> {
        let c = client_id.to_ascii_lowercase();
        let r = resource_id.to_ascii_lowercase();
        let mut roles: Vec<String> = Vec::new();
        for (ac, ar, role) in &self.assignments {
            if *ac == c && *ar == r && !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        roles
    }
}

/// The client assertions seen, by a digest of (client id, `jti`), each until its `exp`. Entries
/// are evicted once expired, and assertions are valid for a bounded time
/// ([`State::max_assertion_lifetime`]), so this holds at most the assertions accepted during that
/// time, 32 bytes of key each whatever the size of the `jti`.
#[derive(Default)]
pub(crate) struct SeenJtis {
    expiry: HashMap<[u8; 32], i64>,
    /// The same entries, soonest expiry first.
    queue: BinaryHeap<Reverse<(i64, [u8; 32])>>,
}

impl SeenJtis {
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
    pub(crate) fn len(&self) -> usize {
        self.expiry.len()
    }
}

pub(crate) struct KeyStore {
    pub(crate) published: Vec<SigningKey>,
    pub(crate) active: SigningKey,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    pub(crate) entries: VecDeque<LoggedRequest>,
    pub(crate) counts: HashMap<Endpoint, usize>,
}

impl RequestLog {
    pub(crate) fn push(&mut self, entry: LoggedRequest) {
        if self.entries.len() >= MAX_LOG {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }
}

pub(crate) struct State {
    pub(crate) base_url: String,
    pub(crate) v1_issuer_host: String,
    pub(crate) tenants: RwLock<HashMap<String, Tenant>>,
    /// Tenant domain names (lower-cased) and the lower-cased id of the tenant each belongs to.
    pub(crate) domains: RwLock<HashMap<String, String>>,
    pub(crate) keys: RwLock<KeyStore>,
    pub(crate) faults: Mutex<HashMap<Endpoint, Fault>>,
    /// Faults for one exact request path; they win over `faults`.
    pub(crate) path_faults: Mutex<HashMap<String, Fault>>,
    pub(crate) log: Mutex<RequestLog>,
    /// Seen client-assertion jtis, remembered until the assertion expires.
    pub(crate) jtis: Mutex<SeenJtis>,
    /// The longest a client assertion may be valid (`exp` minus its start).
    pub(crate) max_assertion_lifetime: Duration,
}

impl State {
    pub(crate) fn new(base_url: String, v1_issuer_host: String, keys: KeyStore) -> State {
        State {
            base_url,
            v1_issuer_host,
            tenants: RwLock::new(HashMap::new()),
            domains: RwLock::new(HashMap::new()),
            keys: RwLock::new(keys),
            faults: Mutex::new(HashMap::new()),
            path_faults: Mutex::new(HashMap::new()),
            log: Mutex::new(RequestLog::default()),
            jtis: Mutex::new(SeenJtis::default()),
            max_assertion_lifetime: Duration::from_secs(3600),
        }
    }

    pub(crate) fn issuer_v2(&self, tid: &str) -> String {
        format!("{}/{tid}/v2.0", self.base_url)
    }

    pub(crate) fn issuer_v1(&self, tid: &str) -> String {
        format!("{}/{tid}/", self.v1_issuer_host)
    }

    pub(crate) fn has_tenant(&self, tid: &str) -> bool {
        read(&self.tenants).contains_key(&tid.to_ascii_lowercase())
    }

    /// The lower-cased id of the tenant that has this domain name, if any.
    pub(crate) fn tenant_of_domain(&self, domain: &str) -> Option<String> {
        read(&self.domains)
            .get(&domain.to_ascii_lowercase())
            .cloned()
    }

    pub(crate) fn active_key(&self) -> SigningKey {
        read(&self.keys).active.clone()
    }

    /// The fault for a request: the one set for its exact path, else the one set for its
    /// endpoint kind.
    pub(crate) fn fault_for(&self, path: &str, endpoint: Option<Endpoint>) -> Option<Fault> {
        let by_path = lock(&self.path_faults).get(path).cloned();
        by_path.or_else(|| endpoint.and_then(|ep| lock(&self.faults).get(&ep).cloned()))
    }
}

/// A tenant domain name, lower-cased, or why it is not one: 1 to 253 characters, at least two
/// dot-separated labels of 1 to 63 ASCII letters, digits and hyphens, no label starting or ending
/// with a hyphen. (The dot keeps domain names apart from tenant ids, `common` and
/// `organizations`.)
pub(crate) fn normalize_domain(domain: &str) -> Result<String, String> {
    let lower = domain.to_ascii_lowercase();
    if lower.is_empty() || lower.len() > 253 {
        return Err("a domain name has 1 to 253 characters".to_owned());
    }
    if !lower.contains('.') {
        return Err(
            "a domain name has at least two labels, e.g. contoso.onmicrosoft.com".to_owned(),
        );
    }
    for label in lower.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err("each label has 1 to 63 letters, digits or inner hyphens".to_owned());
        }
    }
    Ok(lower)
}

/// The service principal object id of an app in a tenant: a v4-shaped UUID derived from
/// (tenant, client id), so it is stable across restarts.
pub(crate) fn service_principal_id(tid: &str, client_id: &str) -> String {
    let input = format!(
        "entra-emulator/sp/{}/{}",
        tid.to_ascii_lowercase(),
        client_id.to_ascii_lowercase()
    );
    let d = digest::digest(&digest::SHA256, input.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The pairwise `sub` of a user for a client app (43 characters like Entra's).
pub(crate) fn pairwise_sub(user_oid: &str, client_id: &str) -> String {
    let input = format!("entra-emulator/sub/{user_oid}/{client_id}");
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, input.as_bytes()))
}

/// `n` random bytes, base64url without padding.
pub(crate) fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // aws-lc's RNG does not fail in practice; fall back to a UUID if it ever does.
    if aws_lc_rs::rand::fill(&mut buf).is_err() {
        return uuid::Uuid::new_v4().simple().to_string();
    }
    URL_SAFE_NO_PAD.encode(buf)
}

/// A random integer in `lo..=hi`.
pub(crate) fn random_between(lo: u64, hi: u64) -> u64 {
    let mut buf = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut buf).is_err() || hi <= lo {
        return lo;
    }
    lo + u64::from_le_bytes(buf) % (hi - lo + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_jtis_evicts_expired_entries() {
        let mut seen = SeenJtis::default();
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
