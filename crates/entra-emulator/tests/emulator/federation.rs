//! Workload identity federation: the emulator's workload issuers (discovery, keys, tokens,
//! rotation) and federated identity credentials at the token endpoint, with every AADSTS code.

use std::time::Duration;

use entra_core::{Clock as _, ManualClock};
use entra_emulator::*;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};

use crate::common::*;

const FED_APP: &str = "f3d1e2c4-5b6a-4c7d-8e9f-0a1b2c3d4e5f";
const SUBJECT: &str = "system:serviceaccount:default:my-app";
const EXCHANGE: &str = "api://AzureADTokenExchange";
const SCOPE: &str = "api://3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const HOUR: Duration = Duration::from_secs(3600);

/// An emulator on a manual clock with a workload issuer `aks` and an app trusting its
/// `SUBJECT` tokens, assigned `Api.Admin` on the dev API.
async fn emulator() -> (Emulator, ManualClock, String) {
    let clock = ManualClock::starting_now();
    let emu = Emulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let issuer = emu.add_workload_issuer("aks").unwrap();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(FED_APP)
            .display_name("workload")
            .federated_credential(FederatedCredential::new(&issuer, SUBJECT).name("aks-my-app")),
    );
    emu.assign_app_role(DEV_TENANT_ID, FED_APP, DEV_API_CLIENT_ID, "Api.Admin");
    (emu, clock, issuer)
}

async fn exchange(emu: &Emulator, client_id: &str, assertion: &str) -> reqwest::Response {
    http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", SCOPE),
        ])
        .send()
        .await
        .unwrap()
}

/// `FED_APP`'s exchange of `assertion` is refused with 401 `invalid_client` `code`, and a
/// description that contains `text`.
async fn assert_exchange_refused(emu: &Emulator, assertion: &str, code: u64, text: &str) {
    let body = assert_aad_error(
        exchange(emu, FED_APP, assertion).await,
        401,
        "invalid_client",
        code,
    )
    .await;
    let desc = body["error_description"].as_str().unwrap();
    assert!(desc.contains(text), "{desc}");
}

/// A token signed with `key` whose header names `kid`.
fn signed(key: &SigningKey, kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, claims, &key.encoding_key()).unwrap()
}

#[tokio::test]
async fn a_workload_issuer_serves_discovery_keys_and_tokens() {
    let (emu, clock, issuer) = emulator().await;
    emu.reset_counters();
    assert_eq!(issuer, format!("{}/workload/aks", emu.base_url()));
    let doc = get_json(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["jwks_uri"], format!("{issuer}/openid/v1/jwks"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks = get_json(doc["jwks_uri"].as_str().unwrap()).await;
    let key = emu.workload_issuer_key(&issuer).unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let jwk = &jwks["keys"][0];
    assert_eq!(jwk["kid"], key.kid());
    assert_eq!(
        (&jwk["kty"], &jwk["use"], &jwk["alg"]),
        (&json!("RSA"), &json!("sig"), &json!("RS256"))
    );
    // The issuer's key is its own, not one of the tenant's.
    assert!(!emu.published_kids().contains(&key.kid().to_owned()));

    let now = clock.unix_seconds();
    let token = emu
        .workload_token(&issuer, SUBJECT, EXCHANGE, HOUR)
        .unwrap();
    assert_eq!(header(&token), json!({"alg": "RS256", "kid": key.kid()}));
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
    v.set_audience(&[EXCHANGE]);
    v.set_issuer(&[&issuer]);
    let claims = jsonwebtoken::decode::<Value>(&token, &dk, &v)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], SUBJECT);
    assert_eq!(claims["aud"], json!([EXCHANGE]));
    assert_eq!(claims["iat"], json!(now));
    assert_eq!(claims["nbf"], json!(now));
    assert_eq!(claims["exp"], json!(now + 3600));
    assert_eq!(claims["kubernetes.io"]["namespace"], "default");
    assert_eq!(claims["kubernetes.io"]["serviceaccount"]["name"], "my-app");
    assert!(claims["jti"].is_string());

    // Adding it again changes nothing; bad names and unknown issuers are errors.
    assert_eq!(emu.add_workload_issuer("aks").unwrap(), issuer);
    assert_eq!(emu.workload_issuer_key(&issuer).unwrap(), key);
    for bad in ["", "a/b", "a b", &"x".repeat(65)] {
        assert!(emu.add_workload_issuer(bad).is_err(), "{bad:?}");
    }
    let unknown = format!("{}/workload/nope", emu.base_url());
    assert!(
        emu.workload_token(&unknown, SUBJECT, EXCHANGE, HOUR)
            .is_err()
    );
    assert!(
        emu.workload_token("https://oidc.example.com", SUBJECT, EXCHANGE, HOUR)
            .is_err()
    );
    assert!(emu.workload_issuer_key(&unknown).is_none());
    assert!(emu.rotate_workload_issuer_key(&unknown).is_err());
    assert_eq!(
        get(&format!("{unknown}/.well-known/openid-configuration"))
            .await
            .status(),
        404
    );
    assert_eq!(
        get(&format!("{unknown}/openid/v1/jwks")).await.status(),
        404
    );
    assert_eq!(emu.request_count(Endpoint::WorkloadIssuer), 4);

    // Faults apply to the issuer's documents like to any endpoint.
    emu.set_fault(Endpoint::WorkloadIssuer, Fault::Status(503));
    assert_eq!(get(&format!("{issuer}/openid/v1/jwks")).await.status(), 503);
}

