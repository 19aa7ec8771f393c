//! Validation cost: cold (full validation), cached (verified-token cache hit), garbage
//! rejection, key lookup, and a bare `jsonwebtoken` RS256 decode of the same token as the
//! baseline. Run with `cargo bench -p entra-auth --bench validate`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use entra_auth::{Authenticator, EntraConfig, TokenCachePolicy};
use entra_emulator::{DEV_API_CLIENT_ID, DEV_TENANT_ID, Emulator};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

struct Fixture {
    _emulator: Emulator,
    token: String,
    cold: Authenticator,
    cached: Authenticator,
    decoding_key: DecodingKey,
    issuer: String,
}

fn fixture(rt: &tokio::runtime::Runtime) -> Fixture {
    rt.block_on(async {
        let emulator = Emulator::start().await.expect("emulator");
        let config = |cache| {
            EntraConfig::builder()
                .tenant(DEV_TENANT_ID)
                .client_id(DEV_API_CLIENT_ID)
                .authority(emulator.base_url())
                .token_cache(cache)
                .build()
                .expect("config")
        };
        let cold = Authenticator::new(config(TokenCachePolicy::DISABLED));
        let cached = Authenticator::new(config(TokenCachePolicy::default()));
        cold.prefetch().await.expect("keys");
        cached.prefetch().await.expect("keys");
        let token = emulator.token().sign();
        cached.validate(&token).await.expect("valid");
        let jwk = emulator.active_key().jwk(None);
        let decoding_key = DecodingKey::from_rsa_components(
            jwk["n"].as_str().expect("n"),
            jwk["e"].as_str().expect("e"),
        )
        .expect("key");
        let issuer = emulator.issuer_v2(DEV_TENANT_ID);
        Fixture {
            _emulator: emulator,
            token,
            cold,
            cached,
            decoding_key,
            issuer,
        }
    })
}

fn garbage(token: &str) -> Vec<(&'static str, String)> {
    let (header, rest) = token.split_once('.').expect("jws");
    let hs256 = format!(
        "{}.{rest}",
        base64_json(r#"{"alg":"HS256","typ":"JWT","kid":"x"}"#)
    );
    let unknown_tenant = {
        let payload = base64_json(&format!(
            r#"{{"aud":"{DEV_API_CLIENT_ID}","tid":"00000000-dead-beef-0000-000000000000","iss":"x","exp":9999999999,"nbf":0}}"#
        ));
        let sig = rest.rsplit_once('.').expect("sig").1;
        format!("{header}.{payload}.{sig}")
    };
    // A real header and payload with one character of the signature changed: the RSA
    // verification runs and fails (what a forged token costs).
    let bad_signature = {
        let (message, signature) = token.rsplit_once('.').expect("jws");
        let mut signature = signature.as_bytes().to_vec();
        signature[100] = if signature[100] == b'A' { b'B' } else { b'A' };
        format!(
            "{message}.{}",
            String::from_utf8(signature).expect("base64url")
        )
    };
    vec![
        ("bad_signature", bad_signature),
        ("malformed", "not.a.token!".to_owned()),
        ("two_segments", "abc.def".to_owned()),
        ("wrong_alg", hs256),
        ("oversized", "a".repeat(17 * 1024)),
        ("unknown_tenant", unknown_tenant),
    ]
}

fn base64_json(json: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let f = fixture(&rt);

    let mut group = c.benchmark_group("validate");
    group.bench_function("baseline_jsonwebtoken_decode", |b| {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[DEV_API_CLIENT_ID]);
        validation.set_issuer(&[f.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
        b.iter(|| {
            let data = jsonwebtoken::decode::<serde_json::Value>(
                black_box(&f.token),
                &f.decoding_key,
                &validation,
            );
            black_box(data.expect("valid"))
        })
    });
    group.bench_function("cold_full_validation", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(f.cold.validate(black_box(&f.token)).await.expect("valid"))
        })
    });
    group.bench_function("cached_hit", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(f.cached.validate(black_box(&f.token)).await.expect("valid"))
        })
    });
    // Unknown kid inside the refresh cooldown: the first call refreshes once, then every call
    // is rejected without I/O.
    let unknown_kid = f._emulator.token().kid("no-such-key").sign();
    rt.block_on(async {
        f.cold
            .validate(&unknown_kid)
            .await
            .expect_err("unknown kid")
    });
    let fetches = f.cold.stats().key_set_fetches;
    group.bench_function("reject_unknown_kid_in_cooldown", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(f.cold.validate(black_box(&unknown_kid)).await.is_err()) })
    });
    assert_eq!(
        f.cold.stats().key_set_fetches,
        fetches,
        "no fetch inside the cooldown"
    );
    for (name, token) in garbage(&f.token) {
        group.bench_function(format!("reject_{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(f.cold.validate(black_box(&token)).await.is_err()) })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("keys");
    let set_json = serde_json::json!({ "keys": [f._emulator.active_key().jwk(None)] }).to_string();
    let set = entra_auth::internal::key_set::KeySet::parse(set_json.as_bytes()).expect("set");
    let kid = f._emulator.active_key().kid().to_owned();
    group.bench_function("key_lookup", |b| {
        b.iter(|| black_box(set.get(black_box(&kid)).is_some()))
    });
    group.bench_function("parse_key_set", |b| {
        b.iter(|| {
            black_box(
                entra_auth::internal::key_set::KeySet::parse(black_box(set_json.as_bytes()))
                    .is_ok(),
            )
        })
    });
    group.finish();
}

criterion_group!(validate, benches);
criterion_main!(validate);
