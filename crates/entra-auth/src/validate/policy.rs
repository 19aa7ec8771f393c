//! What the validator is told: the policy (everything except the key) and the issuers the
//! discovery documents declared.

use std::sync::Arc;

use crate::config::AllowedTenants;
use crate::keys::discovery::IssuerTemplate;

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
    /// The opt-in to ID tokens: `Some(client id)` accepts a v2 ID token whose `aud` is exactly
    /// that client id; `None` (the default) rejects every ID token. What makes a token an ID
    /// token is in the `validate` module docs (step 7).
    pub id_token_audience: Option<String>,
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