#[tokio::test]
async fn a_federated_token_is_a_client_assertion_for_client_credentials() {
    let (emu, _clock, issuer) = emulator().await;
    let token = emu
        .workload_token(&issuer, SUBJECT, EXCHANGE, HOUR)
        .unwrap();
    // The same token twice: the workload rereads one projected file for every request.
    for _ in 0..2 {
        let resp = exchange(&emu, FED_APP, &token).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        let claims = payload(body["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"], DEV_API_CLIENT_ID);
        assert_eq!(claims["azp"], FED_APP);
        assert_eq!(claims["azpacr"], "2");
        assert_eq!(claims["idtyp"], "app");
        assert_eq!(
            claims["oid"],
            emu.service_principal_id(DEV_TENANT_ID, FED_APP)
        );
        assert_eq!(claims["roles"], json!(["Api.Admin"]));
    }
    let log = emu.request_log();
    let last = log.last().unwrap();
    assert_eq!(last.client_id.as_deref(), Some(FED_APP));

    // The v1 endpoint, a credential with its own audience, a client id in upper case.
    let aud = "api://my-cluster-audience";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(FED_APP)
            .federated_credential(FederatedCredential::new(&issuer, SUBJECT).audience(aud)),
    );
    let token = emu.workload_token(&issuer, SUBJECT, aud, HOUR).unwrap();
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V1))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &FED_APP.to_uppercase()),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &token),
            ("resource", DEV_API_CLIENT_ID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["resource"], DEV_API_CLIENT_ID);
    let resp = exchange(
        &emu,
        FED_APP,
        &emu.workload_token(&issuer, SUBJECT, EXCHANGE, HOUR)
            .unwrap(),
    )
    .await;
    assert_aad_error(resp, 401, "invalid_client", 700212).await;
}

/// A middle-tier API that authenticates with a federated credential trades its caller's user
/// token on behalf of the user.
#[tokio::test]
async fn a_federated_middle_tier_gets_tokens_on_behalf_of_a_user() {
    let (emu, _clock, issuer) = emulator().await;
    let middle = "0b0e0000-1111-4222-8333-0000000000fe";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(middle)
            .app_id_uri("api://middle-federated")
            .scope("access_as_user")
            .access_token_version(TokenVersion::V2)
            .federated_credential(FederatedCredential::new(
                &issuer,
                "system:serviceaccount:apis:middle",
            )),
    );
    let user_token = emu
        .token()
        .user(DEV_USER_UPN)
        .audience(middle)
        .scopes("access_as_user")
        .sign();
    let workload = emu
        .workload_token(&issuer, "system:serviceaccount:apis:middle", EXCHANGE, HOUR)
        .unwrap();
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", middle),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &workload),
            ("assertion", &user_token),
            ("scope", "https://graph.microsoft.com/User.Read"),
            ("requested_token_use", "on_behalf_of"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let body: Value = resp.json().await.unwrap();
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["oid"], DEV_USER_ID);
    // Graph takes v1 tokens.
    assert_eq!(claims["appid"], middle);
    assert_eq!(claims["appidacr"], "2");
    assert_eq!(claims["scp"], "User.Read");

    // The wrong workload's token: no on-behalf-of.
    let other = emu
        .workload_token(&issuer, "system:serviceaccount:apis:other", EXCHANGE, HOUR)
        .unwrap();
    let resp = http()
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("client_id", middle),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &other),
            ("assertion", &user_token),
            ("scope", "https://graph.microsoft.com/User.Read"),
            ("requested_token_use", "on_behalf_of"),
        ])
        .send()
        .await
        .unwrap();
    assert_aad_error(resp, 401, "invalid_client", 700213).await;
}

