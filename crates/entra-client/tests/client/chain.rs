//! The credential chain (`DefaultCredential`) against the emulator over HTTP on 127.0.0.1, with
//! the environment given as a map: the order environment > workload identity > managed
//! identity, the first working credential kept, and the final error that explains every link.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use entra_client::{AttemptOutcome, DefaultCredential, Error, TokenCredential};
use entra_emulator::{
    App, DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID, Emulator, Endpoint,
    Fault, FederatedCredential,
};

use crate::common::TestCert;
use crate::managed_identity_emulator::{SYSTEM, WORKER, api_scope, caller, emulator, verify};

/// The workload identity app: trusted for `SUBJECT` of the emulator's `aks` issuer.
const WORKLOAD_APP: &str = "6f2b8c1d-3e4a-4b5c-9d6e-7f8a9b0c1d2e";
const SUBJECT: &str = "system:serviceaccount:default:orders";

struct Setup {
    emu: Emulator,
    token_file: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.token_file);
    }
}

async fn setup() -> Setup {
    let emu = emulator().await;
    let issuer = emu.add_workload_issuer("aks").unwrap();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(WORKLOAD_APP).federated_credential(FederatedCredential::new(&issuer, SUBJECT)),
    );
    emu.assign_app_role(
        DEV_TENANT_ID,
        WORKLOAD_APP,
        DEV_API_CLIENT_ID,
        "Files.Read.All",
    );
    let token = emu
        .workload_token(
            &issuer,
            SUBJECT,
            "api://AzureADTokenExchange",
            Duration::from_secs(3600),
        )
        .unwrap();
    let token_file = std::env::temp_dir().join(format!("entra-chain-{}.jwt", uuid::Uuid::new_v4()));
    std::fs::write(&token_file, token).unwrap();
    Setup { emu, token_file }
}

type Env = HashMap<&'static str, String>;

fn chain(env: Env) -> DefaultCredential {
    DefaultCredential::builder()
        .env_vars(move |name| env.get(name).cloned())
        .client_credentials(|b| b.retry_base_delay(Duration::from_millis(5)))
        .managed_identity(|b| b.retry_base_delay(Duration::from_millis(5)))
        .build()
}

/// Every link configured: a secret, a workload identity token file, App Service's endpoint.
fn full_env(s: &Setup, client_id: &str) -> Env {
    let ep = s.emu.managed_identity_endpoints();
    HashMap::from([
        ("AZURE_AUTHORITY_HOST", s.emu.base_url()),
        ("AZURE_TENANT_ID", DEV_TENANT_ID.to_owned()),
        ("AZURE_CLIENT_ID", client_id.to_owned()),
        ("AZURE_CLIENT_SECRET", DEV_CLIENT_SECRET.to_owned()),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            s.token_file.display().to_string(),
        ),
        ("IDENTITY_ENDPOINT", ep.app_service_endpoint),
        ("IDENTITY_HEADER", ep.identity_header),
    ])
}

async fn token_of(chain: &DefaultCredential) -> String {
    chain
        .token(&[&api_scope()])
        .await
        .unwrap()
        .secret()
        .to_owned()
}

#[tokio::test]
async fn the_environment_comes_first() {
    let s = setup().await;
    let chain = chain(full_env(&s, DEV_CLIENT_ID));
    let token = token_of(&chain).await;
    assert_eq!(caller(&verify(&s.emu, &token)), DEV_CLIENT_ID);
    assert_eq!(chain.selected(), Some("EnvironmentCredential"));
    assert_eq!(s.emu.request_count(Endpoint::ManagedIdentity), 0);
}

