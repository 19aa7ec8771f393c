//! `entra login`, `entra token --user` and `entra logout` run as processes against an emulator
//! started by the test on 127.0.0.1, with the cache file in a temporary directory. The test
//! plays the browser: it reads the URL `entra login --no-browser` prints and follows it (the
//! emulator signs in at once with `auto_sign_in`) to the CLI's loopback listener.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_SPA_CLIENT_ID, DEV_TENANT_ID, DEV_USER_ID, DEV_USER_UPN, Emulator,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_entra");

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn scope() -> String {
    format!("api://{DEV_API_CLIENT_ID}/Files.Read")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("entra-cli-login-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn cache(&self) -> String {
        self.0
            .join("cache")
            .join("tokens.json")
            .to_str()
            .unwrap()
            .to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn app_args(emu: &Emulator, cache: &str) -> Vec<String> {
    [
        "--authority",
        &emu.base_url(),
        "--tenant",
        DEV_TENANT_ID,
        "--client-id",
        DEV_SPA_CLIENT_ID,
        "--cache-file",
        cache,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Runs `entra` to the end (off the runtime, which serves the emulator).
async fn entra(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN)
            .args(&args)
            .env_remove("RUST_LOG")
            .env_remove("BROWSER")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// `entra login --no-browser`: the URL it prints is followed like a browser would.
async fn login(emu: &Emulator, cache: &str) -> Run {
    let mut args = vec![
        "login".to_owned(),
        "--no-browser".into(),
        "--scope".into(),
        scope(),
    ];
    args.extend(app_args(emu, cache));
    let (url_tx, url_rx) = tokio::sync::oneshot::channel::<String>();
    let process = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(BIN)
            .args(&args)
            .env_remove("RUST_LOG")
            .env_remove("BROWSER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let mut url_tx = Some(url_tx);
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap() > 0 {
            if line.trim_start().starts_with("http")
                && line.contains("/authorize?")
                && let Some(tx) = url_tx.take()
            {
                let _ = tx.send(line.trim().to_owned());
            }
            seen.push_str(&line);
            line.clear();
        }
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let status = child.wait().unwrap();
        Run {
            code: status.code(),
            stdout,
            stderr: seen,
        }
    });
    let url = url_rx.await.expect("entra login printed the sign-in URL");
    let browser = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 302, "auto sign-in redirects at once");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://localhost:"), "{location}");
    let page = browser.get(location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Signed in"));
    process.await.unwrap()
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_in_the_browser_then_token_user_then_logout() {
    let emu = Emulator::builder()
        .auto_sign_in(DEV_USER_UPN)
        .start()
        .await
        .unwrap();
    let dir = TempDir::new("browser");
    let cache = dir.cache();

    let run = login(&emu, &cache).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains(&format!("Signed in as {DEV_USER_UPN}")),
        "{run:#?}"
    );
    assert!(run.stdout.contains(&cache), "{run:#?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let file: Value = serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    let refresh_token = file["accounts"][0]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!run.stdout.contains(&refresh_token) && !run.stderr.contains(&refresh_token));

    // A token from the cache, without asking Entra.
    let before = emu.request_count(entra_emulator::Endpoint::Token);
    let mut args = vec![
        "token".to_owned(),
        "--user".into(),
        "--json".into(),
        "--scope".into(),
        scope(),
    ];
    args.extend(app_args(&emu, &cache));
    let run = entra(args.clone()).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    let out: Value = serde_json::from_str(&run.stdout).unwrap();
    let c = claims(out["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["scp"], "Files.Read");
    assert_eq!(emu.request_count(entra_emulator::Endpoint::Token), before);
    assert!(!run.stdout.contains(&refresh_token) && !run.stderr.contains(&refresh_token));

    // Signed out: the next token asks for a sign-in (exit 1), naming the command.
    let mut logout = vec!["logout".to_owned()];
    logout.extend(app_args(&emu, &cache));
    let run = entra(logout).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("Signed out"), "{run:#?}");
    let run = entra(args).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.starts_with("error: interaction required"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("entra login"), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_user_with_a_corrupted_cache_file_is_one_clear_line() {
    let emu = Emulator::start().await.unwrap();
    let dir = TempDir::new("corrupt");
    let cache = dir.cache();
    std::fs::create_dir_all(PathBuf::from(&cache).parent().unwrap()).unwrap();
    std::fs::write(&cache, "{\"version\":1,\"accounts\":[").unwrap();
    let mut args = vec![
        "token".to_owned(),
        "--user".into(),
        "--scope".into(),
        scope(),
    ];
    args.extend(app_args(&emu, &cache));
    let run = entra(args).await;
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(run.stderr.contains("sign in again"), "{run:#?}");
    assert!(!run.stderr.contains("panicked"), "{run:#?}");
}

#[test]
fn user_options_need_user_and_login_needs_a_scope() {
    let out = Command::new(BIN)
        .args([
            "token",
            "--tenant",
            "t",
            "--client-id",
            "c",
            "--scope",
            "s",
            "--client-secret-env",
            "X",
            "--cache-file",
            "f",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args(["login", "--tenant", "t", "--client-id", "c"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN)
        .args([
            "token",
            "--tenant",
            "t",
            "--client-id",
            "c",
            "--scope",
            "s",
            "--user",
            "--client-secret-env",
            "X",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "two credentials");
}
