//! Discovery documents, key sets, key management, faults, the request log and TLS.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use entra_emulator::*;
use serde_json::Value;

fn field_set(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn reference(name: &str) -> Value {
    let path = format!("{}/../../testdata/entra/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn get(url: &str) -> reqwest::Response {
    http().get(url).send().await.unwrap()
}

async fn get_json(url: &str) -> Value {
    let resp = get(url).await;
    assert_eq!(resp.status(), 200, "{url}");
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    resp.json().await.unwrap()
}

#[tokio::test]
async fn discovery_documents() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url();
    let t = DEV_TENANT_ID;

    let v2 = get_json(&emu.discovery_url(t, TokenVersion::V2)).await;
    assert_eq!(
        field_set(&v2),
        field_set(&reference("common-v2-openid-configuration.json"))
    );
    assert_eq!(v2["issuer"], format!("{base}/{t}/v2.0"));
    assert_eq!(v2["issuer"], emu.issuer_v2(t));
    assert_eq!(v2["jwks_uri"], format!("{base}/{t}/discovery/v2.0/keys"));
    assert_eq!(
        v2["token_endpoint"],
        emu.token_endpoint(t, TokenVersion::V2)
    );
    assert_eq!(
        v2["authorization_endpoint"],
        format!("{base}/{t}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        v2["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );

    for tenant in ["common", "organizations"] {
        let doc = get_json(&emu.discovery_url(tenant, TokenVersion::V2)).await;
        assert_eq!(
            field_set(&doc),
            field_set(&reference(&format!(
                "{tenant}-v2-openid-configuration.json"
            )))
        );
        assert_eq!(doc["issuer"], format!("{base}/{{tenantid}}/v2.0"));
        assert_eq!(
            doc["jwks_uri"],
            format!("{base}/{tenant}/discovery/v2.0/keys")
        );
        assert_eq!(
            doc["token_endpoint"],
            format!("{base}/{tenant}/oauth2/v2.0/token")
        );
        assert!(doc["tenant_region_scope"].is_null());
    }

    let with_app = get_json(&format!(
        "{}?appid={DEV_API_CLIENT_ID}",
        emu.discovery_url(t, TokenVersion::V2)
    ))
    .await;
    assert_eq!(
        with_app["jwks_uri"],
        format!("{base}/{t}/discovery/v2.0/keys?appid={DEV_API_CLIENT_ID}")
    );

    let v1 = get_json(&emu.discovery_url(t, TokenVersion::V1)).await;
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{t}/"));
    assert_eq!(v1["issuer"], emu.issuer_v1(t));
    assert_eq!(v1["jwks_uri"], format!("{base}/{t}/discovery/keys"));
    assert_eq!(v1["token_endpoint"], format!("{base}/{t}/oauth2/token"));
    for f in [
        "authorization_endpoint",
        "check_session_iframe",
        "microsoft_multi_refresh_token",
        "end_session_endpoint",
        "userinfo_endpoint",
        "kerberos_endpoint",
        "claims_supported",
        "cloud_instance_name",
    ] {
        if f != "authorization_endpoint" {
            assert!(v1.get(f).is_some(), "{f}");
        }
    }
    let v1c = get_json(&emu.discovery_url("common", TokenVersion::V1)).await;
    assert_eq!(v1c["issuer"], "https://sts.windows.net/{tenantid}/");

    // Unknown tenant: Entra's 90002.
    let resp =
        get(&emu.discovery_url("11111111-1111-4111-8111-111111111111", TokenVersion::V2)).await;
    assert_aad_error(resp, 400, "invalid_request", 90002).await;
    let resp = get(&emu.jwks_uri("contoso.example", TokenVersion::V1)).await;
    assert_aad_error(resp, 400, "invalid_request", 90002).await;
    // Unknown route.
    assert_eq!(get(&format!("{base}/{t}/nothing")).await.status(), 404);
    assert_eq!(emu.request_count(Endpoint::Discovery), 7);
    assert_eq!(emu.request_count(Endpoint::Keys), 1);

    // Configurable v1 issuer host.
    let emu2 = Emulator::builder()
        .v1_issuer_host("https://sts.example.test/")
        .start()
        .await
        .unwrap();
    assert_eq!(emu2.issuer_v1(t), format!("https://sts.example.test/{t}/"));
    let v1 = get_json(&emu2.discovery_url(t, TokenVersion::V1)).await;
    assert_eq!(v1["issuer"], emu2.issuer_v1(t));
    emu2.shutdown().await;
}

#[tokio::test]
async fn tenant_domain_names() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url();
    let t = DEV_TENANT_ID;
    let d = DEV_TENANT_DOMAIN;
    assert_eq!(emu.tenant_domains(t), vec![d.to_owned()]);

    // v2 discovery under the domain: the tenant-id issuer, endpoints under the domain.
    let by_id = get_json(&emu.discovery_url(t, TokenVersion::V2)).await;
    let v2 = get_json(&emu.discovery_url(d, TokenVersion::V2)).await;
    assert_eq!(field_set(&v2), field_set(&by_id));
    assert_eq!(v2["issuer"], format!("{base}/{t}/v2.0"));
    assert_eq!(v2["issuer"], emu.issuer_v2(t));
    assert_eq!(
        v2["token_endpoint"],
        format!("{base}/{d}/oauth2/v2.0/token")
    );
    assert_eq!(
        v2["token_endpoint"],
        emu.token_endpoint(d, TokenVersion::V2)
    );
    assert_eq!(v2["jwks_uri"], format!("{base}/{d}/discovery/v2.0/keys"));
    assert_eq!(
        v2["authorization_endpoint"],
        format!("{base}/{d}/oauth2/v2.0/authorize")
    );
    assert_eq!(v2["tenant_region_scope"], "NA");

    // v1 discovery under the domain: the sts.windows.net issuer with the tenant id.
    let v1 = get_json(&emu.discovery_url(d, TokenVersion::V1)).await;
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{t}/"));
    assert_eq!(v1["issuer"], emu.issuer_v1(t));
    assert_eq!(v1["token_endpoint"], format!("{base}/{d}/oauth2/token"));
    assert_eq!(v1["jwks_uri"], format!("{base}/{d}/discovery/keys"));

    // Case-insensitive; the endpoints keep the domain as the caller wrote it.
    let mixed = "EntraEmulator.OnMicrosoft.com";
    let doc = get_json(&emu.discovery_url(mixed, TokenVersion::V2)).await;
    assert_eq!(doc["issuer"], emu.issuer_v2(t));
    assert_eq!(
        doc["token_endpoint"],
        format!("{base}/{mixed}/oauth2/v2.0/token")
    );

    // Key sets under the domain are the tenant's key sets.
    for v in [TokenVersion::V2, TokenVersion::V1] {
        let by_domain = get_json(&emu.jwks_uri(d, v)).await;
        assert_eq!(by_domain, get_json(&emu.jwks_uri(t, v)).await);
        assert_eq!(by_domain["keys"].as_array().unwrap().len(), 2);
    }
    let token = emu.token().sign();
    let set = get_json(&emu.jwks_uri(d, TokenVersion::V2)).await;
    assert!(verify_with_jwks(&token, &set, DEV_API_CLIENT_ID, &emu.issuer_v2(t)).is_ok());
    // App-specific keys too.
    let app_key = emu.add_app_key(t, DEV_API_CLIENT_ID);
    let with_app = get_json(&format!(
        "{}?appid={DEV_API_CLIENT_ID}",
        emu.jwks_uri(mixed, TokenVersion::V2)
    ))
    .await;
    let k = with_app["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == app_key.kid())
        .expect("app key served under the domain");
    check_entra_jwk(k, Some(&emu.issuer_v2(t)));

    // Unknown domains are unknown tenants.
    let unknown = "nobody.onmicrosoft.com";
    for url in [
        emu.discovery_url(unknown, TokenVersion::V2),
        emu.discovery_url(unknown, TokenVersion::V1),
        emu.jwks_uri(unknown, TokenVersion::V2),
    ] {
        let body = assert_aad_error(get(&url).await, 400, "invalid_request", 90002).await;
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(&format!("Tenant '{unknown}' not found"))
        );
    }

    // More domains, other tenants.
    let other = "0b0b0b0b-1111-4222-8333-444455556666";
    emu.add_tenant_domain(other, "fabrikam.example").unwrap();
    emu.add_tenant_domain(other, "FABRIKAM.onmicrosoft.com")
        .unwrap();
    emu.add_tenant_domain(other, "fabrikam.example").unwrap(); // already there: no-op
    assert_eq!(
        emu.tenant_domains(other),
        vec!["fabrikam.example", "fabrikam.onmicrosoft.com"]
    );
    let doc = get_json(&emu.discovery_url("fabrikam.onmicrosoft.com", TokenVersion::V2)).await;
    assert_eq!(doc["issuer"], emu.issuer_v2(other));
    // A domain belongs to one tenant; bad names are refused.
    for bad in [
        d,
        "ENTRAEMULATOR.onmicrosoft.com",
        "",
        "localhost",
        "common",
        other,
        "has space.example",
        "-lead.example",
        "trail-.example",
        "dot..example",
        "trailing.dot.",
        "ünicode.example",
        &format!("{}.example", "a".repeat(64)),
        &format!("{}example", "a.".repeat(130)),
    ] {
        let err = emu.add_tenant_domain(other, bad).unwrap_err();
        assert!(matches!(err, EmulatorError::Config(_)), "{bad}: {err}");
    }
    assert_eq!(emu.tenant_domains(t), vec![d.to_owned()]);
    assert_eq!(emu.tenant_domains(other).len(), 2);
}

#[tokio::test]
async fn tenant_domains_in_config() {
    let tid = "11111111-2222-4333-8444-555555555555";
    let cfg = EmulatorConfig::from_toml_str(&format!(
        r#"
        [[tenants]]
        id = "{tid}"
        domains = ["contoso.onmicrosoft.com", "Contoso.Example"]
        "#
    ))
    .unwrap();
    assert_eq!(
        cfg.tenants[0].domains,
        vec!["contoso.onmicrosoft.com", "Contoso.Example"]
    );
    let emu = Emulator::builder().config(cfg).start().await.unwrap();
    assert_eq!(
        emu.tenant_domains(tid),
        vec!["contoso.example", "contoso.onmicrosoft.com"]
    );
    for domain in [
        "contoso.onmicrosoft.com",
        "contoso.example",
        DEV_TENANT_DOMAIN,
    ] {
        let doc = get_json(&emu.discovery_url(domain, TokenVersion::V1)).await;
        let expected = if domain == DEV_TENANT_DOMAIN {
            DEV_TENANT_ID
        } else {
            tid
        };
        assert_eq!(doc["issuer"], emu.issuer_v1(expected), "{domain}");
    }
    emu.shutdown().await;

    // JSON too.
    let cfg = EmulatorConfig::from_json_str(&format!(
        r#"{{"tenants":[{{"id":"{tid}","domains":["json.example"]}}]}}"#
    ))
    .unwrap();
    let emu = Emulator::builder()
        .without_dev_tenant()
        .config(cfg)
        .start()
        .await
        .unwrap();
    let doc = get_json(&emu.discovery_url("json.example", TokenVersion::V2)).await;
    assert_eq!(doc["issuer"], emu.issuer_v2(tid));
    // Without the dev tenant, its domain is unknown.
    let resp = get(&emu.discovery_url(DEV_TENANT_DOMAIN, TokenVersion::V2)).await;
    assert_aad_error(resp, 400, "invalid_request", 90002).await;
    emu.shutdown().await;

    // Invalid or conflicting domains are configuration errors, not panics.
    let bad = [
        format!(
            r#"[[tenants]]
            id = "{tid}"
            domains = ["no-dot"]"#
        ),
        format!(
            r#"[[tenants]]
            id = "{tid}"
            domains = ["dup.example"]
            [[tenants]]
            id = "22222222-2222-4222-8222-222222222222"
            domains = ["DUP.example"]"#
        ),
        // The development tenant's domain, while the development tenant is registered.
        format!(
            r#"[[tenants]]
            id = "{tid}"
            domains = ["{DEV_TENANT_DOMAIN}"]"#
        ),
    ];
    for text in bad {
        let cfg = EmulatorConfig::from_toml_str(&text).unwrap();
        let result = Emulator::builder().config(cfg).start().await;
        assert!(
            matches!(result, Err(EmulatorError::Config(_))),
            "{text}: {result:?}"
        );
    }
    assert!(EmulatorConfig::from_toml_str("[[tenants]]\nid = \"x\"\ndomains = 3").is_err());
}

fn check_entra_jwk(k: &Value, issuer: Option<&str>) {
    let mut expected: BTreeSet<String> = ["kty", "use", "kid", "x5t", "n", "e", "x5c"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if issuer.is_some() {
        expected.insert("issuer".into());
    }
    assert_eq!(field_set(k), expected);
    assert_eq!(k["kty"], "RSA");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["e"], "AQAB");
    let der = STANDARD.decode(k["x5c"][0].as_str().unwrap()).unwrap();
    let x5t = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der));
    assert_eq!(k["kid"], x5t);
    assert_eq!(k["x5t"], x5t);
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(k["n"].as_str().unwrap())
            .unwrap()
            .len(),
        256
    );
    if let Some(i) = issuer {
        assert_eq!(k["issuer"], i);
    }
}

