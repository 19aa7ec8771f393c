//! Tokens never appear in logs, not even at trace level, and the span records the outcome.

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

#[tokio::test]
async fn tokens_are_never_logged() {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buffer.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (emu, api) = setup().await;
    let good = emu.token().sign();
    let expired = emu.token().expired().sign();
    let unknown = emu.token().kid("no-such-key").sign();
    assert_eq!(api.get("/me", Some(&good)).await.status, 200);
    assert_eq!(api.get("/me", Some(&good)).await.status, 200);
    assert_invalid(&api.get("/me", Some(&expired)).await, "expired");
    assert_invalid(&api.get("/me", Some(&unknown)).await, "signature is invalid");
    let garbage = format!("{good}garbage");
    assert_eq!(api.get("/me", Some(&garbage)).await.status, 401);

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
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
