//! What the emulator remembers between requests of the user flows: sign-in sessions, pending
//! authorization requests, authorization codes, refresh tokens and device codes.
//!
//! Each kind lives in an [`Expiring`] map: entries end at their expiry (read against the
//! emulator's clock) and each map is bounded, so a client that never redeems what it asked
//! for cannot grow the emulator without limit. The HTTP handlers decide; this module only keeps.

mod approval;
mod codes;
mod device;
mod expiring;
mod refresh;
mod sessions;

use std::sync::Mutex;

pub(crate) use approval::Approval;
pub(crate) use codes::{AuthCode, CODE_LIFETIME_SECS, CODE_MEMORY_SECS, Pkce, PkceMethod};
pub(crate) use device::{DeviceCode, DeviceCodes, DeviceState};
pub(crate) use expiring::Expiring;
pub(crate) use refresh::{Redeemed, RefreshGrant, RefreshTokens};
pub(crate) use sessions::Session;

/// The most entries of one kind kept at a time.
const CAPACITY: usize = 10_000;

/// The most sign-ins waiting on a page, and device codes waiting for a user: cheap to create
/// without a credential, so bounded tighter.
const WAITING_CAPACITY: usize = 1_000;

/// Everything the user flows remember, each kind behind its own lock.
pub(crate) struct Store {
    /// Sign-in sessions, by the value of the session cookie.
    pub(crate) sessions: Mutex<Expiring<Session>>,
    /// Authorization requests waiting for the sign-in page, by their random id.
    pub(crate) pending: Mutex<Expiring<crate::http::PendingAuthorization>>,
    /// Authorization codes, until redeemed (once) or expired.
    pub(crate) codes: Mutex<Expiring<AuthCode>>,
    /// Refresh tokens and their families (rotation, reuse detection).
    pub(crate) refresh: Mutex<RefreshTokens>,
    /// Device authorization requests, by device code, with the user code index.
    pub(crate) devices: Mutex<DeviceCodes>,
}

impl Default for Store {
    fn default() -> Store {
        Store {
            sessions: Mutex::new(Expiring::new(CAPACITY)),
            pending: Mutex::new(Expiring::new(WAITING_CAPACITY)),
            codes: Mutex::new(Expiring::new(CAPACITY)),
            refresh: Mutex::new(RefreshTokens::new(CAPACITY)),
            devices: Mutex::new(DeviceCodes::new(WAITING_CAPACITY)),
        }
    }
}
