//! The signature (aws-lc-rs, on the key parsed when the key set loaded) and the claim checks.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::field::RawClaims;
use super::parse::ParsedToken;
use super::policy::{Issuers, ValidationPolicy};
use crate::claims::{Claims, ClaimsInner, TokenKind, TokenVersion};
use crate::error::InvalidToken;
use crate::keys::key_set::VerificationKey;

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
    // Which kind of token this is, decided on claims Entra always sets in one kind and never
    // in the other: every access token names its calling app (`azp` in v2, `appid` in v1) and
    // every delegated one carries `scp`; an ID token has none of the three.
    let kind = if c.scp.is_absent() && c.azp.is_absent() && c.appid.is_absent() {
        TokenKind::Id
    } else {
        TokenKind::Access
    };
    let scp = c.scp.optional("scp")?;
    let roles = c.roles.optional("roles")?.unwrap_or_default();
    let (scopes, roles) = match kind {
        TokenKind::Id => {
            // Only with the opt-in, only v2, only for the API's own client id. The `roles` an
            // ID token may carry (the user's app roles in the client) are never exposed as
            // roles: `Require` must not be satisfied by an ID token.
            let accepted = version == Some(TokenVersion::V2)
                && policy.id_token_audience.as_deref() == Some(aud.as_str());
            if !accepted {
                return Err(InvalidToken::IdToken);
            }
            (Vec::new(), Vec::new())
        }
        TokenKind::Access => {
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
            (scopes, roles)
        }
    };
    let object_id = c.oid.lenient();
    let subject = c
        .sub
        .lenient()
        .or_else(|| object_id.clone())
        .unwrap_or_default();
    Ok(Claims(Arc::new(ClaimsInner {
        kind,
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
