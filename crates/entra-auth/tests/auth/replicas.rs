//! Many replicas: eight API instances, each its own `EntraAuthLayer` served over real HTTP on
//! its own 127.0.0.1 port, against one emulator (one Entra), through a start, steady traffic, a
//! key rotation, unknown-`kid` floods and the old key's retirement. The emulator counts every
//! key-set fetch the fleet makes: nothing is shared between replicas, and each one fetches at
//! most once per event (README, "Running many replicas").

use crate::common;

use std::time::Duration;

use common::{Api, assert_invalid, dev_config, serve};
use entra_auth::{Clock, EntraAuthLayer, InvalidToken, ManualClock};
use entra_emulator::{Emulator, Endpoint, SigningKey, TokenBuilder};

const REPLICAS: usize = 8;

/// Long enough for the tokens minted at the start to outlive the 12-hour jump of the last step,
/// so that what ends them there is the key's retirement, not their `exp`.
const LIFETIME: Duration = Duration::from_secs(48 * 3600);

struct Fleet {
    emu: Emulator,
    /// One clock for the whole fleet (each layer has a clone of it): the replicas' timers then
    /// fall due together, which is the worst case for the authority.
    clock: ManualClock,
    apis: Vec<Api>,
}

impl Fleet {
    async fn start() -> Fleet {
        let emu = Emulator::start().await.expect("emulator starts");
        let clock = ManualClock::starting_now();
        let mut apis = Vec::with_capacity(REPLICAS);
        for _ in 0..REPLICAS {
            let config = dev_config(&emu, &clock).build().unwrap();
            apis.push(serve(EntraAuthLayer::new(config), clock.clone()).await);
        }
        Fleet { emu, clock, apis }
    }

    /// Key-set requests the emulator has answered, all replicas together.
    fn key_set_fetches(&self) -> usize {
        self.emu.request_count(Endpoint::Keys)
    }

    /// Each replica's own count of its key-set fetches.
    fn per_replica_fetches(&self) -> Vec<u64> {
        self.apis.iter().map(Api::key_fetches).collect()
    }

    /// A token valid from the fleet's now for [`LIFETIME`], signed with the active key.
    fn token(&self) -> TokenBuilder {
        self.emu
            .token()
            .issued_at(self.clock.unix_seconds())
            .lifetime(LIFETIME)
    }

    /// A token no other request sends (so never in a verified-token cache).
    fn unique_token(&self, tag: &str) -> TokenBuilder {
        self.token().claim(
            "uti",
            serde_json::json!(format!("{tag}-{}", fastrand::u64(..))),
        )
    }

    /// Sends `per_replica` requests with `token` to every replica at once (all
    /// `REPLICAS * per_replica` in flight together) and returns each replica's statuses.
    async fn concurrently(&self, token: &str, per_replica: usize) -> Vec<Vec<u16>> {
        let mut tasks = Vec::with_capacity(self.apis.len());
        for api in &self.apis {
            let requests: Vec<_> = (0..per_replica)
                .map(|_| {
                    let request = api.http.get(format!("{}/me", api.base)).bearer_auth(token);
                    tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
                })
                .collect();
            tasks.push(requests);
        }
        let mut statuses = Vec::with_capacity(tasks.len());
        for requests in tasks {
            let mut replica = Vec::with_capacity(requests.len());
            for request in requests {
                replica.push(request.await.unwrap());
            }
            statuses.push(replica);
        }
        statuses
    }

    /// Every replica answers `token` with `status`, one request each.
    async fn assert_all(&self, token: &str, status: u16, what: &str) {
        for (i, api) in self.apis.iter().enumerate() {
            let reply = api.get("/me", Some(token)).await;
            assert_eq!(reply.status, status, "{what}, replica {i}: {}", reply.body);
        }
    }
}

fn assert_every(statuses: &[Vec<u16>], status: u16, what: &str) {
    for (i, replica) in statuses.iter().enumerate() {
        assert!(
            replica.iter().all(|s| *s == status),
            "{what}, replica {i}: {replica:?}"
        );
    }
}

fn holds(api: &Api, key: &SigningKey) -> bool {
    let loaded = api.layer.authenticator().stats().loaded_key_ids;
    loaded.iter().any(|kid| kid == key.kid())
}

