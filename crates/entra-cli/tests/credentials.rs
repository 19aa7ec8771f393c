//! `entra token` with the credentials that need no secret on the machine, or that act for a user:
//! a federated token file, a managed identity, on-behalf-of, and the environment's credential
//! chain. The `entra` binary runs as a process, with an environment of the test's making only
//! (nothing of the machine's AZURE_* or IDENTITY_* variables), against an emulator started by
//! the test on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{BaseEnv, Run, TempDir, closed_port, run_entra};
use entra_auth::{Authenticator, Claims, EntraConfig};
use entra_emulator::{
    App, DEV_API_CLIENT_ID, DEV_CLIENT_ID, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN,
    DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_ID, DEV_USER_UPN, Emulator, Endpoint,
    FederatedCredential, ManagedIdentity, TokenVersion,
};

/// Runs `entra` with `args`, with only the environment variables `env` (and none of the
/// machine's), and `stdin` piped in when given; off the async runtime, which serves the
/// emulator meanwhile.
async fn entra(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    run_entra(args, BaseEnv::Empty, env, stdin).await
}

/// Validates a token for the API `client_id` of the dev tenant against the emulator's keys,
/// as that API would.
async fn validate_for(emu: &Emulator, client_id: &str, token: &str) -> Claims {
    let config = EntraConfig::builder()
        .tenant(DEV_TENANT_ID)
        .client_id(client_id)
        .authority(emu.base_url())
        .build()
        .expect("config");
    Authenticator::new(config)
        .validate(token)
        .await
        .expect("a valid token")
}

async fn validate(emu: &Emulator, token: &str) -> Claims {
    validate_for(emu, DEV_API_CLIENT_ID, token).await
}

fn dev_api_scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/.default")
}

// ---------------------------------------------------------------------------------------------
// Workload identity federation

const WORKLOAD_APP: &str = "f3d1e7a2-4b6c-4d8e-9a1f-2c3b4d5e6f70";
const SUBJECT: &str = "system:serviceaccount:default:entra-cli";
const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_with_a_federated_token_file() {
    let emu = Emulator::start().await.unwrap();
    let issuer = emu.add_workload_issuer("aks").unwrap();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(WORKLOAD_APP)
            .display_name("entra-cli workload")
            .federated_credential(FederatedCredential::new(&issuer, SUBJECT)),
    );
    emu.assign_app_role(
        DEV_TENANT_ID,
        WORKLOAD_APP,
        DEV_API_CLIENT_ID,
        "Files.Read.All",
    );
    let hour = Duration::from_secs(3600);
    let sa_token = emu
        .workload_token(&issuer, SUBJECT, EXCHANGE_AUDIENCE, hour)
        .unwrap();
    let dir = TempDir::new();
    let file = dir.write("azure-identity-token", format!("{sa_token}\n"));
    let base = emu.base_url();
    let scope = dev_api_scope();
    let args = |file: &str, extra: &[&'static str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "token",
            "--authority",
            &base,
            "--tenant",
            DEV_TENANT_ID,
            "--client-id",
            WORKLOAD_APP,
            "--federated-token-file",
            file,
            "--scope",
            &scope,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };

    let a = args(&file, &[]);
    let run = entra(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[], None).await;
    run.assert_hides(&sa_token);
    let claims = validate(&emu, run.token()).await;
    assert_eq!(claims.app_id(), Some(WORKLOAD_APP));
    assert!(claims.is_app_only());
    assert!(
        claims.roles().iter().any(|r| r == "Files.Read.All"),
        "{claims:?}"
    );

    // --json: the same format as with a secret.
    let a = args(&file, &["--json"]);
    let run = entra(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[], None).await;
    run.assert_code(0).assert_hides(&sa_token);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_u64().is_some() && v["expires_on"].as_u64().is_some());
    validate(&emu, v["access_token"].as_str().unwrap()).await;

    // A token of a subject the app does not trust: Entra's refusal, exit 1, the token not shown.
    let other = emu
        .workload_token(
            &issuer,
            "system:serviceaccount:default:someone-else",
            EXCHANGE_AUDIENCE,
            hour,
        )
        .unwrap();
    let wrong = dir.write("wrong-subject", &other);
    let a = args(&wrong, &[]);
    let run = entra(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[], None).await;
    run.assert_code(1)
        .assert_only_an_error_line()
        .assert_hides(&other);
    assert!(run.stderr.contains("AADSTS700213"), "{run:#?}");

    // No file: a usage error naming it.
    let missing = dir.0.join("missing-token").display().to_string();
    let a = args(&missing, &[]);
    let run = entra(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[], None).await;
    run.assert_code(2).assert_only_an_error_line();
    assert!(run.stderr.contains(&missing), "{run:#?}");
}

