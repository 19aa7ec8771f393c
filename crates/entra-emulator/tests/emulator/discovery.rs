//! Discovery documents, and tenants named by their domain names.

use entra_emulator::*;

use crate::common::*;

/// Entra's fields, less the endpoints the emulator does not serve (Kerberos).
fn served_fields(entra: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut fields = field_set(entra);
    fields.remove("kerberos_endpoint");
    fields
}

/// Every endpoint a discovery document names is served: none answers 404.
#[tokio::test]
async fn every_advertised_endpoint_is_served() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for version in [TokenVersion::V2, TokenVersion::V1] {
        for tenant in [DEV_TENANT_ID, DEV_TENANT_DOMAIN, "common"] {
            let doc = get_json(&emu.discovery_url(tenant, version)).await;
            let urls: Vec<(String, String)> = doc
                .as_object()
                .unwrap()
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .filter(|(k, v)| v.starts_with(&base) && k != "issuer")
                .collect();
            assert!(urls.len() >= 4, "{urls:?}");
            for (field, url) in urls {
                let status = client.get(&url).send().await.unwrap().status();
                assert_ne!(status, 404, "{version:?} {tenant}: {field} = {url}");
            }
        }
    }
}

#[tokio::test]
async fn discovery_documents() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url();
    let t = DEV_TENANT_ID;

    let v2 = get_json(&emu.discovery_url(t, TokenVersion::V2)).await;
    assert_eq!(
        field_set(&v2),
        served_fields(&reference("common-v2-openid-configuration.json"))
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
            served_fields(&reference(&format!(
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
        "microsoft_multi_refresh_token",
        "end_session_endpoint",
        "userinfo_endpoint",
        "claims_supported",
        "cloud_instance_name",
    ] {
        assert!(v1.get(f).is_some(), "{f}");
    }
    for f in ["check_session_iframe", "kerberos_endpoint"] {
        assert!(v1.get(f).is_none(), "{f} is not served, so not advertised");
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
