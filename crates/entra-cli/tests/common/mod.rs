//! Test helpers shared by the `cli` and `credentials` test binaries: the `entra` binary run as
//! a process, what it produced, and a temporary directory.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_entra");

/// What a run of `entra` produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub(crate) fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit status: {self:#?}");
        self
    }

    /// Neither output contains `secret`.
    pub(crate) fn assert_hides(&self, secret: &str) -> &Self {
        assert!(!self.stdout.contains(secret), "secret on stdout: {self:#?}");
        assert!(!self.stderr.contains(secret), "secret on stderr: {self:#?}");
        self
    }

    /// stderr is exactly one `error: ...` line.
    pub(crate) fn assert_one_error_line(&self) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one stderr line: {self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self
    }

    /// stderr is exactly one `error: ...` line, and nothing is on stdout.
    pub(crate) fn assert_only_an_error_line(&self) -> &Self {
        self.assert_one_error_line();
        assert!(self.stdout.is_empty(), "{self:#?}");
        self
    }

    /// The one token printed on stdout.
    pub(crate) fn token(&self) -> &str {
        self.assert_code(0);
        assert_eq!(self.stdout.lines().count(), 1, "{self:#?}");
        let token = self.stdout.trim();
        let parts: Vec<&str> = token.split('.').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|p| !p.is_empty()),
            "not a JWT: {self:#?}"
        );
        token
    }
}

/// The environment `entra` runs with, besides the variables a test gives.
#[derive(Clone, Copy)]
pub(crate) enum BaseEnv {
    /// The test process's, without `RUST_LOG`.
    Inherited,
    /// None: not the machine's variables either.
    Empty,
}

/// Runs `entra` with `args`, the environment `base` plus the variables `env`, and `stdin`
/// piped in when given; off the async runtime, which serves the emulator meanwhile.
pub(crate) async fn run_entra(
    args: &[&str],
    base: BaseEnv,
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        match base {
            BaseEnv::Inherited => cmd.env_remove("RUST_LOG"),
            BaseEnv::Empty => cmd.env_clear(),
        };
        cmd.args(&args)
            .envs(env)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run entra");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait for entra");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

/// A directory removed at drop, named after the test binary.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "entra-cli-{}-{}-{n}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write temp file");
        path.to_str().expect("UTF-8 temp path").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
