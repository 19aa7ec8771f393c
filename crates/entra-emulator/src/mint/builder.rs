//! Minting access tokens shaped like Entra's.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};

use crate::app::TokenVersion;
use crate::keys::SigningKey;
use crate::state::{State, pairwise_sub, random_b64, read, service_principal_id};
use crate::{DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_TENANT_ID};

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Everything needed to build the claims of one access token.
pub(crate) struct ClaimSet {
    pub(crate) version: TokenVersion,
    pub(crate) tid: String,
    pub(crate) aud: String,
    pub(crate) client_id: String,
    /// "0" public client / user, "1" secret, "2" certificate.
    pub(crate) client_acr: &'static str,
    pub(crate) roles: Vec<String>,
    pub(crate) user: Option<User>,
    pub(crate) scp: Option<String>,
    pub(crate) iat: i64,
    pub(crate) nbf: i64,
    pub(crate) exp: i64,
    pub(crate) aio: String,
    pub(crate) uti: String,
    pub(crate) rh: String,
}

#[derive(Clone)]
pub(crate) struct User {
    pub(crate) oid: String,
    pub(crate) name: String,
    pub(crate) preferred_username: String,
}

impl ClaimSet {
    pub(crate) fn random_ids() -> (String, String, String) {
        (
            format!("k2Bg{}", random_b64(60)),
            random_b64(16),
            format!("0.A{}.", random_b64(50)),
        )
    }

    pub(crate) fn build(&self, state: &State) -> Map<String, Value> {
        let tid = &self.tid;
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("aud", json!(self.aud));
        let iss = match self.version {
            TokenVersion::V1 => state.issuer_v1(tid),
            TokenVersion::V2 => state.issuer_v2(tid),
        };
        put("iss", json!(iss));
        put("iat", json!(self.iat));
        put("nbf", json!(self.nbf));
        put("exp", json!(self.exp));
        put("aio", json!(self.aio));
        match self.version {
            TokenVersion::V1 => {
                put("appid", json!(self.client_id));
                put("appidacr", json!(self.client_acr));
            }
            TokenVersion::V2 => {
                put("azp", json!(self.client_id));
                put("azpacr", json!(self.client_acr));
            }
        }
        match &self.user {
            None => {
                let oid = service_principal_id(tid, &self.client_id);
                put("idp", json!(state.issuer_v1(tid)));
                put("idtyp", json!("app"));
                put("oid", json!(oid));
                put("sub", json!(oid));
            }
            Some(u) => {
                put("name", json!(u.name));
                put("oid", json!(u.oid));
                put("sub", json!(pairwise_sub(&u.oid, &self.client_id)));
                match self.version {
                    TokenVersion::V2 => put("preferred_username", json!(u.preferred_username)),
                    TokenVersion::V1 => {
                        put("acr", json!("1"));
                        put("amr", json!(["pwd"]));
                        put("unique_name", json!(u.preferred_username));
                        put("upn", json!(u.preferred_username));
                    }
                }
            }
        }
        put("rh", json!(self.rh));
        if !self.roles.is_empty() {
            put("roles", json!(self.roles));
        }
        if let Some(scp) = &self.scp {
            put("scp", json!(scp));
        }
        put("tid", json!(tid));
        put("uti", json!(self.uti));
        put("ver", json!(self.version.as_str()));
        m
    }
}

