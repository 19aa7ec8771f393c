//! The workload identity issuers the emulator serves (like a Kubernetes cluster's service
//! account issuer): each has its own signing keys, a discovery document and a key set at
//! `{base}/workload/{name}`, and mints service-account-like tokens that apps with a matching
//! [`FederatedCredential`](crate::FederatedCredential) present as their client assertion.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::EmulatorError;
use crate::keys::SigningKey;
use crate::mint::sign_jwt;

/// One issuer: its published keys (oldest first) and the key that signs new tokens.
pub(crate) struct WorkloadIssuer {
    pub(crate) published: Vec<SigningKey>,
    pub(crate) active: SigningKey,
}

/// The issuers, by name.
#[derive(Default)]
pub(crate) struct WorkloadIssuers(HashMap<String, WorkloadIssuer>);

impl WorkloadIssuers {
    /// The issuer with this name.
    pub(crate) fn get(&self, name: &str) -> Option<&WorkloadIssuer> {
        self.0.get(name)
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut WorkloadIssuer> {
        self.0.get_mut(name)
    }

    /// Add an issuer with this key, unless one with the name exists (then `false`).
    pub(crate) fn add(&mut self, name: &str, key: SigningKey) -> bool {
        if self.0.contains_key(name) {
            return false;
        }
        self.0.insert(
            name.to_owned(),
            WorkloadIssuer {
                published: vec![key.clone()],
                active: key,
            },
        );
        true
    }
}

/// A workload issuer name: 1 to 64 ASCII letters, digits, `.`, `_` or `-`.
pub(crate) fn check_name(name: &str) -> Result<(), EmulatorError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(EmulatorError::Config(format!(
            "workload issuer name '{name}': use 1 to 64 letters, digits, '.', '_' or '-'"
        )))
    }
}

/// What a workload token says.
pub(crate) struct WorkloadClaims<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

/// A service-account-like token: header `alg` RS256 and `kid`; claims `aud` (a list of one, as
/// Kubernetes writes it), `exp`, `iat`, `iss`, `jti`, `nbf` (= `iat`), `sub`, and for a
/// `system:serviceaccount:{namespace}:{name}` subject Kubernetes' `kubernetes.io` claim.
pub(crate) fn mint(claims: &WorkloadClaims<'_>, key: &SigningKey) -> String {
    let mut header = Map::new();
    header.insert("alg".into(), json!("RS256"));
    header.insert("kid".into(), json!(key.kid()));
    let mut c = Map::new();
    c.insert("aud".into(), json!([claims.audience]));
    c.insert("exp".into(), json!(claims.exp));
    c.insert("iat".into(), json!(claims.iat));
    c.insert("iss".into(), json!(claims.issuer));
    c.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    c.insert("nbf".into(), json!(claims.iat));
    c.insert("sub".into(), json!(claims.subject));
    if let Some(rest) = claims.subject.strip_prefix("system:serviceaccount:")
        && let Some((namespace, name)) = rest.split_once(':')
    {
        c.insert(
            "kubernetes.io".into(),
            json!({
                "namespace": namespace,
                "serviceaccount": { "name": name, "uid": uuid::Uuid::new_v4().to_string() },
            }),
        );
    }
    sign_jwt(&header, None, &c, key)
}

/// The discovery document of an issuer, shaped like a Kubernetes cluster's.
pub(crate) fn discovery_document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/openid/v1/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// The key set of an issuer: `kty`, `use`, `kid`, `alg` (RS256), `n`, `e`.
pub(crate) fn key_set(issuer: &WorkloadIssuer) -> Value {
    let keys: Vec<Value> = issuer
        .published
        .iter()
        .map(|k| {
            let jwk = k.jwk(None);
            json!({
                "use": "sig",
                "kty": "RSA",
                "kid": k.kid(),
                "alg": "RS256",
                "n": jwk["n"],
                "e": jwk["e"],
            })
        })
        .collect();
    json!({ "keys": keys })
}
