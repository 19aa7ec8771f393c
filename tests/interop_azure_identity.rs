//! Microsoft's own clients against the emulator's secretless identities and its on-behalf-of
//! grant, over HTTPS with an emulator started here, in-process, with `--tls`:
//!
//! * azure-identity (`interop/azure_identity_flows.py`): `WorkloadIdentityCredential` with a
//!   service-account token file of a workload issuer the emulator serves (by arguments, and from
//!   the `AZURE_*` variables as on AKS), and `ManagedIdentityCredential` over the App Service
//!   protocol (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) and over IMDS
//!   (`AZURE_POD_IDENTITY_AUTHORITY_HOST`), user-assigned and system-assigned; each token's
//!   claims are checked here.
//! * MSAL Python's `acquire_token_on_behalf_of` (`interop/msal_obo_claims.py`) and entra-client's
//!   [`OnBehalfOf`], given the same user token: their downstream tokens must carry the same
//!   claims, apart from the per-token ones ([`PER_TOKEN`]).
//!
//! Skipped (with a message) when the venv is missing, unless `CI=true`: then it fails.

mod interop_support;

use std::collections::BTreeSet;
use std::time::Duration;

use entra_client::{ClientCredentials, OnBehalfOf};
use entra_emulator::{
    App, ClientSecret, DEV_API_CLIENT_ID, DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_ID,
    DEV_USER_PASSWORD, DEV_USER_UPN, Emulator, Endpoint, FederatedCredential, GRAPH_RESOURCE,
    ManagedIdentity, TlsOptions, TokenVersion,
};
use serde_json::{Map, Value, json};

use interop_support::{TempDir, python, run_script};

/// The app whose workload (a Kubernetes service account) signs in with a federated credential.
const WORKLOAD_APP_ID: &str = "2f7c9e41-8d3a-4b6e-a51f-7c0d2e9b4a63";
const WORKLOAD_SUBJECT: &str = "system:serviceaccount:orders:orders-api";
/// A user-assigned managed identity, selected by client id, object id or resource id.
const MI_CLIENT_ID: &str = "9a4d2c7e-1b5f-4e8a-b3c6-0d9e7f1a2b54";
const MI_OBJECT_ID: &str = "c3e8a1f5-6d2b-4a9c-8e7f-5b1d0a3c9e26";
const MI_RESOURCE_ID: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourcegroups/interop/providers/Microsoft.ManagedIdentity/userAssignedIdentities/interop-orders";
/// The system-assigned identity of the "site" the App Service / IMDS endpoints serve.
const SYSTEM_MI_CLIENT_ID: &str = "4e1b7a9d-3c6f-4d2e-9a8b-6f0c1e5d7a38";
const SYSTEM_MI_OBJECT_ID: &str = "7d5f3b2a-9e1c-4f6d-b8a4-2c6e0f9d1b75";

/// The middle tier of on-behalf-of: a web API the user's token is for, calling Microsoft Graph
/// and the development API for the user.
const MIDDLE_TIER_ID: &str = "0e6a3d8f-5c1b-4f7e-9d2a-8b4c6e1f3a97";
const MIDDLE_TIER_SECRET: &str = "interop-obo-middle-tier-secret~not-for-production";

/// The claims that differ from one token to the next by design, left out of the comparison of
/// MSAL's and entra-client's on-behalf-of tokens: the times (`iat`, `nbf`, `exp`: Entra, and the
/// emulator, pick each token's lifetime at random between 60 and 90 minutes; both are checked
/// to lie there) and Entra's per-token ids (`aio`, `uti`, `rh`).
const PER_TOKEN: [&str; 6] = ["iat", "nbf", "exp", "aio", "uti", "rh"];

/// The claims compared, value for value, between MSAL's and entra-client's on-behalf-of
/// tokens, per downstream scope: every claim the emulator puts in such a token but
/// [`PER_TOKEN`]. Both tokens must have exactly these claims and [`PER_TOKEN`].
const COMPARED_GRAPH: &[&str] = &[
    "acr",
    "amr",
    "appid",
    "appidacr",
    "aud",
    "family_name",
    "given_name",
    "iss",
    "name",
    "oid",
    "scp",
    "sub",
    "tid",
    "unique_name",
    "upn",
    "ver",
];
const COMPARED_API: &[&str] = &[
    "amr",
    "aud",
    "azp",
    "azpacr",
    "family_name",
    "given_name",
    "iss",
    "name",
    "oid",
    "preferred_username",
    "scp",
    "sub",
    "tid",
    "ver",
];

