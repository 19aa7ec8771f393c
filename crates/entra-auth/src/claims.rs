//! [`Claims`]: the validated claims of an Entra access token, v1 and v2 unified (or of a v2 ID
//! token, when the API opted in with
//! [`accept_id_tokens`](crate::EntraConfigBuilder::accept_id_tokens); [`Claims::token_kind`]
//! tells which).
//!
//! Entra v1 and v2 tokens name some things differently (`appid` / `azp`, `appidacr` /
//! `azpacr`); [`Claims`] gives one typed view, and every other claim stays reachable through
//! [`Claims::get`] or a custom type through [`Claims::deserialize`].

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The version of an Entra access token (`ver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenVersion {
    /// `ver` is `1.0`: issuer `https://sts.windows.net/{tid}/`, calling app in `appid`.
    V1,
    /// `ver` is `2.0`: issuer `{authority}/{tid}/v2.0`, calling app in `azp`.
    V2,
}

impl TokenVersion {
    /// `"1.0"` or `"2.0"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenVersion::V1 => "1.0",
            TokenVersion::V2 => "2.0",
        }
    }
}

/// What kind of token the claims were validated from.
///
/// Always [`TokenKind::Access`] unless the API opted in to ID tokens with
/// [`accept_id_tokens`](crate::EntraConfigBuilder::accept_id_tokens): an ID token is then
/// [`TokenKind::Id`], with no scopes and no roles (so no [`Require`](crate::Require) on scopes
/// or roles is ever satisfied by one), no calling app, and the client id as its audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// An access token issued for this API: it names its calling app (`azp` or `appid`) and
    /// carries the permissions granted (`scp`, `roles`).
    Access,
    /// A v2 ID token of a user signed in to the API's own client id (`aud`): it proves who
    /// signed in to that client, not that the user authorized a call to the API.
    Id,
}

impl TokenKind {
    /// `"access"` or `"id"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Id => "id",
        }
    }
}

/// The validated claims of an access token (or, with the opt-in, of an ID token: see
/// [`Claims::token_kind`]). Cheap to clone (shared).
///
/// Put into request extensions by the layer; handlers take it with the [`Claims`] extractor:
///
/// ```
/// use entra_auth::Claims;
/// async fn me(claims: Claims) -> String {
///     format!("hello {} from tenant {}", claims.subject(), claims.tenant_id().unwrap_or("?"))
/// }
/// # let _ = axum::Router::<()>::new().route("/me", axum::routing::get(me));
/// ```
#[derive(Clone)]
pub struct Claims(pub(crate) Arc<ClaimsInner>);

pub(crate) struct ClaimsInner {
    pub(crate) kind: TokenKind,
    pub(crate) version: Option<TokenVersion>,
    pub(crate) audience: String,
    pub(crate) issuer: String,
    pub(crate) tenant_id: Option<String>,
    pub(crate) object_id: Option<String>,
    pub(crate) subject: String,
    pub(crate) app_id: Option<String>,
    pub(crate) app_auth_method: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) preferred_username: Option<String>,
    pub(crate) idtyp: Option<String>,
    pub(crate) issued_at: Option<i64>,
    pub(crate) not_before: i64,
    pub(crate) expires_at: i64,
    pub(crate) signing_key: Arc<crate::keys::key_set::VerificationKey>,
    pub(crate) payload: Box<[u8]>,
    pub(crate) token: Option<Arc<str>>,
    /// The realm of the challenges of the layer that validated the token.
    pub(crate) realm: Option<Arc<str>>,
    pub(crate) all: OnceLock<Map<String, Value>>,
}

impl Claims {
    /// Whether these claims come from an access token or (only with
    /// [`accept_id_tokens`](crate::EntraConfigBuilder::accept_id_tokens)) from an ID token.
    /// An ID token has no scopes, no roles and no calling app: the `roles` it may carry are
    /// reachable through [`get`](Self::get) only, for an application that decides to trust them.
    pub fn token_kind(&self) -> TokenKind {
        self.0.kind
    }

    /// The token version, when the token says (`ver`).
    pub fn version(&self) -> Option<TokenVersion> {
        self.0.version
    }

    /// `aud`: the audience the token was issued for (one of the configured audiences; for an ID
    /// token, the API's client id).
    pub fn audience(&self) -> &str {
        &self.0.audience
    }

    /// `iss`: the issuer.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// `tid`: the tenant the token was issued in.
    pub fn tenant_id(&self) -> Option<&str> {
        self.0.tenant_id.as_deref()
    }

    /// `oid`: the object id of the user, or of the calling app's service principal for
    /// app-only tokens. The stable identifier to key data on (with `tid`).
    pub fn object_id(&self) -> Option<&str> {
        self.0.object_id.as_deref()
    }