/// Sign `claims` under `header` with `key`. The algorithm is taken from the header's `alg` when
/// it is an RSA algorithm (RS256/384/512, PS256/384/512), otherwise RS256 is used (so a token
/// that *claims* `HS256` or `none` still carries an RS256 signature). `signed_header`, when
/// given, is what the signature covers instead of `header` (Graph-style nonce tokens).
pub(crate) fn sign_jwt(
    header: &Map<String, Value>,
    signed_header: Option<&Map<String, Value>>,
    claims: &Map<String, Value>,
    key: &SigningKey,
) -> String {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<Algorithm>().ok())
        .filter(|a| {
            matches!(
                a,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            )
        })
        .unwrap_or(Algorithm::RS256);
    let enc =
        |v: &Map<String, Value>| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap_or_default());
    let h = enc(header);
    let c = enc(claims);
    let signed_h = signed_header.map(enc).unwrap_or_else(|| h.clone());
    let message = format!("{signed_h}.{c}");
    let sig = match jsonwebtoken::crypto::sign(message.as_bytes(), &key.encoding_key(), alg) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "signing failed");
            String::new()
        }
    };
    format!("{h}.{c}.{sig}")
}

#[derive(Clone, Copy)]
enum Timing {
    Normal,
    Expired,
    NotYetValid,
}

/// Mints access tokens directly, without going through the token endpoint. Get one from
/// [`Emulator::token`](crate::Emulator::token).
///
/// The defaults produce the app-only token Entra would issue to [`DEV_CLIENT_ID`] for
/// [`DEV_API_CLIENT_ID`] in [`DEV_TENANT_ID`]: v2, `aud` = the API's client id (v1: its App ID
/// URI), `roles` from the app-role assignments, `iat = nbf = now`, `exp = now + 1h`, signed
/// RS256 by the emulator's active key with header `{"typ":"JWT","alg":"RS256","kid":..}` (v1
/// tokens also carry `x5t`, like Entra's).
///
/// Every method consumes and returns the builder; [`TokenBuilder::claims`] shows what will be
/// signed. Overrides ([`claim`](TokenBuilder::claim), [`remove_claim`](TokenBuilder::remove_claim),
/// [`header`](TokenBuilder::header), ...) are applied last, in call order.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), entra_emulator::EmulatorError> {
/// use entra_emulator::{Emulator, TokenVersion};
/// let emu = Emulator::start().await?;
/// let user_token = emu
///     .token()
///     .version(TokenVersion::V1)
///     .delegated("00000000-0000-0000-0000-0000000000aa", "Ada Lovelace", "ada@contoso.example")
///     .scopes("Files.Read")
///     .sign();
/// let expired = emu.token().expired().sign();
/// let forged = emu.token().header("alg", "HS256".into()).sign();
/// # let _ = (user_token, expired, forged);
/// # Ok(()) }
/// ```
pub struct TokenBuilder {
    state: Arc<State>,
    tenant: String,
    version: TokenVersion,
    audience: Option<String>,
    client_app: String,
    user: Option<User>,
    scopes: Option<String>,
    roles: Option<Vec<String>>,
    claim_ops: Vec<(String, Option<Value>)>,
    header_ops: Vec<(String, Option<Value>)>,
    kid: Option<String>,
    x5t_only: bool,
    graph_nonce: bool,
    key: Option<SigningKey>,
    issued_at: i64,
    lifetime: Duration,
    timing: Timing,
    ids: (String, String, String),
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("tenant", &self.tenant)
            .field("version", &self.version)
            .field("audience", &self.audience)
            .field("client_app", &self.client_app)
            .finish_non_exhaustive()
    }
}

impl TokenBuilder {
    pub(crate) fn new(state: Arc<State>) -> TokenBuilder {
        TokenBuilder {
            state,
            tenant: DEV_TENANT_ID.to_owned(),
            version: TokenVersion::V2,
            audience: None,
            client_app: DEV_CLIENT_ID.to_owned(),
            user: None,
            scopes: None,
            roles: None,
            claim_ops: Vec::new(),
            header_ops: Vec::new(),
            kid: None,
            x5t_only: false,
            graph_nonce: false,
            key: None,
            issued_at: now_unix(),
            lifetime: Duration::from_secs(3600),
            timing: Timing::Normal,
            ids: ClaimSet::random_ids(),
        }
    }

    /// Issue the token in this tenant (`tid`, issuer).
    pub fn tenant(mut self, tid: &str) -> Self {
        self.tenant = tid.to_owned();
        self
    }

