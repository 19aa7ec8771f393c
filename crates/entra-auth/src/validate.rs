//! The validator: a pure function of (token, key, clock reading, policy) to claims or an error.
//!
//! No HTTP, no axum, no I/O: this is the part to audit. Checks run cheapest first:
//!
//! 1. size limit; exactly three non-empty base64url segments;
//! 2. header: a JSON object; `alg` exactly `RS256`; no `crit`; no `nonce` (a Microsoft Graph
//!    token); a key id from `kid`, or `x5t` when there is no `kid`. `jku`, `x5u`, `jwk` and `x5c`
//!    are ignored and never fetched;
//! 3. payload: a JSON object with well-typed claims; `tid` a canonical lower-case GUID, present
//!    unless the authority is a custom (B2C / External ID) one, and allowed (before any
//!    signature work, so tokens of unknown tenants cannot make the key cache refresh; a tenant
//!    configured by domain name is checked by [`check_tenant`] as soon as the discovery
//!    document has named its id);
//! 4. (the caller looks up the key, refreshing behind a cooldown);
//! 5. RS256 signature, verified with aws-lc-rs on the key parsed when the key set loaded;
//! 6. `exp` and `nbf` required integers, with leeway; `aud` a string among the audiences; `ver`
//!    accepted; `iss` equal to the issuer the discovery document declares for that version, with
//!    `{tenantid}` filled from `tid`; `tid` present and consistent with `iss`; tenant allowed;
//!    the signing key's own `issuer` matching the token's (or its v2 form for a v1 token), as
//!    Microsoft.IdentityModel checks it; `scp` or `roles` present (unless opted out).

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::claims::{Claims, ClaimsInner, TokenVersion};
use crate::config::AllowedTenants;
use crate::error::InvalidToken;
use crate::jwks::VerificationKey;
use crate::metadata::IssuerTemplate;

/// A JSON field that is absent, of the expected type, or of another type (never a parse
/// failure of the whole object, so each claim gets a precise error).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Valid(T),
    Invalid,
}

impl<T> Field<T> {
    fn required(self, name: &'static str) -> Result<T, InvalidToken> {
        match self {
            Field::Valid(v) => Ok(v),
            Field::Absent => Err(InvalidToken::MissingClaim(name)),
            Field::Invalid => Err(InvalidToken::InvalidClaim(name)),
        }
    }

    fn optional(self, name: &'static str) -> Result<Option<T>, InvalidToken> {
        match self {
            Field::Valid(v) => Ok(Some(v)),
            Field::Absent => Ok(None),
            Field::Invalid => Err(InvalidToken::InvalidClaim(name)),
        }
    }

    fn lenient(self) -> Option<T> {
        match self {
            Field::Valid(v) => Some(v),
            _ => None,
        }
    }
}

/// Consumes whatever compound value is next and reports it as the wrong type.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

macro_rules! wrong_type_visits {
    ($out:ty) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<$out, E> {
            Ok(Field::Invalid)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<$out, E> {
            Ok(Field::Invalid)
        }
        fn visit_unit<E: de::Error>(self) -> Result<$out, E> {
            Ok(Field::Invalid)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$out, A::Error> {
            skip_map(map)?;
            Ok(Field::Invalid)
        }
    };
}

struct StringVisitor;

impl<'de> Visitor<'de> for StringVisitor {
    type Value = Field<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Valid(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Valid(v))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(Field::Invalid)
    }
    wrong_type_visits!(Self::Value);
}

impl<'de> Deserialize<'de> for Field<String> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringVisitor)
    }
}

struct IntVisitor;

impl<'de> Visitor<'de> for IntVisitor {
    type Value = Field<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field::Valid(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Field::Invalid, Field::Valid))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq)?;
        Ok(Field::Invalid)
    }
    wrong_type_visits!(Self::Value);
}

impl<'de> Deserialize<'de> for Field<i64> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor)
    }
}

struct StringListVisitor(PhantomData<()>);

impl<'de> Visitor<'de> for StringListVisitor {
    type Value = Field<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        let mut ok = true;
        while let Some(item) = seq.next_element::<Field<String>>()? {
            match item {
                Field::Valid(s) if ok => out.push(s),
                _ => ok = false,
            }
        }
        Ok(if ok {
            Field::Valid(out)
        } else {
            Field::Invalid
        })
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Invalid)
    }
    wrong_type_visits!(Self::Value);
}