#[tokio::test]
async fn the_environment_with_a_pem_or_pfx_certificate() {
    let s = setup().await;
    let cert = TestCert::new("env-app");
    let client_id = uuid::Uuid::new_v4().to_string();
    s.emu.register_app(
        DEV_TENANT_ID,
        App::new(&client_id).certificate_der(cert.cert_der()),
    );
    let dir = std::env::temp_dir().join(format!("entra-chain-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("app.pem");
    std::fs::write(&pem, format!("{}{}", cert.key_pem(), cert.cert_pem())).unwrap();
    let pfx = dir.join("app.pfx");
    std::fs::write(
        &pfx,
        cert.pkcs12(
            "pfx-pass",
            p12_keystore::EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            p12_keystore::MacAlgorithm::HmacSha256,
        ),
    )
    .unwrap();
    for (path, password) in [(&pem, None), (&pfx, Some("pfx-pass"))] {
        let mut env = full_env(&s, &client_id);
        env.remove("AZURE_CLIENT_SECRET");
        env.insert("AZURE_CLIENT_CERTIFICATE_PATH", path.display().to_string());
        if let Some(p) = password {
            env.insert("AZURE_CLIENT_CERTIFICATE_PASSWORD", p.to_owned());
        }
        let chain = chain(env);
        let token = token_of(&chain).await;
        assert_eq!(
            caller(&verify(&s.emu, &token)),
            client_id,
            "{}",
            path.display()
        );
        assert_eq!(chain.selected(), Some("EnvironmentCredential"));
    }
    // A wrong password: the environment credential fails (it is configured), and says why.
    let mut env = full_env(&s, &client_id);
    env.remove("AZURE_CLIENT_SECRET");
    env.insert("AZURE_CLIENT_CERTIFICATE_PATH", pfx.display().to_string());
    env.insert("AZURE_CLIENT_CERTIFICATE_PASSWORD", "wrong".to_owned());
    let e = chain_err(env).await;
    assert!(
        e.contains("- EnvironmentCredential: failed: invalid configuration: AZURE_CLIENT_CERTIFICATE_PATH: cannot load"),
        "{e}"
    );
    assert!(e.contains("wrong password"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn workload_identity_without_a_secret() {
    let s = setup().await;
    let mut env = full_env(&s, WORKLOAD_APP);
    env.remove("AZURE_CLIENT_SECRET");
    let chain = chain(env);
    let token = token_of(&chain).await;
    assert_eq!(caller(&verify(&s.emu, &token)), WORKLOAD_APP);
    assert_eq!(chain.selected(), Some("WorkloadIdentityCredential"));
    assert_eq!(s.emu.request_count(Endpoint::ManagedIdentity), 0);
}

#[tokio::test]
async fn managed_identity_last_user_assigned_by_azure_client_id() {
    let s = setup().await;
    let mut env = full_env(&s, WORKER);
    env.remove("AZURE_CLIENT_SECRET");
    env.remove("AZURE_FEDERATED_TOKEN_FILE");
    let chain = chain(env);
    let token = token_of(&chain).await;
    assert_eq!(caller(&verify(&s.emu, &token)), WORKER);
    assert_eq!(chain.selected(), Some("ManagedIdentityCredential"));

    // No AZURE_CLIENT_ID: the system-assigned identity, here through IMDS.
    let ep = s.emu.managed_identity_endpoints();
    let imds_host = ep
        .imds_endpoint
        .strip_suffix("/metadata/identity/oauth2/token")
        .unwrap()
        .to_owned();
    let chain = self::chain(HashMap::from([(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        imds_host,
    )]));
    let token = token_of(&chain).await;
    assert_eq!(caller(&verify(&s.emu, &token)), SYSTEM);
    assert_eq!(chain.selected(), Some("ManagedIdentityCredential"));
}

#[tokio::test]
async fn the_first_working_credential_is_kept() {
    let s = setup().await;
    let chain = chain(full_env(&s, DEV_CLIENT_ID));
    token_of(&chain).await;
    assert_eq!(chain.selected(), Some("EnvironmentCredential"));
    // From now on the environment credential answers alone: its failure is its own error, not
    // the chain's, and no other credential is asked.
    s.emu.set_fault(Endpoint::Token, Fault::Status(400));
    let e = chain
        .token(&["https://graph.microsoft.com/.default"])
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::UnexpectedStatus { status: 400, .. }),
        "{e:?}"
    );
    assert_eq!(s.emu.request_count(Endpoint::ManagedIdentity), 0);
    s.emu.clear_fault(Endpoint::Token);
    token_of(&chain).await;
    assert_eq!(chain.selected(), Some("EnvironmentCredential"));
}

#[tokio::test]
async fn nothing_configured_every_reason_in_the_error_and_fast() {
    // IMDS at a port where nothing listens: the probe fails at once.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let chain = chain(HashMap::from([
        ("AZURE_TENANT_ID", DEV_TENANT_ID.to_owned()),
        (
            "AZURE_POD_IDENTITY_AUTHORITY_HOST",
            format!("http://127.0.0.1:{port}"),
        ),
    ]));
    let started = std::time::Instant::now();
    let e = chain.token(&[&api_scope()]).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let Error::Chain(report) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(report.attempts.len(), 3);
    assert!(
        report
            .attempts
            .iter()
            .all(|a| matches!(a.outcome, AttemptOutcome::Unavailable(_)))
    );
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 4, "{shown}");
    assert_eq!(lines[0], "no credential of the chain obtained a token:");
    assert_eq!(
        lines[1],
        "- EnvironmentCredential: unavailable: environment variables not set: AZURE_CLIENT_ID, \
         AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"
    );
    assert_eq!(
        lines[2],
        "- WorkloadIdentityCredential: unavailable: environment variables not set: \
         AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID"
    );
    assert!(
        lines[3].starts_with(&format!(
            "- ManagedIdentityCredential: unavailable: no IMDS endpoint at 127.0.0.1:{port}"
        )),
        "{shown}"
    );
    assert_eq!(chain.selected(), None);
}