// ---------------------------------------------------------------------------------------------
// Managed identity

const SYSTEM_MI: &str = "5c1d8a4e-7f3b-4e2a-9c6d-1b8e0f4a7d32";
const USER_MI: &str = "6d2e9b5f-8a4c-4f3b-8d7e-2c9f1a5b8e43";
const USER_MI_OBJECT: &str = "7e3fac60-9b5d-4a4c-9e8f-3da02b6c9f54";
const USER_MI_RESOURCE: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/entra-cli";

/// An emulator with a system-assigned identity and a user-assigned one, both with a role on the
/// dev API.
async fn managed_identity_emulator() -> Emulator {
    let emu = Emulator::start().await.unwrap();
    emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new(SYSTEM_MI).system_assigned(),
    )
    .unwrap();
    emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new(USER_MI)
            .object_id(USER_MI_OBJECT)
            .resource_id(USER_MI_RESOURCE),
    )
    .unwrap();
    for mi in [SYSTEM_MI, USER_MI] {
        emu.assign_app_role(DEV_TENANT_ID, mi, DEV_API_CLIENT_ID, "Files.Read.All");
    }
    emu
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_with_a_managed_identity_from_the_environment() {
    let emu = managed_identity_emulator().await;
    let endpoints = emu.managed_identity_endpoints();
    let env = endpoints.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let header = endpoints.identity_header.clone();
    let scope = dev_api_scope();
    let base = ["token", "--managed-identity", "--scope", scope.as_str()];
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        base.iter().chain(extra).copied().collect()
    }

    // App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER): the system-assigned identity.
    let run = entra(&base, &env, None).await;
    run.assert_hides(&header);
    let claims = validate(&emu, run.token()).await;
    assert_eq!(claims.app_id(), Some(SYSTEM_MI));
    assert!(claims.is_app_only());
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 1);
    assert_eq!(emu.request_count(Endpoint::Token), 0);

    // User-assigned, by client id and by object id.
    for extra in [["--client-id", USER_MI], ["--object-id", USER_MI_OBJECT]] {
        let run = entra(&with(&base, &extra), &env, None).await;
        run.assert_hides(&header);
        let claims = validate(&emu, run.token()).await;
        assert_eq!(claims.app_id(), Some(USER_MI), "{extra:?}");
        assert_eq!(claims.object_id(), Some(USER_MI_OBJECT), "{extra:?}");
    }

    // IMDS at the emulator (no App Service variables), by resource id; --json as ever.
    let run = entra(
        &with(
            &base,
            &[
                "--imds-endpoint",
                &endpoints.imds_endpoint,
                "--resource-id",
                USER_MI_RESOURCE,
                "--json",
            ],
        ),
        &[],
        None,
    )
    .await;
    run.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    assert_eq!(v["token_type"], "Bearer");
    let claims = validate(&emu, v["access_token"].as_str().unwrap()).await;
    assert_eq!(claims.app_id(), Some(USER_MI));
    // IMDS is probed once first (a GET without `Metadata: true`), then asked for the token.
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 5);

    // An identity the resource does not have: the endpoint's refusal, exit 1, one line, and the
    // identity header never shown.
    let unknown = "00000000-0000-4000-8000-0000000000aa";
    let run = entra(&with(&base, &["--client-id", unknown]), &env, None).await;
    run.assert_code(1)
        .assert_only_an_error_line()
        .assert_hides(&header);
    assert!(
        run.stderr.contains("App Service") && run.stderr.contains("400"),
        "{run:#?}"
    );

    // Off Azure (nothing listens where IMDS should be): unavailable, exit 2, within the probe.
    let nowhere = format!(
        "http://127.0.0.1:{}/metadata/identity/oauth2/token",
        closed_port()
    );
    let run = entra(&with(&base, &["--imds-endpoint", &nowhere]), &[], None).await;
    run.assert_code(2).assert_only_an_error_line();
    assert!(run.stderr.contains("unavailable"), "{run:#?}");
}

