//! Microsoft's own client against the emulator: MSAL Python (`interop/msal_flows.py`, run from
//! the venv of `interop/setup.sh`) does authorization code + PKCE, refresh, device code, ROPC and
//! on-behalf-of over HTTPS against an emulator started here, in-process, with `--tls`, and
//! authorization code again with `response_mode=form_post`.
//!
//! Skipped (with a message) when the venv is missing, unless `CI=true`: then it fails.

mod interop_support;

use std::time::Duration;

use entra_emulator::{
    App, ClientSecret, DEV_API_CLIENT_ID, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN,
    DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_ID, DEV_USER_PASSWORD, DEV_USER_UPN, Emulator,
    GRAPH_RESOURCE, TlsOptions, TokenVersion,
};
use serde_json::Value;

use interop_support::{TempDir, python, run_script};

/// The middle tier of the on-behalf-of flow: a web API (confidential client) that users' tokens
/// are for, and that calls Microsoft Graph for them.
const MIDDLE_TIER_ID: &str = "6b0e4d2a-93c1-4f57-8e2d-1a5c7b9f3e08";
const MIDDLE_TIER_SECRET: &str = "interop-middle-tier-secret~not-for-production";

const FLOWS: [&str; 6] = [
    "auth_code",
    "refresh",
    "device_code",
    "ropc",
    "obo",
    "auth_code_form_post",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_python_completes_the_five_user_flows_over_tls() {
    let Some(python) = python() else { return };
    let emu = Emulator::builder()
        .tls(TlsOptions::new())
        .start()
        .await
        .expect("start the emulator over TLS");
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    emu.register_app(
        DEV_TENANT_ID,
        App::new(MIDDLE_TIER_ID)
            .display_name("Interop middle tier")
            .secret(ClientSecret::new(MIDDLE_TIER_SECRET))
            .app_id_uri(format!("api://{MIDDLE_TIER_ID}"))
            .scope("access_as_user")
            .requests(GRAPH_RESOURCE, ["User.Read"])
            .access_token_version(TokenVersion::V2),
    );

    let dir = TempDir::new("entra-interop-msal");
    let ca = dir.path().join("emulator-ca.pem");
    std::fs::write(&ca, emu.ca_certificate_pem().expect("a CA over TLS")).unwrap();

    let args: Vec<String> = [
        ("--base-url", emu.base_url()),
        ("--ca", ca.display().to_string()),
        ("--tenant", DEV_TENANT_ID.to_owned()),
        ("--client-id", DEV_SPA_CLIENT_ID.to_owned()),
        (
            "--api-scope",
            format!("api://{DEV_API_CLIENT_ID}/Files.Read"),
        ),
        ("--api-audience", DEV_API_CLIENT_ID.to_owned()),
        ("--user", DEV_USER_UPN.to_owned()),
        ("--user-oid", DEV_USER_ID.to_owned()),
        ("--password", DEV_USER_PASSWORD.to_owned()),
        ("--device-user", DEV_SECOND_USER_UPN.to_owned()),
        ("--device-user-oid", DEV_SECOND_USER_ID.to_owned()),
        ("--obo-client-id", MIDDLE_TIER_ID.to_owned()),
        ("--obo-secret", MIDDLE_TIER_SECRET.to_owned()),
        (
            "--obo-scope",
            format!("api://{MIDDLE_TIER_ID}/access_as_user"),
        ),
        ("--flows", FLOWS.join(",")),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_owned(), v])
    .collect();

    // Blocking: the emulator keeps serving on the runtime's workers meanwhile.
    let out = tokio::task::spawn_blocking(move || {
        run_script(
            &python,
            "msal_flows.py",
            &args,
            &[],
            Duration::from_secs(180),
        )
    })
    .await
    .unwrap();
    eprintln!("msal_flows.py stderr:\n{}", out.stderr);
    println!("msal_flows.py summary:\n{}", out.stdout);

    let summary: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "msal_flows.py printed no JSON summary ({e}; exit {}):\n{}\n{}",
            out.status, out.stdout, out.stderr
        )
    });
    for flow in FLOWS {
        let f = &summary["flows"][flow];
        assert_eq!(f["ok"], true, "MSAL flow {flow} failed: {f}");
        let oid = if flow == "device_code" {
            DEV_SECOND_USER_ID
        } else {
            DEV_USER_ID
        };
        assert_eq!(f["oid"], oid, "{flow}: the token's user");
        let scp = f["scp"].as_str().unwrap_or_default();
        let wanted = if flow == "obo" {
            "User.Read"
        } else {
            "Files.Read"
        };
        assert!(
            scp.split(' ').any(|s| s == wanted),
            "{flow}: scp {scp:?} lacks {wanted}"
        );
    }
    assert_eq!(summary["flows"]["refresh"]["refresh_token_rotated"], true);
    assert_eq!(summary["flows"]["obo"]["me"]["id"], DEV_USER_ID);
    assert_eq!(summary["ok"], true);
    assert!(out.status.success(), "msal_flows.py exited {}", out.status);

    // Each flow went through the endpoints it is about.
    use entra_emulator::Endpoint;
    for endpoint in [
        Endpoint::Authorize,
        Endpoint::SignIn,
        Endpoint::DeviceCode,
        Endpoint::DeviceLogin,
        Endpoint::Graph,
    ] {
        assert!(
            emu.request_count(endpoint) > 0,
            "no request reached {endpoint:?}"
        );
    }
    emu.shutdown().await;
}
