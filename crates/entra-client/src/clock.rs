//! The source of time for token lifetimes and client assertions.

use std::fmt;
use std::time::SystemTime;

/// A source of the current time.
///
/// The token cache and the client assertion read the time only through this trait, so that
/// tests can move time forward (to reach a token's refresh margin) without sleeping.
///
/// ```
/// use std::sync::Mutex;
/// use std::time::{Duration, SystemTime};
/// use entra_client::Clock;
///
/// #[derive(Debug)]
/// struct FakeClock(Mutex<SystemTime>);
///
/// impl FakeClock {
///     fn advance(&self, by: Duration) {
///         *self.0.lock().unwrap() += by;
///     }
/// }
///
/// impl Clock for FakeClock {
///     fn now(&self) -> SystemTime {
///         *self.0.lock().unwrap()
///     }
/// }
/// ```
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock: [`SystemTime::now`]. The default.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}
