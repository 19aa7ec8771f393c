//! Key-set parsing with our own types.
//!
//! Entra's keys carry no `alg` and carry a per-key `issuer` (v2 key sets); generic JWK parsers
//! either reject them or drop the issuer. Here each key is parsed on its own: keys that are not
//! RSA signature keys, or are broken, are skipped, so one bad key never breaks the set. A set
//! with no usable key is an error, and an error never replaces good keys (see `keys`).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::discovery::IssuerTemplate;

/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits (bounds verification cost).
pub const MAX_RSA_BITS: usize = 8192;
/// Most keys kept from one key set (Entra publishes fewer than ten).
pub const MAX_KEYS: usize = 100;

/// A public key usable to verify RS256 signatures, parsed once when the key set loads.
pub struct VerificationKey {
    kid: String,
    x5t: Option<String>,
    issuer: Option<IssuerTemplate>,
    /// Verified with aws-lc-rs directly: no per-verification key parsing, and no dependence on
    /// jsonwebtoken's process-wide crypto provider (which panics when a build enables two).
    key: ParsedPublicKey,
    /// The public key material (`e` length, `e`, `n`), to tell whether a key id still names
    /// the same key after a refresh.
    material: Box<[u8]>,
}

impl VerificationKey {
    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The key's own `issuer`, when the key set gives one.
    pub fn issuer(&self) -> Option<&IssuerTemplate> {
        self.issuer.as_ref()
    }

    /// Whether `signature` (raw bytes) is a valid RS256 (PKCS#1 v1.5, SHA-256) signature of
    /// `message` under this key.
    pub fn verifies_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key.verify_sig(message, signature).is_ok()
    }

    /// Whether `other` is the same key as published: same modulus, exponent and `issuer`.
    /// (A refresh that keeps a key id but changes either must end what the old one vouched for.)
    pub fn same_key_as(&self, other: &VerificationKey) -> bool {
        self.material == other.material && self.issuer == other.issuer
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("x5t", &self.x5t)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// A parsed key set: the usable keys by `kid` (and by `x5t`).
///
/// The maps hash with foldhash (fast, seeded per process): their entries come from the
/// authority's key set, so a caller's `kid` can only probe them, never crowd a bucket.
#[derive(Debug, Default, Clone)]
pub struct KeySet {
    by_kid: KeyMap,
    by_x5t: KeyMap,
    skipped: usize,
}

type KeyMap = HashMap<String, Arc<VerificationKey>, foldhash::fast::RandomState>;

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    x5t: Option<String>,
    n: Option<String>,
    e: Option<String>,
    issuer: Option<String>,
    key_ops: Option<Vec<String>>,
}

impl KeySet {
    /// Parses a JWKS document. Returns an error if it is not a JSON object with a `keys` array,
    /// or if no key in it is usable.
    pub fn parse(bytes: &[u8]) -> Result<KeySet, String> {
        let raw: RawSet = serde_json::from_slice(bytes)
            .map_err(|_| "the key set is not a JSON object with a keys array".to_owned())?;
        let mut set = KeySet::default();
        for value in raw.keys {
            match parse_key(value) {
                Some(key) if set.by_kid.len() < MAX_KEYS => set.insert(key),
                _ => set.skipped += 1,
            }
        }
        if set.by_kid.is_empty() {
            return Err("the key set has no usable RSA signing key".to_owned());
        }
        Ok(set)
    }

    fn insert(&mut self, key: VerificationKey) {
        let key = Arc::new(key);
        if let Some(x5t) = &key.x5t {
            self.by_x5t
                .entry(x5t.clone())
                .or_insert_with(|| key.clone());
        }
        self.by_kid.entry(key.kid.clone()).or_insert(key);
    }

    /// The key with this `kid`.
    pub fn get(&self, kid: &str) -> Option<&Arc<VerificationKey>> {
        self.by_kid.get(kid)
    }

    /// The key with this `x5t` (for tokens whose header has no `kid`).
    pub fn get_by_x5t(&self, x5t: &str) -> Option<&Arc<VerificationKey>> {
        self.by_x5t.get(x5t).or_else(|| self.by_kid.get(x5t))
    }

    /// Whether a key with this id is present.
    pub fn contains(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    /// Whether there is no usable key.
    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }

    /// Number of keys that were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The key ids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.by_kid.keys().map(String::as_str)
    }
}

