//! Unit tests of the token cache: reuse, refresh at the margin, failures, one request per key
//! in flight, and callers that give up.

use super::*;
use crate::{Clock, ManualClock};
use std::sync::atomic::{AtomicUsize, Ordering};

fn key(scope: &str) -> CacheKey {
    CacheKey {
        authority: "https://a".into(),
        tenant: "t".into(),
        client_id: "c".into(),
        target: Target::Scope(scope.into()),
    }
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A clock the test moves by hand, standing at `t0()`.
fn test_clock() -> ManualClock {
    ManualClock::new(t0())
}

/// The cache's source of time: `clock`'s time.
fn source(clock: &ManualClock) -> impl Fn() -> SystemTime + Send + 'static {
    let clock = clock.clone();
    move || clock.now()
}

type FetchResult = Result<(AccessToken, SystemTime), Error>;

/// A fetch that counts its calls and answers `tok{n}`, living `lifetime` from the clock's now.
fn counting_fetch(
    calls: &Arc<AtomicUsize>,
    clock: &ManualClock,
    lifetime: Duration,
) -> impl FnOnce() -> std::future::Ready<FetchResult> + Send + 'static {
    let calls = calls.clone();
    let clock = clock.clone();
    move || {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        let sent = clock.now();
        std::future::ready(Ok((
            AccessToken::new(format!("tok{n}"), sent + lifetime),
            sent,
        )))
    }
}

fn failing_fetch(status: u16) -> impl FnOnce() -> std::future::Ready<FetchResult> + Send {
    move || {
        std::future::ready(Err(Error::UnexpectedStatus {
            status,
            retry_after: None,
        }))
    }
}

#[tokio::test]
async fn reuses_until_margin_then_refreshes() {
    let cache = TokenCache::new();
    let clock = test_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let hour = Duration::from_secs(3600);
    let margin = Duration::from_secs(300);
    let get = async |scope: &str| {
        cache
            .get_or_fetch(
                &key(scope),
                source(&clock),
                margin,
                counting_fetch(&calls, &clock, hour),
            )
            .await
    };
    let a = get("s").await.unwrap();
    let b = get("s").await.unwrap();
    assert_eq!((a.secret(), b.secret()), ("tok0", "tok0"));
    clock.set(t0() + Duration::from_secs(3600 - 301));
    assert_eq!(get("s").await.unwrap().secret(), "tok0");
    clock.set(t0() + Duration::from_secs(3600 - 300));
    assert_eq!(get("s").await.unwrap().secret(), "tok1");
    // Another key is independent.
    assert_eq!(get("other").await.unwrap().secret(), "tok2");
    cache.clear();
    assert_eq!(get("s").await.unwrap().secret(), "tok3");
}

