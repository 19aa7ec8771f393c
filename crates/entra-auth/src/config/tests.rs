//! Unit tests of the configuration rules.

use std::collections::HashSet;
use std::time::Duration;

use url::Url;

use super::urls::check_linked_url;
use super::*;
use crate::validate::Issuers;

fn base() -> EntraConfigBuilder {
    EntraConfig::builder()
        .tenant("11111111-2222-3333-4444-555555555555")
        .client_id("abc")
}

#[test]
fn defaults() {
    let c = base().build().unwrap();
    assert_eq!(c.audiences(), ["abc", "api://abc"]);
    assert_eq!(c.leeway(), Duration::from_secs(60));
    assert_eq!(c.authority().as_str(), "https://login.microsoftonline.com/");
    assert_eq!(c.versions(), TokenVersions::BOTH);
    let urls = c.metadata_urls();
    assert_eq!(
        urls[0].as_str(),
        "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration?appid=abc"
    );
    assert_eq!(
        urls[1].as_str(),
        "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/.well-known/openid-configuration?appid=abc"
    );
}

#[test]
fn rejects_unusable_configs() {
    let err = |b: EntraConfigBuilder| b.build().unwrap_err().message().to_owned();
    assert!(err(EntraConfig::builder().client_id("x")).contains("tenant"));
    assert!(err(EntraConfig::builder().tenant("common")).contains("client id"));
    assert!(err(EntraConfig::builder().tenant("common").client_id("x")).contains("allow-list"));
    assert!(err(base().authority("http://login.example.com")).contains("loopback"));
    assert!(err(base().authority("ftp://127.0.0.1")).contains("https"));
    assert!(err(base().leeway(Duration::from_secs(301))).contains("5 minutes"));
    assert!(err(base().audiences(Vec::<String>::new())).contains("empty"));
    assert!(err(base().allowed_tenants(["a"])).contains("multi-tenant"));
    assert!(
        err(base().versions(TokenVersions {
            v1: false,
            v2: false
        }))
        .contains("version")
    );
    assert!(err(EntraConfig::builder().tenant("consumers").client_id("x")).contains("personal"));
    assert!(err(EntraConfig::builder().tenant("a/b").client_id("x")).contains("not a tenant"));
}

#[test]
fn linked_urls_keep_https() {
    let https_doc =
        Url::parse("https://login.example/t/v2.0/.well-known/openid-configuration").unwrap();
    let http_doc =
        Url::parse("http://127.0.0.1:9/t/v2.0/.well-known/openid-configuration").unwrap();
    let https_keys = Url::parse("https://login.example/t/discovery/v2.0/keys").unwrap();
    let http_loopback_keys = Url::parse("http://127.0.0.1:9/t/discovery/v2.0/keys").unwrap();
    assert!(check_linked_url(&https_keys, &https_doc).is_ok());
    assert!(check_linked_url(&http_loopback_keys, &https_doc).is_err());
    assert!(check_linked_url(&http_loopback_keys, &http_doc).is_ok());
    assert!(check_linked_url(&https_keys, &http_doc).is_ok());
    let http_remote = Url::parse("http://login.example/keys").unwrap();
    assert!(check_linked_url(&http_remote, &http_doc).is_err());
}

#[test]
fn loopback_http_is_accepted() {
    for a in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:9",
    ] {
        base().authority(a).build().unwrap();
    }
}

const T1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const T2: &str = "bbbbbbbb-0000-4000-8000-000000000002";

#[test]
fn multi_tenant() {
    let c = EntraConfig::builder()
        .tenant("organizations")
        .client_id("x")
        .allowed_tenants([T1.to_ascii_uppercase().as_str(), T2])
        .build()
        .unwrap();
    assert!(c.tenant().is_multi_tenant());
    let allowed = &c.inner.allowed_tenants;
    assert_eq!(allowed.allows(T1, None), Some(true));
    assert_eq!(allowed.allows(T2, None), Some(true));
    assert_eq!(
        allowed.allows("cccccccc-0000-4000-8000-000000000003", None),
        Some(false)
    );
    let any = EntraConfig::builder()
        .tenant("common")
        .client_id("x")
        .allow_any_tenant();
    assert_eq!(
        any.build().unwrap().inner.allowed_tenants.allows(T1, None),
        Some(true)
    );
}

