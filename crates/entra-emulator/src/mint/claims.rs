//! Claim sets: the claims of an access token in Entra's shape, app-only or delegated, v1 or v2.

use serde_json::{Map, Value, json};

use super::random_b64;
use crate::directory::{App, Tenant, TokenVersion, pairwise_sub, service_principal_id};
use crate::urls::Urls;

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
    /// App-only tokens of a managed identity: its object id (`oid`, `sub`) and resource id
    /// (`xms_mirid`).
    pub(crate) managed_identity: Option<(String, String)>,
}

/// The signed-in user of a delegated token.
#[derive(Clone)]
pub(crate) struct User {
    pub(crate) oid: String,
    pub(crate) name: String,
    pub(crate) preferred_username: String,
    pub(crate) given_name: Option<String>,
    pub(crate) family_name: Option<String>,
    /// Group object ids, when the `groups` claim was asked for.
    pub(crate) groups: Option<Vec<String>>,
}

impl ClaimSet {
    /// The claims of the app-only token Entra issues to the `client` app (authenticated as
    /// `client_acr` says) for the `resource` app, valid from `now` for `lifetime` seconds, with
    /// fresh `aio`, `uti` and `rh`.
    pub(crate) fn app_only(
        tenant: &Tenant,
        tid: &str,
        client: &App,
        client_acr: &'static str,
        resource: &App,
        now: i64,
        lifetime: i64,
    ) -> ClaimSet {
        let version = resource.access_token_version;
        let ids = RandomIds::new();
        ClaimSet {
            version,
            tid: tid.to_owned(),
            aud: resource.audience(version),
            client_id: client.client_id.clone(),
            client_acr,
            roles: tenant.roles(&client.client_id, &resource.client_id),
            user: None,
            scp: None,
            iat: now,
            nbf: now,
            exp: now + lifetime,
            aio: ids.aio,
            uti: ids.uti,
            rh: ids.rh,
            managed_identity: client
                .managed_identity
                .as_ref()
                .map(|mi| (mi.principal_id().to_owned(), mi.azure_resource_id())),
        }
    }

    /// The claims, in Entra's shape for the version.
    pub(crate) fn build(&self, urls: &Urls) -> Map<String, Value> {
        let tid = &self.tid;
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("aud", json!(self.aud));
        put("iss", json!(urls.issuer(self.version, tid)));
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
                let oid = match &self.managed_identity {
                    Some((oid, _)) => oid.clone(),
                    None => service_principal_id(tid, &self.client_id),
                };
                put("idp", json!(urls.issuer(TokenVersion::V1, tid)));
                put("idtyp", json!("app"));
                put("oid", json!(oid));
                put("sub", json!(oid));
            }
            Some(u) => {
                put("amr", json!(["pwd"]));
                put("name", json!(u.name));
                put("oid", json!(u.oid));
                put("sub", json!(pairwise_sub(&u.oid, &self.client_id)));
                if let Some(g) = &u.given_name {
                    put("given_name", json!(g));
                }
                if let Some(f) = &u.family_name {
                    put("family_name", json!(f));
                }
                match self.version {
                    TokenVersion::V2 => put("preferred_username", json!(u.preferred_username)),
                    TokenVersion::V1 => {
                        put("acr", json!("1"));
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
        if let Some((_, mirid)) = &self.managed_identity {
            put("xms_mirid", json!(mirid));
        }
        if let Some(u) = &self.user {
            super::delegated::put_groups(&mut m, tid, u);
        }
        m
    }
}

/// The per-token random ids Entra puts in `aio`, `uti` and `rh`.
#[derive(Clone, Debug)]
pub(crate) struct RandomIds {
    pub(crate) aio: String,
    pub(crate) uti: String,
    pub(crate) rh: String,
}

impl RandomIds {
    pub(crate) fn new() -> RandomIds {
        RandomIds {
            aio: format!("k2Bg{}", random_b64(60)),
            uti: random_b64(16),
            rh: format!("0.A{}.", random_b64(50)),
        }
    }
}