// ---------------------------------------------------------------------------------------------
// On-behalf-of

/// The middle tier: a web API exposing `access_as_user`, calling the downstream API.
const MIDDLE: &str = "0b0e0000-1111-4222-8333-0000000000d1";
const MIDDLE_SECRET: &str = "middle-tier-secret~cli-test~not-for-production";
const MIDDLE_URI: &str = "api://middle-tier";
/// The downstream API (v2 tokens), exposing `Orders.Read`.
const DOWNSTREAM: &str = "0d0e0000-1111-4222-8333-0000000000d2";
const DOWNSTREAM_URI: &str = "api://downstream";
const ORDERS_READ: &str = "api://downstream/Orders.Read";
const MIDDLE_SUBJECT: &str = "system:serviceaccount:default:middle-tier";

/// The middle tier authenticates with a secret or with a federated token of `issuer`.
fn obo_apps(emu: &Emulator, issuer: &str) {
    emu.register_app(
        DEV_TENANT_ID,
        App::new(DOWNSTREAM)
            .display_name("Downstream API")
            .app_id_uri(DOWNSTREAM_URI)
            .scope("Orders.Read")
            .access_token_version(TokenVersion::V2),
    );
    emu.register_app(
        DEV_TENANT_ID,
        App::new(MIDDLE)
            .display_name("Middle tier")
            .secret(entra_emulator::ClientSecret::new(MIDDLE_SECRET))
            .federated_credential(FederatedCredential::new(issuer, MIDDLE_SUBJECT))
            .app_id_uri(MIDDLE_URI)
            .scope("access_as_user")
            .requests(DOWNSTREAM_URI, ["Orders.Read"]),
    );
}

