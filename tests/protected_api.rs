//! The main job as a new user runs it: `cargo run --example protected_api` with no Entra tenant
//! configured starts the built-in emulator and prints a token; the API answers 401 without it and
//! 200 with it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

mod example_support;

use example_support::{Running, example_path};

/// What the example printed in emulator mode.
struct Printed {
    base: String,
    token: String,
    sign_in_url: String,
}

/// Starts the example API in emulator mode; returns its base URL and the printed token.
fn start_example() -> (Running, String, String) {
    let (running, printed) = start_example_printing();
    (running, printed.base, printed.token)
}

/// Starts the example API in emulator mode; returns what it printed.
fn start_example_printing() -> (Running, Printed) {
    let mut child = Command::new(example_path("protected_api"))
        .env("BIND", "127.0.0.1:0")
        .env_remove("ENTRA_TENANT_ID")
        .env_remove("ENTRA_CLIENT_ID")
        .env_remove("ENTRA_AUTHORITY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the example");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut base = None;
    let mut token = None;
    let mut sign_in_url = None;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("protected API listening on ") {
            base = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("TOKEN=") {
            token = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("SIGN_IN_URL=") {
            sign_in_url = Some(rest.trim().to_owned());
        }
        // The last line the example prints in emulator mode.
        if line.contains("code_verifier=") {
            break;
        }
    }
    // Keep draining the example's output so that it never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    let printed = Printed {
        base: base.expect("base URL printed"),
        token: token.expect("token printed"),
        sign_in_url: sign_in_url.expect("sign-in URL printed"),
    };
    (running, printed)
}

#[tokio::test]
async fn example_api_in_emulator_mode() {
    let (_running, base, token) = start_example();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = http.get(format!("{base}/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");

    let r = http
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["tid"], entra_emulator::DEV_TENANT_ID);
    assert_eq!(me["app_id"], entra_emulator::DEV_CLIENT_ID);
    assert_eq!(me["ver"], "2.0");

    for path in ["/admin", "/files"] {
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }

    let r = http
        .get(format!("{base}/me"))
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");
}

/// The "done when": a user signs in at the printed URL (the sign-in page, as a browser
/// would submit it), the code is redeemed as the SPA redeems it, and the delegated token
/// (scope `Files.Read`) is accepted on `/files` and refused on `/admin`.
#[tokio::test]
async fn a_user_signed_in_at_the_printed_url_reaches_files() {
    use entra_emulator::{
        DEV_SPA_CLIENT_ID, DEV_USER_ID, DEV_USER_PASSWORD, DEV_USER_UPN, Emulator,
    };

    let (_running, printed) = start_example_printing();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let page = http.get(&printed.sign_in_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let flow = html
        .split("name=\"flow\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in page carries its flow id")
        .to_owned();
    assert!(html.contains(DEV_USER_UPN), "the page lists the users");
    let authorize = url::Url::parse(&printed.sign_in_url).unwrap();
    let emulator = format!("{}://{}", authorize.scheme(), authorize.host_str().unwrap())
        + &format!(":{}", authorize.port().unwrap());
    let tenant = authorize
        .path_segments()
        .unwrap()
        .next()
        .unwrap()
        .to_owned();

    let signed_in = http
        .post(format!("{emulator}/{tenant}/login"))
        .form(&[
            ("flow", flow.as_str()),
            ("user", DEV_USER_UPN),
            ("password", DEV_USER_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 302);
    let location = url::Url::parse(signed_in.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        location.origin().ascii_serialization(),
        "http://localhost:3000"
    );
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");

    let tokens: serde_json::Value = http
        .post(format!("{emulator}/{tenant}/oauth2/v2.0/token"))
        .header("Origin", "http://localhost:3000")
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", DEV_SPA_CLIENT_ID),
            ("redirect_uri", "http://localhost:3000/"),
            ("code_verifier", Emulator::SIGN_IN_URL_VERIFIER),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_token = tokens["access_token"].as_str().expect("an access token");

    let files = http
        .get(format!("{}/files", printed.base))
        .bearer_auth(user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(files.status(), 200);
    let body: serde_json::Value = files.json().await.unwrap();
    assert_eq!(body["for"], DEV_USER_ID);
    let admin = http
        .get(format!("{}/admin", printed.base))
        .bearer_auth(user_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin.status(),
        403,
        "a user with Files.Read only is no admin"
    );
}
