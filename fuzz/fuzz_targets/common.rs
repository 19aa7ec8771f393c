//! The checks the fuzz targets run, shared with the stable smoke test
//! `crates/entra-auth/tests/fuzz_smoke.rs` (which includes this file with `#[path]`).
//!
//! Each check feeds arbitrary bytes to one parser of `entra-auth` and asserts what must hold
//! whatever the input: no panic, and for anything accepted, the invariants of an accepted
//! value. The token check uses a fixed key set (a throwaway RSA key generated for this file; its
//! private key was discarded) and a fixed instant, so the genuine tokens below stay valid
//! forever and nothing else can ever validate: any other accepted input would be a forgery (or a
//! second text for the same token, i.e. malleability).

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::OnceLock;

use entra_auth::config::AllowedTenants;
use entra_auth::internal::discovery::{DiscoveryDocument, IssuerTemplate, TENANT_PLACEHOLDER};
use entra_auth::internal::key_set::{KeySet, MAX_KEYS};
use entra_auth::internal::validate::{self, Issuers, KeyRef, ValidationPolicy};

/// The instant every token is validated at.
pub(crate) const NOW: i64 = 1_900_000_000;
/// The tenant of the fixture.
pub(crate) const TENANT: &str = "f0f0f0f0-1111-4222-8333-444455556666";
/// The fixture key's id.
pub(crate) const KID: &str = "R80b9b-ahMvMA5lh3wSWaoFx99o";
/// The fixture key set: one RSA-2048 key, as Entra publishes it (with its issuer template).
pub(crate) const JWKS: &str = r#"{"keys":[{"kty":"RSA","use":"sig","kid":"R80b9b-ahMvMA5lh3wSWaoFx99o","x5t":"R80b9b-ahMvMA5lh3wSWaoFx99o","n":"rqZo-R25A0Pc277LcEElb50DRv5v_rhWhZ_A0KnPuYXOnipIhiRE6rI7Bf3Nk0tYtuG8GFpgb7ad_4-DSTsjWKkYnn4di7RKgOdLLfODhbBvnXwWIJZys32iBVxGiyIPFyvyhBrQN13PzTfIZfbQoXZMu0xywaL8kYMZ0EYPqYJFye1d6wLPl4KKLTmzSHJXLworYe6PZ5ru9xZ_zK3PWIT-yBA3h1696BHE7-lTDJmY-k3ZwfLPoWavsD2Z6cG9CSWi3ZCNcoWhrdd_C2Xj57jj6cAErr6fcSCbYBxBtmx-aNWKZnKislkQYcSSGmm6lTviUWM1sjOUcvJVwUNVJQ","e":"AQAB","issuer":"https://login.microsoftonline.com/{tenantid}/v2.0"}]}"#;

