//! The main job as a new user runs it: `cargo run --example protected_api` with no Entra tenant
//! configured starts the built-in emulator and prints a token; the API answers 401 without it and
//! 200 with it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cargo test` builds the examples next to the test binaries' `deps` folder.
fn example_path(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|p| p.parent()).unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test --workspace`",
        path.display()
    );
    path
}

/// Starts the example API in emulator mode; returns its base URL and the printed token.
fn start_example() -> (Running, String, String) {
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
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("protected API listening on ") {
            base = Some(rest.trim().to_owned());
        }
        if let Some(rest) = line.strip_prefix("TOKEN=") {
            token = Some(rest.trim().to_owned());
        }
        if base.is_some() && token.is_some() {
            break;
        }
    }
    // Keep draining the example's output so that it never writes into a closed pipe.
    std::thread::spawn(move || for _ in lines {});
    (
        running,
        base.expect("base URL printed"),
        token.expect("token printed"),
    )
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