const AZURE_IDENTITY_FLOWS: [&str; 7] = [
    "workload",
    "workload_env",
    "app_service_client_id",
    "app_service_resource_id",
    "app_service_system",
    "imds_object_id",
    "imds_client_id",
];

/// The emulator over TLS and its CA certificate written to `dir`.
async fn tls_emulator(dir: &TempDir) -> (Emulator, String) {
    let emu = Emulator::builder()
        .tls(TlsOptions::new())
        .start()
        .await
        .expect("start the emulator over TLS");
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    let ca = dir.path().join("emulator-ca.pem");
    std::fs::write(&ca, emu.ca_certificate_pem().expect("a CA over TLS")).unwrap();
    (emu, ca.display().to_string())
}

/// Run an interop script from a blocking task (the emulator keeps serving on the runtime's
/// workers meanwhile) and parse its JSON summary.
async fn run_json(
    python: std::path::PathBuf,
    script: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> (Value, interop_support::Output) {
    let out = tokio::task::spawn_blocking(move || {
        run_script(&python, script, &args, &env, Duration::from_secs(120))
    })
    .await
    .unwrap();
    eprintln!("{script} stderr:\n{}", out.stderr);
    println!("{script} summary:\n{}", out.stdout);
    let summary: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON summary ({e}; exit {}):\n{}\n{}",
            out.status, out.stdout, out.stderr
        )
    });
    (summary, out)
}

fn args(pairs: &[(&str, String)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(k, v)| [(*k).to_owned(), v.clone()])
        .collect()
}

