//! The sign-in page in a real browser: headless Chromium (Debian's, driven by selenium from the
//! venv of `interop/setup.sh`, script `interop/browser_sign_in.py`) opens the emulator's sign-in
//! URL, a screenshot of the page is kept at `target/artifacts/sign-in-page.png`, the second
//! development user's button is clicked, and the browser lands on the SPA's redirect URI with a
//! code, which is then redeemed here as the SPA would (cross-origin, with PKCE).
//!
//! Skipped (with a message) when the venv, chromium or chromedriver is missing, unless
//! `CI=true`: then it fails.

mod interop_support;

use std::path::PathBuf;
use std::time::Duration;

use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN, DEV_SPA_CLIENT_ID, DEV_TENANT_ID,
    Emulator, TokenVersion,
};
use serde_json::Value;

use interop_support::{missing, python, root, run_script};

const SPA_ORIGIN: &str = "http://localhost:3000";
const SPA_REDIRECT_URI: &str = "http://localhost:3000/";

/// A program from `env` or its Debian path, if it exists.
fn program(env: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if path.exists() {
        Some(path)
    } else {
        missing(
            &format!("no {} (set {env} to use another)", path.display()),
            "Install Debian's Chromium: `apt-get install -y chromium chromium-driver` \
             (.ci/run does it when they are missing).",
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_in_on_the_page_and_lands_on_the_redirect_uri_with_a_code() {
    let Some(python) = python() else { return };
    let Some(chromium) = program("ENTRA_INTEROP_CHROMIUM", "/usr/bin/chromium") else {
        return;
    };
    let Some(chromedriver) = program("ENTRA_INTEROP_CHROMEDRIVER", "/usr/bin/chromedriver") else {
        return;
    };
    let emu = Emulator::start().await.expect("start the emulator");
    let sign_in_url = emu.sign_in_url(DEV_TENANT_ID, DEV_SPA_CLIENT_ID, SPA_REDIRECT_URI);
    let screenshot = root().join("target/artifacts/sign-in-page.png");
    let _ = std::fs::remove_file(&screenshot);

    let args: Vec<String> = [
        ("--url", sign_in_url.clone()),
        ("--user", DEV_SECOND_USER_UPN.to_owned()),
        ("--redirect-prefix", format!("{SPA_REDIRECT_URI}?code=")),
        ("--screenshot", screenshot.display().to_string()),
        ("--chromium", chromium.display().to_string()),
        ("--chromedriver", chromedriver.display().to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_owned(), v])
    .collect();
    let out = tokio::task::spawn_blocking(move || {
        run_script(
            &python,
            "browser_sign_in.py",
            &args,
            &[],
            Duration::from_secs(120),
        )
    })
    .await
    .unwrap();
    eprintln!("browser_sign_in.py stderr:\n{}", out.stderr);
    println!("browser_sign_in.py summary:\n{}", out.stdout);
    let summary: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "browser_sign_in.py printed no JSON summary ({e}; exit {}):\n{}\n{}",
            out.status, out.stdout, out.stderr
        )
    });
    assert_eq!(summary["ok"], true, "the browser run failed: {summary}");
    assert!(out.status.success());

    // The page the browser showed, and its screenshot.
    assert_eq!(summary["heading"], "Sign in");
    let users = summary["users"].as_array().expect("users on the page");
    assert!(
        users.iter().any(|u| u == DEV_SECOND_USER_UPN),
        "the page lists {users:?}"
    );
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
        "{} is not a PNG of a page ({} bytes)",
        screenshot.display(),
        png.len()
    );

    // Where it landed: the redirect URI with the code and the state.
    let final_url = reqwest::Url::parse(summary["final_url"].as_str().unwrap()).unwrap();
    assert_eq!(
        format!(
            "{}{}",
            final_url.origin().ascii_serialization(),
            final_url.path()
        ),
        SPA_REDIRECT_URI
    );
    let query = |url: &reqwest::Url, name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let code = query(&final_url, "code").expect("a code in the redirect");
    assert_eq!(query(&final_url, "state").as_deref(), Some("emulator"));

    // The SPA redeems it: cross-origin, with the verifier of the sign-in URL.
    let scope = query(&reqwest::Url::parse(&sign_in_url).unwrap(), "scope").unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let r = http
        .post(emu.token_endpoint(DEV_TENANT_ID, TokenVersion::V2))
        .header("Origin", SPA_ORIGIN)
        .form(&[
            ("client_id", DEV_SPA_CLIENT_ID),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", SPA_REDIRECT_URI),
            ("code_verifier", Emulator::SIGN_IN_URL_VERIFIER),
            ("scope", scope.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(SPA_ORIGIN)
    );
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "redeeming the code: {body}");
    let token = body["access_token"].as_str().expect("an access token");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(token).unwrap();
    assert_eq!(claims["oid"], DEV_SECOND_USER_ID, "the user who clicked");
    assert_eq!(claims["aud"], DEV_API_CLIENT_ID);
    assert_eq!(claims["azp"], DEV_SPA_CLIENT_ID);
    assert!(
        claims["scp"]
            .as_str()
            .is_some_and(|s| s.split(' ').any(|s| s == "Files.Read")),
        "scp: {}",
        claims["scp"]
    );
    emu.shutdown().await;
}
