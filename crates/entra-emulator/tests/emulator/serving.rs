//! Serving: HTTPS with the generated CA, a configuration file, shutdown.

use entra_emulator::*;
use serde_json::Value;

use crate::common::*;

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
