//! `cargo run --example call_api` as a new user runs it: with nothing configured it starts the
//! emulator and an in-process protected API, gets a token over HTTP and calls `/me` and `/admin`.

use std::process::Command;

mod example_support;

use example_support::example_path;

#[test]
fn call_api_is_self_contained_by_default() {
    let mut cmd = Command::new(example_path("call_api"));
    for var in [
        "ENTRA_TENANT_ID",
        "ENTRA_CLIENT_ID",
        "ENTRA_SCOPE",
        "ENTRA_CLIENT_SECRET",
        "ENTRA_CERTIFICATE",
        "ENTRA_CERTIFICATE_PASSWORD",
        "ENTRA_AUTHORITY",
        "API_URL",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for part in [
        "mode: self-contained",
        "/me (no token) -> 401 Unauthorized",
        "/me -> 200 OK",
        "/admin -> 200 OK",
        entra_emulator::DEV_CLIENT_ID,
        "Api.Admin",
        "all answers as expected",
    ] {
        assert!(stdout.contains(part), "missing {part:?} in:\n{stdout}");
    }
    // The token is never printed.
    assert!(!stdout.contains("eyJ"), "{stdout}");
}

#[test]
fn a_partial_configuration_is_one_clear_error() {
    let out = Command::new(example_path("call_api"))
        .env_remove("ENTRA_TENANT_ID")
        .env_remove("ENTRA_CLIENT_ID")
        .env_remove("ENTRA_SCOPE")
        .env_remove("ENTRA_CLIENT_SECRET")
        .env_remove("ENTRA_CERTIFICATE")
        .env("API_URL", "http://127.0.0.1:9")
        .output()
        .expect("run the example");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ENTRA_TENANT_ID"), "{stderr}");
}