/// Genuine tokens signed by the fixture key, valid at [`NOW`]: v2 app-only, v1 app-only (with
/// `x5t`), v2 delegated.
pub(crate) const VALID_TOKENS: [&str; 3] = [
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IlI4MGI5Yi1haE12TUE1bGgzd1NXYW9GeDk5byIsInR5cCI6IkpXVCJ9.eyJhaW8iOiJrMkJnMFdqeUgtc1VYMTl0LWZCRllmUlFSUVN5cnBoVkxzdXlqSUliTlhQUExIOUYxN2NKbG1hWXI1d0kyUnpXVkxZWkdWOFJwTk5wZmpQWnVKUXMiLCJhdWQiOiJmdXp6LWFwaS1pZCIsImF6cCI6ImMwYzBjMGMwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2NiIsImF6cGFjciI6IjEiLCJleHAiOjE5MDAwMDMwMDAsImlhdCI6MTg5OTk5OTQwMCwiaWRwIjoiaHR0cHM6Ly9zdHMud2luZG93cy5uZXQvZjBmMGYwZjAtMTExMS00MjIyLTgzMzMtNDQ0NDU1NTU2NjY2LyIsImlkdHlwIjoiYXBwIiwiaXNzIjoiaHR0cHM6Ly9sb2dpbi5taWNyb3NvZnRvbmxpbmUuY29tL2YwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2Ni92Mi4wIiwibmJmIjoxODk5OTk5NDAwLCJvaWQiOiIxNzVjYjJiOS0yODlkLTQ5NmMtYmYzYy1hMDdkMzA5MGI0MmMiLCJyaCI6IjAuQXRkM01sZURzQlJ3SThvSWZEbWcycjB6SUFKMWVMUUFXR2tMNFlpLTdKc1A3VkRsaVVseU1lOEVUNlJoZXpldmFOejguIiwicm9sZXMiOlsiRnV6ei5SZWFkIl0sInN1YiI6IjE3NWNiMmI5LTI4OWQtNDk2Yy1iZjNjLWEwN2QzMDkwYjQyYyIsInRpZCI6ImYwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2NiIsInV0aSI6IktvcDBwMUdCMjhObjdrLWlCUEd0dFEiLCJ2ZXIiOiIyLjAifQ.D0nNZQ4od5o0YXuxJfyBpEk7_AVFgYaAwPrVgo7-_F-oKL2UfIrKZoI5Gzii3pqxBSrG-tvREm54Dw0CkKsrnmRDDp7TxZzQuK6DkdJdNTD6E-8nIlXIwsHdGg5NI3x2e2moGRjIx_QptPujB7xWuamt4sgaJZVfIIBmaAntswCsuGb5q8VxCsQeEAVliMMugyguPsIu3uKT_EElMXWXcROsJWLAqvvLdD3kTM_snCx0birgh19FEjeKGatdj5N0o2mHdByg0fmrkaLP0rsoqqlBnLNFTWTe6aOT_6dk87fkoYp6Qf0NTlt7jCgRqSbLO6DYmdPtx0i_OHx-6RckBQ",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IlI4MGI5Yi1haE12TUE1bGgzd1NXYW9GeDk5byIsInR5cCI6IkpXVCIsIng1dCI6IlI4MGI5Yi1haE12TUE1bGgzd1NXYW9GeDk5byJ9.eyJhaW8iOiJrMkJnRXhtSnRlak5pcnZJX2V5Y2hQc0FqaEJvNkcxclkxelc4cU8xa2NZY1UyUUdYUXFHdU9qaDhKbGEyRG1TbWdWMmtvZUFtMXJReVlCa3pWNXkiLCJhcHBpZCI6ImMwYzBjMGMwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2NiIsImFwcGlkYWNyIjoiMSIsImF1ZCI6ImFwaTovL2Z1enotYXBpLWlkIiwiZXhwIjoxOTAwMDAzMDAwLCJpYXQiOjE4OTk5OTk0MDAsImlkcCI6Imh0dHBzOi8vc3RzLndpbmRvd3MubmV0L2YwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2Ni8iLCJpZHR5cCI6ImFwcCIsImlzcyI6Imh0dHBzOi8vc3RzLndpbmRvd3MubmV0L2YwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2Ni8iLCJuYmYiOjE4OTk5OTk0MDAsIm9pZCI6IjE3NWNiMmI5LTI4OWQtNDk2Yy1iZjNjLWEwN2QzMDkwYjQyYyIsInJoIjoiMC5BcUpOWEI1VVVGTDdObmV1N3EtTlY1THg1dWZYTDRQOXhFMUhYXzlxZWdlZlpDZjR2N2I5RVhaYm10aERHVjV3bEdxWS4iLCJyb2xlcyI6WyJGdXp6LlJlYWQiXSwic3ViIjoiMTc1Y2IyYjktMjg5ZC00OTZjLWJmM2MtYTA3ZDMwOTBiNDJjIiwidGlkIjoiZjBmMGYwZjAtMTExMS00MjIyLTgzMzMtNDQ0NDU1NTU2NjY2IiwidXRpIjoiTGpKbG5KWFVLSTFYR2xEWnRjYnpjUSIsInZlciI6IjEuMCJ9.kg9U7rpYG88R2z5borypIp757nVdfdp7JPqk8oUHHZaEC0LSkqblVJbhr8aW2nGoWMMxCdPJh9XwSfuQkwBhb8txStifol3b0gDkTYnJI_521CQKQVG0_bmLExVRbz5qBQShVa8wgVV9lCc6CD3ND_FEsXNMRikrhGDnLOCTi-E7RTPbe8mlGaB3lpHXnlCMfgZVZQM7JTFIug_iskcwhV1GzLhpFNQM94oRx18q-Qg0D2ANFs-_Kkl40RZ6dLzurygtGNUxLwRARr2c-X2MBpw5eZRzgSwFZ6VB-eA2JkBZm3Kj4OX0goMPrWj3-up6Kdsj6ba3FRzyNBy01Q7fqQ",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IlI4MGI5Yi1haE12TUE1bGgzd1NXYW9GeDk5byIsInR5cCI6IkpXVCJ9.eyJhaW8iOiJrMkJnbGYxMV9KdXdOVE81VFk3dkxhaGtFck5IWU4zWUJsbTlRcFZkYmxCYnhFVTM2V1NlYThuMmJZUUsxbG5mLVVzZFE1ajlRRTdTMS1NTlZaNkkiLCJhdWQiOiJmdXp6LWFwaS1pZCIsImF6cCI6ImMwYzBjMGMwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2NiIsImF6cGFjciI6IjAiLCJleHAiOjE5MDAwMDMwMDAsImlhdCI6MTg5OTk5OTQwMCwiaXNzIjoiaHR0cHM6Ly9sb2dpbi5taWNyb3NvZnRvbmxpbmUuY29tL2YwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2Ni92Mi4wIiwibmFtZSI6IkZ1enogVXNlciIsIm5iZiI6MTg5OTk5OTQwMCwib2lkIjoiYWFhYWFhYWEtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAxIiwicHJlZmVycmVkX3VzZXJuYW1lIjoiZnV6ekBjb250b3NvLmV4YW1wbGUiLCJyaCI6IjAuQW1rSzktNHlNZXRGS05OUlV2WTF5R3lKY1pSMXBLZENvOXpFY3AxZnM1QThUVE9MMnJ4TGNWQ1pEVFNtNE1GeWRrNkkuIiwic2NwIjoiRmlsZXMuUmVhZCIsInN1YiI6IkNVeTFyekRaQnlrWTNxT3RhaDJNYUY4ZHZWeUd4QmhzU0w0SldacFBscFkiLCJ0aWQiOiJmMGYwZjBmMC0xMTExLTQyMjItODMzMy00NDQ0NTU1NTY2NjYiLCJ1dGkiOiJneTV4c0t2TER5QTFYREZaaUVlMWhnIiwidmVyIjoiMi4wIn0.V4bXFuuQgnseultndpOKX0GMnh93z9XiRb2uOcnyQE0WeCMLxMU3FQxrcSI0rT-tsmR8yPjsbPPuAKQzKMGo-Nej_VvEQu4d8jiyPvqGOBwsKrNTwqEVtUDyvpo9c9HFOUD9TMCnur7TGSSWzcQQRcAuWQDxzQSaSLhWIFHBgViRRvzjdOJ_vYI81xf0DyqiLaVbjyJ0imjc1Szahva-T0BF1LWQEeoAOjNrENWqA8XxNLUj1L7I0uB4lGhjAknO1KEhtA6NKS3RUNgDMy9REKgRXrgxK0_BwAeos26yoM3h60I26DFW2CA6yRQB-0FcNmNyHVOPjr4GU6YbcpZ7AQ",
];

