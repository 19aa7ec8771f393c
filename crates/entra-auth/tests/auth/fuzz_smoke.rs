//! The fuzz targets' checks on stable, in CI: every seed in `fuzz/corpus-seed/<target>/`, plus
//! deterministic damage to each seed (truncations, byte replacements, bit flips), through the
//! very functions the cargo-fuzz targets call (`fuzz/fuzz_targets/common.rs`). Any local corpus
//! that `cargo fuzz` grew in `fuzz/corpus/<target>/` (not checked in) is replayed too.
//!
//! This is not fuzzing (no coverage feedback, a few thousand inputs); it keeps the targets
//! compiling and their invariants true on every CI run. Real fuzzing: see SECURITY.md.

#[path = "../../../../fuzz/fuzz_targets/common.rs"]
mod fuzz_common;

use std::path::PathBuf;

use fuzz_common::Outcome;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of a corpus directory, sorted by name (none if it does not exist).
fn files(dir: PathBuf) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The seeds of a target: its `fuzz/corpus-seed/<target>/` files, and for the key-set and
/// discovery targets Entra's real documents from `testdata/entra/` (the one copy in the
/// repository; `cargo fuzz run <target> fuzz/corpus-seed/<target> testdata/entra` uses both).
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds = files(fuzz_dir().join("corpus-seed").join(target));
    let real = |suffix: &str| {
        files(fuzz_dir().join("../testdata/entra"))
            .into_iter()
            .filter(|(name, _)| name.ends_with(suffix))
            .collect::<Vec<_>>()
    };
    match target {
        "key_set" => seeds.extend(real("-keys.json")),
        "discovery" => seeds.extend(real("-openid-configuration.json")),
        _ => {}
    }
    assert!(
        seeds.len() >= 10,
        "{target}: expected at least 10 seed files, found {}",
        seeds.len()
    );
    seeds
}

/// Deterministic damage: about 100 truncations, and at about 150 positions a replacement by a
/// few interesting bytes and a flip of one bit (every 7th / 5th position for small inputs).
fn mutations(input: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for cut in (0..input.len()).step_by((input.len() / 100).max(7)) {
        out.push(input[..cut].to_vec());
    }
    for i in (0..input.len()).step_by((input.len() / 150).max(5)) {
        for b in [b'.', b'A', b'"', 0u8, 0xff] {
            if input[i] != b {
                let mut m = input.to_vec();
                m[i] = b;
                out.push(m);
            }
        }
        let mut m = input.to_vec();
        m[i] ^= 1 << (i % 7);
        out.push(m);
    }
    let mut doubled = input.to_vec();
    doubled.extend_from_slice(input);
    out.push(doubled);
    out
}

/// Runs `check` over the seeds, their mutations and any local corpus; returns how many inputs
/// each outcome had.
fn replay(target: &str, check: fn(&[u8]) -> Outcome) -> (usize, usize) {
    let (mut accepted, mut rejected) = (0, 0);
    let mut count = |o: Outcome| match o {
        Outcome::Accepted => accepted += 1,
        Outcome::Rejected(_) => rejected += 1,
    };
    for (_, seed) in seeds(target) {
        for m in mutations(&seed) {
            count(check(&m));
        }
    }
    for (_, input) in files(fuzz_dir().join("corpus").join(target)) {
        count(check(&input));
    }
    eprintln!("{target}: {accepted} accepted, {rejected} rejected");
    (accepted, rejected)
}

#[test]
fn parse_token_seeds() {
    for (name, bytes) in seeds("parse_token") {
        let out = fuzz_common::parse_token(&bytes);
        if name.starts_with("valid-") {
            assert_eq!(out, Outcome::Accepted, "{name}");
        } else {
            assert!(matches!(out, Outcome::Rejected(_)), "{name}: {out:?}");
        }
    }
    for t in fuzz_common::VALID_TOKENS {
        assert_eq!(fuzz_common::parse_token(t.as_bytes()), Outcome::Accepted);
    }
    let reasons: Vec<Outcome> = fuzz_common::SIGNED_BUT_INVALID
        .iter()
        .map(|t| fuzz_common::parse_token(t.as_bytes()))
        .collect();
    assert_eq!(
        reasons,
        [
            Outcome::Rejected("expired".into()),
            Outcome::Rejected("audience_mismatch".into())
        ]
    );
}

#[test]
fn parse_token_mutations() {
    let (accepted, rejected) = replay("parse_token", fuzz_common::parse_token);
    // No damaged token validates (the check itself asserts that anything accepted is one of
    // the genuine tokens, byte for byte); a doubled token is not accepted either.
    assert_eq!(accepted, 0);
    assert!(rejected > 1000);
}

#[test]
fn key_set_seeds() {
    let accepted = [
        "broken-keys-and-one-good",
        "common-v2-keys.json",
        "organizations-v2-keys.json",
        "fixture",
        "leading-zeros",
        "variants-e3-emptykid-x5tonly-alg",
        "zero-modulus-and-one-good",
    ];
    for (name, bytes) in seeds("key_set") {
        let out = fuzz_common::key_set(&bytes);
        if accepted.contains(&name.as_str()) {
            assert_eq!(out, Outcome::Accepted, "{name}");
        } else {
            assert!(matches!(out, Outcome::Rejected(_)), "{name}: {out:?}");
        }
    }
}

#[test]
fn key_set_mutations() {
    let (accepted, rejected) = replay("key_set", fuzz_common::key_set);
    assert!(accepted > 0 && rejected > 0);
}

#[test]
fn discovery_seeds() {
    let accepted = [
        "common-v2-openid-configuration.json",
        "organizations-v2-openid-configuration.json",
        "non-ascii-issuer",
        "tenant-v2",
        "two-placeholders",
        "v1-template",
    ];
    for (name, bytes) in seeds("discovery") {
        let out = fuzz_common::discovery(&bytes);
        if accepted.contains(&name.as_str()) {
            assert_eq!(out, Outcome::Accepted, "{name}");
        } else {
            assert!(matches!(out, Outcome::Rejected(_)), "{name}: {out:?}");
        }
    }
}

#[test]
fn discovery_mutations() {
    let (accepted, rejected) = replay("discovery", fuzz_common::discovery);
    assert!(accepted > 0 && rejected > 0);
}