impl<'de> Deserialize<'de> for Field<Vec<String>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringListVisitor(PhantomData))
    }
}

#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    alg: Field<String>,
    #[serde(default)]
    kid: Field<String>,
    #[serde(default)]
    x5t: Field<String>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    nonce: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
pub(crate) struct RawClaims {
    #[serde(default)]
    aud: Field<String>,
    #[serde(default)]
    iss: Field<String>,
    #[serde(default)]
    exp: Field<i64>,
    #[serde(default)]
    nbf: Field<i64>,
    #[serde(default)]
    iat: Field<i64>,
    #[serde(default)]
    tid: Field<String>,
    #[serde(default)]
    ver: Field<String>,
    #[serde(default)]
    oid: Field<String>,
    #[serde(default)]
    sub: Field<String>,
    #[serde(default)]
    azp: Field<String>,
    #[serde(default)]
    appid: Field<String>,
    #[serde(default)]
    azpacr: Field<String>,
    #[serde(default)]
    appidacr: Field<String>,
    #[serde(default)]
    scp: Field<String>,
    #[serde(default)]
    roles: Field<Vec<String>>,
    #[serde(default)]
    name: Field<String>,
    #[serde(default)]
    preferred_username: Field<String>,
    #[serde(default)]
    upn: Field<String>,
    #[serde(default)]
    unique_name: Field<String>,
    #[serde(default)]
    idtyp: Field<String>,
}

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

/// A token that passed the structural checks, ready for key lookup and verification.
pub struct ParsedToken<'a> {
    token: &'a str,
    message: &'a str,
    signature: &'a str,
    key_ref: KeyRef,
    claims: RawClaims,
    payload: Vec<u8>,
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

/// The policy the validator applies: everything except the key.
#[derive(Debug, Clone)]
pub struct ValidationPolicy {
    /// Largest accepted token in bytes.
    pub max_token_bytes: usize,
    /// Leeway for `exp` / `nbf`, in seconds.
    pub leeway_secs: i64,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// Tenants accepted.
    pub allowed_tenants: AllowedTenants,
    /// Whether `scp` or `roles` is required.
    pub require_scope_or_role: bool,
    /// Whether `tid` is required (yes for Entra authorities; a custom B2C / External ID
    /// authority's tokens are matched on their exact issuer instead).
    pub require_tenant_id: bool,
    /// The realm of the API's challenges. The claims carry it, so that answers made after the
    /// layer (extractors, [`Require`](crate::Require)) carry it too.
    pub realm: Option<Arc<str>>,
}

/// The issuers declared by the discovery documents (they change only with a metadata refresh).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issuers {
    /// Issuer accepted for v1 tokens, or `None` if v1 is not accepted.
    pub v1: Option<IssuerTemplate>,
    /// Issuer accepted for v2 tokens, or `None` if v2 is not accepted.
    pub v2: Option<IssuerTemplate>,
    /// The v2 issuer, for the key-issuer check of v1 tokens (known even when v2 is not accepted).
    pub v2_form: Option<IssuerTemplate>,
    /// A custom authority (B2C / External ID): `iss` must equal this exactly; `ver` and `tid`
    /// are not required.
    pub custom: Option<IssuerTemplate>,
    /// The tenant id in the primary document's concrete issuer (a single-tenant or custom
    /// authority); `None` when that issuer is a `{tenantid}` template. Used for a tenant
    /// configured by domain name ([`AllowedTenants::FromIssuer`]).
    pub tenant_id: Option<String>,
}

impl Issuers {
    /// The tenant id a concrete issuer names: the path segment that is a canonical GUID, as in
    /// `https://login.microsoftonline.com/{guid}/v2.0` or `https://sts.windows.net/{guid}/`.
    pub fn tenant_id_of(issuer: &IssuerTemplate) -> Option<String> {
        if issuer.is_template() {
            return None;
        }
        let url = url::Url::parse(issuer.as_str()).ok()?;
        url.path_segments()?
            .find(|segment| is_tenant_id(segment))
            .map(str::to_owned)
    }
}

/// Whether `tid` is a tenant id as Entra writes it: a GUID in canonical lower-case form
/// (`8-4-4-4-12` hex digits).
pub fn is_tenant_id(tid: &str) -> bool {
    let bytes = tid.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(b),
        })
}