#[tokio::test]
async fn short_lived_tokens_refresh_at_half_life() {
    let cache = TokenCache::new();
    let clock = test_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let margin = Duration::from_secs(300);
    let get = async || {
        cache
            .get_or_fetch(
                &key("s"),
                source(&clock),
                margin,
                counting_fetch(&calls, &clock, Duration::from_secs(120)),
            )
            .await
    };
    get().await.unwrap();
    get().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_secs(60));
    get().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn failed_refresh_falls_back_to_valid_token() {
    let cache = TokenCache::new();
    let clock = test_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let margin = Duration::from_secs(300);
    cache
        .get_or_fetch(
            &key("s"),
            source(&clock),
            margin,
            counting_fetch(&calls, &clock, Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    clock.set(t0() + Duration::from_secs(3500));
    let t = cache
        .get_or_fetch(&key("s"), source(&clock), margin, failing_fetch(503))
        .await
        .unwrap();
    assert_eq!(t.secret(), "tok0");
    clock.set(t0() + Duration::from_secs(3595));
    let e = cache
        .get_or_fetch(&key("s"), source(&clock), margin, failing_fetch(503))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
}

#[tokio::test]
async fn concurrent_callers_share_one_fetch_and_its_failure() {
    let cache = TokenCache::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let margin = Duration::from_secs(300);
    // The fetch waits for this, so that every caller is waiting before it answers.
    let (release, released) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let cache = cache.clone();
        let calls = calls.clone();
        let mut released = released.clone();
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_fetch(&key("s"), t0, margin, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let _ = released.wait_for(|r| *r).await;
                    Err::<(AccessToken, SystemTime), _>(Error::UnexpectedStatus {
                        status: 500,
                        retry_after: None,
                    })
                })
                .await
        }));
    }
    // Let every caller reach the cache before the fetch answers.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    release.send_replace(true);
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err().status(), Some(500));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A caller dropped mid-refresh (here: after its first poll) does not cancel the request;
/// the next caller gets the token of that same request.
#[tokio::test]
async fn dropped_caller_does_not_cancel_the_fetch() {
    let cache = TokenCache::new();
    let clock = test_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let margin = Duration::from_secs(300);
    let slow_fetch = {
        let calls = calls.clone();
        let clock = clock.clone();
        let mut released = released.clone();
        move || async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let _ = released.wait_for(|r| *r).await;
            let sent = clock.now();
            Ok((
                AccessToken::new(format!("tok{n}"), sent + Duration::from_secs(3600)),
                sent,
            ))
        }
    };
    let k = key("s");
    let first = cache.get_or_fetch(&k, source(&clock), margin, slow_fetch);
    // Poll the caller once (it starts the refresh and waits), then drop it.
    tokio::select! {
        biased;
        _ = first => panic!("the fetch cannot have answered yet"),
        () = std::future::ready(()) => {}
    }
    release.send_replace(true);
    let token = cache
        .get_or_fetch(
            &key("s"),
            source(&clock),
            margin,
            counting_fetch(&calls, &clock, Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    assert_eq!(token.secret(), "tok0");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A fetch that panics: the waiters get `Interrupted` instead of hanging, and the next call
/// starts a new fetch.
#[tokio::test]
async fn panicking_fetch_interrupts_waiters_and_leaves_the_slot_usable() {
    let cache = TokenCache::new();
    let clock = test_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let margin = Duration::from_secs(300);
    let (release, released) = tokio::sync::watch::channel(false);
    let panicking = {
        let mut released = released.clone();
        move || async move {
            let _ = released.wait_for(|r| *r).await;
            panic!("fetch panicked (expected by the test)");
        }
    };
    let first = {
        let cache = cache.clone();
        let clock = source(&clock);
        tokio::spawn(async move {
            cache
                .get_or_fetch(&key("s"), clock, margin, panicking)
                .await
        })
    };
    let waiter = {
        let cache = cache.clone();
        let fetch = counting_fetch(&calls, &clock, Duration::from_secs(3600));
        let clock = source(&clock);
        tokio::spawn(async move { cache.get_or_fetch(&key("s"), clock, margin, fetch).await })
    };
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    release.send_replace(true);
    for caller in [first, waiter] {
        let e = tokio::time::timeout(Duration::from_secs(10), caller)
            .await
            .expect("the waiter is told, not left hanging")
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, Error::Interrupted), "{e:?}");
        assert!(e.is_retryable());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the waiter joined the panicking fetch"
    );
    let token = cache
        .get_or_fetch(
            &key("s"),
            source(&clock),
            margin,
            counting_fetch(&calls, &clock, Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    assert_eq!(token.secret(), "tok0");
}

/// The runtime running the refresh shuts down: a caller waiting on another runtime gets
/// `Interrupted` (instead of hanging), and the next call starts a new fetch.
#[test]
fn runtime_shutdown_interrupts_waiters_and_leaves_the_slot_usable() {
    let cache = TokenCache::new();
    let clock = test_clock();
    let calls = Arc::new(AtomicUsize::new(0));
    let margin = Duration::from_secs(300);
    let doomed = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let other = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let k = key("s");
    doomed.block_on(async {
        let first = cache.get_or_fetch(&k, source(&clock), margin, || {
            std::future::pending::<FetchResult>()
        });
        // Start the refresh on this runtime, then stop waiting for it.
        tokio::select! {
            biased;
            _ = first => unreachable!(),
            () = std::future::ready(()) => {}
        }
    });
    // A caller on the other runtime joins that refresh (polled once: it is waiting).
    let mut waiter = Box::pin(cache.get_or_fetch(
        &k,
        source(&clock),
        margin,
        counting_fetch(&calls, &clock, Duration::from_secs(3600)),
    ));
    let first_poll = other.block_on(std::future::poll_fn(|cx| {
        std::task::Poll::Ready(waiter.as_mut().poll(cx).is_pending())
    }));
    assert!(first_poll, "the refresh is still in flight");
    drop(doomed);
    let e = other
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), waiter).await })
        .expect("the waiter is told, not left hanging")
        .unwrap_err();
    assert!(matches!(e, Error::Interrupted), "{e:?}");
    let token = other
        .block_on(cache.get_or_fetch(
            &key("s"),
            source(&clock),
            margin,
            counting_fetch(&calls, &clock, Duration::from_secs(3600)),
        ))
        .unwrap();
    assert_eq!(token.secret(), "tok0");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
