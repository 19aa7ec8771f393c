use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use super::*;

/// A credential that answers from a script, and counts calls.
#[derive(Debug)]
struct Scripted {
    answers: Mutex<Vec<Result<&'static str, Error>>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(answers: Vec<Result<&'static str, Error>>) -> Arc<Self> {
        Arc::new(Scripted {
            answers: Mutex::new(answers),
            calls: AtomicUsize::new(0),
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenCredential for Scripted {
    fn token<'a>(&'a self, _scopes: &'a [&'a str]) -> TokenFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut answers = self.answers.lock().unwrap();
        let answer = if answers.len() > 1 {
            answers.remove(0)
        } else {
            answers[0].clone()
        };
        Box::pin(async move {
            answer.map(|t| AccessToken::new(t, SystemTime::now() + Duration::from_secs(3600)))
        })
    }
}

fn unavailable(why: &str) -> Error {
    Error::CredentialUnavailable {
        credential: "x".into(),
        reason: why.into(),
    }
}

fn chain(links: &[(&str, &Arc<Scripted>)]) -> ChainedCredential {
    let mut chain = ChainedCredential::new();
    for (name, credential) in links {
        chain.push(*name, (*credential).clone());
    }
    chain
}

const SCOPE: &[&str] = &["api://x/.default"];

#[tokio::test]
async fn unavailable_credentials_are_skipped_and_the_first_success_is_kept() {
    let a = Scripted::new(vec![Err(unavailable("no env"))]);
    let b = Scripted::new(vec![Ok("from-b")]);
    let c = Scripted::new(vec![Ok("from-c")]);
    let chain = chain(&[("a", &a), ("b", &b), ("c", &c)]);
    assert_eq!(chain.names(), ["a", "b", "c"]);
    assert_eq!(chain.selected(), None);
    assert_eq!(chain.token(SCOPE).await.unwrap().secret(), "from-b");
    assert_eq!(chain.selected(), Some("b"));
    // Kept: a is not asked again, c never.
    assert_eq!(chain.token(SCOPE).await.unwrap().secret(), "from-b");
    assert_eq!((a.calls(), b.calls(), c.calls()), (1, 2, 0));
}

#[tokio::test]
async fn the_kept_credential_answers_alone_even_when_it_fails() {
    let a = Scripted::new(vec![Ok("t"), Err(Error::Config("broken now".into()))]);
    let b = Scripted::new(vec![Ok("from-b")]);
    let chain = chain(&[("a", &a), ("b", &b)]);
    chain.token(SCOPE).await.unwrap();
    let e = chain.token(SCOPE).await.unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    assert_eq!(b.calls(), 0);
}

#[tokio::test]
async fn every_unavailable_reason_is_in_the_error() {
    let a = Scripted::new(vec![Err(unavailable("AZURE_CLIENT_SECRET is not set"))]);
    let b = Scripted::new(vec![Err(unavailable(
        "AZURE_FEDERATED_TOKEN_FILE is not set",
    ))]);
    let c = Scripted::new(vec![Err(unavailable("no IMDS endpoint"))]);
    let chain = chain(&[("env", &a), ("workload", &b), ("mi", &c)]);
    let e = chain.token(SCOPE).await.unwrap_err();
    let Error::Chain(report) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(report.attempts.len(), 3);
    assert!(report.failure().is_none());
    assert!(
        report
            .attempts
            .iter()
            .all(|a| matches!(a.outcome, AttemptOutcome::Unavailable(_)))
    );
    assert_eq!(
        e.to_string(),
        "no credential of the chain obtained a token:\n\
         - env: unavailable: AZURE_CLIENT_SECRET is not set\n\
         - workload: unavailable: AZURE_FEDERATED_TOKEN_FILE is not set\n\
         - mi: unavailable: no IMDS endpoint"
    );
    // Nothing kept: the next call tries them all again.
    assert!(chain.token(SCOPE).await.is_err());
    assert_eq!((a.calls(), b.calls(), c.calls()), (2, 2, 2));
}

#[tokio::test]
async fn a_configured_credential_that_fails_ends_the_chain() {
    let a = Scripted::new(vec![Err(unavailable("not set"))]);
    let b = Scripted::new(vec![Err(Error::UnexpectedStatus {
        status: 401,
        retry_after: None,
    })]);
    let c = Scripted::new(vec![Ok("never")]);
    let chain = chain(&[("a", &a), ("b", &b), ("c", &c)]);
    let e = chain.token(SCOPE).await.unwrap_err();
    let Error::Chain(report) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(report.failure().and_then(Error::status), Some(401));
    assert!(matches!(
        report.attempts[2].outcome,
        AttemptOutcome::NotTried
    ));
    assert_eq!(c.calls(), 0);
    let shown = e.to_string();
    assert!(shown.contains("\n- a: unavailable: not set"), "{shown}");
    assert!(
        shown.contains("\n- b: failed: token endpoint returned HTTP 401"),
        "{shown}"
    );
    assert!(
        shown.ends_with("\n- c: not tried (an earlier credential failed)"),
        "{shown}"
    );
}