    /// `sub`: the subject (pairwise per application for users).
    pub fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The calling application's client id: `azp` (v2) or `appid` (v1). `None` for an ID token
    /// (its client is its [`audience`](Self::audience)).
    pub fn app_id(&self) -> Option<&str> {
        self.0.app_id.as_deref()
    }

    /// How the calling app authenticated: `azpacr` (v2) or `appidacr` (v1): `0` public client,
    /// `1` client secret, `2` certificate.
    pub fn app_auth_method(&self) -> Option<&str> {
        self.0.app_auth_method.as_deref()
    }

    /// `scp`: the delegated scopes, split on spaces (always empty for an ID token).
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Whether `scp` contains `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// `roles`: the app roles granted (to the user or to the calling app). Always empty for an
    /// ID token, even one that carries `roles`.
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }

    /// Whether `roles` contains `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.0.roles.iter().any(|r| r == role)
    }

    /// `name`: the user's display name (delegated tokens).
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// `preferred_username` (v2) or `upn` / `unique_name` (v1) of the user.
    pub fn preferred_username(&self) -> Option<&str> {
        self.0.preferred_username.as_deref()
    }

    /// `idtyp`: `app` for app-only tokens when the API requested that optional claim (Entra
    /// always sets it in tokens from our emulator).
    pub fn idtyp(&self) -> Option<&str> {
        self.0.idtyp.as_deref()
    }

    /// Whether this is an app-only token (client credentials): `idtyp` is `app`, or there is
    /// no `scp` and `oid` equals `sub` (the rule Microsoft.Identity.Web uses). Never for an ID
    /// token.
    pub fn is_app_only(&self) -> bool {
        if self.0.kind == TokenKind::Id {
            return false;
        }
        match self.idtyp() {
            Some(t) => t == "app",
            None => self.0.scopes.is_empty() && self.object_id() == Some(self.subject()),
        }
    }

    /// `iat`, seconds since the Unix epoch.
    pub fn issued_at(&self) -> Option<i64> {
        self.0.issued_at
    }

    /// `nbf`, seconds since the Unix epoch.
    pub fn not_before(&self) -> i64 {
        self.0.not_before
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> i64 {
        self.0.expires_at
    }

    /// The id of the key that signed the token.
    pub fn signing_key_id(&self) -> &str {
        self.0.signing_key.kid()
    }

    /// Any claim by name, as JSON.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.all().get(name)
    }

    /// All claims as a JSON object.
    pub fn all(&self) -> &Map<String, Value> {
        self.0
            .all
            .get_or_init(|| serde_json::from_slice(&self.0.payload).unwrap_or_default())
    }

    /// Deserializes the claims into a custom type (for claims of your own, e.g. optional claims
    /// or directory extensions).
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Mine { #[serde(default)] ctry: Option<String> }
    /// # fn f(claims: entra_auth::Claims) -> Result<(), serde_json::Error> {
    /// let mine: Mine = claims.deserialize()?;
    /// # let _ = mine.ctry; Ok(()) }
    /// ```
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.0.payload)
    }

    /// The raw token these claims were validated from (for the on-behalf-of flow). Never log it.
    pub fn bearer_token(&self) -> Option<BearerToken> {
        self.0
            .token
            .clone()
            .map(|t| BearerToken(TokenText::Owned(t)))
    }

    /// The scopes as a set.
    pub fn scope_set(&self) -> HashSet<&str> {
        self.0.scopes.iter().map(String::as_str).collect()
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        f.debug_struct("Claims")
            .field("kind", &c.kind.as_str())
            .field("ver", &c.version.map(|v| v.as_str()))
            .field("tid", &c.tenant_id)
            .field("oid", &c.object_id)
            .field("sub", &c.subject)
            .field("app_id", &c.app_id)
            .field("aud", &c.audience)
            .field("iss", &c.issuer)
            .field("scp", &c.scopes)
            .field("roles", &c.roles)
            .field("exp", &c.expires_at)
            .finish_non_exhaustive()
    }
}

/// The raw bearer token of the request (for the on-behalf-of flow). Its `Debug` output is
/// redacted; the text is only available through [`BearerToken::as_str`].
#[derive(Clone)]
pub struct BearerToken(pub(crate) TokenText);

/// Where the token text lives: inside the request's `Authorization` header (no copy), or a
/// copy taken from a query parameter or cookie.
#[derive(Clone)]
pub(crate) enum TokenText {
    Header {
        value: http::HeaderValue,
        start: usize,
        end: usize,
    },
    Owned(Arc<str>),
}

impl BearerToken {
    /// The token text (empty if it is not UTF-8, which the layer never lets through). Never
    /// log it.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            TokenText::Header { value, start, end } => {
                std::str::from_utf8(value.as_bytes().get(*start..*end).unwrap_or_default())
                    .unwrap_or_default()
            }
            TokenText::Owned(text) => text,
        }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(<redacted, {} bytes>)", self.as_str().len())
    }
}