#[tokio::test]
async fn key_sets_and_rotation() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url();
    let t = DEV_TENANT_ID;
    let template = format!("{base}/{{tenantid}}/v2.0");

    let resp = get(&emu.jwks_uri(t, TokenVersion::V2)).await;
    assert_eq!(resp.headers()["cache-control"], "max-age=86400, private");
    let v2: Value = resp.json().await.unwrap();
    let keys = v2["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let reference_fields = field_set(&reference("common-v2-keys.json")["keys"][0]);
    for k in keys {
        assert_eq!(field_set(k), reference_fields);
        check_entra_jwk(k, Some(&template));
    }
    let kids: Vec<String> = keys
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, emu.published_kids());
    assert_eq!(kids[0], emu.active_key().kid());

    for tenant in [t, "common", "organizations"] {
        let v1 = get_json(&emu.jwks_uri(tenant, TokenVersion::V1)).await;
        for k in v1["keys"].as_array().unwrap() {
            check_entra_jwk(k, None);
        }
    }

    // Rollover: publish, switch, retire.
    let old = emu.active_key();
    let new = emu.add_key();
    assert_eq!(emu.published_kids().len(), 3);
    assert_eq!(emu.active_key(), old);
    emu.set_active_key(new.kid());
    let token = emu.token().sign();
    assert_eq!(header(&token)["kid"], new.kid());
    let set = get_json(&emu.jwks_uri(t, TokenVersion::V2)).await;
    let iss = emu.issuer_v2(t);
    assert!(verify_with_jwks(&token, &set, DEV_API_CLIENT_ID, &iss).is_ok());
    emu.retire_key(new.kid());
    assert!(!emu.published_kids().contains(&new.kid().to_owned()));
    let set = get_json(&emu.jwks_uri(t, TokenVersion::V2)).await;
    assert!(verify_with_jwks(&token, &set, DEV_API_CLIENT_ID, &iss).is_err());
    emu.set_active_key(old.kid());
    let (k1, _) = client_keys();
    emu.publish_key(k1);
    emu.set_active_key(k1.kid());
    assert_eq!(emu.active_key().kid(), k1.kid());
    emu.set_active_key("no-such-kid");
    assert_eq!(emu.active_key().kid(), k1.kid());

    // App-specific key: only with ?appid=, tenant-specific issuer, and used for the app's tokens.
    let app_key = emu.add_app_key(t, DEV_API_CLIENT_ID);
    let plain = get_json(&emu.jwks_uri(t, TokenVersion::V2)).await;
    assert!(
        !plain["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == app_key.kid())
    );
    let with_app = get_json(&format!(
        "{}?appid={DEV_API_CLIENT_ID}",
        emu.jwks_uri(t, TokenVersion::V2)
    ))
    .await;
    let k = with_app["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == app_key.kid())
        .expect("app key served");
    check_entra_jwk(k, Some(&emu.issuer_v2(t)));
    let other = get_json(&format!(
        "{}?appid={DEV_CLIENT_ID}",
        emu.jwks_uri(t, TokenVersion::V2)
    ))
    .await;
    assert!(
        !other["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == app_key.kid())
    );
    let resp = http()
        .post(emu.token_endpoint(t, TokenVersion::V2))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEV_CLIENT_ID),
            ("client_secret", DEV_CLIENT_SECRET),
            ("scope", &format!("{DEV_API_CLIENT_ID}/.default")),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(header(token)["kid"], app_key.kid());
    assert!(verify_with_jwks(token, &with_app, DEV_API_CLIENT_ID, &iss).is_ok());
}

#[tokio::test]
async fn faults_are_observable_and_counted() {
    let emu = Emulator::start().await.unwrap();
    let keys_url = emu.jwks_uri(DEV_TENANT_ID, TokenVersion::V2);
    let disco_url = emu.discovery_url(DEV_TENANT_ID, TokenVersion::V2);

    emu.set_fault(Endpoint::Keys, Fault::DropConnection);
    let err = http().get(&keys_url).send().await.unwrap_err();
    assert!(!err.is_status(), "{err}");
    // Other endpoints are unaffected.
    assert_eq!(get(&disco_url).await.status(), 200);

    emu.set_fault(Endpoint::Keys, Fault::Delay(Duration::from_millis(300)));
    let start = Instant::now();
    assert_eq!(get(&keys_url).await.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    let timeout = http()
        .get(&keys_url)
        .timeout(Duration::from_millis(50))
        .send()
        .await
        .unwrap_err();
    assert!(timeout.is_timeout());

    emu.set_fault(Endpoint::Keys, Fault::Status(503));
    assert_eq!(get(&keys_url).await.status(), 503);

    emu.set_fault(Endpoint::Discovery, Fault::Html);
    let resp = get(&disco_url).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    emu.set_fault(Endpoint::Keys, Fault::InvalidJson);
    let resp = get(&keys_url).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.json::<Value>().await.is_err());

    emu.set_fault(Endpoint::Keys, Fault::Oversized(3_000_000));
    let body = get(&keys_url).await.bytes().await.unwrap();
    assert_eq!(body.len(), 3_000_000);
    assert!(body.starts_with(b"{\"keys\":["));

    emu.set_fault(Endpoint::Keys, Fault::EmptyKeySet);
    assert_eq!(get_json(&keys_url).await["keys"], serde_json::json!([]));

    emu.set_fault(Endpoint::Keys, Fault::BrokenKey);
    let set = get_json(&keys_url).await;
    let keys = set["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 5);
    assert!(keys.iter().any(|k| k["kty"] == "EC"));
    assert!(keys.iter().any(|k| k["use"] == "enc"));
    assert!(keys.iter().any(|k| k["n"] == "!!not*base64url!!"));
    // The good keys still verify tokens.
    let token = emu.token().sign();
    let iss = emu.issuer_v2(DEV_TENANT_ID);
    assert!(verify_with_jwks(&token, &set, DEV_API_CLIENT_ID, &iss).is_ok());

    emu.set_fault(Endpoint::Token, Fault::Status(500));
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);

    emu.clear_fault(Endpoint::Keys);
    assert_eq!(
        get_json(&keys_url).await["keys"].as_array().unwrap().len(),
        2
    );
    emu.clear_faults();
    assert_eq!(get(&disco_url).await.status(), 200);

    assert_eq!(emu.request_count(Endpoint::Keys), 9);
    assert_eq!(emu.request_count(Endpoint::Discovery), 3);
    assert_eq!(emu.request_count(Endpoint::Token), 1);
    let log = emu.request_log();
    let first = &log
        .iter()
        .find(|r| r.endpoint == Some(Endpoint::Keys))
        .unwrap();
    assert_eq!(first.fault, Some(Fault::DropConnection));
    assert_eq!(first.status, None);
    assert_eq!(first.method, "GET");
    assert_eq!(first.path, format!("/{DEV_TENANT_ID}/discovery/v2.0/keys"));

    // Secrets in a query string are masked.
    get(&format!("{keys_url}?appid=x&client_secret=hunter2")).await;
    let last = emu.request_log().pop().unwrap();
    assert_eq!(last.query.as_deref(), Some("appid=x&client_secret=***"));

    emu.reset_counters();
    assert_eq!(emu.request_count(Endpoint::Keys), 0);
    assert!(emu.request_log().is_empty());
}

#[tokio::test]
async fn path_faults_hit_one_path_only() {
    let emu = Emulator::start().await.unwrap();
    let t = DEV_TENANT_ID;
    let v1 = emu.discovery_url(t, TokenVersion::V1);
    let v2 = emu.discovery_url(t, TokenVersion::V2);
    let v1_path = format!("/{t}/.well-known/openid-configuration");

    // Only the v1 discovery document of this tenant fails.
    emu.set_path_fault(&v1_path, Fault::Status(503));
    let resp = get(&v1).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("injected fault"));
    assert_eq!(get_json(&v2).await["issuer"], emu.issuer_v2(t));
    assert_eq!(
        get(&emu.discovery_url("common", TokenVersion::V1))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&emu.discovery_url(DEV_TENANT_DOMAIN, TokenVersion::V1))
            .await
            .status(),
        200
    );
    // Whatever the query string.
    assert_eq!(
        get(&format!("{v1}?appid={DEV_API_CLIENT_ID}"))
            .await
            .status(),
        503
    );
    // The path is compared exactly.
    assert_eq!(get(&v1.replace(t, &t.to_uppercase())).await.status(), 200);

    // Counted and logged like any request, with the fault.
    assert_eq!(emu.request_count(Endpoint::Discovery), 6);
    let log = emu.request_log();
    let faulted: Vec<&LoggedRequest> = log.iter().filter(|r| r.fault.is_some()).collect();
    assert_eq!(faulted.len(), 2);
    for r in &faulted {
        assert_eq!(r.path, v1_path);
        assert_eq!(r.fault, Some(Fault::Status(503)));
        assert_eq!(r.status, Some(503));
        assert_eq!(r.endpoint, Some(Endpoint::Discovery));
    }

    // A path fault wins over the endpoint fault; the other paths get the endpoint fault.
    emu.set_fault(Endpoint::Discovery, Fault::Html);
    assert_eq!(get(&v1).await.status(), 503);
    let resp = get(&v2).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // Cleared, the path gets the endpoint fault again; a URL names its path.
    emu.clear_path_fault(&v1);
    let resp = get(&v1).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    emu.clear_fault(Endpoint::Discovery);
    assert_eq!(get_json(&v1).await["issuer"], emu.issuer_v1(t));

    // Set by URL (query ignored); the other faults work per path too.
    emu.set_path_fault(&format!("{v1}?x=1"), Fault::DropConnection);
    assert!(http().get(&v1).send().await.is_err());
    assert_eq!(get(&v2).await.status(), 200);
    emu.set_path_fault(&v1, Fault::Delay(Duration::from_millis(300)));
    let start = Instant::now();
    assert_eq!(get(&v1).await.status(), 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
    emu.set_path_fault(&v2, Fault::InvalidJson);
    assert!(get(&v2).await.json::<Value>().await.is_err());

    // Key-set faults apply to the faulted key set only.
    let keys_v1 = emu.jwks_uri(t, TokenVersion::V1);
    let keys_v2 = emu.jwks_uri(t, TokenVersion::V2);
    emu.set_path_fault(&keys_v1, Fault::EmptyKeySet);
    assert_eq!(get_json(&keys_v1).await["keys"], serde_json::json!([]));
    assert_eq!(
        get_json(&keys_v2).await["keys"].as_array().unwrap().len(),
        2
    );
    emu.set_path_fault(&keys_v2, Fault::BrokenKey);
    assert_eq!(
        get_json(&keys_v2).await["keys"].as_array().unwrap().len(),
        5
    );
    assert_eq!(get_json(&keys_v1).await["keys"], serde_json::json!([]));
    // A path fault wins over a key-set endpoint fault too.
    emu.set_fault(Endpoint::Keys, Fault::Status(500));
    assert_eq!(get_json(&keys_v1).await["keys"], serde_json::json!([]));
    assert_eq!(
        get(&emu.jwks_uri("common", TokenVersion::V1))
            .await
            .status(),
        500
    );

    // The token endpoint, and paths the emulator does not serve.
    let token_v1 = emu.token_endpoint(t, TokenVersion::V1);
    emu.set_path_fault(&token_v1, Fault::Status(429));
    let resp = http()
        .post(&token_v1)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    emu.set_path_fault("/not/served", Fault::Status(418));
    assert_eq!(
        get(&format!("{}/not/served", emu.base_url()))
            .await
            .status(),
        418
    );
    let last = emu.request_log().pop().unwrap();
    assert_eq!(
        (last.endpoint, last.fault),
        (None, Some(Fault::Status(418)))
    );

    // clear_faults clears path faults too.
    emu.clear_faults();
    assert_eq!(get(&v1).await.status(), 200);
    assert_eq!(get(&v2).await.status(), 200);
    assert_eq!(
        get_json(&keys_v1).await["keys"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        get(&format!("{}/not/served", emu.base_url()))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn tls_with_generated_ca() {
    let ca_path =
        std::env::temp_dir().join(format!("entra-emulator-test-ca-{}.pem", std::process::id()));
    let emu = Emulator::builder()
        .tls(TlsOptions::new().ca_out(&ca_path))
        .start()
        .await
        .unwrap();
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    assert_eq!(emu.ca_certificate_path(), Some(ca_path.as_path()));
    let pem = std::fs::read(&ca_path).unwrap();
    assert_eq!(pem, emu.ca_certificate_pem().unwrap().into_bytes());
    let client = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    for host in ["127.0.0.1", "localhost"] {
        let url = emu
            .discovery_url(DEV_TENANT_ID, TokenVersion::V2)
            .replace("127.0.0.1", host);
        let doc: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["issuer"], emu.issuer_v2(DEV_TENANT_ID));
        assert!(doc["jwks_uri"].as_str().unwrap().starts_with("https://"));
    }
    // An untrusting client fails.
    assert!(http().get(emu.base_url()).send().await.is_err());
    // DropConnection works over TLS too.
    emu.set_fault(Endpoint::Discovery, Fault::DropConnection);
    assert!(
        client
            .get(emu.discovery_url(DEV_TENANT_ID, TokenVersion::V2))
            .send()
            .await
            .is_err()
    );
    let _ = std::fs::remove_file(&ca_path);
    emu.shutdown().await;
}

#[tokio::test]
async fn config_file_and_shutdown() {
    let (k1, _) = client_keys();
    let dir = std::env::temp_dir().join(format!("entra-emulator-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("client.pem"), k1.certificate_pem()).unwrap();
    let cfg = r#"
        [[tenants]]
        id = "11111111-2222-4333-8444-555555555555"
        [[tenants.apps]]
        client_id = "22222222-2222-4222-8222-222222222222"
        app_id_uri = "api://orders"
        app_roles = ["Orders.Read"]
        access_token_version = 2
        [[tenants.apps]]
        client_id = "33333333-3333-4333-8333-333333333333"
        secrets = [{ value = "s1", expires = "2000-01-01T00:00:00Z" }, { value = "s2" }]
        certificates = ["client.pem"]
        [[tenants.role_assignments]]
        client_id = "33333333-3333-4333-8333-333333333333"
        resource = "api://orders"
        role = "Orders.Read"
    "#;
    std::fs::write(dir.join("emulator.toml"), cfg).unwrap();
    let config = EmulatorConfig::from_file(dir.join("emulator.toml")).unwrap();
    let emu = Emulator::builder()
        .without_dev_tenant()
        .config(config)
        .start()
        .await
        .unwrap();
    let tid = "11111111-2222-4333-8444-555555555555";
    // Dev tenant absent.
    let resp = get(&emu.discovery_url(DEV_TENANT_ID, TokenVersion::V2)).await;
    assert_eq!(resp.status(), 400);
    let token = |secret: &'static str| {
        let url = emu.token_endpoint(tid, TokenVersion::V2);
        async move {
            http()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "33333333-3333-4333-8333-333333333333"),
                    ("client_secret", secret),
                    ("scope", "api://orders/.default"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_aad_error(token("s1").await, 401, "invalid_client", 7000222).await;
    let body: Value = token("s2").await.json().await.unwrap();
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], "22222222-2222-4222-8222-222222222222");
    assert_eq!(claims["roles"], serde_json::json!(["Orders.Read"]));

    // JSON works too; bad input is an error, not a panic.
    let json_cfg = dir.join("emulator.json");
    std::fs::write(&json_cfg, r#"{"tenants":[{"id":"not-a-guid"}]}"#).unwrap();
    let bad = EmulatorConfig::from_file(&json_cfg).unwrap();
    assert!(matches!(
        Emulator::builder().config(bad).start().await,
        Err(EmulatorError::Config(_))
    ));
    assert!(EmulatorConfig::from_toml_str("tenants = 3").is_err());

    let addr = emu.local_addr();
    let clone = emu.clone();
    emu.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    drop(clone);
    let _ = std::fs::remove_dir_all(&dir);
}
