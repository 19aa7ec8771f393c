//! Where the time comes from: the [`Clock`] trait, the system clock and a clock for tests.
//!
//! ```
//! use std::time::Duration;
//! use entra_core::{Clock, ManualClock};
//!
//! // A clock that moves only when told to; clones share the time.
//! let clock = ManualClock::at_unix_seconds(1_700_000_000);
//! let handed_out = clock.clone();
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(handed_out.unix_seconds(), 1_700_000_090);
//! ```
//!
//! Token lifetimes, key-cache deadlines and client assertions read the time only through a
//! [`Clock`], so that a test can reach a token's expiry or a cache's refresh margin without
//! sleeping. Production code uses [`SystemClock`].

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A source of the current time.
///
/// Implement [`now`](Clock::now); [`unix_seconds`](Clock::unix_seconds) derives the whole
/// seconds that JWT times (`exp`, `nbf`, `iat`) use. `Arc<C>` is a clock when `C` is, so an
/// `Arc<dyn Clock>` can be passed around and shared.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// The current time in whole seconds since the Unix epoch: rounded down (so negative before
    /// 1970), saturating at `i64::MIN` and `i64::MAX`.
    fn unix_seconds(&self) -> i64 {
        unix_seconds_of(self.now())
    }
}

/// Whole seconds since the Unix epoch, rounded down, saturating.
fn unix_seconds_of(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            // 0.5 s before the epoch is second -1, as in `time` and `chrono`.
            let partial = i64::from(before.subsec_nanos() > 0);
            whole.saturating_neg().saturating_sub(partial)
        }
    }
}

/// Nanoseconds since the Unix epoch, saturating at the ends of `i64` (about the years 1677 and
/// 2262).
fn unix_nanos_of(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos())
            .map(i64::saturating_neg)
            .unwrap_or(i64::MIN),
    }
}

/// The time `nanos` nanoseconds after (or before, if negative) the Unix epoch.
fn time_of_unix_nanos(nanos: i64) -> SystemTime {
    let offset = Duration::from_nanos(nanos.unsigned_abs());
    let time = if nanos >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    // Every `i64` of nanoseconds is representable on the platforms Rust supports; the epoch is
    // a fallback that cannot panic.
    time.unwrap_or(UNIX_EPOCH)
}

/// The system's wall clock: [`SystemTime::now`]. The default everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to: for tests.
///
/// Clones share the time, so a test keeps one handle and gives another (or an `Arc` of one) to
/// the code under test. Reading and moving it takes no lock: the time is one atomic count of
/// nanoseconds since the Unix epoch, so it spans about the years 1677 to 2262 (times outside
/// are clamped to the nearest end).
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use entra_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
/// clock.advance(Duration::from_millis(1_500));
/// assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_millis(1_001_500));
/// assert_eq!(clock.unix_seconds(), 1_001);
///
/// clock.set(UNIX_EPOCH);
/// assert_eq!(clock.unix_seconds(), 0);
/// ```
#[derive(Clone)]
pub struct ManualClock {
    unix_nanos: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock standing at `time`.
    pub fn new(time: SystemTime) -> Self {
        ManualClock {
            unix_nanos: Arc::new(AtomicI64::new(unix_nanos_of(time))),
        }
    }

    /// A clock standing `seconds` after the Unix epoch (before it, if negative).
    pub fn at_unix_seconds(seconds: i64) -> Self {
        ManualClock {
            unix_nanos: Arc::new(AtomicI64::new(seconds.saturating_mul(NANOS_PER_SECOND))),
        }
    }

    /// A clock standing at the current system time (and staying there).
    pub fn starting_now() -> Self {
        Self::new(SystemTime::now())
    }

    /// Sets the time, for this clock and all its clones.
    pub fn set(&self, time: SystemTime) {
        self.unix_nanos.store(unix_nanos_of(time), Ordering::SeqCst);
    }