#[tokio::test]
async fn a_configured_credential_that_fails_stops_the_chain_and_says_why() {
    let s = setup().await;
    let mut env = full_env(&s, DEV_CLIENT_ID);
    env.insert("AZURE_CLIENT_SECRET", "not-the-secret".to_owned());
    let chain = chain(env);
    let e = chain.token(&[&api_scope()]).await.unwrap_err();
    let Error::Chain(report) = &e else {
        panic!("{e:?}")
    };
    // Entra's invalid client secret.
    assert_eq!(report.failure().and_then(Error::aadsts_code), Some(7000215));
    assert!(matches!(
        report.attempts[1].outcome,
        AttemptOutcome::NotTried
    ));
    assert!(matches!(
        report.attempts[2].outcome,
        AttemptOutcome::NotTried
    ));
    let shown = e.to_string();
    assert!(
        shown.contains("- EnvironmentCredential: failed: Entra ID returned invalid_client (HTTP 401): AADSTS7000215"),
        "{shown}"
    );
    assert!(!shown.contains("not-the-secret"), "{shown}");
    assert_eq!(s.emu.request_count(Endpoint::ManagedIdentity), 0);

    // A managed identity endpoint's failure (a wrong identity header) is explained too.
    let mut env = full_env(&s, SYSTEM);
    env.remove("AZURE_CLIENT_SECRET");
    env.remove("AZURE_FEDERATED_TOKEN_FILE");
    env.remove("AZURE_CLIENT_ID");
    env.insert("IDENTITY_HEADER", "WRONG-HEADER".to_owned());
    let e = chain_err(env).await;
    assert!(
        e.contains("- ManagedIdentityCredential: failed: managed identity endpoint (App Service) returned HTTP 401"),
        "{e}"
    );
    assert!(!e.contains("WRONG-HEADER"), "{e}");
}

async fn chain_err(env: Env) -> String {
    chain(env)
        .token(&[&api_scope()])
        .await
        .unwrap_err()
        .to_string()
}