#[test]
fn allowed_tenants_must_be_tenant_ids() {
    let err = EntraConfig::builder()
        .tenant("common")
        .client_id("x")
        .allowed_tenants([T1, "contoso.onmicrosoft.com"])
        .build()
        .unwrap_err();
    assert!(err.message().contains("not a tenant id"), "{err}");
}

#[test]
fn tenant_by_id_or_by_domain() {
    let by_id = EntraConfig::builder()
        .tenant(T1.to_ascii_uppercase())
        .client_id("x")
        .build()
        .unwrap();
    assert_eq!(by_id.tenant(), &Tenant::Single(T1.to_owned()));
    assert_eq!(
        by_id.inner.allowed_tenants,
        AllowedTenants::List(HashSet::from([T1.to_owned()]))
    );
    // A domain never matches a `tid`: the tenant id comes from the discovery document.
    let by_domain = EntraConfig::builder()
        .tenant("contoso.onmicrosoft.com")
        .client_id("x")
        .build()
        .unwrap();
    assert_eq!(by_domain.inner.allowed_tenants, AllowedTenants::FromIssuer);
    assert_eq!(by_domain.inner.allowed_tenants.allows(T1, None), None);
    let issuers = Issuers {
        tenant_id: Some(T1.to_owned()),
        ..Issuers::default()
    };
    assert!(by_domain.inner.allowed_tenants.allows_with(T1, &issuers));
    assert!(!by_domain.inner.allowed_tenants.allows_with(T2, &issuers));
    assert!(
        !by_domain
            .inner
            .allowed_tenants
            .allows_with(T1, &Issuers::default())
    );
}

#[test]
fn from_lookup_reads_variables() {
    let vars = [
        ("ENTRA_TENANT_ID", "common"),
        ("ENTRA_CLIENT_ID", "cid"),
        ("ENTRA_AUDIENCE", "a1, a2"),
        ("ENTRA_AUTHORITY", "https://login.microsoftonline.us"),
        (
            "ENTRA_ALLOWED_TENANTS",
            "aaaaaaaa-0000-4000-8000-000000000001, bbbbbbbb-0000-4000-8000-000000000002",
        ),
    ];
    let c = EntraConfig::from_lookup(|n| {
        vars.iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    assert_eq!(c.audiences(), ["a1", "a2"]);
    assert_eq!(c.authority().host_str(), Some("login.microsoftonline.us"));
    assert_eq!(c.inner.allowed_tenants.allows(T2, None), Some(true));
    let missing = EntraConfig::from_lookup(|_| None).unwrap_err();
    assert!(missing.message().contains("ENTRA_TENANT_ID"));
}

#[test]
fn id_tokens_are_off_by_default_and_the_opt_in_must_be_able_to_work() {
    assert!(!base().build().unwrap().accepts_id_tokens());
    assert!(
        !EntraConfig::from_lookup(|name| match name {
            "ENTRA_TENANT_ID" => Some("11111111-2222-3333-4444-555555555555".into()),
            "ENTRA_CLIENT_ID" => Some("abc".into()),
            _ => None,
        })
        .unwrap()
        .accepts_id_tokens()
    );
    let on = base().accept_id_tokens(true).build().unwrap();
    assert!(on.accepts_id_tokens());
    assert!(format!("{on:?}").contains("accept_id_tokens: true"));
    assert!(
        !base()
            .accept_id_tokens(true)
            .accept_id_tokens(false)
            .build()
            .unwrap()
            .accepts_id_tokens()
    );
    // An ID token's aud is the bare client id, and ID tokens are v2: without either, the opt-in
    // could never accept anything, which is a configuration error rather than a silent no-op.
    let err = |b: EntraConfigBuilder| b.build().unwrap_err().message().to_owned();
    assert!(
        err(base().accept_id_tokens(true).audiences(["api://abc"]))
            .contains("client id among the audiences")
    );
    assert!(
        err(base().accept_id_tokens(true).versions(TokenVersions {
            v1: true,
            v2: false
        }))
        .contains("v2")
    );
    assert!(
        base()
            .accept_id_tokens(true)
            .audiences(["abc"])
            .build()
            .is_ok()
    );
}
