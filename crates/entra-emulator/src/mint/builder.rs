//! [`TokenBuilder`]: tokens minted directly, without the token endpoint, for tests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{ClaimSet, RandomIds, User, access_token_header, now_unix, random_b64, sign_jwt};
use crate::directory::{DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_TENANT_ID, TokenVersion};
use crate::keys::SigningKey;
use crate::state::{State, read};

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
    directory_user: Option<String>,
    groups_claim: bool,
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
    ids: RandomIds,
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
            directory_user: None,
            groups_claim: false,
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
            ids: RandomIds::new(),
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
            given_name: None,
            family_name: None,
            groups: None,
        });
        self
    }

    /// Make it a delegated token for a user of the directory (UPN or object id, in the builder's
    /// tenant): like [`TokenBuilder::delegated`], plus `given_name`/`family_name` when known and
    /// `roles` = the app roles of the resource assigned to the user (omitted when none).
    ///
    /// # Panics
    /// [`TokenBuilder::claims`] and [`TokenBuilder::sign`] panic if the tenant has no such user.
    pub fn user(mut self, upn_or_object_id: &str) -> Self {
        self.directory_user = Some(upn_or_object_id.to_owned());
        self
    }

    /// Carry the user's group object ids in `groups` (what an app asks for with
    /// `groupMembershipClaims`); past 200 groups, Entra's overage form instead
    /// (`_claim_names` / `_claim_sources`). Only with [`TokenBuilder::user`].
    pub fn groups_claim(mut self) -> Self {
        self.groups_claim = true;
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
        let (aud, roles, user) = {
            let directory = read(&self.state.directory);
            let tenant = directory.tenant(&self.tenant);
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
            let from_directory = self.directory_user.as_deref().map(|name| {
                let user = tenant
                    .and_then(|t| t.user(name))
                    .unwrap_or_else(|| panic!("no user {name} in tenant {}", self.tenant));
                let roles = resource
                    .map(|app| super::delegated::user_roles(user, app))
                    .unwrap_or_default();
                (User::from_directory(user, self.groups_claim), roles)
            });
            let roles = match (&self.roles, &self.user, tenant, resource) {
                (Some(r), _, _, _) => r.clone(),
                (None, _, _, _) if from_directory.is_some() => from_directory
                    .as_ref()
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default(),
                (None, None, Some(t), Some(app)) => t.roles(&self.client_app, &app.client_id),
                _ => Vec::new(),
            };
            (
                aud,
                roles,
                from_directory.map(|(u, _)| u).or_else(|| self.user.clone()),
            )
        };
        let (iat, nbf, exp) = self.times();
        let scp = match (&self.scopes, &user) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(_)) => Some("access_as_user".to_owned()),
            (None, None) => None,
        };
        let set = ClaimSet {
            version: self.version,
            tid: self.tenant.clone(),
            aud,
            client_id: self.client_app.clone(),
            client_acr: if user.is_some() { "0" } else { "1" },
            roles,
            user,
            scp,
            iat,
            nbf,
            exp,
            aio: self.ids.aio.clone(),
            uti: self.ids.uti.clone(),
            rh: self.ids.rh.clone(),
            managed_identity: None,
        };
        let mut claims = set.build(&self.state.urls);
        apply_ops(&mut claims, &self.claim_ops);
        claims
    }

    /// Sign the token and return the compact JWT.
    pub fn sign(self) -> String {
        let claims = self.claims();
        let key = self.key.clone().unwrap_or_else(|| self.state.active_key());
        let kid = self.kid.clone().unwrap_or_else(|| key.kid().to_owned());
        let mut header = access_token_header(self.version, &kid);
        if self.x5t_only {
            header.remove("kid");
            header.insert("x5t".into(), json!(kid));
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