/// The token a SPA got for the middle tier, for `upn`.
fn user_token(emu: &Emulator, upn: &str) -> String {
    emu.token()
        .audience(MIDDLE_URI)
        .client_app(DEV_SPA_CLIENT_ID)
        .user(upn)
        .scopes("access_as_user")
        .sign()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_behalf_of_a_user_whose_token_is_on_stdin_or_in_a_file() {
    let emu = Emulator::start().await.unwrap();
    let issuer = emu.add_workload_issuer("aks").unwrap();
    obo_apps(&emu, &issuer);
    let base = emu.base_url();
    let app = [
        "token",
        "--on-behalf-of",
        "--authority",
        base.as_str(),
        "--tenant",
        DEV_TENANT_ID,
        "--client-id",
        MIDDLE,
        "--scope",
        ORDERS_READ,
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        app.iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect::<Vec<_>>()
    };
    let secret_env = [("MIDDLE_SECRET", MIDDLE_SECRET)];

    // Adele's token on stdin, the middle tier's secret from an environment variable.
    let adele = user_token(&emu, DEV_USER_UPN);
    let args = with(&["--client-secret-env", "MIDDLE_SECRET"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = entra(&args, &secret_env, Some(&format!("{adele}\n"))).await;
    run.assert_hides(MIDDLE_SECRET).assert_hides(&adele);
    let claims = validate_for(&emu, DOWNSTREAM, run.token()).await;
    assert_eq!(claims.object_id(), Some(DEV_USER_ID));
    assert_eq!(claims.preferred_username(), Some(DEV_USER_UPN));
    assert_eq!(claims.scopes(), ["Orders.Read"]);
    assert_eq!(claims.app_id(), Some(MIDDLE));
    assert_eq!(claims.app_auth_method(), Some("1"), "a secret");
    assert!(!claims.is_app_only());

    // Alex's token as a JSON token response on stdin: Alex's downstream token, not Adele's.
    let alex = user_token(&emu, DEV_SECOND_USER_UPN);
    let json = serde_json::json!({ "token_type": "Bearer", "access_token": alex }).to_string();
    let run = entra(&args, &secret_env, Some(&json)).await;
    run.assert_hides(&alex);
    let claims = validate_for(&emu, DOWNSTREAM, run.token()).await;
    assert_eq!(claims.object_id(), Some(DEV_SECOND_USER_ID));

    // The user's token from a file (`Bearer ...`), the app's credential a federated token file.
    let dir = TempDir::new();
    let user_file = dir.write("user-token", format!("Bearer {adele}\n"));
    let sa_token = emu
        .workload_token(
            &issuer,
            MIDDLE_SUBJECT,
            EXCHANGE_AUDIENCE,
            Duration::from_secs(3600),
        )
        .unwrap();
    let sa_file = dir.write("sa-token", &sa_token);
    let args = with(&[
        "--federated-token-file",
        &sa_file,
        "--user-token-file",
        &user_file,
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = entra(&args, &[], None).await;
    run.assert_hides(&adele).assert_hides(&sa_token);
    let claims = validate_for(&emu, DOWNSTREAM, run.token()).await;
    assert_eq!(claims.object_id(), Some(DEV_USER_ID));
    assert_eq!(claims.app_auth_method(), Some("2"), "a client assertion");

    // Nothing on stdin: one clear line, exit 2, no request sent.
    let requests = emu.request_count(Endpoint::Token);
    let args = with(&["--client-secret-env", "MIDDLE_SECRET"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = entra(&args, &secret_env, Some("")).await;
    run.assert_code(2).assert_only_an_error_line();
    assert!(run.stderr.contains("user token"), "{run:#?}");
    assert_eq!(emu.request_count(Endpoint::Token), requests);

    // A token that is not for the middle tier (an app token for the dev API): Entra refuses
    // the exchange, exit 1, and the token is not shown.
    let app_token = emu
        .token()
        .audience(DEV_API_CLIENT_ID)
        .client_app(DEV_CLIENT_ID)
        .sign();
    let run = entra(&args, &secret_env, Some(&app_token)).await;
    run.assert_code(1)
        .assert_only_an_error_line()
        .assert_hides(&app_token)
        .assert_hides(MIDDLE_SECRET);
    assert!(run.stderr.contains("AADSTS"), "{run:#?}");
    // Delegated scopes: no client-credentials advice.
    assert!(!run.stderr.contains(".default"), "{run:#?}");
}

// ---------------------------------------------------------------------------------------------
// The credential chain

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_with_only_a_managed_identity_uses_it() {
    let emu = managed_identity_emulator().await;
    let endpoints = emu.managed_identity_endpoints();
    let env = endpoints.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let scope = dev_api_scope();
    let run = entra(&["token", "--chain", "--scope", &scope], &env, None).await;
    run.assert_hides(&endpoints.identity_header);
    let claims = validate(&emu, run.token()).await;
    assert_eq!(claims.app_id(), Some(SYSTEM_MI));
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 1);
    assert_eq!(emu.request_count(Endpoint::Token), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_with_nothing_available_prints_every_reason() {
    // No AZURE_* variable, no App Service variables, and IMDS moved to a port where nothing
    // listens (the machine running the test might be an Azure VM with a real IMDS).
    let port = closed_port();
    let imds_host = format!("http://127.0.0.1:{port}");
    let scope = dev_api_scope();
    let run = entra(
        &["token", "--chain", "--scope", &scope],
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &imds_host)],
        None,
    )
    .await;
    run.assert_code(2).assert_only_an_error_line();
    let line = &run.stderr;
    for expected in [
        "no credential of the chain obtained a token",
        "EnvironmentCredential: unavailable",
        "AZURE_TENANT_ID",
        "WorkloadIdentityCredential: unavailable",
        "AZURE_FEDERATED_TOKEN_FILE",
        "ManagedIdentityCredential: unavailable",
        &format!("127.0.0.1:{port}"),
    ] {
        assert!(line.contains(expected), "{expected:?} missing: {run:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_stops_at_a_configured_credential_that_is_refused() {
    let emu = managed_identity_emulator().await;
    let endpoints = emu.managed_identity_endpoints();
    let wrong = "not-the-secret~cli-chain-test";
    let base = emu.base_url();
    let mut env: Vec<(&str, &str)> = vec![
        ("AZURE_TENANT_ID", DEV_TENANT_ID),
        ("AZURE_CLIENT_ID", DEV_CLIENT_ID),
        ("AZURE_CLIENT_SECRET", wrong),
        ("AZURE_AUTHORITY_HOST", &base),
    ];
    let mi_env = endpoints.env();
    env.extend(mi_env.iter().map(|(k, v)| (*k, v.as_str())));
    let scope = dev_api_scope();
    let run = entra(&["token", "--chain", "--scope", &scope], &env, None).await;
    // The secret is refused: exit 1, the refusal and the credentials not tried are named, and
    // the managed identity (which would have worked) was not asked.
    run.assert_code(1)
        .assert_only_an_error_line()
        .assert_hides(wrong);
    for expected in [
        "EnvironmentCredential: failed",
        "AADSTS7000215",
        "ManagedIdentityCredential: not tried",
    ] {
        assert!(
            run.stderr.contains(expected),
            "{expected:?} missing: {run:#?}"
        );
    }
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 0);
}

// ---------------------------------------------------------------------------------------------
// Options that do not go together

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_options_are_refused_before_anything_is_sent() {
    let scope = dev_api_scope();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--managed-identity", "--tenant", DEV_TENANT_ID],
            "'--managed-identity' cannot be used with '--tenant",
        ),
        (
            &["--chain", "--client-id", DEV_CLIENT_ID],
            "'--chain' cannot be used with '--client-id",
        ),
        (&["--chain", "--managed-identity"], "cannot be used with"),
        (
            &[
                "--managed-identity",
                "--client-id",
                USER_MI,
                "--object-id",
                USER_MI_OBJECT,
            ],
            "'--client-id <CLIENT_ID>' cannot be used with '--object-id <ID>'",
        ),
        (
            &[
                "--tenant",
                DEV_TENANT_ID,
                "--client-id",
                DEV_CLIENT_ID,
                "--user",
                "--on-behalf-of",
            ],
            "'--user' cannot be used with '--on-behalf-of'",
        ),
        (
            &[
                "--tenant",
                DEV_TENANT_ID,
                "--client-id",
                DEV_CLIENT_ID,
                "--federated-token-file",
                "f",
                "--user-token-file",
                "u",
            ],
            "--on-behalf-of",
        ),
        (
            &["--managed-identity", "--key", "k.pem"],
            "cannot be used with",
        ),
        (
            &[
                "--tenant",
                DEV_TENANT_ID,
                "--client-id",
                DEV_CLIENT_ID,
                "--client-secret-env",
                "S",
                "--imds-endpoint",
                "http://127.0.0.1:1/x",
            ],
            "--managed-identity",
        ),
        (
            &["--federated-token-file", "f", "--client-id", DEV_CLIENT_ID],
            "--tenant",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["token", "--scope", scope.as_str()];
        args.extend_from_slice(extra);
        let run = entra(&args, &[("S", "secret")], None).await;
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert!(
            run.stderr.contains(expected),
            "{extra:?}: {expected:?}: {run:#?}"
        );
    }
}
