//! The HTTP side: routes, the request-log/fault middleware, and connection dropping.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::aadsts::{AadError, correlation_id};
use crate::app::TokenVersion;
use crate::fault::{Endpoint, Fault, LoggedRequest, redact_query};
use crate::keys::SigningKey;
use crate::state::{State, lock, random_b64, random_between, read};
use crate::token::{ClaimSet, now_unix, sign_jwt};

type Shared = Arc<State>;

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys_v2))
        .route("/{tenant}/discovery/keys", get(keys_v1))
        .route("/{tenant}/oauth2/v2.0/token", any(token_v2))
        .route("/{tenant}/oauth2/token", any(token_v1))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .with_state(state)
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// Which endpoint kind a path is, by its segments.
fn classify(path: &str) -> Option<Endpoint> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [_, "v2.0", ".well-known", "openid-configuration"]
        | [_, ".well-known", "openid-configuration"] => Some(Endpoint::Discovery),
        [_, "discovery", "v2.0", "keys"] | [_, "discovery", "keys"] => Some(Endpoint::Keys),
        [_, "oauth2", "v2.0", "token"] | [_, "oauth2", "token"] => Some(Endpoint::Token),
        _ => None,
    }
}

/// Set by the token handler so the log can name the calling client.
#[derive(Clone)]
struct LoggedClientId(String);

/// The fault the middleware applies to a request, for handlers that shape their answer by it
/// ([`Fault::EmptyKeySet`], [`Fault::BrokenKey`]).
#[derive(Clone)]
struct AppliedFault(Fault);

/// Counts and logs every request, and applies the faults (a path fault wins over an endpoint
/// fault).
async fn track(AxState(st): AxState<Shared>, mut req: Request, next: Next) -> Response {
    let endpoint = classify(req.uri().path());
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(redact_query);
    let at = SystemTime::now();
    if let Some(ep) = endpoint {
        *lock(&st.log).counts.entry(ep).or_default() += 1;
    }
    let fault = st.fault_for(&path, endpoint);
    if let Some(f) = &fault {
        req.extensions_mut().insert(AppliedFault(f.clone()));
    }
    let kill = req.extensions().get::<ConnKill>().cloned();
    let response = match &fault {
        Some(Fault::DropConnection) => {
            if let Some(k) = &kill {
                k.kill();
            }
            None
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(*d).await;
            Some(next.run(req).await)
        }
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Some(
                (
                    status,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    format!("entra-emulator injected fault: status {code}"),
                )
                    .into_response(),
            )
        }
        Some(Fault::Html) => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<!DOCTYPE html><html><head><title>Sign in</title></head>\
                 <body><p>Sorry, but we're having trouble signing you in.</p></body></html>",
            )
                .into_response(),
        ),
        Some(Fault::InvalidJson) => Some(json_bytes(
            endpoint,
            Bytes::from_static(b"{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":"),
        )),
        Some(Fault::Oversized(n)) => Some(json_bytes(endpoint, oversized_body(*n))),
        Some(Fault::EmptyKeySet | Fault::BrokenKey) | None => Some(next.run(req).await),
    };
    let (status, client_id) = match &response {
        Some(r) => (
            Some(r.status().as_u16()),
            r.extensions().get::<LoggedClientId>().map(|c| c.0.clone()),
        ),
        None => (None, None),
    };
    lock(&st.log).push(LoggedRequest {
        at,
        method,
        path,
        query,
        status,
        endpoint,
        fault,
        client_id,
    });
    // A dropped connection never sees this response: the stream fails the write.
    response.unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn json_bytes(_endpoint: Option<Endpoint>, body: Bytes) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn oversized_body(n: usize) -> Bytes {
    let prefix = b"{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"";
    let mut body = Vec::with_capacity(n);
    body.extend_from_slice(&prefix[..prefix.len().min(n)]);
    body.resize(n, b'A');
    Bytes::from(body)
}

// ---------------------------------------------------------------------------------------------
// Tenants

enum TenantKind {
    /// A registered tenant, named by its id or one of its domain names.
    Specific {
        /// The tenant id, lower-cased.
        tid: String,
        /// How endpoint URLs name the tenant: the domain name as the caller wrote it in the
        /// path, or the lower-cased tenant id.
        segment: String,
    },
    /// `common` or `organizations` (lower-cased).
    Independent(String),
}

fn resolve_tenant(st: &State, tenant: &str) -> Result<TenantKind, AadError> {
    let lower = tenant.to_ascii_lowercase();
    if lower == "common" || lower == "organizations" {
        return Ok(TenantKind::Independent(lower));
    }
    if st.has_tenant(&lower) {
        return Ok(TenantKind::Specific {
            tid: lower.clone(),
            segment: lower,
        });
    }
    match st.tenant_of_domain(&lower) {
        Some(tid) => Ok(TenantKind::Specific {
            tid,
            segment: tenant.to_owned(),
        }),
        None => Err(AadError::tenant_not_found(tenant)),
    }
}