/// Genuinely signed but invalid at [`NOW`] or for this API: expired, wrong audience.
pub(crate) const SIGNED_BUT_INVALID: [&str; 2] = [
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IlI4MGI5Yi1haE12TUE1bGgzd1NXYW9GeDk5byIsInR5cCI6IkpXVCJ9.eyJhaW8iOiJrMkJncGR6VUpzMVV0RVdKSUU4MTNYazNXeDNTdEFFa1NMUkFiYmpnem95bml4Z0ozRUpidEw3R1V5MGVIal9mWkJGN0N1RlgtT0c5TUJycEFFZ3MiLCJhdWQiOiJmdXp6LWFwaS1pZCIsImF6cCI6ImMwYzBjMGMwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2NiIsImF6cGFjciI6IjEiLCJleHAiOjE4OTk5OTY0MDAsImlhdCI6MTg5OTk5OTQwMCwiaWRwIjoiaHR0cHM6Ly9zdHMud2luZG93cy5uZXQvZjBmMGYwZjAtMTExMS00MjIyLTgzMzMtNDQ0NDU1NTU2NjY2LyIsImlkdHlwIjoiYXBwIiwiaXNzIjoiaHR0cHM6Ly9sb2dpbi5taWNyb3NvZnRvbmxpbmUuY29tL2YwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2Ni92Mi4wIiwibmJmIjoxODk5OTk5NDAwLCJvaWQiOiIxNzVjYjJiOS0yODlkLTQ5NmMtYmYzYy1hMDdkMzA5MGI0MmMiLCJyaCI6IjAuQXJWc3hWQ1g0QjUteFlDVU1BX2t1UHJJdFMtMWVZYUZyd3RJTnpvZTJaTW0yTGx2OUVqN3daMjZLbVpURmk1bDVKNVkuIiwicm9sZXMiOlsiRnV6ei5SZWFkIl0sInN1YiI6IjE3NWNiMmI5LTI4OWQtNDk2Yy1iZjNjLWEwN2QzMDkwYjQyYyIsInRpZCI6ImYwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2NiIsInV0aSI6IkJvRG5JZWFlaEN4TGJ0VWhFWm9XUVEiLCJ2ZXIiOiIyLjAifQ.pyvcnwyJaWiYOrK5qb8CqyVXA-8D1WcLf2_qF7U_Lhqe204CskfbtAfWEj0eGPYPeztbb7atQ_BSr9rCYglo8n-MYrMHC70TJWUhl1lRlTWhtj0BY12LmY8gmpMKhw4Wk-i5njWahAvjC40l64bEPixMekwCqq1ATvGdV6dy0Be4-Ox-c-j2tg64kvrP1eHb6GCn3Chuzufeyhk1uMklBQaisQ1oJpJVL5hpJ4oIB-fJxVIvDWUkFeOcoRsKv2WUyKshKU1UdCgZUbqXDLQ9aGC98mhYnNVsuo_4VJRZpSbt9jJ2gidh61vK9Lkg4cIcRGAYAaYMHLNERdLBR3_PSw",
    "eyJhbGciOiJSUzI1NiIsImtpZCI6IlI4MGI5Yi1haE12TUE1bGgzd1NXYW9GeDk5byIsInR5cCI6IkpXVCJ9.eyJhaW8iOiJrMkJneklKa05qakRvNnNvNWpKSzRNRzVVZmNqc1BSRlpsRlprem1VcDNNbWRhRDZJX2o4UlAydVdvOUwyWV8tNm5YVFdjLS14VGhDMDNjRFNXaHAiLCJhdWQiOiJzb21lb25lLWVsc2UiLCJhenAiOiJjMGMwYzBjMC0xMTExLTQyMjItODMzMy00NDQ0NTU1NTY2NjYiLCJhenBhY3IiOiIxIiwiZXhwIjoxOTAwMDAzMDAwLCJpYXQiOjE4OTk5OTk0MDAsImlkcCI6Imh0dHBzOi8vc3RzLndpbmRvd3MubmV0L2YwZjBmMGYwLTExMTEtNDIyMi04MzMzLTQ0NDQ1NTU1NjY2Ni8iLCJpZHR5cCI6ImFwcCIsImlzcyI6Imh0dHBzOi8vbG9naW4ubWljcm9zb2Z0b25saW5lLmNvbS9mMGYwZjBmMC0xMTExLTQyMjItODMzMy00NDQ0NTU1NTY2NjYvdjIuMCIsIm5iZiI6MTg5OTk5OTQwMCwib2lkIjoiMTc1Y2IyYjktMjg5ZC00OTZjLWJmM2MtYTA3ZDMwOTBiNDJjIiwicmgiOiIwLkFtcHdSWUZYRFBqMTVhaG8tYkgwMW5vaDdGbzhIdldTWE1NOTRqZmZLR010bzJnbFBnUEJkZ2dEaENQMGhYdFM2LUlzLiIsInJvbGVzIjpbIkZ1enouUmVhZCJdLCJzdWIiOiIxNzVjYjJiOS0yODlkLTQ5NmMtYmYzYy1hMDdkMzA5MGI0MmMiLCJ0aWQiOiJmMGYwZjBmMC0xMTExLTQyMjItODMzMy00NDQ0NTU1NTY2NjYiLCJ1dGkiOiJuUkxONVZsVGlobGtxMkJKUFBxNTJRIiwidmVyIjoiMi4wIn0.gegqp6jNMXPDPVhkCiWN4lAgsqqFv10r-8tTHrmOQkcL0HsNNpA2CqWNU3EP45uRs7jFXof9S6n6oplNpANAJugnSfLTzp4YaUNjYQOukfUHFfiw61xn0T6GrC57AcqVgxepr7VB2ThW_Hdji97CR3BYhYEk-662_rBC_mWVYUXrQkffYag89tq4hfUxiiUYmt1-GiVeCUujm_SMXKaLdGrg9t_pBLhMoJ7XMNRDxqILQh3XurVBwmFlevV1n9leIEalX_ORcsWsoIoivT5NibJi20RjQaFwM0NlOrBV0LlmqhLvsDZg-qeuMa4coQo9W9oglHJ7V1oRt31iUOM9pg",
];

