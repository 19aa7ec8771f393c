//! Workload identity federation and client assertion sources against a scripted stand-in for
//! Entra (it records the assertion each request carried): the token file read afresh for every
//! request, its errors, and the environment convention without touching the process
//! environment.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use entra_client::{
    ClientCredentials, Error, ManualClock, TokenCredential, WorkloadIdentityCredential,
    WorkloadIdentityCredentialBuilder, Zeroizing, client_assertion_fn,
};

use crate::common::fake::{FakeServer, Reply};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32";
const SCOPE: &str = "https://storage.azure.com/.default";
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("entra-client-wi-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn credential(server: &FakeServer, file: &Path, clock: &ManualClock) -> WorkloadIdentityCredential {
    WorkloadIdentityCredential::builder(TENANT, CLIENT, file)
        .authority(server.base_url.clone())
        .clock(clock.clone())
        .max_retries(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_token_file_is_read_afresh_for_every_request() {
    let dir = TempDir::new();
    let file = dir.path("azure-identity-token");
    std::fs::write(&file, "kubelet.token.one\n").unwrap();
    let server = FakeServer::start(vec![
        Reply::token("access-token-one", 3600),
        Reply::token("access-token-two", 3600),
    ])
    .await;
    let clock = ManualClock::new(SystemTime::now());
    let credential = credential(&server, &file, &clock);

    let first = credential.token(SCOPE).await.unwrap();
    assert_eq!(first.secret(), "access-token-one");
    // From the cache: the file is not needed, no request.
    std::fs::write(&file, "kubelet.token.two").unwrap();
    assert_eq!(
        credential.token(SCOPE).await.unwrap().secret(),
        "access-token-one"
    );
    assert_eq!(server.requests().len(), 1);

    // The token expires: the next request carries the rotated file's token.
    clock.advance(Duration::from_secs(3600));
    let second = TokenCredential::token(&credential, &[SCOPE]).await.unwrap();
    assert_eq!(second.secret(), "access-token-two");

    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    for (request, assertion) in sent.iter().zip(["kubelet.token.one", "kubelet.token.two"]) {
        assert_eq!(request.path, format!("/{TENANT}/oauth2/v2.0/token"));
        assert_eq!(
            request.param("grant_type").as_deref(),
            Some("client_credentials")
        );
        assert_eq!(request.param("client_id").as_deref(), Some(CLIENT));
        assert_eq!(request.param("scope").as_deref(), Some(SCOPE));
        assert_eq!(
            request.param("client_assertion_type").as_deref(),
            Some(JWT_BEARER)
        );
        assert_eq!(
            request.param("client_assertion").as_deref(),
            Some(assertion)
        );
        assert_eq!(request.param("client_secret"), None);
    }
    let shown = format!("{credential:?}");
    assert!(!shown.contains("kubelet.token"), "{shown}");
    assert!(shown.contains("azure-identity-token"), "{shown}");
}

#[tokio::test]
async fn a_missing_or_empty_file_fails_before_any_request_and_names_the_file() {
    let dir = TempDir::new();
    let file = dir.path("not-there");
    let server = FakeServer::start(vec![Reply::token("unused", 3600)]).await;
    let clock = ManualClock::new(SystemTime::now());
    let credential = credential(&server, &file, &clock);

    let e = credential.token(SCOPE).await.unwrap_err();
    assert!(matches!(e, Error::ClientAssertion(_)), "{e:?}");
    let message = e.to_string();
    assert!(message.contains(&file.display().to_string()), "{message}");
    assert!(
        message.starts_with(
            "cannot obtain the client assertion: cannot read the federated token file"
        ),
        "{message}"
    );
    assert!(!e.is_retryable());

    std::fs::write(&file, "\n").unwrap();
    let e = credential.token(SCOPE).await.unwrap_err();
    assert!(e.to_string().contains("is empty"), "{e}");
    assert!(server.requests().is_empty(), "nothing was sent");

    // Once the kubelet has written it, the same credential works.
    std::fs::write(&file, "kubelet.token").unwrap();
    assert_eq!(credential.token(SCOPE).await.unwrap().secret(), "unused");
}

#[tokio::test]
async fn entra_refusing_the_assertion_is_an_entra_error_without_the_assertion() {
    let dir = TempDir::new();
    let file = dir.path("token");
    std::fs::write(&file, "kubelet.secret.token").unwrap();
    let server = FakeServer::start(vec![Reply::json(
        400,
        r#"{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found for presented assertion subject 'system:serviceaccount:default:other'.","error_codes":[700213]}"#,
    )])
    .await;
    let clock = ManualClock::new(SystemTime::now());
    let e = credential(&server, &file, &clock)
        .token(SCOPE)
        .await
        .unwrap_err();
    assert_eq!(e.aadsts_code(), Some(700213));
    assert!(!format!("{e} {e:?}").contains("kubelet.secret.token"));
}

#[test]
fn the_environment_convention_without_the_process_environment() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    // Every missing variable named; no value shown.
    let e = WorkloadIdentityCredentialBuilder::from_lookup(env(&[(
        "AZURE_CLIENT_ID",
        "client-id-value",
    )]))
    .unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    let message = e.to_string();
    assert!(
        message.contains("AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID are not set"),
        "{message}"
    );
    assert!(!message.contains("client-id-value"), "{message}");

    let credential = WorkloadIdentityCredentialBuilder::from_lookup(env(&[
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        (
            "AZURE_FEDERATED_TOKEN_FILE",
            "/var/run/secrets/azure/tokens/azure-identity-token",
        ),
        ("AZURE_AUTHORITY_HOST", "https://login.chinacloudapi.cn/"),
    ]))
    .unwrap()
    .build()
    .unwrap();
    let creds = credential.client_credentials();
    assert_eq!(creds.tenant_id(), TENANT);
    assert_eq!(creds.client_id(), CLIENT);
    assert_eq!(
        creds.token_endpoint(),
        format!("https://login.chinacloudapi.cn/{TENANT}/oauth2/v2.0/token")
    );
    assert_eq!(
        credential.token_file(),
        Path::new("/var/run/secrets/azure/tokens/azure-identity-token")
    );
}

#[tokio::test]
async fn an_assertion_source_is_asked_for_every_request_and_never_reused() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let server = FakeServer::start(vec![
        Reply::json(503, r#"{"error":"temporarily_unavailable"}"#),
        Reply::token("t1", 3600),
        Reply::token("t2", 3600),
    ])
    .await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let clock = ManualClock::new(SystemTime::now());
    let creds = ClientCredentials::builder(TENANT, CLIENT)
        .authority(server.base_url.clone())
        .client_assertion_source(client_assertion_fn(move |request| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            let audience = request.token_endpoint.to_owned();
            async move { Ok(Zeroizing::new(format!("assertion-{n}-for-{audience}"))) }
        }))
        .clock(clock.clone())
        .retry_base_delay(Duration::from_millis(1))
        .build()
        .unwrap();
    assert_eq!(creds.token(SCOPE).await.unwrap().secret(), "t1");
    assert_eq!(creds.token(SCOPE).await.unwrap().secret(), "t1");
    clock.advance(Duration::from_secs(3600));
    assert_eq!(creds.token(SCOPE).await.unwrap().secret(), "t2");

    // The retry after the 503 asked again too: three requests, three assertions.
    let endpoint = creds.token_endpoint().to_owned();
    let sent: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.param("client_assertion").unwrap())
        .collect();
    assert_eq!(
        sent,
        (0..3)
            .map(|n| format!("assertion-{n}-for-{endpoint}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(format!("{creds:?}").contains("ClientAssertionFn(..)"));
    // Certificates sign assertions; a source's are its own.
    assert!(matches!(
        creds.client_assertion(&endpoint),
        Err(Error::Config(_))
    ));

    // A source's failure is the request's, and nothing is sent.
    let failing = ClientCredentials::builder(TENANT, CLIENT)
        .authority(server.base_url.clone())
        .client_assertion_source(client_assertion_fn(|_| async {
            Err(Error::ClientAssertion("the signing service is down".into()))
        }))
        .build()
        .unwrap();
    let e = failing.token(SCOPE).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot obtain the client assertion: the signing service is down"
    );
    assert_eq!(server.requests().len(), 3);
    // An empty assertion is refused before it is sent.
    let empty = ClientCredentials::builder(TENANT, CLIENT)
        .authority(server.base_url.clone())
        .client_assertion_source(client_assertion_fn(|_| async {
            Ok(Zeroizing::new(String::new()))
        }))
        .build()
        .unwrap();
    assert!(matches!(
        empty.token(SCOPE).await,
        Err(Error::ClientAssertion(_))
    ));
    assert_eq!(server.requests().len(), 3);
}

/// A source that never answers (a vault call without a timeout, a FIFO no one writes to) is
/// given up on after the request timeout instead of holding the shared refresh forever; the
/// next request asks again. Tokio's clock is paused: the 30 s pass at once.
#[tokio::test(start_paused = true)]
async fn an_assertion_source_that_never_answers_times_out() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let server = FakeServer::start(vec![Reply::token("t1", 3600)]).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let creds = ClientCredentials::builder(TENANT, CLIENT)
        .authority(server.base_url.clone())
        .client_assertion_source(client_assertion_fn(move |_| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    std::future::pending::<()>().await;
                }
                Ok(Zeroizing::new("assertion".to_owned()))
            }
        }))
        .timeout(Duration::from_secs(30))
        .max_retries(0)
        .build()
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(3600), creds.token(SCOPE))
        .await
        .expect("the credential hung on its assertion source")
        .unwrap_err();
    assert!(matches!(e, Error::ClientAssertion(_)), "{e:?}");
    assert!(
        e.to_string().contains("did not answer within 30000 ms"),
        "{e}"
    );
    assert!(server.requests().is_empty());
    assert_eq!(creds.token(SCOPE).await.unwrap().secret(), "t1");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A FIFO as the federated token file, which no one writes to: reading it blocks (in a
/// blocking thread); the credential gives up after its timeout. On the real clock (Tokio does
/// not advance a paused clock while a blocking task runs), with a 200 ms timeout.
#[cfg(unix)]
#[tokio::test]
async fn a_token_file_that_never_answers_times_out() {
    let dir = TempDir::new();
    let fifo = dir.path("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let server = FakeServer::start(vec![]).await;
    let c = WorkloadIdentityCredential::builder(TENANT, CLIENT, &fifo)
        .authority(server.base_url.clone())
        .timeout(Duration::from_millis(200))
        .max_retries(0)
        .build()
        .unwrap();
    let e = tokio::time::timeout(Duration::from_secs(10), c.token(SCOPE))
        .await
        .expect("the credential hung on its token file")
        .unwrap_err();
    assert!(matches!(e, Error::ClientAssertion(_)), "{e:?}");
    assert!(e.to_string().contains("did not answer within"), "{e}");
    assert!(server.requests().is_empty());
    // Unblock the reader (open for writing, close: end of file) so the runtime, which waits for
    // its blocking threads, can shut down; before the directory goes. The reader has been
    // waiting in its open for the whole timeout, so this open returns at once.
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
}

/// Against the emulator's workload issuer (a Kubernetes-like OIDC issuer) and federated
/// identity credential, on one manual clock for both: the emulator judges the file's token by
/// it, the client times its cache by it.
mod emulator {
    use super::*;
    use entra_client::Clock as _;
    use entra_emulator::{
        AZURE_AD_TOKEN_EXCHANGE, App, DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator,
        FederatedCredential,
    };
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use serde_json::Value;

    const FED_APP: &str = "f3d1e2c4-5b6a-4c7d-8e9f-0a1b2c3d4e60";
    const SUBJECT: &str = "system:serviceaccount:orders:orders-api";
    const HOUR: Duration = Duration::from_secs(3600);

    fn api_scope() -> String {
        format!("api://{DEV_API_CLIENT_ID}/.default")
    }

    async fn federated_emulator(clock: &ManualClock) -> (Emulator, String) {
        let emu = Emulator::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let issuer = emu.add_workload_issuer("aks").unwrap();
        emu.register_app(
            DEV_TENANT_ID,
            App::new(FED_APP).federated_credential(FederatedCredential::new(&issuer, SUBJECT)),
        );
        emu.assign_app_role(DEV_TENANT_ID, FED_APP, DEV_API_CLIENT_ID, "Api.Admin");
        (emu, issuer)
    }

    fn verify(emu: &Emulator, token: &str) -> Value {
        let jwk = emu.active_key().jwk(None);
        let key = DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[DEV_API_CLIENT_ID]);
        // The emulator's clock is not the system's: check the times ourselves.
        v.validate_exp = false;
        jsonwebtoken::decode::<Value>(token, &key, &v)
            .expect("the token verifies")
            .claims
    }

    #[tokio::test]
    async fn a_rotated_token_file_is_exchanged_at_the_emulator() {
        let clock = ManualClock::new(SystemTime::now());
        let (emu, issuer) = federated_emulator(&clock).await;
        let dir = TempDir::new();
        let file = dir.path("azure-identity-token");
        let kubelet_writes = |subject: &str| {
            let token = emu
                .workload_token(&issuer, subject, AZURE_AD_TOKEN_EXCHANGE, HOUR)
                .unwrap();
            std::fs::write(&file, token).unwrap();
        };
        kubelet_writes(SUBJECT);
        let credential = WorkloadIdentityCredential::builder(DEV_TENANT_ID, FED_APP, &file)
            .authority(emu.base_url().to_string())
            .clock(clock.clone())
            .max_retries(0)
            .build()
            .unwrap();

        let first = credential.token(&api_scope()).await.unwrap();
        let claims = verify(&emu, first.secret());
        assert_eq!(claims["azp"], FED_APP);
        assert_eq!(claims["azpacr"], "2", "a client assertion, not a secret");
        assert_eq!(claims["roles"], serde_json::json!(["Api.Admin"]));
        assert_eq!(
            claims["oid"],
            emu.service_principal_id(DEV_TENANT_ID, FED_APP)
        );

        // An hour later the first file token has expired (at the emulator too); the kubelet
        // has rotated the file, with a key the issuer rotated meanwhile.
        clock.advance(first.remaining(clock.now()));
        emu.rotate_workload_issuer_key(&issuer).unwrap();
        kubelet_writes(SUBJECT);
        let second = credential.token(&api_scope()).await.unwrap();
        assert_ne!(second.secret(), first.secret());
        assert_eq!(verify(&emu, second.secret())["azp"], FED_APP);

        // A file with another service account's token: Entra's AADSTS700213, read afresh.
        clock.advance(second.remaining(clock.now()));
        kubelet_writes("system:serviceaccount:orders:someone-else");
        let e = credential.token(&api_scope()).await.unwrap_err();
        assert_eq!(e.aadsts_code(), Some(700213), "{e}");
        let token_text = std::fs::read_to_string(&file).unwrap();
        assert!(!format!("{e} {e:?}").contains(&token_text));

        // A token left unrotated past its lifetime: AADSTS700024.
        kubelet_writes(SUBJECT);
        clock.advance(HOUR + Duration::from_secs(600));
        let e = credential.token(&api_scope()).await.unwrap_err();
        assert_eq!(e.aadsts_code(), Some(700024), "{e}");
        kubelet_writes(SUBJECT);
        credential.token(&api_scope()).await.unwrap();
    }

    #[tokio::test]
    async fn the_environment_convention_at_the_emulator() {
        let clock = ManualClock::new(SystemTime::now());
        let (emu, issuer) = federated_emulator(&clock).await;
        let dir = TempDir::new();
        let file = dir.path("token");
        std::fs::write(
            &file,
            emu.workload_token(&issuer, SUBJECT, AZURE_AD_TOKEN_EXCHANGE, HOUR)
                .unwrap(),
        )
        .unwrap();
        let env = [
            ("AZURE_TENANT_ID", DEV_TENANT_ID.to_owned()),
            ("AZURE_CLIENT_ID", FED_APP.to_owned()),
            ("AZURE_FEDERATED_TOKEN_FILE", file.display().to_string()),
            ("AZURE_AUTHORITY_HOST", emu.base_url().to_string()),
        ];
        let credential = WorkloadIdentityCredentialBuilder::from_lookup(|name| {
            env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
        })
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
        let token = TokenCredential::token(&credential, &[&api_scope()])
            .await
            .unwrap();
        assert_eq!(verify(&emu, token.secret())["azp"], FED_APP);
    }
}
