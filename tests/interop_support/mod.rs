//! What the interop tests (`interop_msal.rs`, `browser_sign_in.rs`) share: the Python venv that
//! `interop/setup.sh` makes, the rule for skipping when it (or Chromium) is missing, running a
//! script with a deadline, and a temporary directory.
//!
//! The skip rule: on a machine without the venv, `cargo test --workspace` still passes (the test
//! says it is skipped and how to enable it); with `CI=true` a missing venv is a failure, since
//! `.ci/run` installs it first.

#![allow(dead_code, unreachable_pub)] // each test binary uses a part of it

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the root package's manifest directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Is this CI (`CI=true`, as `.ci/run` is run)?
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Skip the test (outside CI) or fail it (in CI) because `what` is missing. Returns `None` so
/// that callers can write `let Some(x) = ... else { return };`.
pub fn missing<T>(what: &str, enable: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} (CI=true: the interop tests must run). {enable}");
    }
    // Straight to stderr, past the test harness's capture: a skip must be seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what}. {enable}");
    None
}

/// The venv's Python: `ENTRA_INTEROP_PYTHON`, else `target/interop-venv/bin/python`; `None`
/// (after [`missing`]) when it does not exist.
pub fn python() -> Option<PathBuf> {
    let python = match std::env::var_os("ENTRA_INTEROP_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => root().join("target/interop-venv/bin/python"),
    };
    if python.exists() {
        Some(python)
    } else {
        missing(
            &format!("no interop Python venv at {}", python.display()),
            "Create it with `bash interop/setup.sh` (or set ENTRA_INTEROP_PYTHON).",
        )
    }
}

/// What a script printed and how it ended.
pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Run `python interop/{script} args...` with `env`, killed after `deadline`. Blocking: call it
/// from `tokio::task::spawn_blocking` while an in-process emulator serves.
pub fn run_script(
    python: &Path,
    script: &str,
    args: &[String],
    env: &[(&str, String)],
    deadline: Duration,
) -> Output {
    let mut cmd = Command::new(python);
    cmd.arg(root().join("interop").join(script))
        .args(args)
        .current_dir(root())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {} interop/{script}: {e}", python.display()));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!("interop/{script} did not finish within {deadline:?}; its stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("{prefix}-{}-{}", std::process::id(), uuid_like()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A name part unlikely to repeat within a process run (time-based; no extra dependency).
fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
