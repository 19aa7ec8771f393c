//! `entra forward-auth` run as a process: its configuration errors, and the `--emulator` mode a
//! new user tries first (the URL and a token printed, the token accepted, no token refused).
//! The proxies themselves are tested in entra-auth (each dialect) and in the root package's
//! `tests/forward_auth_nginx.rs` (a real nginx).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{BIN, BaseEnv, TempDir, run_entra};
use entra_emulator::DEV_TENANT_ID;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tenant_it_refuses_to_start_and_says_what_to_do() {
    let run = run_entra(&["forward-auth"], BaseEnv::Empty, &[], None).await;
    run.assert_code(2).assert_only_an_error_line();
    assert!(run.stderr.contains("no tenant configured"), "{run:#?}");
    assert!(run.stderr.contains("--emulator"), "{run:#?}");
    // A client id alone is not enough either.
    let run = run_entra(
        &["forward-auth"],
        BaseEnv::Empty,
        &[("ENTRA_CLIENT_ID", "3c9f1a7e-5b2d-4e6f-8a1c-0d7e9b4f2a61")],
        None,
    )
    .await;
    run.assert_code(2).assert_only_an_error_line();
    assert!(run.stderr.contains("ENTRA_TENANT_ID"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_rules_file_is_a_usage_error() {
    let dir = TempDir::new();
    let rules = dir.write(
        "rules.toml",
        "[[rule]]\npath = \"/admin\"\nrole = [\"Api.Admin\"]\n",
    );
    let run = run_entra(
        &["forward-auth", "--emulator", "--rules", &rules],
        BaseEnv::Empty,
        &[],
        None,
    )
    .await;
    run.assert_code(2).assert_only_an_error_line();
    assert!(run.stderr.contains("rules file"), "{run:#?}");
    assert!(run.stderr.contains("role"), "{run:#?}");
    let run = run_entra(
        &[
            "forward-auth",
            "--emulator",
            "--rules",
            "/nonexistent/rules.toml",
        ],
        BaseEnv::Empty,
        &[],
        None,
    )
    .await;
    run.assert_code(2).assert_only_an_error_line();
    assert!(
        run.stderr.contains("cannot read the rules file"),
        "{run:#?}"
    );
    let run = run_entra(
        &["forward-auth", "--emulator", "--tenant", DEV_TENANT_ID],
        BaseEnv::Empty,
        &[],
        None,
    )
    .await;
    assert_eq!(
        run.code,
        Some(2),
        "--emulator conflicts with --tenant: {run:#?}"
    );
}

/// A running `entra forward-auth`, killed on drop.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_mode_prints_its_url_and_a_token_it_accepts() {
    let mut child = Running(
        Command::new(BIN)
            .args(["forward-auth", "--emulator", "--bind", "127.0.0.1:0"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run entra forward-auth"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (url, token) = tokio::task::spawn_blocking(move || {
        let mut url = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("forward-auth listening on ") {
                url = Some(u.to_owned());
            }
            if let Some(t) = line.strip_prefix("TOKEN=") {
                return (url.expect("the URL comes first"), t.to_owned());
            }
        }
        panic!("no TOKEN= line");
    })
    .await
    .unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let check = |token: Option<&str>| {
        let mut req = http
            .get(format!("{url}/auth/traefik"))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-uri", "/admin");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let res = check(Some(&token)).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-entra-tid"], DEV_TENANT_ID);
    assert_eq!(res.headers()["x-entra-roles"], "Api.Admin Files.Read.All");
    let res = check(None).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}
