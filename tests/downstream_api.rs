//! The on-behalf-of example end to end, over HTTP on 127.0.0.1: users sign in with a device code
//! through entra-client's `UserCredential` (the test enters the user code on the emulator's
//! `/devicelogin` page and signs in on the page), call `/me/profile` with their delegated token,
//! and get their own Microsoft Graph profile back.
//!
//! - As a new user runs it: `cargo run --example downstream_api` with no tenant configured
//!   starts the built-in emulator and prints the device-code sign-in command; the test signs two
//!   users in with exactly the printed authority, tenant, client id and scope.
//! - In process, with an emulator the test holds (the example's own `emulator_setup` and
//!   `router`, this file includes the example): the token endpoint's requests are counted, so a
//!   second user is seen to cost a request of their own (never the first user's cached Graph
//!   token); missing consent is the 403 challenge; failures of Entra or Graph are 502.
//!
//! Device code polling: the credential polls at once (pending), then waits in its `poll_sleep`
//! hook, which here returns only once the test has signed in on the pages; the next poll gets
//! the tokens (the emulator answers an approved code whatever the interval). Nothing sleeps for
//! real.

#[allow(dead_code)]
#[path = "../examples/downstream_api.rs"]
mod example;
mod example_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use entra_auth::EntraAuthLayer;
use entra_client::UserCredential;
use entra_emulator::{
    DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN, DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_ID,
    DEV_USER_PASSWORD, DEV_USER_UPN, Emulator, Endpoint, Fault,
};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

use example_support::{Running, example_path};

/// Where to sign in, as the example printed it in its `entra login --device-code` command.
struct SignInTarget {
    authority: String,
    tenant: String,
    client_id: String,
    scope: String,
}

/// The value after `flag` in a printed command line.
fn arg(line: &str, flag: &str) -> String {
    let mut words = line.split_whitespace();
    words
        .by_ref()
        .find(|w| *w == flag)
        .unwrap_or_else(|| panic!("{flag} not in {line}"));
    words.next().expect("a value").to_owned()
}

/// Starts the example in emulator mode; returns its base URL and the printed sign-in target.
fn start_example() -> (Running, String, SignInTarget) {
    let mut child = Command::new(example_path("downstream_api"))
        .env("BIND", "127.0.0.1:0")
        .env_remove("ENTRA_TENANT_ID")
        .env_remove("ENTRA_CLIENT_ID")
        .env_remove("ENTRA_CLIENT_SECRET")
        .env_remove("ENTRA_AUTHORITY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the example");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut base = None;
    let mut target = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("downstream API listening on ") {
            base = Some(rest.trim().to_owned());
        }
        if line.contains(" login --device-code ") {
            target = Some(SignInTarget {
                authority: arg(&line, "--authority"),
                tenant: arg(&line, "--tenant"),
                client_id: arg(&line, "--client-id"),
                scope: arg(&line, "--scope"),
            });
        }
        // The last line the example prints in emulator mode.
        if line.contains(" token --user ") {
            break;
        }
    }
    // Keep draining the example's output so that it never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        running,
        base.expect("base URL printed"),
        target.expect("device code sign-in printed"),
    )
}

/// The example's registration and router in process, on an emulator the test holds.
async fn start_in_process(emu: &Emulator) -> (String, SignInTarget) {
    let (config, downstream) = example::emulator_setup(emu).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = example::router(EntraAuthLayer::new(config), downstream);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let target = SignInTarget {
        authority: emu.base_url(),
        tenant: DEV_TENANT_ID.to_owned(),
        client_id: DEV_SPA_CLIENT_ID.to_owned(),
        scope: format!(
            "api://{}/{}",
            example::EMULATOR_API_CLIENT_ID,
            example::API_SCOPE
        ),
    };
    (base, target)
}

