//! `bench_server emulator <dir>`: the built-in emulator, serving until killed, and the token
//! files every phase of `bench/compare.sh` sends (one token per line):
//!
//! * `valid.txt`: one valid token (the repeated-token phase);
//! * `distinct.txt`: `DISTINCT` (default 20,000) distinct valid tokens (many users);
//! * `flood.txt`: `FLOOD` (default 100,000) distinct valid tokens, ten times the default cache
//!   capacity, and `hot.txt`: 100 valid tokens of the users who keep coming back;
//! * `bad_signature.txt`: 1,000 tokens naming the real key whose signature is another token's;
//! * `unknown_kid.txt`: 1,000 tokens naming keys that do not exist;
//! * `wrong_alg.txt`: 1,000 tokens whose header says `HS256` (with the real key id);
//! * `unknown_tenant.txt`: 1,000 tokens of another tenant, correctly signed by the same key (as
//!   Entra's keys are shared by all tenants, anyone can get such a token);
//! * `malformed.txt`: 1,000 tokens that are not three base64url segments of JSON.
//!
//! Tokens live 24 hours. Signing is spread over the machine's cores (RSA signing is the slow
//! part: 100,000 tokens take about a minute).

use std::error::Error;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entra_emulator::{Emulator, TokenBuilder};
use serde_json::json;

const OTHER_TENANT: &str = "0b9c4e4d-7a7b-4f6e-9f0e-2d6a3c1b5e88";

fn count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_lines(path: &Path, lines: &[String]) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        writeln!(file, "{line}")?;
    }
    file.flush()
}

/// Signs `n` tokens made by `make(i)`, on all cores.
fn sign_many(
    emulator: &Emulator,
    n: usize,
    make: impl Fn(&Emulator, usize) -> TokenBuilder + Sync,
) -> Vec<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let make = &make;
                scope.spawn(move || {
                    (start..(start + chunk).min(n))
                        .map(|i| {
                            make(emulator, i)
                                .lifetime(Duration::from_secs(24 * 3600))
                                .sign()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

fn user(emulator: &Emulator, prefix: &str, i: usize) -> TokenBuilder {
    emulator
        .token()
        .claim("uti", json!(format!("{prefix}-{i}")))
}

/// Writes the token files, then `authority.txt` (last: its presence says the files are ready).
fn write_tokens(emulator: &Emulator, dir: &Path) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    let valid = sign_many(emulator, 1, |e, i| user(e, "valid", i));
    write_lines(&dir.join("valid.txt"), &valid)?;
    let distinct = sign_many(emulator, count("DISTINCT", 20_000), |e, i| {
        user(e, "distinct", i)
    });
    write_lines(&dir.join("distinct.txt"), &distinct)?;
    let flood = sign_many(emulator, count("FLOOD", 100_000), |e, i| {
        user(e, "flood", i)
    });
    write_lines(&dir.join("flood.txt"), &flood)?;
    let hot = sign_many(emulator, 100, |e, i| user(e, "hot", i));
    write_lines(&dir.join("hot.txt"), &hot)?;

    let others = sign_many(emulator, 1_001, |e, i| user(e, "other", i));
    let bad_signature: Vec<String> = others
        .windows(2)
        .filter_map(|pair| {
            let (message, _) = pair[0].rsplit_once('.')?;
            let (_, signature) = pair[1].rsplit_once('.')?;
            Some(format!("{message}.{signature}"))
        })
        .collect();
    write_lines(&dir.join("bad_signature.txt"), &bad_signature)?;
    let unknown_kid = sign_many(emulator, 1_000, |e, i| {
        user(e, "unknown-kid", i).kid(&format!("no-such-key-{i}"))
    });
    write_lines(&dir.join("unknown_kid.txt"), &unknown_kid)?;
    let kid = emulator.active_key().kid().to_owned();
    let hs256 =
        URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT", "kid": kid}).to_string());
    let wrong_alg: Vec<String> = others
        .iter()
        .take(1_000)
        .filter_map(|t| t.split_once('.').map(|(_, rest)| format!("{hs256}.{rest}")))
        .collect();
    write_lines(&dir.join("wrong_alg.txt"), &wrong_alg)?;
    let unknown_tenant = sign_many(emulator, 1_000, |e, i| {
        user(e, "other-tenant", i).tenant(OTHER_TENANT)
    });
    write_lines(&dir.join("unknown_tenant.txt"), &unknown_tenant)?;
    let malformed: Vec<String> = (0..1_000)
        .map(|i| match i % 4 {
            0 => format!("not.a.token{i}!"),
            1 => format!("{}.{}", URL_SAFE_NO_PAD.encode(format!("x{i}")), "abc"),
            2 => format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(format!("[{i}]"))),
            _ => format!(
                "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
                URL_SAFE_NO_PAD.encode(format!("{{{i}"))
            ),
        })
        .collect();
    write_lines(&dir.join("malformed.txt"), &malformed)?;
    std::fs::write(dir.join("authority.txt"), emulator.base_url())?;
    Ok(())
}

/// Starts the emulator, writes the token files and serves until killed.
pub(crate) async fn serve(dir: &Path) -> Result<(), Box<dyn Error>> {
    let emulator = Emulator::start().await?;
    let writer = emulator.clone();
    let target = dir.to_owned();
    tokio::task::spawn_blocking(move || write_tokens(&writer, &target).map_err(|e| e.to_string()))
        .await??;
    println!("listening on {}", emulator.base_url());
    std::future::pending::<()>().await;
    Ok(())
}
