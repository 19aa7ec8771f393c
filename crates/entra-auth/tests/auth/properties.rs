//! Property tests: random input and random damage to a valid token never validate and never
//! panic. Run in CI with 256 cases per property (a few seconds in all).
//!
//! The pure properties call `validate::parse` + `validate::verify` with a key set built from the
//! emulator's active key (published the way the emulator serves it, with its issuer template) at
//! a fixed instant. The last property goes through an [`Authenticator`] whose verified-token
//! cache already holds the original token, to show that no damaged variant is served from the
//! cache.

use crate::common;

use std::collections::HashSet;
use std::sync::LazyLock;

use entra_auth::config::AllowedTenants;
use entra_auth::internal::discovery::IssuerTemplate;
use entra_auth::internal::key_set::KeySet;
use entra_auth::internal::validate::{self, Issuers, KeyRef, ValidationPolicy};
use entra_auth::{Authenticator, Claims, InvalidToken, ManualClock};
use entra_emulator::{DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator, SigningKey, TokenVersion};
use proptest::prelude::*;
use serde_json::json;

/// The instant of validation (tokens are issued at it).
const NOW: i64 = 1_900_000_000;

struct Fixture {
    /// Valid tokens: v2, v1, and v2 with other claims, all by the active key.
    tokens: Vec<String>,
    /// A token with valid claims signed by a key that is not in the set.
    stranger: String,
    keys: KeySet,
    issuers: Issuers,
    policy: ValidationPolicy,
    auth: Authenticator,
    rt: tokio::runtime::Runtime,
    _emu: Emulator,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let emu = rt.block_on(Emulator::start()).unwrap();
    let key = emu.active_key();
    let tokens = vec![
        emu.token().issued_at(NOW).sign(),
        emu.token().issued_at(NOW).version(TokenVersion::V1).sign(),
        emu.token()
            .issued_at(NOW)
            .delegated("user-1", "Ada", "ada@contoso.example")
            .scopes("Files.Read")
            .sign(),
    ];
    let stranger = emu
        .token()
        .issued_at(NOW)
        .signed_with(&SigningKey::generate().unwrap())
        .kid(key.kid())
        .sign();
    let template = emu.issuer_v2("{tenantid}");
    let keys = KeySet::parse(
        json!({ "keys": [key.jwk(Some(&template))] })
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let issuers = Issuers {
        v1: Some(IssuerTemplate::new(emu.issuer_v1(DEV_TENANT_ID))),
        v2: Some(IssuerTemplate::new(emu.issuer_v2(DEV_TENANT_ID))),
        v2_form: Some(IssuerTemplate::new(emu.issuer_v2(DEV_TENANT_ID))),
        custom: None,
        tenant_id: None,
    };
    let policy = ValidationPolicy {
        max_token_bytes: 16 * 1024,
        leeway_secs: 60,
        audiences: vec![
            DEV_API_CLIENT_ID.to_owned(),
            format!("api://{DEV_API_CLIENT_ID}"),
        ],
        allowed_tenants: AllowedTenants::List(HashSet::from([DEV_TENANT_ID.to_ascii_lowercase()])),
        require_scope_or_role: true,
        id_token_audience: None,
        require_tenant_id: true,
        realm: None,
    };
    let clock = ManualClock::at_unix_seconds(NOW);
    let auth = Authenticator::new(common::dev_config(&emu, &clock).build().unwrap());
    rt.block_on(auth.prefetch()).unwrap();
    for t in &tokens {
        rt.block_on(auth.validate(t))
            .expect("the fixture tokens are valid");
    }
    Fixture {
        tokens,
        stranger,
        keys,
        issuers,
        policy,
        auth,
        rt,
        _emu: emu,
    }
});

/// Parse, key lookup and verification, as the authenticator does, without I/O.
fn validate_pure(token: &str) -> Result<Claims, InvalidToken> {
    let f = &*FIXTURE;
    let parsed = validate::parse(token, &f.policy)?;
    let key = match parsed.key_ref() {
        KeyRef::Kid(k) => f.keys.get(k),
        KeyRef::X5t(x) => f.keys.get_by_x5t(x),
    }
    .cloned()
    .ok_or(InvalidToken::UnknownSigningKey)?;
    validate::verify(parsed, &key, NOW, &f.policy, &f.issuers)
}