fn parse_key(value: serde_json::Value) -> Option<VerificationKey> {
    let raw: RawKey = serde_json::from_value(value).ok()?;
    if raw.kty.as_deref() != Some("RSA") {
        return None;
    }
    if raw.use_.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    if raw.alg.as_deref().is_some_and(|a| a != "RS256") {
        return None;
    }
    if let Some(ops) = &raw.key_ops
        && !ops.iter().any(|o| o == "verify")
    {
        return None;
    }
    let kid = raw
        .kid
        .or_else(|| raw.x5t.clone())
        .filter(|k| !k.is_empty() && k.len() <= 256)?;
    let n = URL_SAFE_NO_PAD.decode(raw.n?.trim_end_matches('=')).ok()?;
    let e = URL_SAFE_NO_PAD.decode(raw.e?.trim_end_matches('=')).ok()?;
    let n = strip_leading_zeros(&n);
    let e = strip_leading_zeros(&e);
    // Checked: an `n` of only zero bytes is empty here, and must be skipped, not underflow.
    let bits = n
        .len()
        .checked_mul(8)?
        .checked_sub(n.first()?.leading_zeros() as usize)?;
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return None;
    }
    // Exponent: odd, at least 3, at most 33 bits (aws-lc's limit); Entra uses 65537.
    if e.is_empty()
        || e.len() > 5
        || e.last().is_some_and(|b| b & 1 == 0)
        || (e.len() == 1 && e[0] < 3)
    {
        return None;
    }
    let mut material = Vec::with_capacity(1 + e.len() + n.len());
    material.push(u8::try_from(e.len()).ok()?);
    material.extend_from_slice(e);
    material.extend_from_slice(n);
    Some(VerificationKey {
        kid,
        x5t: raw.x5t.filter(|x| !x.is_empty()),
        issuer: raw
            .issuer
            .filter(|i| !i.is_empty())
            .map(IssuerTemplate::new),
        key: RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .ok()?,
        material: material.into_boxed_slice(),
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> Option<Vec<u8>> {
        let path = format!("{}/../../testdata/entra/{name}", env!("CARGO_MANIFEST_DIR"));
        Some(std::fs::read(path).expect("fixture"))
    }

    #[test]
    fn parses_real_entra_key_sets() {
        let Some(bytes) = reference("common-v2-keys.json") else {
            return;
        };
        let set = KeySet::parse(&bytes).unwrap();
        assert_eq!(set.len(), 7);
        let k = set.get("Mc7l3Iz93g7uwgNeEmmw_WYGPko").unwrap();
        assert_eq!(
            k.issuer().unwrap().as_str(),
            "https://login.microsoftonline.com/{tenantid}/v2.0"
        );
        assert!(set.get_by_x5t("Mc7l3Iz93g7uwgNeEmmw_WYGPko").is_some());
    }

    #[test]
    fn skips_bad_keys_and_keeps_good_ones() {
        let Some(bytes) = reference("common-v2-keys.json") else {
            return;
        };
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let keys = doc["keys"].as_array_mut().unwrap();
        keys.push(serde_json::json!({"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"}));
        keys.push(serde_json::json!({"kty":"RSA","use":"enc","kid":"enc","n":"AQAB","e":"AQAB"}));
        keys.push(serde_json::json!({"kty":"RSA","use":"sig","kid":"bad","n":"!!!","e":"AQAB"}));
        keys.push(serde_json::json!({"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"}));
        keys.push(serde_json::json!("not an object"));
        keys.push(serde_json::json!({"kty":"RSA","kid":"ps","alg":"PS256","n":"AQAB","e":"AQAB"}));
        // A modulus of only zero bytes (or none) is empty once leading zeros go: skipped, in
        // every build profile (this used to underflow).
        for (kid, n) in [("n-empty", ""), ("n-zero", "AA"), ("n-zeros", "AAAA")] {
            keys.push(serde_json::json!({"kty":"RSA","use":"sig","kid":kid,"n":n,"e":"AQAB"}));
        }
        let set = KeySet::parse(serde_json::to_vec(&doc).unwrap().as_slice()).unwrap();
        assert_eq!(set.len(), 7);
        assert_eq!(set.skipped(), 9);
        assert!(!set.contains("bad"));
    }

    #[test]
    fn rejects_unusable_sets() {
        assert!(KeySet::parse(b"{\"keys\":[]}").is_err());
        assert!(KeySet::parse(b"<html></html>").is_err());
        assert!(KeySet::parse(b"{\"keys\":{}}").is_err());
        assert!(KeySet::parse(b"[]").is_err());
    }
}