/// What a check concluded (the fuzz targets ignore it; the smoke test asserts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Accepted (a token that validated, a key set or document that parsed).
    Accepted,
    /// Rejected, with the reason's code.
    Rejected(String),
}

struct Fixture {
    keys: KeySet,
    issuers: Issuers,
    policy: ValidationPolicy,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| Fixture {
        keys: KeySet::parse(JWKS.as_bytes()).expect("the fixture key set parses"),
        issuers: Issuers {
            v1: Some(IssuerTemplate::new(format!(
                "https://sts.windows.net/{TENANT}/"
            ))),
            v2: Some(IssuerTemplate::new(format!(
                "https://login.microsoftonline.com/{TENANT}/v2.0"
            ))),
            v2_form: Some(IssuerTemplate::new(format!(
                "https://login.microsoftonline.com/{TENANT}/v2.0"
            ))),
            custom: None,
            tenant_id: None,
        },
        policy: ValidationPolicy {
            max_token_bytes: 16 * 1024,
            leeway_secs: 60,
            audiences: vec!["fuzz-api-id".to_owned(), "api://fuzz-api-id".to_owned()],
            allowed_tenants: AllowedTenants::List(HashSet::from([TENANT.to_owned()])),
            require_scope_or_role: true,
            id_token_audience: None,
            require_tenant_id: true,
            realm: None,
        },
    })
}