#[tokio::test]
async fn federated_assertions_refused_with_entras_codes() {
    let (emu, clock, issuer) = emulator().await;
    let ok = |subject: &str, aud: &str| emu.workload_token(&issuer, subject, aud, HOUR).unwrap();

    // 700211: no credential for the issuer (another issuer of the emulator; an external one).
    let gitlab = emu.add_workload_issuer("gitlab").unwrap();
    let t = emu
        .workload_token(&gitlab, SUBJECT, EXCHANGE, HOUR)
        .unwrap();
    let expected = format!(
        "No matching federated identity record found for presented assertion issuer '{gitlab}'"
    );
    assert_exchange_refused(&emu, &t, 700211, &expected).await;
    // 700213: another subject.
    let t = ok("system:serviceaccount:default:other", EXCHANGE);
    assert_exchange_refused(
        &emu,
        &t,
        700213,
        "subject 'system:serviceaccount:default:other'",
    )
    .await;
    // 700212: another audience.
    let t = ok(SUBJECT, "api://something-else");
    assert_exchange_refused(&emu, &t, 700212, "audience 'api://something-else'").await;

    // 700024: expired, by the emulator's clock.
    let t = ok(SUBJECT, EXCHANGE);
    assert_eq!(exchange(&emu, FED_APP, &t).await.status(), 200);
    clock.advance(HOUR);
    assert_aad_error(
        exchange(&emu, FED_APP, &t).await,
        401,
        "invalid_client",
        700024,
    )
    .await;
    // 700024: not valid yet (nbf more than 5 minutes ahead); 4 minutes ahead is fine.
    let start = clock.now();
    clock.advance(Duration::from_secs(600));
    let later = ok(SUBJECT, EXCHANGE);
    clock.advance(Duration::from_secs(60));
    let soon = ok(SUBJECT, EXCHANGE);
    clock.set(start);
    assert_aad_error(
        exchange(&emu, FED_APP, &soon).await,
        401,
        "invalid_client",
        700024,
    )
    .await;
    assert_aad_error(
        exchange(&emu, FED_APP, &later).await,
        401,
        "invalid_client",
        700024,
    )
    .await;
    clock.advance(Duration::from_secs(420));
    assert_eq!(exchange(&emu, FED_APP, &soon).await.status(), 200);
    clock.set(start);

    // 700027: a signature that does not verify, a key the issuer does not have, an external
    // issuer whose keys the emulator does not fetch.
    let key = emu.workload_issuer_key(&issuer).unwrap();
    let (stranger, _) = client_keys();
    let now = clock.unix_seconds();
    let claims = json!({"iss": issuer, "sub": SUBJECT, "aud": EXCHANGE, "iat": now, "nbf": now, "exp": now + 600});
    assert_eq!(
        exchange(&emu, FED_APP, &signed(&key, key.kid(), &claims))
            .await
            .status(),
        200
    );
    let forged = signed(stranger, key.kid(), &claims);
    assert_exchange_refused(&emu, &forged, 700027, "signature value did not match").await;
    let unknown_kid = signed(stranger, stranger.kid(), &claims);
    assert_exchange_refused(&emu, &unknown_kid, 700027, "The key was not found.").await;
    let tampered = {
        let good = signed(&key, key.kid(), &claims);
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut c = claims.clone();
        c["sub"] = json!("system:serviceaccount:kube-system:admin");
        parts[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            c.to_string(),
        );
        parts.join(".")
    };
    assert_aad_error(
        exchange(&emu, FED_APP, &tampered).await,
        401,
        "invalid_client",
        700027,
    )
    .await;
    let external = "https://oidc.prod-aks.azure.com/11111111-2222-3333-4444-555555555555/";
    emu.register_app(
        DEV_TENANT_ID,
        App::new(FED_APP).federated_credential(FederatedCredential::new(external, SUBJECT)),
    );
    let mut c = claims.clone();
    c["iss"] = json!(external);
    assert_exchange_refused(
        &emu,
        &signed(&key, key.kid(), &c),
        700027,
        "does not fetch the keys of external issuers",
    )
    .await;

    // 50027: no `sub`; 700016: an unknown client.
    let mut c = claims.clone();
    c["iss"] = json!(issuer);
    c.as_object_mut().unwrap().remove("sub");
    emu.register_app(
        DEV_TENANT_ID,
        App::new(FED_APP).federated_credential(FederatedCredential::new(&issuer, SUBJECT)),
    );
    assert_aad_error(
        exchange(&emu, FED_APP, &signed(&key, key.kid(), &c)).await,
        400,
        "invalid_request",
        50027,
    )
    .await;
    let t = ok(SUBJECT, EXCHANGE);
    assert_aad_error(
        exchange(&emu, "99999999-0000-4000-8000-000000000000", &t).await,
        400,
        "unauthorized_client",
        700016,
    )
    .await;
    // Still fine with the right client.
    assert_eq!(exchange(&emu, FED_APP, &t).await.status(), 200);
}

