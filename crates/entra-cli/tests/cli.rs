//! The `entra` binary run as a process against an emulator started by the test on 127.0.0.1.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{BIN, BaseEnv, Run, TempDir, closed_port, run_entra};
use entra_auth::{Authenticator, Claims, EntraConfig};
use entra_emulator::{
    App, DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_TENANT_ID, Emulator,
};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};

/// Runs `entra` with `args`, extra environment variables and optional stdin, off the async
/// runtime (the emulator serves on it meanwhile).
async fn entra(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    run_entra(args, BaseEnv::Inherited, env, stdin).await
}

/// An RSA key with a self-signed certificate, as PEM and as PKCS#12.
struct TestCert {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl TestCert {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let cert = rcgen::CertificateParams::new(vec!["entra-cli.test".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        TestCert { key, cert }
    }

    fn pkcs12(&self, password: &str) -> Vec<u8> {
        let key = PrivateKey::from_der(self.key.serialized_der()).expect("PKCS#8");
        let cert = Certificate::from_der(self.cert.der()).expect("X.509");
        let chain = PrivateKeyChain::new(b"01".as_slice(), key, [cert]);
        let mut store = KeyStore::new();
        store.add_entry("entra-cli-test", KeyStoreEntry::PrivateKeyChain(chain));
        store.writer(password).write().expect("write PKCS#12")
    }
}

/// Validates a token for the dev API against the emulator, as an API would.
async fn validate(emu: &Emulator, token: &str) -> Claims {
    let config = EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(DEV_API_CLIENT_ID)
        .authority(emu.base_url())
        .build()
        .expect("config");
    Authenticator::new(config)
        .validate(token)
        .await
        .expect("a valid token")
}

fn scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/.default")
}

/// `entra token` arguments for the dev tenant on `emu`, plus `extra`.
fn token_args(emu: &Emulator, client_id: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "token",
        "--authority",
        &emu.base_url(),
        "--tenant",
        DEV_TENANT_ID,
        "--client-id",
        client_id,
        "--scope",
        &scope(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn is_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_with_a_client_secret_from_env_or_file() {
    let emu = Emulator::start().await.unwrap();
    let args = token_args(&emu, DEV_CLIENT_ID, &["--client-secret-env", "MY_SECRET"]);
    let run = entra(&strs(&args), &[("MY_SECRET", DEV_CLIENT_SECRET)], None).await;
    run.assert_code(0).assert_hides(DEV_CLIENT_SECRET);
    let token = run.stdout.trim();
    assert!(is_jwt(token), "{run:#?}");
    assert_eq!(run.stdout.lines().count(), 1);
    let claims = validate(&emu, token).await;
    assert_eq!(claims.app_id(), Some(DEV_CLIENT_ID));
    assert_eq!(claims.app_auth_method(), Some("1"));
    assert!(claims.has_role("Api.Admin"));

    let dir = TempDir::new();
    let file = dir.write("secret.txt", format!("{DEV_CLIENT_SECRET}\n"));
    let args = token_args(&emu, DEV_CLIENT_ID, &["--client-secret-file", &file]);
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(0).assert_hides(DEV_CLIENT_SECRET);
    validate(&emu, run.stdout.trim()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_json_is_the_whole_response() {
    let emu = Emulator::start().await.unwrap();
    let args = token_args(&emu, DEV_CLIENT_ID, &["--client-secret-env", "S", "--json"]);
    let run = entra(&strs(&args), &[("S", DEV_CLIENT_SECRET)], None).await;
    run.assert_code(0).assert_hides(DEV_CLIENT_SECRET);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(v["token_type"], "Bearer");
    let expires_in = v["expires_in"].as_u64().expect("expires_in");
    assert!((3000..=5400).contains(&expires_in), "{v}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires_on = v["expires_on"].as_u64().expect("expires_on");
    assert!(expires_on.abs_diff(now + expires_in) <= 5, "{v}");
    let claims = validate(&emu, v["access_token"].as_str().expect("access_token")).await;
    assert_eq!(claims.app_id(), Some(DEV_CLIENT_ID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_with_a_certificate_pem_or_pfx() {
    const APP: &str = "c1d2e3f4-0a1b-4c2d-8e3f-a0b1c2d3e4f5";
    let emu = Emulator::start().await.unwrap();
    let cert = TestCert::new();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(APP)
            .display_name("entra-cli test")
            .certificate_pem(&cert.cert.pem()),
    );
    emu.assign_app_role(DEV_TENANT_ID, APP, DEV_API_CLIENT_ID, "Files.Read.All");

    let dir = TempDir::new();
    let key_pem = cert.key.serialize_pem();
    let combined = dir.write("app.pem", format!("{}{}", cert.cert.pem(), key_pem));
    let cert_only = dir.write("app.crt", cert.cert.pem());
    let key = dir.write("app.key", &key_pem);
    const PASSWORD: &str = "pfx-Pa55word!";
    let pfx = dir.write("app.pfx", cert.pkcs12(PASSWORD));
    // Detected by content, whatever the name.
    let pfx_no_ext = dir.write("app-bundle", cert.pkcs12(PASSWORD));

    let cases: Vec<Vec<&str>> = vec![
        vec!["--certificate", &combined],
        vec!["--certificate", &cert_only, "--key", &key, "--pss"],
        vec![
            "--certificate",
            &pfx,
            "--certificate-password-env",
            "PFX_PW",
        ],
        vec![
            "--certificate",
            &pfx_no_ext,
            "--certificate-password-env",
            "PFX_PW",
            "--pss",
        ],
    ];
    for case in cases {
        let args = token_args(&emu, APP, &case);
        let run = entra(&strs(&args), &[("PFX_PW", PASSWORD)], None).await;
        run.assert_code(0).assert_hides(PASSWORD);
        assert!(!run.stdout.contains("PRIVATE KEY"), "{run:#?}");
        let claims = validate(&emu, run.stdout.trim()).await;
        assert_eq!(claims.app_id(), Some(APP), "{case:?}");
        assert_eq!(claims.app_auth_method(), Some("2"), "{case:?}");
        assert_eq!(claims.roles(), ["Files.Read.All"], "{case:?}");
    }

    // A wrong or missing password is one clear line that does not show the password.
    let args = token_args(
        &emu,
        APP,
        &[
            "--certificate",
            &pfx,
            "--certificate-password-env",
            "PFX_PW",
        ],
    );
    let run = entra(&strs(&args), &[("PFX_PW", "not-the-password")], None).await;
    run.assert_code(2)
        .assert_one_error_line()
        .assert_hides("not-the-password");
    assert!(run.stderr.contains("wrong password"), "{run:#?}");
    let args = token_args(&emu, APP, &["--certificate", &pfx]);
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(2).assert_one_error_line();
    assert!(
        run.stderr.contains("--certificate-password-env"),
        "{run:#?}"
    );
    // A PEM without its key says how to pass it.
    let args = token_args(&emu, APP, &["--certificate", &cert_only]);
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(2).assert_one_error_line();
    assert!(run.stderr.contains("--key"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_prints_the_aadsts_line() {
    const WRONG: &str = "wrong-secret-value-1234";
    let emu = Emulator::start().await.unwrap();
    let args = token_args(&emu, DEV_CLIENT_ID, &["--client-secret-env", "S"]);
    let run = entra(&strs(&args), &[("S", WRONG)], None).await;
    run.assert_code(1)
        .assert_one_error_line()
        .assert_hides(WRONG)
        .assert_hides(DEV_CLIENT_SECRET);
    assert!(run.stdout.is_empty(), "{run:#?}");
    for part in [
        "AADSTS7000215:",
        "invalid_client",
        "trace id ",
        "correlation id ",
    ] {
        assert!(run.stderr.contains(part), "missing {part:?}: {run:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_usage_errors() {
    let emu = Emulator::start().await.unwrap();
    // No credential at all: clap's usage error.
    let args = token_args(&emu, DEV_CLIENT_ID, &[]);
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(2);
    assert!(run.stderr.contains("--client-secret-env"), "{run:#?}");
    // No secret on the command line: there is no such option.
    let args = token_args(&emu, DEV_CLIENT_ID, &["--client-secret", DEV_CLIENT_SECRET]);
    entra(&strs(&args), &[], None).await.assert_code(2);
    // An unset variable is named, in one line.
    let args = token_args(
        &emu,
        DEV_CLIENT_ID,
        &["--client-secret-env", "ENTRA_CLI_TEST_UNSET"],
    );
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(2).assert_one_error_line();
    assert!(run.stderr.contains("ENTRA_CLI_TEST_UNSET"), "{run:#?}");
    // An unreachable authority is a network error.
    let port = closed_port();
    let authority = format!("http://127.0.0.1:{port}");
    let run = entra(
        &[
            "token",
            "--authority",
            &authority,
            "--tenant",
            DEV_TENANT_ID,
            "--client-id",
            DEV_CLIENT_ID,
            "--client-secret-env",
            "S",
            "--scope",
            &scope(),
        ],
        &[("S", DEV_CLIENT_SECRET)],
        None,
    )
    .await;
    run.assert_code(2)
        .assert_one_error_line()
        .assert_hides(DEV_CLIENT_SECRET);
    assert!(
        run.stderr.contains("cannot reach the token endpoint"),
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_shows_claims_and_says_not_verified() {
    let emu = Emulator::start().await.unwrap();
    let token = emu.token().roles(["Api.Admin"]).sign();
    let run = entra(&["decode", &token], &[], None).await;
    run.assert_code(0);
    let out = &run.stdout;
    assert!(out.starts_with("NOT VERIFIED"), "{out}");
    let azp = format!("\"azp\": \"{DEV_CLIENT_ID}\"");
    let tid = format!("\"tid\": \"{DEV_TENANT_ID}\"");
    for part in [
        azp.as_str(),
        tid.as_str(),
        "\"alg\": \"RS256\"",
        "roles        Api.Admin",
        "version      2.0",
        "app-only (client credentials)",
        "expires in ",
    ] {
        assert!(out.contains(part), "missing {part:?} in\n{out}");
    }

    // From stdin (`-` or nothing), `Bearer ` prefix tolerated; an expired token says so.
    let expired = emu.token().expired().sign();
    for args in [vec!["decode", "-"], vec!["decode"]] {
        let run = entra(&args, &[], Some(&format!("Bearer {expired}\n"))).await;
        run.assert_code(0);
        assert!(run.stdout.contains("NOT VERIFIED"), "{run:#?}");
        assert!(run.stdout.contains("(expired 2 h ago)"), "{run:#?}");
    }

    // Machine output.
    let run = entra(&["decode", "--json", &expired], &[], None).await;
    run.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["verified"], false);
    assert_eq!(v["claims"]["tid"], DEV_TENANT_ID);
    assert_eq!(v["header"]["alg"], "RS256");
    assert_eq!(v["summary"]["app_id"], DEV_CLIENT_ID);
    assert_eq!(v["summary"]["expired"], true);
    assert!(v["summary"]["expires_in"].as_i64().unwrap() < -7000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_garbage_is_one_line_and_exit_2() {
    for input in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9.bm9wZQ.c2ln",
        "",
        "x.y.z.w.v",
    ] {
        let run = entra(&["decode", "-"], &[], Some(input)).await;
        run.assert_code(2).assert_one_error_line();
        assert!(run.stdout.is_empty(), "{run:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_valid_invalid_unreachable_and_usage() {
    let emu = Emulator::start().await.unwrap();
    let base = emu.base_url();
    let verify = |authority: String, audience: &str| {
        vec![
            "verify".to_owned(),
            "--authority".to_owned(),
            authority,
            "--tenant".to_owned(),
            DEV_TENANT_ID.to_owned(),
            "--audience".to_owned(),
            audience.to_owned(),
        ]
    };
    let api_uri = format!("api://{DEV_API_CLIENT_ID}");

    let token = emu.token().roles(["Api.Admin", "Files.Read.All"]).sign();
    let mut args = verify(base.clone(), &format!("{DEV_API_CLIENT_ID},{api_uri}"));
    args.push(token.clone());
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(0);
    assert!(run.stdout.starts_with("valid\n"), "{run:#?}");
    for part in [
        DEV_TENANT_ID,
        DEV_CLIENT_ID,
        "Api.Admin, Files.Read.All",
        "scopes       (none)",
    ] {
        assert!(run.stdout.contains(part), "missing {part:?}: {run:#?}");
    }
    // From stdin, client id derived from an api:// audience, JSON output.
    let mut args = verify(base.clone(), &api_uri);
    args.push("--json".to_owned());
    let v1_token = emu.token().audience(&api_uri).sign();
    let run = entra(&strs(&args), &[], Some(&v1_token)).await;
    run.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["valid"], true);
    assert_eq!(v["app_id"], DEV_CLIENT_ID);

    // Expired: exit 1 with the reason.
    let mut args = verify(base.clone(), DEV_API_CLIENT_ID);
    args.push(emu.token().expired().sign());
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(1);
    assert!(
        run.stdout
            .starts_with("invalid: the token is expired (expired 2 h ago"),
        "{run:#?}"
    );

    // Another API's token: exit 1, and the hint names the token's audience.
    let mut args = verify(base.clone(), "api://another-api");
    args.extend([
        "--client-id".to_owned(),
        "another-api".to_owned(),
        token.clone(),
    ]);
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(1);
    assert!(
        run.stdout
            .starts_with("invalid: the token audience is not accepted"),
        "{run:#?}"
    );
    assert!(run.stdout.contains(DEV_API_CLIENT_ID), "{run:#?}");

    // Garbage is an invalid token.
    let mut args = verify(base.clone(), DEV_API_CLIENT_ID);
    args.push("not-a-token".to_owned());
    entra(&strs(&args), &[], None).await.assert_code(1);

    // Unreachable authority: the answer is unknown, exit 2.
    let mut args = verify(
        format!("http://127.0.0.1:{}", closed_port()),
        DEV_API_CLIENT_ID,
    );
    args.push(token.clone());
    let run = entra(&strs(&args), &[], None).await;
    run.assert_code(2).assert_one_error_line();
    assert!(
        run.stderr.contains("signing keys could not be loaded"),
        "{run:#?}"
    );

    // Usage errors: exit 2.
    entra(&["verify", &token, "--tenant", DEV_TENANT_ID], &[], None)
        .await
        .assert_code(2);
    let run = entra(
        &[
            "verify",
            &token,
            "--tenant",
            "common",
            "--audience",
            DEV_API_CLIENT_ID,
        ],
        &[],
        None,
    )
    .await;
    run.assert_code(2).assert_one_error_line();
    assert!(run.stderr.contains("allow"), "{run:#?}");
    let run = entra(
        &[
            "verify",
            &token,
            "--tenant",
            DEV_TENANT_ID,
            "--audience",
            "x",
            "--authority",
            "http://example.com",
        ],
        &[],
        None,
    )
    .await;
    run.assert_code(2).assert_one_error_line();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_multi_tenant_allow_list() {
    let emu = Emulator::start().await.unwrap();
    let token = emu.token().roles(["Api.Admin"]).sign();
    let base = emu.base_url();
    let args = |allowed: &[&str]| {
        let mut a: Vec<String> = [
            "verify",
            "--authority",
            &base,
            "--tenant",
            "organizations",
            "--audience",
            DEV_API_CLIENT_ID,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        a.extend(allowed.iter().map(|s| (*s).to_owned()));
        a.push(token.clone());
        a
    };
    entra(
        &strs(&args(&[
            "--allowed-tenants",
            &format!("{OTHER_TENANT},{DEV_TENANT_ID}"),
        ])),
        &[],
        None,
    )
    .await
    .assert_code(0);
    entra(&strs(&args(&["--any-tenant"])), &[], None)
        .await
        .assert_code(0);
    let run = entra(
        &strs(&args(&["--allowed-tenants", OTHER_TENANT])),
        &[],
        None,
    )
    .await;
    run.assert_code(1);
    assert!(run.stdout.contains("not allowed"), "{run:#?}");
    // A domain name in the allow-list could never match a token's `tid`: a usage error.
    let run = entra(
        &strs(&args(&["--allowed-tenants", "contoso.com"])),
        &[],
        None,
    )
    .await;
    run.assert_code(2);
    assert!(run.stderr.contains("not a tenant id"), "{run:#?}");
}

const OTHER_TENANT: &str = "0f0e0d0c-0b0a-4909-8807-060504030201";

/// `entra emulator` serves; `entra token` and `entra verify` work against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_subcommand_serves_tokens() {
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = TempDir::new();
    let log_path = dir.0.join("emulator.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let (child, base) = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(["emulator", "--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start entra emulator");
        let stdout = child.stdout.take().expect("stdout");
        let child = Kill(child);
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first).expect("banner");
        // Keep reading: a closed pipe would make the emulator's next print fail.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let base = first
            .trim()
            .strip_prefix("Entra emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected banner {first:?}"))
            .to_owned();
        (child, base)
    })
    .await
    .unwrap();
    let run = entra(
        &[
            "token",
            "--authority",
            &base,
            "--tenant",
            DEV_TENANT_ID,
            "--client-id",
            DEV_CLIENT_ID,
            "--client-secret-env",
            "S",
            "--scope",
            &scope(),
        ],
        &[("S", DEV_CLIENT_SECRET)],
        None,
    )
    .await;
    run.assert_code(0);
    let run = entra(
        &[
            "verify",
            "--authority",
            &base,
            "--tenant",
            DEV_TENANT_ID,
            "--audience",
            DEV_API_CLIENT_ID,
        ],
        &[],
        Some(&run.stdout),
    )
    .await;
    if run.code != Some(0) {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!("verify failed: {run:#?}\nemulator log:\n{log}");
    }
    assert!(run.stdout.contains("Api.Admin"), "{run:#?}");
    drop(child);
}

#[tokio::test]
async fn help_has_examples() {
    let run = entra(&["--help"], &[], None).await;
    run.assert_code(0);
    assert!(run.stdout.contains("Examples:"), "{run:#?}");
    for sub in ["token", "decode", "verify", "emulator"] {
        let run = entra(&[sub, "--help"], &[], None).await;
        run.assert_code(0);
        assert!(run.stdout.contains("Examples:"), "{sub}: {run:#?}");
    }
    let run = entra(&["emulator", "--help"], &[], None).await;
    assert!(run.stdout.contains("--tls"), "{run:#?}");
    let run = entra(&["decode", "--help"], &[], None).await;
    assert!(run.stdout.contains("NOT"), "{run:#?}");
}