/// Structural checks, header checks and claims parsing: everything before the key lookup.
pub fn parse<'a>(
    token: &'a str,
    policy: &ValidationPolicy,
) -> Result<ParsedToken<'a>, InvalidToken> {
    if token.len() > policy.max_token_bytes {
        return Err(InvalidToken::TooLarge);
    }
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or(InvalidToken::MalformedStructure)?;
    let (header_b64, payload_b64) = message
        .split_once('.')
        .ok_or(InvalidToken::MalformedStructure)?;
    if header_b64.is_empty()
        || payload_b64.is_empty()
        || signature.is_empty()
        || payload_b64.contains('.')
    {
        return Err(InvalidToken::MalformedStructure);
    }
    // An RSA-8192 signature is 683 base64url characters; anything longer is not ours.
    if signature.len() > 700 || !is_base64url(signature) {
        return Err(InvalidToken::MalformedStructure);
    }
    let header_bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| InvalidToken::MalformedStructure)?;
    if !starts_object(&header_bytes) {
        return Err(InvalidToken::MalformedHeader);
    }
    let header: RawHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| InvalidToken::MalformedHeader)?;
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
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| InvalidToken::MalformedStructure)?;
    if !starts_object(&payload) {
        return Err(InvalidToken::MalformedClaims);
    }
    let claims: RawClaims =
        serde_json::from_slice(&payload).map_err(|_| InvalidToken::MalformedClaims)?;
    // Cheap pre-signature checks: tokens of tenants we never accept, or that name no tenant,
    // must not cost a key lookup (nor trigger a key refresh).
    match &claims.tid {
        Field::Valid(tid) if !is_tenant_id(tid) => return Err(InvalidToken::InvalidClaim("tid")),
        Field::Valid(tid) if policy.allowed_tenants.allows(tid, None) == Some(false) => {
            return Err(InvalidToken::TenantNotAllowed);
        }
        Field::Invalid => return Err(InvalidToken::InvalidClaim("tid")),
        Field::Absent if policy.require_tenant_id => return Err(InvalidToken::MissingClaim("tid")),
        _ => {}
    }
    Ok(ParsedToken {
        token,
        message,
        signature,
        key_ref,
        claims,
        payload,
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
        Some(tid) if !policy.allowed_tenants.allows_with(tid, issuers) => {
            Err(InvalidToken::TenantNotAllowed)
        }
        _ => Ok(()),
    }
}

/// Serde's derived structs also accept JSON arrays (positionally): only objects are claims.
fn starts_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256
}

/// Verifies the signature with `key` and checks the claims at time `now` (Unix seconds).
pub fn verify(
    parsed: ParsedToken<'_>,
    key: &Arc<VerificationKey>,
    now: i64,
    policy: &ValidationPolicy,
    issuers: &Issuers,
) -> Result<Claims, InvalidToken> {
    // At most 700 base64url characters (checked in `parse`): 525 bytes. Characters that are
    // base64url but no valid encoding (a cut signature) are a bad signature, as before.
    let mut signature = [0u8; 528];
    let len = URL_SAFE_NO_PAD
        .decode_slice(parsed.signature, &mut signature)
        .map_err(|_| InvalidToken::BadSignature)?;
    if !key.verifies_rs256(parsed.message.as_bytes(), &signature[..len]) {
        return Err(InvalidToken::BadSignature);
    }
    check_claims(
        parsed.token,
        parsed.claims,
        parsed.payload,
        key,
        now,
        policy,
        issuers,
    )
}