/// Rotation of the workload issuer's key: tokens of the old key verify while it is published;
/// once retired, only tokens of the new key do.
#[tokio::test]
async fn rotation_of_the_workload_issuers_key() {
    let (emu, _clock, issuer) = emulator().await;
    let old = emu.workload_issuer_key(&issuer).unwrap();
    let before = emu
        .workload_token(&issuer, SUBJECT, EXCHANGE, HOUR)
        .unwrap();
    let new = emu.rotate_workload_issuer_key(&issuer).unwrap();
    assert_ne!(new, old);
    assert_eq!(emu.workload_issuer_key(&issuer).unwrap(), new);
    let after = emu
        .workload_token(&issuer, SUBJECT, EXCHANGE, HOUR)
        .unwrap();
    assert_eq!(header(&before)["kid"], old.kid());
    assert_eq!(header(&after)["kid"], new.kid());
    let jwks = get_json(&format!("{issuer}/openid/v1/jwks")).await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [old.kid(), new.kid()]);
    assert_eq!(exchange(&emu, FED_APP, &before).await.status(), 200);
    assert_eq!(exchange(&emu, FED_APP, &after).await.status(), 200);

    emu.retire_workload_issuer_key(&issuer, old.kid()).unwrap();
    let jwks = get_json(&format!("{issuer}/openid/v1/jwks")).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], new.kid());
    assert_exchange_refused(&emu, &before, 700027, "The key was not found.").await;
    assert_eq!(exchange(&emu, FED_APP, &after).await.status(), 200);
}

#[tokio::test]
async fn federated_credentials_from_a_configuration_file() {
    // The issuer URL names the emulator's address: take a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}/workload/jobs");
    let cfg = EmulatorConfig::from_toml_str(&format!(
        r#"
        [[tenants]]
        id = "11111111-1111-1111-1111-111111111111"
        [[tenants.apps]]
        client_id = "22222222-2222-2222-2222-222222222222"
        app_id_uri = "api://orders"
        app_roles = ["Orders.Read"]
        [[tenants.apps]]
        client_id = "33333333-3333-3333-3333-333333333333"
        federated_credentials = [
            {{ name = "ci", issuer = "https://token.actions.githubusercontent.com", subject = "repo:contoso/orders:ref:refs/heads/main" }},
            {{ issuer = "{issuer}", subject = "system:serviceaccount:jobs:nightly", audiences = ["api://nightly"] }},
        ]
        [[tenants.role_assignments]]
        client_id = "33333333-3333-3333-3333-333333333333"
        resource = "api://orders"
        role = "Orders.Read"
        "#
    ))
    .unwrap();
    let emu = Emulator::builder()
        .addr(([127, 0, 0, 1], port).into())
        .config(cfg)
        .start()
        .await
        .unwrap();
    assert_eq!(emu.add_workload_issuer("jobs").unwrap(), issuer);
    let url = emu.token_endpoint("11111111-1111-1111-1111-111111111111", TokenVersion::V2);
    let exchange_for = |t: String| {
        let url = url.clone();
        async move {
            http()
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "33333333-3333-3333-3333-333333333333"),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &t),
                    ("scope", "api://orders/.default"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let subject = "system:serviceaccount:jobs:nightly";
    let t = emu
        .workload_token(&issuer, subject, "api://nightly", HOUR)
        .unwrap();
    let resp = exchange_for(t).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        payload(body["access_token"].as_str().unwrap())["roles"],
        json!(["Orders.Read"])
    );
    // The configured audience replaces the default one.
    let t = emu
        .workload_token(&issuer, subject, EXCHANGE, HOUR)
        .unwrap();
    assert_aad_error(exchange_for(t).await, 401, "invalid_client", 700212).await;
}