    /// Moves the time forward by `by`, for this clock and all its clones.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        // `fetch_update` with a closure that always answers `Some` cannot fail.
        let _ = self
            .unix_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }

    fn unix_nanos(&self) -> i64 {
        self.unix_nanos.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        time_of_unix_nanos(self.unix_nanos())
    }

    fn unix_seconds(&self) -> i64 {
        self.unix_nanos().div_euclid(NANOS_PER_SECOND)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.unix_nanos();
        f.debug_struct("ManualClock")
            .field("unix_seconds", &nanos.div_euclid(NANOS_PER_SECOND))
            .field("subsec_nanos", &nanos.rem_euclid(NANOS_PER_SECOND))
            .finish()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }

    fn unix_seconds(&self) -> i64 {
        (**self).unix_seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn system_clock_is_now() {
        let before = SystemTime::now();
        let now = SystemClock.now();
        assert!(now >= before);
        let unix = SystemClock.unix_seconds();
        // After 2023-11-14, and not absurdly far away.
        assert!(unix > 1_700_000_000 && unix < 10_000_000_000, "{unix}");
    }

    #[test]
    fn unix_seconds_round_down_and_saturate() {
        assert_eq!(unix_seconds_of(UNIX_EPOCH), 0);
        assert_eq!(
            unix_seconds_of(UNIX_EPOCH + Duration::from_millis(1_999)),
            1
        );
        assert_eq!(unix_seconds_of(UNIX_EPOCH - secs(5)), -5);
        assert_eq!(unix_seconds_of(UNIX_EPOCH - Duration::from_millis(500)), -1);
        assert_eq!(
            unix_seconds_of(UNIX_EPOCH - Duration::from_millis(5_500)),
            -6
        );
        // The provided method agrees with the `ManualClock` shortcut.
        for at in [
            UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789),
            UNIX_EPOCH - Duration::from_nanos(1_500_000_001),
            UNIX_EPOCH,
        ] {
            let manual = ManualClock::new(at);
            assert_eq!(
                manual.unix_seconds(),
                unix_seconds_of(manual.now()),
                "{at:?}"
            );
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_the_time() {
        let clock = ManualClock::at_unix_seconds(1_700_000_000);
        let clone = clock.clone();
        assert_eq!(clone.now(), UNIX_EPOCH + secs(1_700_000_000));
        clock.advance(secs(90));
        assert_eq!(clone.unix_seconds(), 1_700_000_090);
        clone.advance(Duration::from_nanos(1));
        assert_eq!(
            clock.now(),
            UNIX_EPOCH + secs(1_700_000_090) + Duration::from_nanos(1)
        );
        clone.set(UNIX_EPOCH + secs(42));
        assert_eq!(clock.unix_seconds(), 42);
        assert_eq!(ManualClock::new(UNIX_EPOCH + secs(7)).unix_seconds(), 7);
    }

    #[test]
    fn manual_clock_before_1970() {
        let clock = ManualClock::at_unix_seconds(-10);
        assert_eq!(clock.now(), UNIX_EPOCH - secs(10));
        assert_eq!(clock.unix_seconds(), -10);
        clock.advance(Duration::from_millis(9_500));
        assert_eq!(clock.now(), UNIX_EPOCH - Duration::from_millis(500));
        assert_eq!(clock.unix_seconds(), -1);
    }

    #[test]
    fn manual_clock_saturates_instead_of_wrapping() {
        let clock = ManualClock::at_unix_seconds(i64::MAX);
        let end = clock.now();
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), end);
        assert_eq!(clock.unix_seconds(), i64::MAX / NANOS_PER_SECOND);
        let start = ManualClock::at_unix_seconds(i64::MIN);
        assert_eq!(start.unix_seconds(), i64::MIN.div_euclid(NANOS_PER_SECOND));
    }

    #[test]
    fn manual_clock_starting_now_stands_still() {
        let before = SystemTime::now();
        let clock = ManualClock::starting_now();
        let first = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), first);
        let delta = first.duration_since(before).unwrap_or_default();
        assert!(delta < secs(60), "{delta:?}");
    }

    #[test]
    fn manual_clock_debug_shows_the_time() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_005));
        assert_eq!(
            format!("{clock:?}"),
            "ManualClock { unix_seconds: 1700000000, subsec_nanos: 5 }"
        );
    }

    #[test]
    fn arcs_of_clocks_are_clocks() {
        let clock = ManualClock::at_unix_seconds(5);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let nested: Arc<Arc<dyn Clock>> = Arc::new(shared.clone());
        clock.advance(secs(1));
        assert_eq!(shared.unix_seconds(), 6);
        assert_eq!(nested.now(), UNIX_EPOCH + secs(6));
        fn takes_a_clock(clock: impl Clock) -> i64 {
            clock.unix_seconds()
        }
        assert_eq!(takes_a_clock(shared), 6);
        assert!(takes_a_clock(Arc::new(SystemClock)) > 0);
    }
}