fn json_response(body: &Value, cache: &'static str) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// The value of one query parameter (form-decoded).
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    parse_form(query.unwrap_or_default())
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn appid_suffix(appid: Option<&str>) -> String {
    appid
        .map(|a| format!("?appid={}", percent_encode(a)))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Discovery

async fn discovery_v2(
    AxState(st): AxState<Shared>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let kind = match resolve_tenant(&st, &tenant) {
        Ok(k) => k,
        Err(e) => return e.to_response(&headers),
    };
    let appid = query_param(query.as_deref(), "appid");
    let base = &st.base_url;
    let (t, issuer, region) = match &kind {
        TenantKind::Specific { tid, segment } => (segment.clone(), st.issuer_v2(tid), json!("NA")),
        TenantKind::Independent(t) => (t.clone(), format!("{base}/{{tenantid}}/v2.0"), Value::Null),
    };
    let doc = json!({
        "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys{}", appid_suffix(appid.as_deref())),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{t}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "kerberos_endpoint": format!("{base}/{t}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    json_response(&doc, "max-age=86400, private")
}

async fn discovery_v1(
    AxState(st): AxState<Shared>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let kind = match resolve_tenant(&st, &tenant) {
        Ok(k) => k,
        Err(e) => return e.to_response(&headers),
    };
    let appid = query_param(query.as_deref(), "appid");
    let base = &st.base_url;
    let (t, issuer, region) = match &kind {
        TenantKind::Specific { tid, segment } => (segment.clone(), st.issuer_v1(tid), json!("NA")),
        TenantKind::Independent(t) => (t.clone(), st.issuer_v1("{tenantid}"), Value::Null),
    };
    let doc = json!({
        "token_endpoint": format!("{base}/{t}/oauth2/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{t}/discovery/keys{}", appid_suffix(appid.as_deref())),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{t}/oauth2/logout"),
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": issuer,
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email",
            "given_name", "family_name", "nickname"
        ],
        "microsoft_multi_refresh_token": true,
        "check_session_iframe": format!("{base}/{t}/oauth2/checksession"),
        "userinfo_endpoint": format!("{base}/{t}/openid/userinfo"),
        "kerberos_endpoint": format!("{base}/{t}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    json_response(&doc, "max-age=86400, private")
}

// ---------------------------------------------------------------------------------------------
// Keys

async fn keys_v2(
    st: AxState<Shared>,
    tenant: Path<String>,
    query: RawQuery,
    fault: Option<Extension<AppliedFault>>,
    headers: HeaderMap,
) -> Response {
    keys(st, tenant, query, fault, headers, TokenVersion::V2)
}

async fn keys_v1(
    st: AxState<Shared>,
    tenant: Path<String>,
    query: RawQuery,
    fault: Option<Extension<AppliedFault>>,
    headers: HeaderMap,
) -> Response {
    keys(st, tenant, query, fault, headers, TokenVersion::V1)
}

fn keys(
    AxState(st): AxState<Shared>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    fault: Option<Extension<AppliedFault>>,
    headers: HeaderMap,
    version: TokenVersion,
) -> Response {
    let kind = match resolve_tenant(&st, &tenant) {
        Ok(k) => k,
        Err(e) => return e.to_response(&headers),
    };
    let fault = fault.map(|Extension(AppliedFault(f))| f);
    if fault == Some(Fault::EmptyKeySet) {
        return json_response(&json!({ "keys": [] }), "max-age=86400, private");
    }
    let v2 = version == TokenVersion::V2;
    let mut out: Vec<Value> = Vec::new();
    // App-specific keys first (they carry the tenant-specific issuer).
    if let Some(appid) = query_param(query.as_deref(), "appid") {
        let appid = appid.to_ascii_lowercase();
        let tenants = read(&st.tenants);
        for (tid, t) in tenants.iter() {
            let wanted = match &kind {
                TenantKind::Specific { tid: x, .. } => x == tid,
                TenantKind::Independent(_) => true,
            };
            if !wanted {
                continue;
            }
            for key in t.app_keys.get(&appid).into_iter().flatten() {
                let issuer = st.issuer_v2(tid);
                out.push(key.jwk(v2.then_some(issuer.as_str())));
            }
        }
    }
    let template = st.issuer_v2("{tenantid}");
    let published: Vec<SigningKey> = read(&st.keys).published.clone();
    for key in &published {
        out.push(key.jwk(v2.then_some(template.as_str())));
    }
    if fault == Some(Fault::BrokenKey) {
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
        if let Some(first) = published.first() {
            let mut enc = first.jwk(None);
            if let Some(o) = enc.as_object_mut() {
                o.insert("use".into(), json!("enc"));
                o.insert("kid".into(), json!("encryption-key"));
                o.insert("x5t".into(), json!("encryption-key"));
            }
            broken.push(enc);
        }
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
    json_response(&json!({ "keys": out }), "max-age=86400, private")
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

async fn token_v2(
    st: AxState<Shared>,
    tenant: Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(st, tenant, method, headers, body, TokenVersion::V2)
}

async fn token_v1(
    st: AxState<Shared>,
    tenant: Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(st, tenant, method, headers, body, TokenVersion::V1)
}

fn token(
    AxState(st): AxState<Shared>,
    Path(tenant): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    endpoint_version: TokenVersion,
) -> Response {
    let mut client_for_log = None;
    let result = issue(
        &st,
        &tenant,
        &method,
        &headers,
        &body,
        endpoint_version,
        &mut client_for_log,
    );
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(code = e.code, error = e.error, "token request rejected");
            e.to_response(&headers)
        }
    };
    if let Some(c) = client_for_log {
        resp.extensions_mut().insert(LoggedClientId(c));
    }
    resp
}

fn issue(
    st: &State,
    tenant: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    endpoint_version: TokenVersion,
    client_for_log: &mut Option<String>,
) -> Result<Response, AadError> {
    if method == Method::OPTIONS {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if method != Method::POST {
        return Err(AadError::method_not_allowed(method.as_str()));
    }
    let kind = resolve_tenant(st, tenant)?;
    let form = parse_form(&String::from_utf8_lossy(body));
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let grant_type = get("grant_type").ok_or_else(|| AadError::missing_parameter("grant_type"))?;
    if grant_type != "client_credentials" {
        return Err(AadError::unsupported_grant_type(grant_type));
    }
    let TenantKind::Specific { tid, .. } = kind else {
        return Err(AadError::no_tenant_information());
    };

    // Who is calling, and with which credential?
    let basic = basic_credentials(headers);
    let form_client = get("client_id").map(str::to_owned);
    let client_hint = form_client
        .clone()
        .or_else(|| basic.as_ref().map(|b| b.0.clone()));
    *client_for_log = client_hint.clone();
    let secret = get("client_secret")
        .map(str::to_owned)
        .or_else(|| basic.as_ref().map(|b| b.1.clone()));
    let assertion = get("client_assertion");
    let assertion_type = get("client_assertion_type");

    let (client_id, acr) = if let Some(assertion) = assertion {
        match assertion_type {
            None => return Err(AadError::missing_parameter("client_assertion_type")),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") => {}
            Some(_) => return Err(AadError::unsupported_assertion_type()),
        }
        let id = crate::assertion::verify(st, &tid, client_hint.as_deref(), assertion)?;
        *client_for_log = Some(id.clone());
        (id, "2")
    } else {
        let Some(client_id) = client_hint else {
            return Err(AadError::missing_parameter("client_id"));
        };
        let tenants = read(&st.tenants);
        let app = tenants
            .get(&tid)
            .and_then(|t| t.app(&client_id))
            .ok_or_else(|| AadError::application_not_found(&client_id, &tid))?;
        let Some(secret) = secret else {
            return Err(AadError::no_credential());
        };
        let now = SystemTime::now();
        let mut matched_expired = false;
        let mut matched = false;
        for s in &app.secrets {
            let eq = aws_lc_rs::constant_time::verify_slices_are_equal(
                s.value.as_bytes(),
                secret.as_bytes(),
            )
            .is_ok();
            if eq && s.is_expired(now) {
                matched_expired = true;
            } else if eq {
                matched = true;
            }
        }
        if !matched {
            return Err(if matched_expired {
                AadError::expired_secret(&client_id)
            } else {
                AadError::invalid_secret(&client_id)
            });
        }
        (client_id, "1")
    };

    // Which resource?
    let resource_name = match endpoint_version {
        TokenVersion::V2 => {
            let scope = get("scope").ok_or_else(|| AadError::missing_parameter("scope"))?;
            let scopes: Vec<&str> = scope.split_whitespace().collect();
            let [only] = scopes.as_slice() else {
                return Err(AadError::invalid_scope(scope));
            };
            let Some(resource) = only.strip_suffix("/.default") else {
                return Err(AadError::invalid_scope(scope));
            };
            if resource.is_empty() {
                return Err(AadError::invalid_scope(scope));
            }
            resource.to_owned()
        }
        TokenVersion::V1 => get("resource")
            .ok_or_else(|| AadError::missing_parameter("resource"))?
            .to_owned(),
    };

    let tenants = read(&st.tenants);
    let t = tenants
        .get(&tid)
        .ok_or_else(|| AadError::tenant_not_found(&tid))?;
    let client = t
        .app(&client_id)
        .ok_or_else(|| AadError::application_not_found(&client_id, &tid))?;
    let resource = t
        .resource(&resource_name)
        .ok_or_else(|| AadError::resource_not_found(&resource_name, &tid))?;
    let version = resource.access_token_version;
    let lifetime = random_between(3600, 5400) as i64;
    let now = now_unix();
    let (aio, uti, rh) = ClaimSet::random_ids();
    let set = ClaimSet {
        version,
        tid: tid.clone(),
        aud: resource.audience(version),
        client_id: client.client_id.clone(),
        client_acr: acr,
        roles: t.roles(&client.client_id, &resource.client_id),
        user: None,
        scp: None,
        iat: now,
        nbf: now,
        exp: now + lifetime,
        aio,
        uti,
        rh,
    };
    let key = t
        .app_keys
        .get(&resource.client_id.to_ascii_lowercase())
        .and_then(|keys| keys.last().cloned())
        .unwrap_or_else(|| st.active_key());
    let claims = set.build(st);
    let resource_aud = set.aud.clone();
    drop(tenants);
    let header = default_header(version, key.kid());
    let access_token = sign_jwt(&header, None, &claims, &key);
    tracing::info!(client_id = %client_id, tenant = %tid, resource = %resource_aud, "issued token");

    let body = match endpoint_version {
        TokenVersion::V2 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }),
        TokenVersion::V1 => json!({
            "token_type": "Bearer",
            "expires_in": lifetime.to_string(),
            "ext_expires_in": lifetime.to_string(),
            "expires_on": (now + lifetime).to_string(),
            "not_before": now.to_string(),
            "resource": resource_name,
            "access_token": access_token,
        }),
    };
    let mut resp = json_response(&body, "no-store, no-cache");
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&correlation_id(headers)) {
        resp.headers_mut().insert("client-request-id", v);
    }
    Ok(resp)
}

/// The header Entra puts on access tokens: v1 tokens also carry `x5t`.
pub(crate) fn default_header(version: TokenVersion, kid: &str) -> serde_json::Map<String, Value> {
    let mut h = serde_json::Map::new();
    h.insert("typ".into(), json!("JWT"));
    h.insert("alg".into(), json!("RS256"));
    if version == TokenVersion::V1 {
        h.insert("x5t".into(), json!(kid));
    }
    h.insert("kid".into(), json!(kid));
    h
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

// ---------------------------------------------------------------------------------------------
// application/x-www-form-urlencoded

pub(crate) fn parse_form(input: &str) -> Vec<(String, String)> {
    input
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(pair), String::new()),
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Dropping connections (Fault::DropConnection)

/// Per-connection switch: once set, the connection's stream fails all I/O so hyper drops it
/// without writing a response.
#[derive(Clone, Default)]
pub(crate) struct ConnKill(Arc<AtomicBool>);

impl ConnKill {
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A TCP stream that can be killed from a request handler.
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: ConnKill,
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault",
    )
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.is_killed() {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The axum-server acceptor that wraps streams in [`KillableStream`] and hands the switch to
/// every request on the connection.
#[derive(Clone, Copy, Default)]
pub(crate) struct KillAcceptor;

impl<S> axum_server::accept::Accept<TcpStream, S> for KillAcceptor {
    type Stream = KillableStream;
    type Service = KillService<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let _ = stream.set_nodelay(true);
        let kill = ConnKill::default();
        std::future::ready(Ok((
            KillableStream {
                inner: stream,
                kill: kill.clone(),
            },
            KillService {
                inner: service,
                kill,
            },
        )))
    }
}

/// Inserts the connection's [`ConnKill`] into request extensions.
#[derive(Clone)]
pub(crate) struct KillService<S> {
    inner: S,
    kill: ConnKill,
}

impl<S, B> tower::Service<axum::http::Request<B>> for KillService<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.kill.clone());
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_never_panics() {
        assert_eq!(
            parse_form("a=b+c&d=%41%4&e=%&f=%zz&g"),
            vec![
                ("a".into(), "b c".into()),
                ("d".into(), "A%4".into()),
                ("e".into(), "%".into()),
                ("f".into(), "%zz".into()),
                ("g".into(), String::new()),
            ]
        );
        assert_eq!(form_decode("%e2%82%ac"), "€");
        assert_eq!(
            classify("/common/discovery/v2.0/keys"),
            Some(Endpoint::Keys)
        );
        assert_eq!(classify("/x/oauth2/token"), Some(Endpoint::Token));
        assert_eq!(classify("/x/y"), None);
    }
}