fn is_original(token: &str) -> bool {
    FIXTURE.tokens.iter().any(|t| t == token)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn the_fixture_tokens_validate_and_the_stranger_does_not() {
    for t in &FIXTURE.tokens {
        validate_pure(t).expect("valid");
    }
    assert_eq!(
        validate_pure(&FIXTURE.stranger).unwrap_err(),
        InvalidToken::BadSignature
    );
}

/// base64url characters and the separator, plus a few that must never appear.
fn token_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                .chars()
                .collect::<Vec<_>>()
        ),
        1 => Just('.'),
        1 => prop::sample::select(vec!['=', '+', '/', ' ', '\0', 'é', '%', '"', '{']),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_validate(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert!(validate_pure(&text).is_err());
    }

    #[test]
    fn random_strings_never_validate(s in ".{0,2000}") {
        prop_assert!(validate_pure(&s).is_err());
    }

    #[test]
    fn random_jws_shaped_strings_never_validate(
        h in "[A-Za-z0-9_-]{1,300}",
        p in "[A-Za-z0-9_-]{1,1500}",
        s in "[A-Za-z0-9_-]{1,700}",
    ) {
        let t = format!("{h}.{p}.{s}");
        prop_assert!(validate_pure(&t).is_err());
    }

    /// A real header and payload with a random signature of a plausible length.
    #[test]
    fn random_signatures_never_validate(
        which in 0usize..3,
        sig in prop::collection::vec(any::<u8>(), 200..300),
    ) {
        use base64::Engine;
        let t = &FIXTURE.tokens[which];
        let (message, _) = t.rsplit_once('.').unwrap();
        let forged = format!(
            "{message}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sig)
        );
        prop_assert_eq!(validate_pure(&forged).unwrap_err(), InvalidToken::BadSignature);
    }

    /// Replace, insert or delete one character anywhere in a valid token.
    #[test]
    fn single_character_mutations_never_validate(
        which in 0usize..3,
        pos in any::<prop::sample::Index>(),
        c in token_char(),
        op in 0u8..3,
    ) {
        let t = &FIXTURE.tokens[which];
        let i = pos.index(t.len());
        let mut m: Vec<char> = t.chars().collect();
        match op {
            0 => m[i] = c,
            1 => m.insert(i, c),
            _ => {
                m.remove(i);
            }
        }
        let m: String = m.into_iter().collect();
        prop_assume!(&m != t);
        prop_assert!(validate_pure(&m).is_err(), "mutation {op} at {i} with {c:?} validated");
    }

    /// Flip one bit of one byte of a valid token (which may leave the base64url alphabet).
    #[test]
    fn single_bit_flips_never_validate(
        which in 0usize..3,
        pos in any::<prop::sample::Index>(),
        bit in 0u8..7,
    ) {
        let t = FIXTURE.tokens[which].as_bytes();
        let i = pos.index(t.len());
        let mut m = t.to_vec();
        m[i] ^= 1 << bit;
        let m = String::from_utf8_lossy(&m);
        prop_assert!(validate_pure(&m).is_err());
    }

    /// Segments of the valid tokens (and of the stranger's) recombined in any order and number:
    /// only an original token validates.
    #[test]
    fn segment_swaps_never_validate(picks in prop::collection::vec((0usize..4, 0usize..3), 0..6)) {
        let f = &*FIXTURE;
        let pool: Vec<Vec<&str>> = f
            .tokens
            .iter()
            .chain(std::iter::once(&f.stranger))
            .map(|t| t.split('.').collect())
            .collect();
        let t = picks
            .iter()
            .map(|(tok, seg)| pool[*tok][*seg])
            .collect::<Vec<_>>()
            .join(".");
        prop_assume!(!is_original(&t));
        prop_assert!(validate_pure(&t).is_err(), "{picks:?}");
    }

    /// Prefixes and extensions of a valid token.
    #[test]
    fn truncations_and_extensions_never_validate(
        which in 0usize..3,
        cut in any::<prop::sample::Index>(),
        tail in "[A-Za-z0-9_.=-]{1,20}",
    ) {
        let t = &FIXTURE.tokens[which];
        let prefix = &t[..cut.index(t.len())];
        prop_assert!(validate_pure(prefix).is_err());
        let extended = format!("{t}{tail}");
        prop_assert!(validate_pure(&extended).is_err());
    }

    /// Through the authenticator, with the original tokens in its verified-token cache: a
    /// damaged token is never served from the cache (the cache compares the full text), and an
    /// unknown kid costs at most one refresh per cooldown.
    #[test]
    fn damaged_tokens_never_hit_the_verified_token_cache(
        which in 0usize..3,
        pos in any::<prop::sample::Index>(),
        c in token_char(),
    ) {
        let f = &*FIXTURE;
        let t = &f.tokens[which];
        let i = pos.index(t.len());
        let mut m: Vec<char> = t.chars().collect();
        m[i] = c;
        let m: String = m.into_iter().collect();
        prop_assume!(&m != t);
        prop_assert!(f.rt.block_on(f.auth.validate(&m)).is_err());
        // The original is still accepted from the cache.
        prop_assert!(f.rt.block_on(f.auth.validate(t)).is_ok());
        prop_assert!(f.auth.stats().key_set_fetches <= 2, "{} fetches", f.auth.stats().key_set_fetches);
    }
}
