//! The managed identity credential against the emulator's managed identity endpoints over HTTP
//! on 127.0.0.1: both protocols, system- and user-assigned identities by each selector, the
//! cache, retries through the emulator's faults, and errors that are not retried.

use std::time::Duration;

use entra_client::{
    Error, ManagedIdentityCredential, ManagedIdentityCredentialBuilder, ManagedIdentityKind,
    TokenCredential,
};
use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator, Endpoint, Fault, ManagedIdentity,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

pub(crate) const SYSTEM: &str = "0e4b7c2d-9a1f-4d3e-8b5c-6f2a1d9e7c40";
pub(crate) const SYSTEM_OID: &str = "7d2c9e4a-1b3f-4a5d-8e6c-2f9b0a1d3c57";
pub(crate) const WORKER: &str = "5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32";
pub(crate) const WORKER_OID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

pub(crate) fn api_scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/.default")
}

/// An emulator with a system-assigned identity (`Files.Read.All` on the dev API) and a
/// user-assigned one (`Api.Admin`).
pub(crate) async fn emulator() -> Emulator {
    let emu = Emulator::start().await.unwrap();
    emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new(SYSTEM)
            .object_id(SYSTEM_OID)
            .system_assigned(),
    )
    .unwrap();
    emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new(WORKER)
            .object_id(WORKER_OID)
            .display_name("orders-worker"),
    )
    .unwrap();
    emu.assign_app_role(DEV_TENANT_ID, SYSTEM, DEV_API_CLIENT_ID, "Files.Read.All");
    emu.assign_app_role(DEV_TENANT_ID, WORKER, DEV_API_CLIENT_ID, "Api.Admin");
    emu
}

/// Verifies a token for the dev API against the emulator's signing key; returns its claims.
pub(crate) fn verify(emu: &Emulator, token: &str) -> Value {
    let jwk = emu.active_key().jwk(None);
    let key = DecodingKey::from_rsa_components(
        jwk["n"].as_str().expect("n"),
        jwk["e"].as_str().expect("e"),
    )
    .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[
        DEV_API_CLIENT_ID.to_string(),
        format!("api://{DEV_API_CLIENT_ID}"),
    ]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("token verifies")
        .claims
}

/// The app a token was issued to.
pub(crate) fn caller(claims: &Value) -> &str {
    claims["azp"]
        .as_str()
        .or_else(|| claims["appid"].as_str())
        .expect("azp or appid")
}

/// IMDS at the emulator, without the probe (its request would count and meet the faults;
/// `the_probe_finds_the_emulators_imds` checks it).
fn imds(emu: &Emulator) -> ManagedIdentityCredentialBuilder {
    ManagedIdentityCredential::builder()
        .imds_endpoint(emu.managed_identity_endpoints().imds_endpoint)
        .probe_timeout(None)
        .retry_base_delay(Duration::from_millis(5))
}

/// The probe (a GET without `Metadata: true`) gets the emulator's IMDS refusal (400, JSON
/// `error`): IMDS is there, and the token request follows.
#[tokio::test]
async fn the_probe_finds_the_emulators_imds() {
    let emu = emulator().await;
    emu.reset_counters();
    let c = imds(&emu)
        .probe_timeout(Some(Duration::from_secs(1)))
        .client_id(WORKER)
        .build()
        .unwrap();
    let t = c.token(&api_scope()).await.unwrap();
    assert_eq!(caller(&verify(&emu, t.secret())), WORKER);
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 2);
}

fn app_service(emu: &Emulator) -> ManagedIdentityCredentialBuilder {
    let ep = emu.managed_identity_endpoints();
    ManagedIdentityCredential::builder()
        .app_service_endpoint(ep.app_service_endpoint, ep.identity_header)
        .retry_base_delay(Duration::from_millis(5))
}

#[tokio::test]
async fn both_protocols_every_selector() {
    let emu = emulator().await;
    let worker_res = ManagedIdentity::new(WORKER)
        .display_name("orders-worker")
        .azure_resource_id();
    for protocol in [imds as fn(&Emulator) -> _, app_service] {
        let cases = [
            (protocol(&emu), SYSTEM, SYSTEM_OID, "Files.Read.All"),
            (
                protocol(&emu).client_id(WORKER),
                WORKER,
                WORKER_OID,
                "Api.Admin",
            ),
            (
                protocol(&emu).object_id(WORKER_OID),
                WORKER,
                WORKER_OID,
                "Api.Admin",
            ),
            (
                protocol(&emu).resource_id(&worker_res),
                WORKER,
                WORKER_OID,
                "Api.Admin",
            ),
        ];
        for (builder, client_id, oid, role) in cases {
            let c = builder.build().unwrap();
            let t = TokenCredential::token(&c, &[&api_scope()]).await.unwrap();
            let claims = verify(&emu, t.secret());
            assert_eq!(
                caller(&claims),
                client_id,
                "{:?} {:?}",
                c.kind(),
                c.identity()
            );
            assert_eq!(claims["oid"], json!(oid));
            assert_eq!(claims["roles"], json!([role]));
            let lifetime = t.remaining(std::time::SystemTime::now());
            assert!(lifetime > Duration::from_secs(23 * 3600), "{lifetime:?}");
        }
    }
}

