//! The key sets, v2 (`/{tenant}/discovery/v2.0/keys`, keys carry `issuer`) and v1
//! (`/{tenant}/discovery/keys`), with optional `?appid=` for app-specific keys; and how the
//! key-set faults ([`Fault::EmptyKeySet`], [`Fault::BrokenKey`]) shape them.

use axum::Extension;
use axum::extract::{Path, RawQuery, State as AxState};
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, get};
use serde_json::{Value, json};

use super::form::query_param;
use super::{AadError, Shared, json_response, resolve_tenant};
use crate::directory::{TenantName, TokenVersion};
use crate::faults::{AppliedFault, Fault};
use crate::keys::SigningKey;
use crate::mint::random_b64;
use crate::state::{State, read};
use crate::urls::TENANT_ID_PLACEHOLDER;

/// The route of the key set of a version.
pub(crate) fn route(version: TokenVersion) -> MethodRouter<Shared> {
    get(
        move |AxState(state): AxState<Shared>,
              Path(tenant): Path<String>,
              RawQuery(query): RawQuery,
              fault: Option<Extension<AppliedFault>>,
              headers: HeaderMap| async move {
            let fault = fault.map(|Extension(AppliedFault(f))| f);
            match key_set(&state, &tenant, query.as_deref(), fault.as_ref(), version) {
                Ok(keys) => json_response(&json!({ "keys": keys }), "max-age=86400, private"),
                Err(e) => e.to_response(&headers),
            }
        },
    )
}

/// The keys of the set: app-specific keys first (with `?appid=`, carrying the tenant-specific
/// issuer in v2), then the published keys (carrying the `{tenantid}` issuer template in v2).
fn key_set(
    state: &State,
    tenant: &str,
    query: Option<&str>,
    fault: Option<&Fault>,
    version: TokenVersion,
) -> Result<Vec<Value>, AadError> {
    let name = resolve_tenant(state, tenant)?;
    if fault == Some(&Fault::EmptyKeySet) {
        return Ok(Vec::new());
    }
    let v2 = version == TokenVersion::V2;
    let mut out: Vec<Value> = Vec::new();
    if let Some(appid) = query_param(query, "appid") {
        let directory = read(&state.directory);
        for (tid, t) in directory.tenants() {
            let wanted = match &name {
                TenantName::Specific { tid: x, .. } => x == tid,
                TenantName::Independent(_) => true,
            };
            if !wanted {
                continue;
            }
            let issuer = state.urls.issuer(TokenVersion::V2, tid);
            for key in t.app_keys(&appid) {
                out.push(key.jwk(v2.then_some(issuer.as_str())));
            }
        }
    }
    let template = state.urls.issuer(TokenVersion::V2, TENANT_ID_PLACEHOLDER);
    let published: Vec<SigningKey> = read(&state.keys).published().to_vec();
    for key in &published {
        out.push(key.jwk(v2.then_some(template.as_str())));
    }
    if fault == Some(&Fault::BrokenKey) {
        let mut broken = broken_keys(published.first());
        if v2 {
            for k in &mut broken {
                if let Some(o) = k.as_object_mut() {
                    o.insert("issuer".into(), json!(template));
                }
            }
        }
        broken.extend(out);
        out = broken;
    }
    Ok(out)
}

/// Three keys a client must skip: an RSA key with garbage `n`/`e`, an EC key, and an
/// encryption key (a copy of `first` with `use: "enc"`).
fn broken_keys(first: Option<&SigningKey>) -> Vec<Value> {
    let mut broken = vec![
        json!({
            "kty": "RSA", "use": "sig", "kid": "broken-rsa-key", "x5t": "broken-rsa-key",
            "n": "!!not*base64url!!", "e": "$$", "x5c": ["bm90IGEgY2VydGlmaWNhdGU="],
        }),
        json!({
            "kty": "EC", "use": "sig", "kid": "ec-p256-key", "crv": "P-256",
            "x": random_b64(32), "y": random_b64(32),
        }),
    ];
    if let Some(first) = first {
        let mut enc = first.jwk(None);
        if let Some(o) = enc.as_object_mut() {
            o.insert("use".into(), json!("enc"));
            o.insert("kid".into(), json!("encryption-key"));
            o.insert("x5t".into(), json!("encryption-key"));
        }
        broken.push(enc);
    }
    broken
}
