//! Everything before the key: size, structure, header and payload checks, and the early tenant
//! checks that keep tokens of other tenants from costing a key lookup or a refresh.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::field::{Field, RawClaims, RawHeader};
use super::policy::{Issuers, ValidationPolicy, is_tenant_id};
use crate::error::InvalidToken;

/// Which signing key the token header names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// The header's `kid`.
    Kid(String),
    /// The header's `x5t` (used when there is no `kid`).
    X5t(String),
}

impl KeyRef {
    /// The id text.
    pub fn id(&self) -> &str {
        match self {
            KeyRef::Kid(s) | KeyRef::X5t(s) => s,
        }
    }
}

/// A token whose structure and header passed the checks: what the key lookup needs. The
/// payload is not decoded yet: a token naming a key we do not hold is rejected without it.
pub struct Jws<'a> {
    token: &'a str,
    message: &'a str,
    payload_b64: &'a str,
    signature: &'a str,
    key_ref: KeyRef,
}

impl fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws")
            .field("key_ref", &self.key_ref)
            .finish_non_exhaustive()
    }
}

impl<'a> Jws<'a> {
    /// The key the header names.
    pub fn key_ref(&self) -> &KeyRef {
        &self.key_ref
    }

    /// Decodes and reads the payload, with the early tenant checks that need no discovery
    /// document (a `tid` of the wrong shape, or outside a configured list; none when one is
    /// required).
    pub fn read_claims(self, policy: &ValidationPolicy) -> Result<ParsedToken<'a>, InvalidToken> {
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload_b64)
            .map_err(|_| InvalidToken::MalformedStructure)?;
        if !starts_object(&payload) {
            return Err(InvalidToken::MalformedClaims);
        }
        // One UTF-8 check of the whole payload, then serde_json reads it as text: cheaper than
        // its checking each of the 30-odd strings of an Entra token on its own.
        let text = std::str::from_utf8(&payload).map_err(|_| InvalidToken::MalformedClaims)?;
        let claims: RawClaims =
            serde_json::from_str(text).map_err(|_| InvalidToken::MalformedClaims)?;
        // Cheap pre-signature checks: tokens of tenants we never accept, or that name no
        // tenant, must not cost a signature verification (nor trigger a key refresh).
        match &claims.tid {
            Field::Valid(tid) if !is_tenant_id(tid) => {
                return Err(InvalidToken::InvalidClaim("tid"));
            }
            Field::Valid(tid) if policy.allowed_tenants.allows(tid, None) == Some(false) => {
                return Err(InvalidToken::TenantNotAllowed);
            }
            Field::Invalid => return Err(InvalidToken::InvalidClaim("tid")),
            Field::Absent if policy.require_tenant_id => {
                return Err(InvalidToken::MissingClaim("tid"));
            }
            _ => {}
        }
        Ok(ParsedToken {
            token: self.token,
            message: self.message,
            signature: self.signature,
            key_ref: self.key_ref,
            claims,
            payload,
        })
    }
}

/// A token that passed the structural checks and whose claims were read, ready for the
/// signature and the claim checks.
pub struct ParsedToken<'a> {
    pub(super) token: &'a str,
    pub(super) message: &'a str,
    pub(super) signature: &'a str,
    pub(super) key_ref: KeyRef,
    pub(super) claims: RawClaims,
    pub(super) payload: Vec<u8>,
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("key_ref", &self.key_ref)
            .finish_non_exhaustive()
    }
}

impl ParsedToken<'_> {
    /// The key the header names.
    pub fn key_ref(&self) -> &KeyRef {
        &self.key_ref
    }

    /// The `tid` claim, if it is a string.
    pub fn tenant_id(&self) -> Option<&str> {
        match &self.claims.tid {
            Field::Valid(t) => Some(t),
            _ => None,
        }
    }

    /// Whether the (not yet verified) token says it is a v1 token (`ver` is `1.0`).
    pub fn declares_v1(&self) -> bool {
        matches!(&self.claims.ver, Field::Valid(v) if v == "1.0")
    }
}

/// [`parse_header`] then [`Jws::read_claims`]: everything before the signature.
pub fn parse<'a>(
    token: &'a str,
    policy: &ValidationPolicy,
) -> Result<ParsedToken<'a>, InvalidToken> {
    parse_header(token, policy)?.read_claims(policy)
}