fn check_claims(
    token: &str,
    c: RawClaims,
    payload: Vec<u8>,
    key: &Arc<VerificationKey>,
    now: i64,
    policy: &ValidationPolicy,
    issuers: &Issuers,
) -> Result<Claims, InvalidToken> {
    let leeway = policy.leeway_secs;
    let exp = c.exp.required("exp")?;
    if now >= exp.saturating_add(leeway) {
        return Err(InvalidToken::Expired);
    }
    let nbf = c.nbf.required("nbf")?;
    if now.saturating_add(leeway) < nbf {
        return Err(InvalidToken::NotYetValid);
    }
    let iat = c.iat.optional("iat")?;
    let aud = c.aud.required("aud")?;
    if !policy.audiences.contains(&aud) {
        return Err(InvalidToken::AudienceMismatch);
    }
    let iss = c.iss.required("iss")?;
    let (version, tid) = match &issuers.custom {
        Some(custom) => {
            let tid = c.tid.optional("tid")?;
            if !custom.matches(&iss, tid.as_deref()) {
                return Err(InvalidToken::IssuerMismatch);
            }
            let version = match c.ver.optional("ver")?.as_deref() {
                Some("1.0") => Some(TokenVersion::V1),
                Some("2.0") => Some(TokenVersion::V2),
                _ => None,
            };
            (version, tid)
        }
        None => {
            let version = match c.ver.required("ver")?.as_str() {
                "1.0" => TokenVersion::V1,
                "2.0" => TokenVersion::V2,
                _ => return Err(InvalidToken::UnsupportedVersion),
            };
            let expected = match version {
                TokenVersion::V1 => issuers.v1.as_ref(),
                TokenVersion::V2 => issuers.v2.as_ref(),
            }
            .ok_or(InvalidToken::UnsupportedVersion)?;
            let tid = c.tid.required("tid")?;
            if !expected.matches(&iss, Some(&tid)) {
                return Err(InvalidToken::IssuerMismatch);
            }
            if !iss.split('/').any(|segment| segment == tid) {
                return Err(InvalidToken::TenantMismatch);
            }
            (Some(version), Some(tid))
        }
    };
    if let Some(tid) = &tid
        && !policy.allowed_tenants.allows_with(tid, issuers)
    {
        return Err(InvalidToken::TenantNotAllowed);
    }
    if let Some(key_issuer) = key.issuer() {
        let direct = key_issuer.matches(&iss, tid.as_deref());
        let v2_form = version == Some(TokenVersion::V1)
            && match (&issuers.v2_form, &tid) {
                (Some(v2), Some(tid)) => key_issuer.for_tenant(tid) == v2.for_tenant(tid),
                _ => false,
            };
        if !direct && !v2_form {
            return Err(InvalidToken::KeyIssuerMismatch);
        }
    }
    let scp = c.scp.optional("scp")?;
    let roles = c.roles.optional("roles")?.unwrap_or_default();
    let scopes: Vec<String> = scp
        .as_deref()
        .map(|s| {
            s.split(' ')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if policy.require_scope_or_role && scopes.is_empty() && roles.is_empty() {
        return Err(InvalidToken::NoScopeOrRole);
    }
    let object_id = c.oid.lenient();
    let subject = c
        .sub
        .lenient()
        .or_else(|| object_id.clone())
        .unwrap_or_default();
    Ok(Claims(Arc::new(ClaimsInner {
        version,
        audience: aud,
        issuer: iss,
        tenant_id: tid,
        object_id,
        subject,
        app_id: c.azp.lenient().or_else(|| c.appid.lenient()),
        app_auth_method: c.azpacr.lenient().or_else(|| c.appidacr.lenient()),
        scopes,
        roles,
        name: c.name.lenient(),
        preferred_username: c
            .preferred_username
            .lenient()
            .or_else(|| c.upn.lenient())
            .or_else(|| c.unique_name.lenient()),
        idtyp: c.idtyp.lenient(),
        issued_at: iat,
        not_before: nbf,
        expires_at: exp,
        signing_key: Arc::clone(key),
        payload: payload.into_boxed_slice(),
        token: Some(Arc::from(token)),
        realm: policy.realm.clone(),
        all: OnceLock::new(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::KeySet;
    use entra_emulator::SigningKey;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};
    use std::collections::HashSet;
    use std::sync::LazyLock;

    const TID: &str = "aaaaaaaa-1111-2222-3333-444444444444";
    const NOW: i64 = 1_750_000_000;

    static KEYS: LazyLock<(SigningKey, SigningKey)> = LazyLock::new(|| {
        (
            SigningKey::generate().unwrap(),
            SigningKey::generate().unwrap(),
        )
    });

    fn policy() -> ValidationPolicy {
        ValidationPolicy {
            max_token_bytes: 16 * 1024,
            leeway_secs: 60,
            audiences: vec!["api-id".into(), "api://api-id".into()],
            allowed_tenants: AllowedTenants::List(HashSet::from([TID.to_owned()])),
            require_scope_or_role: true,
            require_tenant_id: true,
            realm: None,
        }
    }

    fn issuers() -> Issuers {
        Issuers {
            v1: Some(IssuerTemplate::new("https://sts.windows.net/{tenantid}/")),
            v2: Some(IssuerTemplate::new("https://login.example/{tenantid}/v2.0")),
            v2_form: Some(IssuerTemplate::new("https://login.example/{tenantid}/v2.0")),
            custom: None,
            tenant_id: None,
        }
    }

    fn key_set(issuer: Option<&str>) -> KeySet {
        let jwk = KEYS.0.jwk(issuer);
        KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap()
    }

    fn claims_v2() -> Value {
        json!({
            "aud": "api-id", "iss": format!("https://login.example/{TID}/v2.0"), "iat": NOW - 10,
            "nbf": NOW - 10, "exp": NOW + 3600, "tid": TID, "ver": "2.0", "oid": "o1", "sub": "o1",
            "azp": "client-1", "azpacr": "1", "roles": ["Api.Admin"], "idtyp": "app"
        })
    }

    fn sign(header: Value, claims: &Value, key: &SigningKey) -> String {
        let mut h: Header = serde_json::from_value(json!({"alg": "RS256"})).unwrap();
        h.typ = Some("JWT".into());
        if let Some(kid) = header.get("kid").and_then(Value::as_str) {
            h.kid = Some(kid.into());
        }
        if let Some(x5t) = header.get("x5t").and_then(Value::as_str) {
            h.x5t = Some(x5t.into());
        }
        let enc: EncodingKey = key.encoding_key();
        jsonwebtoken::encode(&h, claims, &enc).unwrap()
    }

    fn run(token: &str, set: &KeySet, policy: &ValidationPolicy) -> Result<Claims, InvalidToken> {
        run_with(token, set, policy, &issuers())
    }

    fn run_with(
        token: &str,
        set: &KeySet,
        policy: &ValidationPolicy,
        issuers: &Issuers,
    ) -> Result<Claims, InvalidToken> {
        let parsed = parse(token, policy)?;
        let key = match parsed.key_ref() {
            KeyRef::Kid(k) => set.get(k),
            KeyRef::X5t(x) => set.get_by_x5t(x),
        }
        .cloned()
        .ok_or(InvalidToken::UnknownSigningKey)?;
        verify(parsed, &key, NOW, policy, issuers)
    }

    fn kid_header() -> Value {
        json!({ "kid": KEYS.0.kid() })
    }

    #[test]
    fn accepts_a_valid_v2_token() {
        let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
        let t = sign(kid_header(), &claims_v2(), &KEYS.0);
        let c = run(&t, &set, &policy()).unwrap();
        assert_eq!(c.version(), Some(TokenVersion::V2));
        assert_eq!(c.tenant_id(), Some(TID));
        assert_eq!(c.app_id(), Some("client-1"));
        assert_eq!(c.roles(), ["Api.Admin"]);
        assert!(c.is_app_only());
        assert_eq!(c.get("azpacr"), Some(&json!("1")));
    }

    #[test]
    fn accepts_v1_with_v2_key_issuer_and_x5t_only_header() {
        let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
        let mut c = claims_v2();
        c["ver"] = json!("1.0");
        c["iss"] = json!(format!("https://sts.windows.net/{TID}/"));
        c["aud"] = json!("api://api-id");
        c["appid"] = json!("client-1");
        c.as_object_mut().unwrap().remove("azp");
        let t = sign(json!({ "x5t": KEYS.0.kid() }), &c, &KEYS.0);
        let claims = run(&t, &set, &policy()).unwrap();
        assert_eq!(claims.version(), Some(TokenVersion::V1));
        assert_eq!(claims.app_id(), Some("client-1"));
    }

    #[test]
    fn time_checks_use_leeway() {
        let set = key_set(None);
        let p = policy();
        let mut c = claims_v2();
        c["exp"] = json!(NOW - 59);
        assert!(run(&sign(kid_header(), &c, &KEYS.0), &set, &p).is_ok());
        c["exp"] = json!(NOW - 60);
        assert_eq!(
            run(&sign(kid_header(), &c, &KEYS.0), &set, &p).unwrap_err(),
            InvalidToken::Expired
        );
        let mut c = claims_v2();
        c["nbf"] = json!(NOW + 60);
        assert!(run(&sign(kid_header(), &c, &KEYS.0), &set, &p).is_ok());
        c["nbf"] = json!(NOW + 61);
        assert_eq!(
            run(&sign(kid_header(), &c, &KEYS.0), &set, &p).unwrap_err(),
            InvalidToken::NotYetValid
        );
    }

    #[test]
    fn rejects_claim_problems() {
        let set = key_set(Some("https://login.example/{tenantid}/v2.0"));
        let p = policy();
        let cases: Vec<(&str, Value, InvalidToken)> = vec![
            ("exp", Value::Null, InvalidToken::MissingClaim("exp")),
            (
                "exp",
                json!("1999999999"),
                InvalidToken::InvalidClaim("exp"),
            ),
            ("exp", json!(1.9e9), InvalidToken::InvalidClaim("exp")),
            ("exp", json!(-5), InvalidToken::Expired),
            ("exp", json!(u64::MAX), InvalidToken::InvalidClaim("exp")),
            ("nbf", Value::Null, InvalidToken::MissingClaim("nbf")),
            ("aud", Value::Null, InvalidToken::MissingClaim("aud")),
            ("aud", json!(["api-id"]), InvalidToken::InvalidClaim("aud")),
            ("aud", json!("other"), InvalidToken::AudienceMismatch),
            (
                "iss",
                json!([format!("https://login.example/{TID}/v2.0")]),
                InvalidToken::InvalidClaim("iss"),
            ),
            (
                "iss",
                json!("https://login.example/bbbbbbbb-1111-2222-3333-444444444444/v2.0"),
                InvalidToken::IssuerMismatch,
            ),
            (
                "iss",
                json!("https://evil.example/aaaaaaaa-1111-2222-3333-444444444444/v2.0"),
                InvalidToken::IssuerMismatch,
            ),
            ("tid", Value::Null, InvalidToken::MissingClaim("tid")),
            ("tid", json!(""), InvalidToken::InvalidClaim("tid")),
            (
                "tid",
                json!(TID.to_ascii_uppercase()),
                InvalidToken::InvalidClaim("tid"),
            ),
            (
                "tid",
                json!(format!("{{{TID}}}")),
                InvalidToken::InvalidClaim("tid"),
            ),
            ("tid", json!(7), InvalidToken::InvalidClaim("tid")),
            (
                "tid",
                json!("cccccccc-1111-2222-3333-444444444444"),
                InvalidToken::TenantNotAllowed,
            ),
            ("ver", json!("3.0"), InvalidToken::UnsupportedVersion),
            ("ver", Value::Null, InvalidToken::MissingClaim("ver")),
            (
                "roles",
                json!("Api.Admin"),
                InvalidToken::InvalidClaim("roles"),
            ),
            ("roles", Value::Null, InvalidToken::NoScopeOrRole),
        ];
        for (name, value, expected) in cases {
            let mut c = claims_v2();
            if value.is_null() {
                c.as_object_mut().unwrap().remove(name);
            } else {
                c[name] = value.clone();
            }
            let got = run(&sign(kid_header(), &c, &KEYS.0), &set, &p);
            assert_eq!(got.err(), Some(expected), "{name} = {value}");
        }
    }

    #[test]
    fn key_issuer_must_match() {
        let set = key_set(Some(
            "https://login.example/dddddddd-1111-2222-3333-444444444444/v2.0",
        ));
        let t = sign(kid_header(), &claims_v2(), &KEYS.0);
        assert_eq!(
            run(&t, &set, &policy()).unwrap_err(),
            InvalidToken::KeyIssuerMismatch
        );
    }

    #[test]
    fn rejects_wrong_key_and_tampering() {
        let set = key_set(None);
        let t = sign(kid_header(), &claims_v2(), &KEYS.1);
        assert_eq!(
            run(&t, &set, &policy()).unwrap_err(),
            InvalidToken::BadSignature
        );
        let good = sign(kid_header(), &claims_v2(), &KEYS.0);
        let mut c = claims_v2();
        c["roles"] = json!(["Everything"]);
        let other = sign(kid_header(), &c, &KEYS.0);
        let (msg, _) = other.rsplit_once('.').unwrap();
        let (_, sig) = good.rsplit_once('.').unwrap();
        assert_eq!(
            run(&format!("{msg}.{sig}"), &set, &policy()).unwrap_err(),
            InvalidToken::BadSignature
        );
        assert_eq!(
            run(&good[..good.len() - 4], &set, &policy()).unwrap_err(),
            InvalidToken::BadSignature
        );
    }

    #[test]
    fn header_checks() {
        let p = policy();
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let body = enc(&claims_v2());
        let tok = |h: Value| format!("{}.{}.c2ln", enc(&h), body);
        let cases: Vec<(Value, InvalidToken)> = vec![
            (
                json!({"alg":"none","kid":"k"}),
                InvalidToken::UnsupportedAlgorithm,
            ),
            (
                json!({"alg":"HS256","kid":"k"}),
                InvalidToken::UnsupportedAlgorithm,
            ),
            (
                json!({"alg":"rs256","kid":"k"}),
                InvalidToken::UnsupportedAlgorithm,
            ),
            (json!({"kid":"k"}), InvalidToken::UnsupportedAlgorithm),
            (
                json!({"alg":["RS256"],"kid":"k"}),
                InvalidToken::MalformedHeader,
            ),
            (
                json!({"alg":"RS256","kid":"k","crit":["exp"]}),
                InvalidToken::CriticalHeader,
            ),
            (
                json!({"alg":"RS256","kid":"k","nonce":"abc"}),
                InvalidToken::GraphToken,
            ),
            (json!({"alg":"RS256"}), InvalidToken::MissingKeyId),
            (
                json!({"alg":"RS256","kid":""}),
                InvalidToken::UnknownSigningKey,
            ),
            (
                json!({"alg":"RS256","kid":7}),
                InvalidToken::MalformedHeader,
            ),
            (json!("RS256"), InvalidToken::MalformedHeader),
        ];
        for (h, expected) in cases {
            assert_eq!(parse(&tok(h.clone()), &p).err(), Some(expected), "{h}");
        }
        let dup = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"none","kid":"k"}"#),
            body
        );
        assert_eq!(parse(&dup, &p).err(), Some(InvalidToken::MalformedHeader));
        let dup_aud = URL_SAFE_NO_PAD.encode(r#"{"aud":"api-id","aud":"x"}"#);
        let t = format!("{}.{dup_aud}.c2ln", enc(&json!({"alg":"RS256","kid":"k"})));
        assert_eq!(parse(&t, &p).err(), Some(InvalidToken::MalformedClaims));
    }

    #[test]
    fn structure_checks() {
        let p = policy();
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k"}"#);
        let b = URL_SAFE_NO_PAD.encode(claims_v2().to_string());
        for t in [
            String::new(),
            "a.b".into(),
            format!("{h}.{b}"),
            format!("{h}.{b}.sig.x"),
            format!("{h}..sig"),
            format!(".{b}.sig"),
            format!("{h}.{b}."),
            format!("{h}=.{b}.sig"),
            format!("{h}.{b}.si g"),
            format!("{h}.{b}.si+g"),
            format!("{h} .{b}.sig"),
        ] {
            assert_eq!(
                parse(&t, &p).err(),
                Some(InvalidToken::MalformedStructure),
                "{t}"
            );
        }
        let big = "a".repeat(16 * 1024 + 1);
        assert_eq!(parse(&big, &p).err(), Some(InvalidToken::TooLarge));
        for payload in ["[1,2]", "\"text\"", "17", "{\"aud\":", "null"] {
            let t = format!("{h}.{}.sig", URL_SAFE_NO_PAD.encode(payload));
            assert_eq!(
                parse(&t, &p).err(),
                Some(InvalidToken::MalformedClaims),
                "{payload}"
            );
        }
        let array_header = format!("{}.{b}.sig", URL_SAFE_NO_PAD.encode(r#"["RS256","k"]"#));
        assert_eq!(
            parse(&array_header, &p).err(),
            Some(InvalidToken::MalformedHeader)
        );
    }

    #[test]
    fn custom_issuer_mode() {
        let mut p = policy();
        let mut iss = issuers();
        iss.custom = Some(IssuerTemplate::new("https://b2c.example/tfp/v2.0/"));
        p.allowed_tenants = AllowedTenants::Any;
        p.require_tenant_id = false;
        let set = key_set(None);
        let mut c = claims_v2();
        c["iss"] = json!("https://b2c.example/tfp/v2.0/");
        c.as_object_mut().unwrap().remove("tid");
        c.as_object_mut().unwrap().remove("ver");
        assert!(run_with(&sign(kid_header(), &c, &KEYS.0), &set, &p, &iss).is_ok());
        c["iss"] = json!("https://b2c.example/other/v2.0/");
        let err = run_with(&sign(kid_header(), &c, &KEYS.0), &set, &p, &iss).unwrap_err();
        assert_eq!(err, InvalidToken::IssuerMismatch);
    }
}
