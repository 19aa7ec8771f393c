//! A binary of its own: tracing caches each callsite's interest process-wide, so events of
//! tests running without a subscriber in the same process could hide these tests' events.
//!
//! Tokens never appear in logs, not even at trace level, and the span records the outcome.

#[path = "auth/common.rs"]
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{assert_invalid, setup};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Buffer {
    /// What was logged so far.
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Logs of this thread up to `level` (and span closings, when asked) go into the buffer while
/// the guard lives.
fn capture(
    level: tracing::Level,
    span_closings: bool,
) -> (Buffer, tracing::subscriber::DefaultGuard) {
    use tracing_subscriber::fmt::format::FmtSpan;
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_span_events(if span_closings {
            FmtSpan::CLOSE
        } else {
            FmtSpan::NONE
        })
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn tokens_are_never_logged() {
    let (buffer, _guard) = capture(tracing::Level::TRACE, true);

    let (emu, api) = setup().await;
    let good = emu.token().sign();
    let expired = emu.token().expired().sign();
    let unknown = emu.token().kid("no-such-key").sign();
    assert_eq!(api.get("/me", Some(&good)).await.status, 200);
    assert_eq!(api.get("/me", Some(&good)).await.status, 200);
    assert_invalid(&api.get("/me", Some(&expired)).await, "expired");
    assert_invalid(
        &api.get("/me", Some(&unknown)).await,
        "signature is invalid",
    );
    let garbage = format!("{good}garbage");
    assert_eq!(api.get("/me", Some(&garbage)).await.status, 401);

    let logs = buffer.text();
    assert!(
        logs.contains("entra_auth.validate"),
        "the validation span is logged:\n{logs}"
    );
    assert!(
        logs.contains("outcome=\"accepted\"") || logs.contains("outcome=accepted"),
        "{logs}"
    );
    assert!(
        logs.contains("expired"),
        "the rejection reason is logged:\n{logs}"
    );
    for token in [&good, &expired, &unknown, &garbage] {
        let signature = token.rsplit('.').next().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        assert!(
            !logs.contains(signature),
            "a signature leaked into the logs"
        );
        assert!(!logs.contains(payload), "a payload leaked into the logs");
    }
}

/// During a key outage any well-formed token gets a 503: a flood of them must not write a warn
/// line each (an attacker could fill the logs). The refresh warns once per attempt; requests
/// log at debug.
#[tokio::test]
async fn an_outage_warns_once_per_fetch_attempt_not_per_request() {
    let (buffer, _guard) = capture(tracing::Level::WARN, false);

    let emu = entra_emulator::Emulator::start().await.unwrap();
    emu.set_fault(
        entra_emulator::Endpoint::Keys,
        entra_emulator::Fault::Status(500),
    );
    let clock = entra_auth::ManualClock::starting_now();
    let config = common::dev_config(&emu, &clock).build().unwrap();
    let api = common::serve(entra_auth::EntraAuthLayer::new(config), clock).await;
    for _ in 0..20 {
        assert_eq!(api.get("/me", Some(&emu.token().sign())).await.status, 503);
    }
    assert_eq!(emu.request_count(entra_emulator::Endpoint::Keys), 1);

    let logs = buffer.text();
    let warnings = logs.lines().filter(|l| l.contains("WARN")).count();
    assert_eq!(
        warnings, 1,
        "one warning for the one fetch attempt:\n{logs}"
    );
}

/// The forward-auth service at TRACE: the request id in its span, each check's status, and
/// never a token, not even one a client put in the original query; during an outage no
/// request writes an ERROR or WARN line of its own.
#[cfg(feature = "forward-auth")]
#[tokio::test]
async fn forward_auth_logs_request_ids_and_statuses_never_tokens() {
    use entra_auth::forward_auth::{self, ForwardAuthConfig};

    let (buffer, _guard) = capture(tracing::Level::TRACE, false);

    let emu = entra_emulator::Emulator::start().await.unwrap();
    let clock = entra_auth::ManualClock::starting_now();
    let serve = |config: entra_auth::EntraConfig| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = forward_auth::router(ForwardAuthConfig::new(config));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        base
    };
    let base = serve(common::dev_config(&emu, &clock).build().unwrap()).await;
    let http = reqwest::Client::new();
    let good = emu.token().sign();
    let expired = emu.token().expired().sign();
    let check = |token: &str, id: &str| {
        http.get(format!("{base}/auth/traefik"))
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-uri", format!("/orders?access_token={token}"))
            .header("x-request-id", id)
            .bearer_auth(token)
            .send()
    };
    assert_eq!(check(&good, "req-good").await.unwrap().status(), 200);
    assert_eq!(check(&expired, "req-expired").await.unwrap().status(), 401);

    emu.set_fault(
        entra_emulator::Endpoint::Discovery,
        entra_emulator::Fault::Status(500),
    );
    let down = serve(common::dev_config(&emu, &clock).build().unwrap()).await;
    for _ in 0..5 {
        let reply = http
            .get(format!("{down}/auth/envoy/orders"))
            .bearer_auth(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 503);
    }

    let logs = buffer.text();
    assert!(logs.contains("request_id=\"req-good\""), "{logs}");
    assert!(logs.contains("request_id=\"req-expired\""), "{logs}");
    assert!(
        logs.contains("status=200") && logs.contains("status=401"),
        "{logs}"
    );
    assert!(logs.contains("status=503"), "{logs}");
    for token in [&good, &expired] {
        let signature = token.rsplit('.').next().unwrap();
        let payload = token.split('.').nth(1).unwrap();
        assert!(
            !logs.contains(signature),
            "a signature leaked into the logs"
        );
        assert!(!logs.contains(payload), "a payload leaked into the logs");
    }
    let loud = logs
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .count();
    assert!(loud <= 1, "at most the refresh's own warning:\n{logs}");
}