/// Size, structure and header checks: everything the key lookup needs, and nothing more.
pub fn parse_header<'a>(
    token: &'a str,
    policy: &ValidationPolicy,
) -> Result<Jws<'a>, InvalidToken> {
    if token.len() > policy.max_token_bytes {
        return Err(InvalidToken::TooLarge);
    }
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or(InvalidToken::MalformedStructure)?;
    let (header_b64, payload_b64) = message
        .split_once('.')
        .ok_or(InvalidToken::MalformedStructure)?;
    // A third dot is in the payload segment: its decoding (strict base64url) refuses it, so
    // the 1 KB payload is not scanned for dots here as well.
    if header_b64.is_empty() || payload_b64.is_empty() || signature.is_empty() {
        return Err(InvalidToken::MalformedStructure);
    }
    // An RSA-8192 signature is 683 base64url characters; anything longer is not ours.
    if signature.len() > 700 || !is_base64url(signature) {
        return Err(InvalidToken::MalformedStructure);
    }
    // Entra's headers are under 200 bytes: decoded on the stack. Larger ones (an `x5c`
    // chain) are legal JWS headers, decoded on the heap.
    let mut stack = [0u8; 1024];
    let heap;
    let header_bytes: &[u8] = if base64::decoded_len_estimate(header_b64.len()) <= stack.len() {
        let len = URL_SAFE_NO_PAD
            .decode_slice(header_b64, &mut stack)
            .map_err(|_| InvalidToken::MalformedStructure)?;
        &stack[..len]
    } else {
        heap = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| InvalidToken::MalformedStructure)?;
        &heap
    };
    if !starts_object(header_bytes) {
        return Err(InvalidToken::MalformedHeader);
    }
    let header: RawHeader =
        serde_json::from_slice(header_bytes).map_err(|_| InvalidToken::MalformedHeader)?;
    match &header.alg {
        Field::Valid(alg) if alg == "RS256" => {}
        Field::Invalid => return Err(InvalidToken::MalformedHeader),
        _ => return Err(InvalidToken::UnsupportedAlgorithm),
    }
    if header.crit.is_some() {
        return Err(InvalidToken::CriticalHeader);
    }
    if header.nonce.is_some() {
        return Err(InvalidToken::GraphToken);
    }
    let key_ref = match (header.kid, header.x5t) {
        (Field::Valid(kid), _) if valid_key_id(&kid) => KeyRef::Kid(kid),
        (Field::Absent, Field::Valid(x5t)) if valid_key_id(&x5t) => KeyRef::X5t(x5t),
        (Field::Absent, Field::Absent) => return Err(InvalidToken::MissingKeyId),
        (Field::Valid(_), _) | (Field::Absent, Field::Valid(_)) => {
            return Err(InvalidToken::UnknownSigningKey);
        }
        _ => return Err(InvalidToken::MalformedHeader),
    };
    Ok(Jws {
        token,
        message,
        payload_b64,
        signature,
        key_ref,
    })
}

/// The early tenant check for what [`parse`] could not decide without the discovery document:
/// a tenant configured by domain name, whose id the document's issuer gives. Call it once the
/// issuers are known and before looking up the key (so a token of another tenant cannot make
/// the key cache refresh).
pub fn check_tenant(
    parsed: &ParsedToken<'_>,
    policy: &ValidationPolicy,
    issuers: &Issuers,
) -> Result<(), InvalidToken> {
    match parsed.tenant_id() {
        // A list or any tenant was decided by `parse` already; only the issuer's tenant is left.
        Some(tid)
            if policy.allowed_tenants.allows(tid, None).is_none()
                && !policy.allowed_tenants.allows_with(tid, issuers) =>
        {
            Err(InvalidToken::TenantNotAllowed)
        }
        _ => Ok(()),
    }
}

/// Serde's derived structs also accept JSON arrays (positionally): only objects are claims.
fn starts_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Whether every byte is of the base64url alphabet. One table load per byte and no early
/// exit, so the loop has no branch per byte (this runs on every token that reaches the key).
fn is_base64url(s: &str) -> bool {
    s.bytes().fold(true, |ok, b| ok & BASE64URL[usize::from(b)])
}

const BASE64URL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
        b += 1;
    }
    table
};

fn valid_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256
}