#[tokio::test]
async fn an_empty_chain_says_so() {
    let e = ChainedCredential::new().token(SCOPE).await.unwrap_err();
    assert_eq!(e.to_string(), "the credential chain is empty");
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'static + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

#[tokio::test]
async fn the_environment_credential_names_what_is_missing() {
    let e = EnvironmentCredential::from_env_vars(vars(&[]))
        .token(SCOPE)
        .await
        .unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "EnvironmentCredential is unavailable: environment variables not set: AZURE_TENANT_ID, \
         AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"
    );
    // Tenant and client alone (as for workload or managed identity): still unavailable.
    let c = EnvironmentCredential::from_env_vars(vars(&[
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
    ]));
    assert!(c.client_credentials().is_none());
    let e = c.token(SCOPE).await.unwrap_err();
    assert!(
        e.to_string()
            .ends_with("not set: AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"),
        "{e}"
    );
}

#[test]
fn the_environment_credential_reads_a_secret_and_the_authority() {
    let c = EnvironmentCredential::from_env_vars(vars(&[
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_SECRET", "very-secret-value"),
        ("AZURE_CLIENT_CERTIFICATE_PATH", "/does/not/matter"),
        ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us/"),
    ]));
    let creds = c.client_credentials().expect("configured");
    assert_eq!(creds.client_id(), CLIENT);
    assert_eq!(creds.tenant_id(), TENANT);
    assert_eq!(creds.authority(), "https://login.microsoftonline.us");
    assert!(!format!("{c:?}").contains("very-secret-value"));
}

#[tokio::test]
async fn a_broken_certificate_is_a_failure_not_unavailable() {
    let dir = std::env::temp_dir().join(format!("entra-env-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.pem");
    let garbage = dir.join("garbage.pfx");
    std::fs::write(&garbage, b"not a pkcs12 file").unwrap();
    for (path, expect) in [(&missing, "cannot read"), (&garbage, "cannot load")] {
        let c = EnvironmentCredential::from_env_vars(vars(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_CERTIFICATE_PATH", path.to_str().unwrap()),
            ("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pfx-password"),
        ]));
        let e = c.token(SCOPE).await.unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        let shown = e.to_string();
        assert!(shown.contains("AZURE_CLIENT_CERTIFICATE_PATH"), "{shown}");
        assert!(shown.contains(expect), "{shown}");
        assert!(!shown.contains("pfx-password"), "{shown}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_environment_credential_loads_a_combined_pem_file() {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["app".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let path = std::env::temp_dir().join(format!("entra-env-{}.pem", uuid::Uuid::new_v4()));
    std::fs::write(&path, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    let c = EnvironmentCredential::from_env_vars(vars(&[
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_CERTIFICATE_PATH", path.to_str().unwrap()),
    ]));
    std::fs::remove_file(&path).unwrap();
    let creds = c.client_credentials().expect("configured");
    // A certificate credential signs assertions; a secret one cannot.
    assert!(creds.client_assertion(creds.token_endpoint()).is_ok());
}

#[tokio::test]
async fn the_default_chain_order_and_its_unavailable_links() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let d = DefaultCredential::from_env_vars(vars(&[(
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        &format!("http://127.0.0.1:{port}"),
    )]));
    assert_eq!(
        d.names(),
        [
            "EnvironmentCredential",
            "WorkloadIdentityCredential",
            "ManagedIdentityCredential"
        ]
    );
    let e = d.token(SCOPE).await.unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains(
            "\n- WorkloadIdentityCredential: unavailable: environment variables not set: \
             AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID, AZURE_CLIENT_ID"
        ),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "\n- ManagedIdentityCredential: unavailable: no IMDS endpoint at 127.0.0.1:{port}"
        )),
        "{shown}"
    );
    assert_eq!(d.selected(), None);
}

/// `AZURE_CLIENT_SECRET` is read once, into the zeroized `ClientSecret`, also when another
/// variable is missing (no second, unzeroized copy to decide what to report).
#[test]
fn the_client_secret_is_read_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let reads = AtomicUsize::new(0);
    let lookup = |name: &str| match name {
        "AZURE_CLIENT_SECRET" => {
            reads.fetch_add(1, Ordering::SeqCst);
            Some("s3cret-value".to_owned())
        }
        "AZURE_CLIENT_ID" => Some("c".to_owned()),
        _ => None,
    };
    let c = EnvironmentCredential::from_env_vars(lookup);
    assert_eq!(reads.load(Ordering::SeqCst), 1);
    let shown = format!("{c:?}");
    assert!(shown.contains("AZURE_TENANT_ID"), "{shown}");
    assert!(!shown.contains("AZURE_CLIENT_SECRET"), "{shown}");
    assert!(!shown.contains("s3cret-value"), "{shown}");
}