#[tokio::test]
async fn tokens_are_cached_one_request_per_resource() {
    let emu = emulator().await;
    for builder in [imds(&emu), app_service(&emu)] {
        emu.reset_counters();
        let c = builder.client_id(WORKER).build().unwrap();
        let first = c.token(&api_scope()).await.unwrap();
        let again = c.token(&api_scope()).await.unwrap();
        assert_eq!(first.secret(), again.secret());
        assert_eq!(
            emu.request_count(Endpoint::ManagedIdentity),
            1,
            "{:?}",
            c.kind()
        );
    }
}

/// The fault stays until the second faulted request has arrived; the client retries through it.
async fn fault_then_success(emu: &Emulator, c: &ManagedIdentityCredential, status: u16) {
    emu.reset_counters();
    emu.set_fault(Endpoint::ManagedIdentity, Fault::Status(status));
    let clearing = {
        let emu = emu.clone();
        tokio::spawn(async move {
            while emu.request_count(Endpoint::ManagedIdentity) < 2 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            emu.clear_fault(Endpoint::ManagedIdentity);
        })
    };
    let t = c.token(&api_scope()).await;
    clearing.await.unwrap();
    let t = t.unwrap_or_else(|e| panic!("{status} via {:?}: {e}", c.kind()));
    assert_eq!(caller(&verify(emu, t.secret())), WORKER);
    let n = emu.request_count(Endpoint::ManagedIdentity);
    assert!(n >= 3, "{status}: {n} requests");
    c.cache().clear();
}

#[tokio::test]
async fn transient_answers_are_retried_then_succeed() {
    let emu = emulator().await;
    let imds = imds(&emu).client_id(WORKER).build().unwrap();
    let app_service = app_service(&emu).client_id(WORKER).build().unwrap();
    for status in [410, 429, 500, 503, 404] {
        fault_then_success(&emu, &imds, status).await;
    }
    for status in [429, 500, 502] {
        fault_then_success(&emu, &app_service, status).await;
    }
}

#[tokio::test]
async fn errors_that_are_not_retried() {
    let emu = emulator().await;
    // An identity that is not there: 400, once.
    for builder in [imds(&emu), app_service(&emu)] {
        emu.reset_counters();
        let c = builder
            .client_id("11111111-2222-3333-4444-555555555555")
            .build()
            .unwrap();
        let e = c.token(&api_scope()).await.unwrap_err();
        assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 1);
        assert!(
            matches!(e, Error::ManagedIdentity { status: 400, .. }),
            "{e:?}"
        );
        let shown = e.to_string();
        let kind = match c.kind() {
            ManagedIdentityKind::Imds => "(IMDS)",
            _ => "(App Service)",
        };
        assert!(shown.contains(kind), "{shown}");
        assert!(shown.contains("HTTP 400"), "{shown}");
    }
    // App Service with a wrong identity header: 401, once, the header in no error.
    emu.reset_counters();
    let ep = emu.managed_identity_endpoints();
    let c = ManagedIdentityCredential::builder()
        .app_service_endpoint(&ep.app_service_endpoint, "WRONG-HEADER-VALUE")
        .build()
        .unwrap();
    let e = c.token(&api_scope()).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 1);
    let shown = format!("{e} {e:?} {c:?}");
    assert!(!shown.contains("WRONG-HEADER-VALUE"), "{shown}");
    assert!(!shown.contains(&ep.identity_header), "{shown}");
    // An emulator fault of 400 is not retried either.
    emu.reset_counters();
    emu.set_fault(Endpoint::ManagedIdentity, Fault::Status(400));
    let c = imds(&emu).build().unwrap();
    assert_eq!(c.token(&api_scope()).await.unwrap_err().status(), Some(400));
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 1);
}

#[tokio::test]
async fn broken_answers_from_the_emulator() {
    let emu = emulator().await;
    let c = imds(&emu).max_retries(1).build().unwrap();
    for (fault, retried) in [
        (Fault::Html, false),
        (Fault::InvalidJson, false),
        (Fault::Oversized(2 << 20), false),
        (Fault::DropConnection, true),
    ] {
        emu.reset_counters();
        emu.set_fault(Endpoint::ManagedIdentity, fault.clone());
        let e = c.token(&api_scope()).await.unwrap_err();
        let n = emu.request_count(Endpoint::ManagedIdentity);
        assert_eq!(n, if retried { 2 } else { 1 }, "{fault:?}: {e:?}");
        if !retried {
            assert!(matches!(e, Error::InvalidResponse(_)), "{fault:?}: {e:?}");
        }
    }
}

#[tokio::test]
async fn concurrent_callers_share_one_request() {
    let emu = emulator().await;
    for builder in [imds(&emu), app_service(&emu)] {
        emu.reset_counters();
        let c = builder.client_id(WORKER).build().unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(
                    async move { c.token(&api_scope()).await.map(|t| t.secret().to_owned()) },
                )
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.unwrap().unwrap());
        }
        tokens.dedup();
        assert_eq!(tokens.len(), 1, "{:?}", c.kind());
        assert_eq!(
            emu.request_count(Endpoint::ManagedIdentity),
            1,
            "{:?}",
            c.kind()
        );
    }
}
