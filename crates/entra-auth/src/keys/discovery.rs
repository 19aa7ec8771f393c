//! OpenID Connect discovery documents (v1 and v2) and the issuers they declare.
//!
//! Entra's multi-tenant documents (`common`, `organizations`) declare an issuer *template*
//! such as `https://login.microsoftonline.com/{tenantid}/v2.0`; the expected issuer of a token is
//! that template with `{tenantid}` replaced by the token's `tid`. Single-tenant documents declare
//! the concrete issuer. Either way the issuer comes from the document, never from gluing strings
//! onto the authority host.

use serde::Deserialize;

/// The placeholder Entra puts in multi-tenant issuer templates.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The fields of a discovery document this crate uses.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoveryDocument {
    /// The issuer, possibly a `{tenantid}` template.
    pub issuer: String,
    /// Where the key set is.
    pub jwks_uri: String,
}

impl DiscoveryDocument {
    /// Parses a discovery document, requiring a non-empty `issuer` and `jwks_uri`.
    pub fn parse(bytes: &[u8]) -> Result<DiscoveryDocument, String> {
        let doc: DiscoveryDocument = serde_json::from_slice(bytes).map_err(|e| {
            format!("the discovery document is not valid JSON of the expected shape ({e})")
        })?;
        if doc.issuer.trim().is_empty() {
            return Err("the discovery document has an empty issuer".to_owned());
        }
        if doc.jwks_uri.trim().is_empty() {
            return Err("the discovery document has an empty jwks_uri".to_owned());
        }
        Ok(doc)
    }
}

/// An issuer as declared by a discovery document or a key: concrete, or a `{tenantid}` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerTemplate(String, Option<usize>);

impl IssuerTemplate {
    /// Wraps a declared issuer.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        // Where the placeholder is, found once: `matches` runs on every validation.
        let placeholder = issuer.find(TENANT_PLACEHOLDER);
        Self(issuer, placeholder)
    }

    /// The declared text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the issuer is a template.
    pub fn is_template(&self) -> bool {
        self.1.is_some()
    }

    /// Whether `issuer` equals this issuer with `{tenantid}` replaced by `tid`, compared without
    /// allocating.
    pub fn matches(&self, issuer: &str, tid: Option<&str>) -> bool {
        let parts = self
            .1
            .map(|at| (&self.0[..at], &self.0[at + TENANT_PLACEHOLDER.len()..]));
        match parts {
            None => self.0 == issuer,
            Some((prefix, suffix)) => match tid {
                Some(tid) => {
                    issuer.len() == prefix.len() + tid.len() + suffix.len()
                        && issuer.starts_with(prefix)
                        && issuer.ends_with(suffix)
                        && &issuer[prefix.len()..prefix.len() + tid.len()] == tid
                }
                None => false,
            },
        }
    }

    /// The issuer for a tenant.
    pub fn for_tenant(&self, tid: &str) -> String {
        self.0.replace(TENANT_PLACEHOLDER, tid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_entra_documents() {
        for name in ["common", "organizations"] {
            let path = format!(
                "{}/../../testdata/entra/{name}-v2-openid-configuration.json",
                env!("CARGO_MANIFEST_DIR")
            );
            let bytes = std::fs::read(&path).expect("fixture");
            let doc = DiscoveryDocument::parse(&bytes).unwrap();
            assert_eq!(
                doc.issuer,
                "https://login.microsoftonline.com/{tenantid}/v2.0"
            );
            assert!(doc.jwks_uri.ends_with("/discovery/v2.0/keys"));
        }
    }

    #[test]
    fn template_matching() {
        let t = IssuerTemplate::new("https://login.microsoftonline.com/{tenantid}/v2.0");
        assert!(t.is_template());
        assert!(t.matches("https://login.microsoftonline.com/abc/v2.0", Some("abc")));
        assert!(!t.matches("https://login.microsoftonline.com/abc/v2.0", Some("abd")));
        assert!(!t.matches("https://login.microsoftonline.com/abc/v2.0", None));
        assert!(!t.matches("https://login.microsoftonline.com/abc/v2.0/", Some("abc")));
        assert_eq!(
            t.for_tenant("x"),
            "https://login.microsoftonline.com/x/v2.0"
        );
        let c = IssuerTemplate::new("https://sts.windows.net/abc/");
        assert!(c.matches("https://sts.windows.net/abc/", Some("zzz")));
        assert!(!c.matches("https://sts.windows.net/abd/", Some("abc")));
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(DiscoveryDocument::parse(b"<html>").is_err());
        assert!(DiscoveryDocument::parse(br#"{"issuer":"","jwks_uri":"x"}"#).is_err());
        assert!(DiscoveryDocument::parse(br#"{"issuer":"x"}"#).is_err());
    }
}