/// `parse_token`: `validate::parse`, the key lookup, then `validate::verify` against the fixed
/// key set. Accepted only for the genuine [`VALID_TOKENS`], byte for byte, with the invariants
/// of a valid token.
pub(crate) fn parse_token(data: &[u8]) -> Outcome {
    let f = fixture();
    // Tokens arrive as header text; the layer rejects non-UTF-8 before the validator.
    let Ok(text) = std::str::from_utf8(data) else {
        return Outcome::Rejected("not_utf8".to_owned());
    };
    let parsed = match validate::parse(text, &f.policy) {
        Ok(p) => p,
        Err(e) => return Outcome::Rejected(e.code().to_owned()),
    };
    let _ = parsed.tenant_id();
    let key = match parsed.key_ref() {
        KeyRef::Kid(k) => f.keys.get(k),
        KeyRef::X5t(x) => f.keys.get_by_x5t(x),
    };
    let Some(key) = key.cloned() else {
        return Outcome::Rejected("unknown_signing_key".to_owned());
    };
    match validate::verify(parsed, &key, NOW, &f.policy, &f.issuers) {
        Err(e) => Outcome::Rejected(e.code().to_owned()),
        Ok(claims) => {
            assert!(
                VALID_TOKENS.contains(&text),
                "a token that is not one of the genuine ones validated: forgery or malleability"
            );
            assert!(f.policy.audiences.iter().any(|a| a == claims.audience()));
            assert!(claims.expires_at().saturating_add(60) > NOW);
            assert!(claims.not_before() <= NOW + 60);
            assert_eq!(claims.tenant_id(), Some(TENANT));
            assert!(!claims.scopes().is_empty() || !claims.roles().is_empty());
            assert_eq!(claims.signing_key_id(), KID);
            Outcome::Accepted
        }
    }
}

