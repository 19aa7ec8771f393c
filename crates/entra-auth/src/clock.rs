//! Time source used by validation and by the key cache.
//!
//! Everything in this crate that depends on the current time asks a [`Clock`], so tests can
//! validate a token at any instant without sleeping. Production code uses [`SystemClock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch.
///
/// JWT times (`exp`, `nbf`, `iat`) are whole seconds, so that is the resolution used throughout.
pub trait Clock: Send + Sync + 'static {
    /// The current time as seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to: for tests.
///
/// Clones share the same time, so a test can keep one handle and give another to the config.
///
/// ```
/// use entra_auth::{Clock, ManualClock};
/// let clock = ManualClock::new(1_700_000_000);
/// let shared = clock.clone();
/// clock.advance(std::time::Duration::from_secs(90));
/// assert_eq!(shared.now(), 1_700_000_090);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `unix_seconds`.
    pub fn new(unix_seconds: i64) -> Self {
        Self {
            now: Arc::new(AtomicI64::new(unix_seconds)),
        }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Sets the time.
    pub fn set(&self, unix_seconds: i64) {
        self.now.store(unix_seconds, Ordering::SeqCst);
    }

    /// Moves the time forward.
    pub fn advance(&self, by: std::time::Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.now.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}