/// A browser for the tests: no redirects followed, no cookies kept.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every `name="{name}" value="..."` of a page.
fn input_values(page: &str, name: &str) -> Vec<String> {
    let needle = format!("name=\"{name}\" value=\"");
    page.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &page[i + needle.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

fn form_action(page: &str) -> String {
    let i = page.find("action=\"").expect("a form") + "action=\"".len();
    page[i..i + page[i..].find('"').unwrap()].replace("&amp;", "&")
}

/// Enters `user_code` on `/devicelogin` and signs in as `upn` (with Adele's password for
/// Adele); the last page.
async fn device_login(authority: &str, user_code: &str, upn: &str) -> String {
    let page = browser()
        .post(format!("{authority}/devicelogin"))
        .form(&[("otc", user_code)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        input_values(&page, "user").iter().any(|u| u == upn),
        "{upn} not on the page: {page}"
    );
    let flow = input_values(&page, "flow").remove(0);
    let mut form = vec![("flow", flow.as_str()), ("user", upn)];
    if upn == DEV_USER_UPN {
        form.push(("password", DEV_USER_PASSWORD));
    }
    browser()
        .post(format!("{authority}{}", form_action(&page)))
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Signs `upn` in with a device code through entra-client's `UserCredential` (a credential of
/// their own, as on their own machine); returns their access token for the API.
async fn sign_in(target: &SignInTarget, upn: &str) -> String {
    let (tx, mut prompts) = mpsc::unbounded_channel();
    let go = Arc::new(Semaphore::new(0));
    let waiting = go.clone();
    let credential = UserCredential::builder(&target.tenant, &target.client_id)
        .authority(&target.authority)
        .device_code_prompt(move |info| {
            let _ = tx.send(info.clone());
        })
        .poll_sleep(move |_interval| {
            let waiting = waiting.clone();
            async move { waiting.acquire().await.unwrap().forget() }
        })
        .build()
        .unwrap();
    let scope = target.scope.clone();
    let signing_in = tokio::spawn({
        let credential = credential.clone();
        async move { credential.sign_in_with_device_code(&[&scope]).await }
    });
    let info = prompts.recv().await.expect("the device code prompt");
    assert_eq!(
        info.verification_uri,
        format!("{}/devicelogin", target.authority)
    );
    let done = device_login(&target.authority, &info.user_code, upn).await;
    assert!(done.contains("You have signed in"), "{done}");
    go.add_permits(1);
    let account = tokio::time::timeout(Duration::from_secs(20), signing_in)
        .await
        .expect("the sign-in ends once the user has signed in")
        .unwrap()
        .unwrap();
    assert_eq!(account.username.as_deref(), Some(upn));
    let token = credential.token(&[&target.scope]).await.unwrap();
    token.secret().to_owned()
}

/// `GET /me/profile`, with `token` when given: the status, `WWW-Authenticate` and the JSON body.
async fn get_profile(base: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = browser().get(format!("{base}/me/profile"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, challenge, body)
}

/// `/me/profile` answers 200 with the Graph profile of `oid` / `upn`.
async fn assert_profile(base: &str, token: &str, oid: &str, upn: &str) {
    let (status, _, me) = get_profile(base, Some(token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], oid, "{me}");
    assert_eq!(me["userPrincipalName"], upn, "{me}");
}

#[tokio::test]
async fn the_example_returns_each_signed_in_users_own_graph_profile() {
    let (_running, base, target) = start_example();
    assert_eq!(target.tenant, DEV_TENANT_ID);
    assert_eq!(target.client_id, DEV_SPA_CLIENT_ID);
    assert!(
        target.scope.ends_with("/access_as_user"),
        "{}",
        target.scope
    );

    let healthz = browser()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
    let (status, challenge, _) = get_profile(&base, None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer"));

    let adele = sign_in(&target, DEV_USER_UPN).await;
    assert_profile(&base, &adele, DEV_USER_ID, DEV_USER_UPN).await;

    // A second user, no password: their own profile, not Adele's (cached) one.
    let alex = sign_in(&target, DEV_SECOND_USER_UPN).await;
    assert_ne!(alex, adele);
    assert_profile(&base, &alex, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN).await;
    // Both again, in the other order: each still gets their own.
    assert_profile(&base, &adele, DEV_USER_ID, DEV_USER_UPN).await;
    assert_profile(&base, &alex, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN).await;

    let (status, challenge, _) = get_profile(&base, Some(&format!("{adele}x"))).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("invalid_token"));
}

#[tokio::test]
async fn a_second_user_costs_a_token_request_of_their_own() {
    let emu = Emulator::start().await.unwrap();
    let (base, target) = start_in_process(&emu).await;
    let adele = sign_in(&target, DEV_USER_UPN).await;
    let alex = sign_in(&target, DEV_SECOND_USER_UPN).await;
    let tokens = || emu.request_count(Endpoint::Token);
    let graph = || emu.request_count(Endpoint::Graph);
    let (before, graph_before) = (tokens(), graph());

    assert_profile(&base, &adele, DEV_USER_ID, DEV_USER_UPN).await;
    assert_eq!(tokens(), before + 1, "one on-behalf-of request for Adele");
    assert_profile(&base, &adele, DEV_USER_ID, DEV_USER_UPN).await;
    assert_eq!(tokens(), before + 1, "Adele's Graph token from the cache");

    assert_profile(&base, &alex, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN).await;
    assert_eq!(
        tokens(),
        before + 2,
        "Alex gets a Graph token of his own, not Adele's cached one"
    );
    assert_profile(&base, &alex, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN).await;
    assert_profile(&base, &adele, DEV_USER_ID, DEV_USER_UPN).await;
    assert_eq!(tokens(), before + 2);
    assert_eq!(graph(), graph_before + 5, "every call reaches Graph");
}

#[tokio::test]
async fn missing_consent_is_the_403_challenge_until_the_user_consents() {
    let emu = Emulator::start().await.unwrap();
    let (base, target) = start_in_process(&emu).await;
    // No development-mode consent: Adele consented to the client app calling the API, but not
    // to the API reading her profile in Graph.
    emu.set_auto_consent(DEV_TENANT_ID, false);
    emu.grant_user_consent(
        DEV_TENANT_ID,
        DEV_USER_UPN,
        DEV_SPA_CLIENT_ID,
        example::EMULATOR_API_CLIENT_ID,
        &[example::API_SCOPE],
    )
    .unwrap();
    let adele = sign_in(&target, DEV_USER_UPN).await;

    let (status, challenge, body) = get_profile(&base, Some(&adele)).await;
    assert_eq!(status, 403, "{body}");
    let challenge = challenge.expect("WWW-Authenticate");
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"scope="{}""#, example::GRAPH_USER_READ)),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"proposedAction="consent""#),
        "{challenge}"
    );
    assert_eq!(body["error"], "consent_required");
    assert!(!body.to_string().contains(&adele));
    assert_eq!(emu.request_count(Endpoint::Graph), 0);

    // Once she consents, the next call gets her profile (the refusal was not cached).
    emu.grant_user_consent(
        DEV_TENANT_ID,
        DEV_USER_UPN,
        example::EMULATOR_API_CLIENT_ID,
        "https://graph.microsoft.com",
        &["User.Read"],
    )
    .unwrap();
    assert_profile(&base, &adele, DEV_USER_ID, DEV_USER_UPN).await;
}

#[tokio::test]
async fn failures_of_entra_or_graph_are_502_and_scopes_are_required() {
    let emu = Emulator::start().await.unwrap();
    let (base, target) = start_in_process(&emu).await;
    let adele = sign_in(&target, DEV_USER_UPN).await;

    // Graph refuses, then cannot be reached.
    emu.set_fault(Endpoint::Graph, Fault::Status(500));
    let (status, _, body) = get_profile(&base, Some(&adele)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "bad_gateway");
    emu.set_fault(Endpoint::Graph, Fault::DropConnection);
    let (status, _, body) = get_profile(&base, Some(&adele)).await;
    assert_eq!(status, 502, "{body}");
    emu.clear_fault(Endpoint::Graph);
    assert_profile(&base, &adele, DEV_USER_ID, DEV_USER_UPN).await;

    // Entra refuses the on-behalf-of request for another reason than the user (Alex's Graph
    // token is not cached yet): not a challenge, a 502.
    let alex = sign_in(&target, DEV_SECOND_USER_UPN).await;
    emu.set_fault(Endpoint::Token, Fault::Status(400));
    let (status, challenge, body) = get_profile(&base, Some(&alex)).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(challenge, None);
    assert_eq!(body["error"], "bad_gateway");
    emu.clear_fault(Endpoint::Token);
    assert_profile(&base, &alex, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN).await;

    // A token for the API without its `access_as_user` scope never reaches on-behalf-of.
    let before = emu.request_count(Endpoint::Token);
    let other_scope = emu
        .token()
        .audience(example::EMULATOR_API_CLIENT_ID)
        .client_app(DEV_SPA_CLIENT_ID)
        .user(DEV_USER_UPN)
        .scopes("Something.Else")
        .sign();
    let (status, challenge, _) = get_profile(&base, Some(&other_scope)).await;
    assert_eq!(status, 403);
    assert!(challenge.unwrap().contains("insufficient_scope"));
    assert_eq!(emu.request_count(Endpoint::Token), before);
}