    /// Token version (`ver`, issuer shape, `azp` vs `appid`, default audience shape).
    pub fn version(mut self, v: TokenVersion) -> Self {
        self.version = v;
        self
    }

    /// The `aud` claim. Default roles are looked up for the registered app this names (by client
    /// id or App ID URI), if any.
    pub fn audience(mut self, aud: &str) -> Self {
        self.audience = Some(aud.to_owned());
        self
    }

    /// The calling app: `azp` (v2) / `appid` (v1), and for app-only tokens `oid`/`sub` (its
    /// service principal) and the default `roles`.
    pub fn client_app(mut self, client_id: &str) -> Self {
        self.client_app = client_id.to_owned();
        self
    }

    /// Make it a delegated (user) token: `oid`, `name`, `preferred_username` (v1: `upn`,
    /// `unique_name`), a pairwise `sub`, no `idtyp`, `azpacr`/`appidacr` "0", and `scp`
    /// (default `access_as_user`, see [`TokenBuilder::scopes`]). No default roles.
    pub fn delegated(mut self, user_oid: &str, name: &str, preferred_username: &str) -> Self {
        self.user = Some(User {
            oid: user_oid.to_owned(),
            name: name.to_owned(),
            preferred_username: preferred_username.to_owned(),
        });
        self
    }

    /// The space-separated `scp` claim (also allowed on app-only tokens, to build odd tokens).
    pub fn scopes(mut self, scp: &str) -> Self {
        self.scopes = Some(scp.to_owned());
        self
    }

    /// The `roles` claim, replacing the roles from app-role assignments. An empty list omits it.
    pub fn roles<I: IntoIterator<Item = S>, S: Into<String>>(mut self, roles: I) -> Self {
        self.roles = Some(roles.into_iter().map(Into::into).collect());
        self
    }