/// Waits (bounded, in real time) for a background refresh to land; the manual clock does not
/// move while waiting.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_replicas_fetch_keys_at_most_once_each_per_event() {
    let fleet = Fleet::start().await;
    let r = REPLICAS;

    // Start: nothing is fetched before readiness; each replica's prefetch() is one fetch of the
    // key set (and of the v2 and v1 discovery documents), and then it is ready.
    assert_eq!(fleet.key_set_fetches(), 0);
    assert!(
        fleet
            .apis
            .iter()
            .all(|api| !api.layer.authenticator().is_ready())
    );
    for api in &fleet.apis {
        api.layer
            .prefetch()
            .await
            .expect("the replica loads its keys");
    }
    assert_eq!(fleet.key_set_fetches(), r, "one fetch per replica at start");
    assert_eq!(fleet.emu.request_count(Endpoint::Discovery), 2 * r);
    assert_eq!(fleet.per_replica_fetches(), vec![1; r]);
    assert!(
        fleet
            .apis
            .iter()
            .all(|api| api.layer.authenticator().is_ready())
    );

    // Steady traffic with the current key: a token every replica sees many times (cached after
    // its first validation) and tokens seen once; no replica fetches anything.
    let old = fleet.emu.active_key();
    let cached_old = fleet.token().sign();
    assert_every(
        &fleet.concurrently(&cached_old, 20).await,
        200,
        "steady, cached",
    );
    for i in 0..10 {
        let once = fleet.unique_token(&format!("steady-{i}")).sign();
        fleet.assert_all(&once, 200, "steady, not cached").await;
    }
    assert_every(
        &fleet.concurrently(&cached_old, 20).await,
        200,
        "steady, cached",
    );
    for api in &fleet.apis {
        assert!(api.layer.authenticator().stats().validations_cached >= 20);
    }
    assert_eq!(fleet.key_set_fetches(), r, "no fetch in steady traffic");

    // A key rotation as Entra does it: a new key is published, then tokens are signed with it.
    // The first token with the new kid costs each replica exactly one fetch, however many
    // requests reach it at once.
    let new = fleet.emu.add_key();
    fleet.emu.set_active_key(new.kid());
    let first_new = fleet.token().sign();
    assert_every(
        &fleet.concurrently(&first_new, 50).await,
        200,
        "new kid, concurrent",
    );
    assert_eq!(
        fleet.key_set_fetches(),
        2 * r,
        "one fetch per replica for the new kid"
    );
    assert_eq!(fleet.per_replica_fetches(), vec![2; r]);
    for i in 0..10 {
        let once = fleet.unique_token(&format!("rotated-{i}")).sign();
        fleet.assert_all(&once, 200, "new key, not cached").await;
    }
    assert_every(
        &fleet.concurrently(&first_new, 20).await,
        200,
        "new key, cached",
    );
    // Tokens signed with the old key stay valid while it is published, cached or not.
    fleet.assert_all(&cached_old, 200, "old key, cached").await;
    let old_uncached = fleet.token().signed_with(&old).sign();
    fleet
        .assert_all(&old_uncached, 200, "old key, not cached")
        .await;
    assert_eq!(
        fleet.key_set_fetches(),
        2 * r,
        "nothing more after the rotation"
    );

    // A flood of unknown kids. Still inside the cooldown the new kid's refresh started: no
    // fetch at all.
    let flood = |window: &str, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| fleet.token().kid(&format!("flood-{window}-{i}")).sign())
            .collect()
    };
    for token in flood("rotation-window", 5) {
        assert_every(&fleet.concurrently(&token, 10).await, 401, "unknown kid");
    }
    assert_eq!(fleet.key_set_fetches(), 2 * r, "the cooldown is taken");
    // Past the 5-minute cooldown: one fetch per replica, and only one, for the whole flood.
    for window in 1..=2 {
        fleet.clock.advance(Duration::from_secs(301));
        for token in flood(&format!("window-{window}"), 20) {
            assert_every(&fleet.concurrently(&token, 10).await, 401, "unknown kid");
        }
        assert_eq!(
            fleet.key_set_fetches(),
            (2 + window) * r,
            "one fetch per replica in cooldown window {window}"
        );
        // Valid traffic is served throughout.
        let valid = fleet.unique_token("during-flood").sign();
        fleet
            .assert_all(&valid, 200, "valid during the flood")
            .await;
    }
    assert_eq!(fleet.per_replica_fetches(), vec![4; r]);
    let before_retirement = fleet.key_set_fetches();

    // The old key is retired. Until a replica refreshes it still holds the key: old-key tokens
    // (here the cached one) pass, and nothing is fetched.
    fleet.emu.retire_key(old.kid());
    let hits: Vec<u64> = fleet
        .apis
        .iter()
        .map(|api| api.layer.authenticator().stats().validations_cached)
        .collect();
    fleet
        .assert_all(&cached_old, 200, "retired key before the refresh")
        .await;
    for (api, before) in fleet.apis.iter().zip(hits) {
        assert_eq!(
            api.layer.authenticator().stats().validations_cached,
            before + 1,
            "the old-key token is answered from the verified-token cache"
        );
    }
    assert_eq!(fleet.key_set_fetches(), before_retirement);

    // The periodic refresh is due (12 h at most since each replica's last fetch, jitter
    // included): the next request to each replica starts it in the background
    // (stale-while-revalidate: that request is answered with the keys held), and it drops the
    // old key. One fetch per replica.
    fleet.clock.advance(Duration::from_secs(12 * 3600 + 1));
    let new_key_token = fleet.token().sign();
    fleet
        .assert_all(&new_key_token, 200, "new key after 12 h")
        .await;
    for (i, api) in fleet.apis.iter().enumerate() {
        eventually(&format!("replica {i} drops the retired key"), || {
            !holds(api, &old)
        })
        .await;
        assert!(holds(api, &new));
    }
    assert_eq!(
        fleet.key_set_fetches(),
        before_retirement + r,
        "one periodic refresh per replica"
    );

    // Old-key tokens are now refused by every replica, the cached one included. The retired kid
    // is an unknown kid again, and the last unknown-kid refresh was 12 h ago: the first such
    // token costs each replica one more fetch (behind the cooldown, like the flood), then none.
    let description = InvalidToken::UnknownSigningKey.public_description();
    for (i, api) in fleet.apis.iter().enumerate() {
        for token in [&cached_old, &old_uncached, &cached_old] {
            let reply = api.get("/me", Some(token)).await;
            assert_eq!(reply.status, 401, "replica {i}: {}", reply.body);
            assert_invalid(&reply, description);
        }
        let direct = api.layer.authenticator().validate(&cached_old).await;
        assert_eq!(
            direct.err(),
            Some(entra_auth::AuthError::InvalidToken(
                InvalidToken::UnknownSigningKey
            )),
            "replica {i}: the precise reason"
        );
    }
    let fresh_old = fleet.token().signed_with(&old).sign();
    assert_every(
        &fleet.concurrently(&fresh_old, 10).await,
        401,
        "retired key",
    );
    assert_eq!(
        fleet.key_set_fetches(),
        before_retirement + 2 * r,
        "one unknown-kid fetch per replica for the retired kid"
    );
    assert_eq!(fleet.per_replica_fetches(), vec![6; r]);
    assert_every(
        &fleet.concurrently(&new_key_token, 10).await,
        200,
        "new key at the end",
    );
    assert_eq!(fleet.key_set_fetches(), 6 * r, "48 fetches in all");
    assert_eq!(fleet.emu.request_count(Endpoint::Discovery), 2 * 6 * r);
}

/// The periodic refresh is started by requests: a replica that gets none fetches nothing, and
/// 24 h after its last fetch its keys are too old to use, so `is_ready()` turns false. A
/// readiness probe that only reads `is_ready()` would then keep it out of rotation, and so
/// without requests, for good; one that calls `prefetch()` when it is false brings it back.
#[tokio::test]
async fn an_idle_replica_is_not_ready_after_24_hours_until_it_prefetches() {
    let emu = Emulator::start().await.expect("emulator starts");
    let clock = ManualClock::starting_now();
    let layer = EntraAuthLayer::new(dev_config(&emu, &clock).build().unwrap());
    layer.prefetch().await.unwrap();
    assert!(layer.authenticator().is_ready());

    clock.advance(Duration::from_secs(24 * 3600));
    assert!(layer.authenticator().is_ready(), "usable up to 24 h");
    clock.advance(Duration::from_secs(1));
    assert!(!layer.authenticator().is_ready(), "too old after 24 h");
    assert_eq!(
        emu.request_count(Endpoint::Keys),
        1,
        "no request, no refresh"
    );

    layer.prefetch().await.unwrap();
    assert!(layer.authenticator().is_ready());
    assert_eq!(emu.request_count(Endpoint::Keys), 2);
}