/// `key_set`: `jwks::KeySet::parse`. Anything accepted has 1..=MAX_KEYS keys with sane ids, and
/// verifying a genuine token with each of its keys never panics (keys built from hostile `n`/`e`
/// reach the RSA code).
pub(crate) fn key_set(data: &[u8]) -> Outcome {
    let set = match KeySet::parse(data) {
        Ok(s) => s,
        Err(_) => return Outcome::Rejected("invalid".to_owned()),
    };
    assert!(
        !set.is_empty() && set.len() <= MAX_KEYS,
        "{} keys",
        set.len()
    );
    let f = fixture();
    for kid in set.kids() {
        assert!(!kid.is_empty() && kid.len() <= 256);
        let key = set.get(kid).expect("every listed kid resolves");
        assert_eq!(key.kid(), kid);
        assert!(set.contains(kid));
        if let Some(issuer) = key.issuer() {
            let _ = issuer.matches(&issuer.for_tenant(TENANT), Some(TENANT));
        }
    }
    for kid in set.kids().take(4) {
        let key = set.get(kid).expect("listed").clone();
        let parsed = validate::parse(VALID_TOKENS[0], &f.policy).expect("the fixture token parses");
        let _ = validate::verify(parsed, &key, NOW, &f.policy, &f.issuers);
    }
    Outcome::Accepted
}

/// `discovery`: `metadata::DiscoveryDocument::parse`. Anything accepted has a non-blank issuer
/// and `jwks_uri`, and its issuer template matches what it produces for a tenant.
pub(crate) fn discovery(data: &[u8]) -> Outcome {
    let doc = match DiscoveryDocument::parse(data) {
        Ok(d) => d,
        Err(_) => return Outcome::Rejected("invalid".to_owned()),
    };
    assert!(!doc.issuer.trim().is_empty());
    assert!(!doc.jwks_uri.trim().is_empty());
    let t = IssuerTemplate::new(doc.issuer.clone());
    let placeholders = doc.issuer.matches(TENANT_PLACEHOLDER).count();
    assert_eq!(t.is_template(), placeholders > 0);
    if placeholders == 1 && !TENANT.contains(TENANT_PLACEHOLDER) {
        assert!(t.matches(&t.for_tenant(TENANT), Some(TENANT)));
        assert!(!t.matches(
            &t.for_tenant(TENANT),
            Some("f0f0f0f0-1111-4222-8333-444455556667")
        ));
        assert!(!t.matches(&t.for_tenant(TENANT), None));
    }
    if placeholders == 0 {
        assert!(t.matches(&doc.issuer, Some(TENANT)));
    }
    let _ = t.matches(&doc.jwks_uri, Some(&doc.issuer));
    Outcome::Accepted
}