    /// Set or override any claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claim_ops.push((name.to_owned(), Some(value)));
        self
    }

    /// Remove a claim (e.g. `exp`, `aud`).
    pub fn remove_claim(mut self, name: &str) -> Self {
        self.claim_ops.push((name.to_owned(), None));
        self
    }

    /// Set or override any header field, e.g. `alg`. When `alg` names a non-RSA algorithm the
    /// token is still RS256-signed (what an attacker without the key could not do either).
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header_ops.push((name.to_owned(), Some(value)));
        self
    }

    /// Remove a header field.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header_ops.push((name.to_owned(), None));
        self
    }

    /// Put this `kid` (and `x5t`, when present) in the header instead of the signing key's.
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    /// Identify the key by `x5t` only (no `kid`), like some older v1 tokens.
    pub fn x5t_only(mut self) -> Self {
        self.x5t_only = true;
        self
    }

    /// Add a Microsoft Graph-style `nonce` header: the signature covers the SHA-256 of the nonce,
    /// not the nonce itself, so standard validation fails, exactly as with real Graph tokens.
    pub fn graph_nonce(mut self) -> Self {
        self.graph_nonce = true;
        self
    }

    /// Sign with this key (registered or not) instead of the emulator's active key.
    pub fn signed_with(mut self, key: &SigningKey) -> Self {
        self.key = Some(key.clone());
        self
    }

    /// Set `iat = nbf = unix` and `exp = unix + lifetime`.
    pub fn issued_at(mut self, unix: i64) -> Self {
        self.issued_at = unix;
        self.timing = Timing::Normal;
        self
    }

    /// Token lifetime (`exp - iat`); default one hour.
    pub fn lifetime(mut self, d: Duration) -> Self {
        self.lifetime = d;
        self
    }

    /// A token that expired two hours ago.
    pub fn expired(mut self) -> Self {
        self.timing = Timing::Expired;
        self
    }

    /// A token that becomes valid in one hour (`nbf = now + 1h`).
    pub fn not_yet_valid(mut self) -> Self {
        self.timing = Timing::NotYetValid;
        self
    }

    fn times(&self) -> (i64, i64, i64) {
        let life = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX / 4);
        match self.timing {
            Timing::Normal => (
                self.issued_at,
                self.issued_at,
                self.issued_at.saturating_add(life),
            ),
            Timing::Expired => {
                let exp = now_unix() - 7200;
                (exp - life, exp - life, exp)
            }
            Timing::NotYetValid => {
                let now = now_unix();
                (now, now + 3600, now + 3600 + life)
            }
        }
    }

    /// The claims that [`TokenBuilder::sign`] will sign.
    pub fn claims(&self) -> Map<String, Value> {
        let (aud, roles) = {
            let tenants = read(&self.state.tenants);
            let tenant = tenants.get(&self.tenant.to_ascii_lowercase());
            let resource_name = self.audience.as_deref().unwrap_or(DEV_API_CLIENT_ID);
            let resource = tenant.and_then(|t| t.resource(resource_name));
            let aud = match (&self.audience, resource) {
                (Some(a), _) => a.clone(),
                (None, Some(app)) => app.audience(self.version),
                (None, None) => match self.version {
                    TokenVersion::V2 => DEV_API_CLIENT_ID.to_owned(),
                    TokenVersion::V1 => format!("api://{DEV_API_CLIENT_ID}"),
                },
            };
            let roles = match (&self.roles, &self.user, tenant, resource) {
                (Some(r), _, _, _) => r.clone(),
                (None, None, Some(t), Some(app)) => t.roles(&self.client_app, &app.client_id),
                _ => Vec::new(),
            };
            (aud, roles)
        };
        let (iat, nbf, exp) = self.times();
        let scp = match (&self.scopes, &self.user) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(_)) => Some("access_as_user".to_owned()),
            (None, None) => None,
        };
        let set = ClaimSet {
            version: self.version,
            tid: self.tenant.clone(),
            aud,
            client_id: self.client_app.clone(),
            client_acr: if self.user.is_some() { "0" } else { "1" },
            roles,
            user: self.user.clone(),
            scp,
            iat,
            nbf,
            exp,
            aio: self.ids.0.clone(),
            uti: self.ids.1.clone(),
            rh: self.ids.2.clone(),
        };
        let mut claims = set.build(&self.state);
        apply_ops(&mut claims, &self.claim_ops);
        claims
    }

    /// Sign the token and return the compact JWT.
    pub fn sign(self) -> String {
        let claims = self.claims();
        let key = self.key.clone().unwrap_or_else(|| self.state.active_key());
        let kid = self.kid.clone().unwrap_or_else(|| key.kid().to_owned());
        let mut header = Map::new();
        header.insert("typ".into(), json!("JWT"));
        header.insert("alg".into(), json!("RS256"));
        if self.x5t_only {
            header.insert("x5t".into(), json!(kid));
        } else {
            if self.version == TokenVersion::V1 {
                header.insert("x5t".into(), json!(kid));
            }
            header.insert("kid".into(), json!(kid));
        }
        let mut signed_header = None;
        if self.graph_nonce {
            let nonce = random_b64(32);
            let mut hashed = header.clone();
            let h = digest::digest(&digest::SHA256, nonce.as_bytes());
            hashed.insert("nonce".into(), json!(URL_SAFE_NO_PAD.encode(h)));
            header.insert("nonce".into(), json!(nonce));
            apply_ops(&mut hashed, &self.header_ops);
            signed_header = Some(hashed);
        }
        apply_ops(&mut header, &self.header_ops);
        sign_jwt(&header, signed_header.as_ref(), &claims, &key)
    }
}

fn apply_ops(map: &mut Map<String, Value>, ops: &[(String, Option<Value>)]) {
    for (name, value) in ops {
        match value {
            Some(v) => {
                map.insert(name.clone(), v.clone());
            }
            None => {
                map.remove(name);
            }
        }
    }
}