fn roles(claims: &Value) -> BTreeSet<String> {
    claims["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_gets_workload_and_managed_identity_tokens_over_tls() {
    let Some(python) = python() else { return };
    let dir = TempDir::new("entra-interop-azure-identity");
    let (emu, ca) = tls_emulator(&dir).await;
    let base = emu.base_url();

    // Workload identity: an issuer like a cluster's, an app trusting its service account, and
    // the kubelet's token file.
    let issuer = emu.add_workload_issuer("aks-interop").unwrap();
    emu.register_app(
        DEV_TENANT_ID,
        App::new(WORKLOAD_APP_ID)
            .display_name("Interop orders workload")
            .federated_credential(FederatedCredential::new(&issuer, WORKLOAD_SUBJECT)),
    );
    emu.assign_app_role(
        DEV_TENANT_ID,
        WORKLOAD_APP_ID,
        DEV_API_CLIENT_ID,
        "Api.Admin",
    );
    emu.assign_app_role(
        DEV_TENANT_ID,
        WORKLOAD_APP_ID,
        DEV_API_CLIENT_ID,
        "Files.Read.All",
    );
    let token = emu
        .workload_token(
            &issuer,
            WORKLOAD_SUBJECT,
            "api://AzureADTokenExchange",
            Duration::from_secs(3600),
        )
        .unwrap();
    let token_file = dir.path().join("azure-identity-token");
    std::fs::write(&token_file, token).unwrap();

    // Managed identities: a user-assigned one and the system-assigned one, each with a role.
    emu.add_managed_identity(
        DEV_TENANT_ID,
        ManagedIdentity::new(MI_CLIENT_ID)
            .object_id(MI_OBJECT_ID)
            .resource_id(MI_RESOURCE_ID),
    )
    .unwrap();
    emu.assign_app_role(DEV_TENANT_ID, MI_CLIENT_ID, DEV_API_CLIENT_ID, "Api.Admin");
    let system = ManagedIdentity::new(SYSTEM_MI_CLIENT_ID)
        .object_id(SYSTEM_MI_OBJECT_ID)
        .display_name("interop-site")
        .system_assigned();
    let system_resource_id = system.azure_resource_id();
    emu.add_managed_identity(DEV_TENANT_ID, system).unwrap();
    emu.assign_app_role(
        DEV_TENANT_ID,
        SYSTEM_MI_CLIENT_ID,
        DEV_API_CLIENT_ID,
        "Files.Read.All",
    );
    let endpoints = emu.managed_identity_endpoints();

    let args = args(&[
        ("--base-url", base.clone()),
        ("--ca", ca),
        ("--tenant", DEV_TENANT_ID.to_owned()),
        ("--scope", format!("api://{DEV_API_CLIENT_ID}/.default")),
        ("--workload-client-id", WORKLOAD_APP_ID.to_owned()),
        ("--token-file", token_file.display().to_string()),
        (
            "--identity-endpoint",
            endpoints.app_service_endpoint.clone(),
        ),
        ("--imds-host", base.clone()),
        ("--mi-client-id", MI_CLIENT_ID.to_owned()),
        ("--mi-object-id", MI_OBJECT_ID.to_owned()),
        ("--mi-resource-id", MI_RESOURCE_ID.to_owned()),
        ("--flows", AZURE_IDENTITY_FLOWS.join(",")),
    ]);
    // The identity header is a secret of the host: from the environment, as on App Service.
    let env = vec![(
        "ENTRA_INTEROP_IDENTITY_HEADER",
        endpoints.identity_header.clone(),
    )];
    let (summary, out) = run_json(python, "azure_identity_flows.py", args, env).await;

    let issuer_v2 = emu.issuer_v2(DEV_TENANT_ID);
    for flow in AZURE_IDENTITY_FLOWS {
        let f = &summary["flows"][flow];
        assert_eq!(f["ok"], true, "azure-identity flow {flow} failed: {f}");
        let c = &f["claims"];
        // Whose token, and what the identity may do.
        let (app, oid, want_roles, mirid) = match flow {
            "workload" | "workload_env" => (
                WORKLOAD_APP_ID,
                emu.service_principal_id(DEV_TENANT_ID, WORKLOAD_APP_ID),
                vec!["Api.Admin", "Files.Read.All"],
                None,
            ),
            "app_service_system" => (
                SYSTEM_MI_CLIENT_ID,
                SYSTEM_MI_OBJECT_ID.to_owned(),
                vec!["Files.Read.All"],
                Some(system_resource_id.as_str()),
            ),
            _ => (
                MI_CLIENT_ID,
                MI_OBJECT_ID.to_owned(),
                vec!["Api.Admin"],
                Some(MI_RESOURCE_ID),
            ),
        };
        assert_eq!(c["azp"], app, "{flow}: the token's app (azp)");
        assert_eq!(
            c["azpacr"], "2",
            "{flow}: azpacr (a certificate or assertion)"
        );
        assert_eq!(c["oid"], oid.as_str(), "{flow}: oid");
        assert_eq!(c["sub"], oid.as_str(), "{flow}: sub");
        assert_eq!(c["idtyp"], "app", "{flow}: idtyp");
        assert_eq!(
            c["aud"], DEV_API_CLIENT_ID,
            "{flow}: aud (the API's v2 tokens)"
        );
        assert_eq!(c["iss"], issuer_v2.as_str(), "{flow}: iss");
        assert_eq!(c["tid"], DEV_TENANT_ID, "{flow}: tid");
        assert_eq!(c["ver"], "2.0", "{flow}: ver");
        let want_roles: BTreeSet<String> = want_roles.into_iter().map(str::to_owned).collect();
        assert_eq!(roles(c), want_roles, "{flow}: roles");
        assert!(
            c.get("scp").is_none(),
            "{flow}: an app-only token has no scp"
        );
        assert_eq!(
            c.get("xms_mirid").and_then(Value::as_str),
            mirid,
            "{flow}: xms_mirid (managed identities only)"
        );
        // Lifetimes: Entra's 60 to 90 minutes for an app, Azure's day for a managed identity.
        let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
        let expires_in = f["expires_in"].as_i64().unwrap();
        let want = if mirid.is_some() {
            86_400..=86_400
        } else {
            3_600..=5_400
        };
        assert!(want.contains(&lifetime), "{flow}: lifetime {lifetime} s");
        assert!(
            (lifetime - 60..=lifetime + 5).contains(&expires_in),
            "{flow}: azure-identity's expires_on is {expires_in} s away, the token's lifetime {lifetime} s"
        );
        // The protocol azure-identity chose from the environment.
        let protocol = f["protocol"].as_str();
        match flow {
            f if f.starts_with("app_service") => {
                assert_eq!(protocol, Some("AppServiceCredential"), "{flow}")
            }
            f if f.starts_with("imds") => assert_eq!(protocol, Some("ImdsCredential"), "{flow}"),
            _ => assert_eq!(protocol, None, "{flow}"),
        }
    }
    assert_eq!(summary["ok"], true);
    assert!(
        out.status.success(),
        "azure_identity_flows.py exited {}",
        out.status
    );

    // The requests went where each protocol sends them, naming the identity as it does: the
    // App Service protocol by `client_id`, `mi_res_id` or nothing (system-assigned), IMDS by
    // `object_id` or `client_id`; the workload's two assertions to the v2 token endpoint.
    let log = emu.request_log();
    let selectors = |path: &str| -> Vec<String> {
        log.iter()
            .filter(|r| r.path == path)
            .map(|r| {
                assert_eq!(r.status, Some(200), "{path}: {:?}", r.query);
                let q = r.query.as_deref().unwrap_or_default();
                let mut names: Vec<&str> = q
                    .split('&')
                    .filter_map(|kv| kv.split('=').next())
                    .filter(|k| !["api-version", "resource"].contains(k))
                    .collect();
                names.sort_unstable();
                names.join("&")
            })
            .collect()
    };
    assert_eq!(
        selectors("/msi/token"),
        ["client_id", "mi_res_id", ""],
        "App Service requests (their identity selectors)"
    );
    assert_eq!(
        selectors("/metadata/identity/oauth2/token"),
        ["object_id", "client_id"],
        "IMDS requests (their identity selectors)"
    );
    let token_requests: Vec<_> = log
        .iter()
        .filter(|r| r.path == format!("/{DEV_TENANT_ID}/oauth2/v2.0/token"))
        .map(|r| (r.client_id.clone(), r.status))
        .collect();
    assert_eq!(
        token_requests,
        vec![(Some(WORKLOAD_APP_ID.to_owned()), Some(200)); 2],
        "token endpoint requests (workload identity)"
    );
    assert_eq!(emu.request_count(Endpoint::ManagedIdentity), 5);
    emu.shutdown().await;
}

/// A user token for the middle tier: the public client's password grant for Adele, scope
/// `api://{middle tier}/access_as_user`.
async fn user_token_for_middle_tier(emu: &Emulator, http: &reqwest::Client) -> String {
    let scope = format!("api://{MIDDLE_TIER_ID}/access_as_user");
    let r = http
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .form(&[
            ("client_id", DEV_SPA_CLIENT_ID),
            ("grant_type", "password"),
            ("username", DEV_USER_UPN),
            ("password", DEV_USER_PASSWORD),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "the user's token for the middle tier: {body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let c: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["aud"], MIDDLE_TIER_ID);
    token
}

/// The header fields both clients' tokens must share: `alg`, `typ`, `kid` and `x5t` (v1 tokens),
/// `null` when absent.
fn header(token: &str) -> Value {
    let h = jsonwebtoken::decode_header(token).unwrap();
    json!({ "alg": format!("{:?}", h.alg), "typ": h.typ, "kid": h.kid, "x5t": h.x5t })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msal_and_entra_client_on_behalf_of_give_the_same_claims() {
    let Some(python) = python() else { return };
    let dir = TempDir::new("entra-interop-obo-claims");
    let (emu, ca) = tls_emulator(&dir).await;
    let api_scope = format!("api://{DEV_API_CLIENT_ID}/Files.Read");
    let graph_scope = format!("{GRAPH_RESOURCE}/User.Read");
    emu.register_app(
        DEV_TENANT_ID,
        App::new(MIDDLE_TIER_ID)
            .display_name("Interop OBO middle tier")
            .secret(ClientSecret::new(MIDDLE_TIER_SECRET))
            .app_id_uri(format!("api://{MIDDLE_TIER_ID}"))
            .scope("access_as_user")
            .requests(GRAPH_RESOURCE, ["User.Read"])
            .requests(DEV_API_CLIENT_ID, ["Files.Read"])
            .access_token_version(TokenVersion::V2),
    );
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            emu.ca_certificate_pem().unwrap().as_bytes(),
        )
        .unwrap()])
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let user_token = user_token_for_middle_tier(&emu, &http).await;

    // Ours: entra-client's OnBehalfOf with the middle tier's secret.
    let creds = ClientCredentials::builder(DEV_TENANT_ID, MIDDLE_TIER_ID)
        .authority(emu.base_url())
        .client_secret(entra_client::ClientSecret::new(MIDDLE_TIER_SECRET))
        .http_client(http.clone())
        .build()
        .unwrap();
    let obo = OnBehalfOf::new(creds);
    let mut ours = Map::new();
    for scope in [&graph_scope, &api_scope] {
        let token = obo.token(&user_token, &[scope.as_str()]).await.unwrap();
        ours.insert(scope.clone(), Value::String(token.secret().to_owned()));
    }

    // MSAL's, for the same user token.
    let args = args(&[
        ("--base-url", emu.base_url()),
        ("--ca", ca),
        ("--tenant", DEV_TENANT_ID.to_owned()),
        ("--obo-client-id", MIDDLE_TIER_ID.to_owned()),
        ("--scopes", format!("{graph_scope},{api_scope}")),
    ]);
    let env = vec![
        ("ENTRA_INTEROP_USER_ASSERTION", user_token.clone()),
        ("ENTRA_INTEROP_OBO_SECRET", MIDDLE_TIER_SECRET.to_owned()),
    ];
    let (summary, out) = run_json(python, "msal_obo_claims.py", args, env).await;
    assert_eq!(summary["ok"], true, "MSAL's on-behalf-of failed");
    assert!(
        out.status.success(),
        "msal_obo_claims.py exited {}",
        out.status
    );

    for (scope, compared, aud) in [
        (&graph_scope, COMPARED_GRAPH, GRAPH_RESOURCE),
        (&api_scope, COMPARED_API, DEV_API_CLIENT_ID),
    ] {
        let msal = &summary["tokens"][scope.as_str()];
        assert_eq!(msal["ok"], true, "MSAL {scope}: {msal}");
        let token = ours[scope.as_str()].as_str().unwrap();
        let mine: Map<String, Value> =
            jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap();
        let theirs = msal["claims"].as_object().expect("MSAL's token's claims");

        // The same claim names: the compared ones and the per-token ones, in both.
        let names = |m: &Map<String, Value>| m.keys().cloned().collect::<BTreeSet<String>>();
        let want: BTreeSet<String> = compared
            .iter()
            .chain(PER_TOKEN.iter())
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(names(&mine), want, "{scope}: entra-client's token's claims");
        assert_eq!(names(theirs), want, "{scope}: MSAL's token's claims");
        // The same values, claim by claim.
        for claim in compared {
            assert_eq!(
                mine[*claim], theirs[*claim],
                "{scope}: claim {claim} differs (entra-client vs MSAL)"
            );
        }
        // Times: each token's own, from now, for 60 to 90 minutes; the per-token ids differ
        // (two tokens were issued).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        for (who, m) in [("entra-client", &mine), ("MSAL", theirs)] {
            let (iat, nbf, exp) = (
                m["iat"].as_i64().unwrap(),
                m["nbf"].as_i64().unwrap(),
                m["exp"].as_i64().unwrap(),
            );
            assert!(
                (now - 300..=now + 5).contains(&iat),
                "{scope}: {who}'s iat {iat}"
            );
            assert_eq!(nbf, iat, "{scope}: {who}'s nbf");
            assert!(
                (3600..=5400).contains(&(exp - iat)),
                "{scope}: {who}'s lifetime {}",
                exp - iat
            );
        }
        assert_ne!(mine["uti"], theirs["uti"], "{scope}: one token twice");
        let h = &msal["header"];
        let theirs_header =
            json!({ "alg": h["alg"], "typ": h["typ"], "kid": h["kid"], "x5t": h["x5t"] });
        assert_eq!(header(token), theirs_header, "{scope}: the token header");
        assert_eq!(theirs_header["alg"], "RS256", "{scope}: alg");

        // And they are the user's tokens for the downstream resource, from the middle tier.
        assert_eq!(mine["oid"], DEV_USER_ID, "{scope}: oid");
        assert_eq!(mine["aud"], aud, "{scope}: aud");
        let app = mine.get("azp").or_else(|| mine.get("appid"));
        assert_eq!(
            app,
            Some(&json!(MIDDLE_TIER_ID)),
            "{scope}: the middle tier"
        );
        let scp = mine["scp"].as_str().unwrap_or_default();
        let short = scope.rsplit('/').next().unwrap();
        assert!(scp.split(' ').any(|s| s == short), "{scope}: scp {scp:?}");
    }
    emu.shutdown().await;
}
