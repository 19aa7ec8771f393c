//! Device authorization requests (RFC 8628): a device code the client polls with, a short user
//! code the user types on the `/devicelogin` page, and what the user decided.

use super::approval::Approval;
use super::expiring::Expiring;

/// What the user has done with a device code so far.
#[derive(Clone, Debug)]
pub(crate) enum DeviceState {
    /// Not yet entered and approved.
    Pending,
    /// Signed in and approved: the next poll gets tokens.
    Approved(Approval),
    /// The user declined.
    Declined,
}

/// One device authorization request. `Debug` leaves the user code out (it approves the
/// request).
#[derive(Clone)]
pub(crate) struct DeviceCode {
    pub(crate) tid: String,
    pub(crate) client_id: String,
    pub(crate) scope: String,
    pub(crate) user_code: String,
    /// The least number of seconds between two polls.
    pub(crate) interval: i64,
    /// When the client last polled (Unix seconds).
    pub(crate) last_poll: Option<i64>,
    /// When the code expires (Unix seconds). It is kept a while longer, so that a poll after
    /// this gets `expired_token` rather than an unknown code.
    pub(crate) expires_at: i64,
    pub(crate) state: DeviceState,
}

impl std::fmt::Debug for DeviceCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCode")
            .field("tid", &self.tid)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("interval", &self.interval)
            .field("expires_at", &self.expires_at)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// How long an expired device code is still recognised as expired.
const EXPIRED_MEMORY_SECS: i64 = 900;

/// The live device codes, by device code.
pub(crate) struct DeviceCodes {
    codes: Expiring<DeviceCode>,
}

impl DeviceCodes {
    pub(crate) fn new(capacity: usize) -> DeviceCodes {
        DeviceCodes {
            codes: Expiring::new(capacity),
        }
    }

    pub(crate) fn insert(&mut self, device_code: String, code: DeviceCode, now: i64) {
        let keep_until = code.expires_at + EXPIRED_MEMORY_SECS;
        self.codes.insert(device_code, code, keep_until, now);
    }

    /// The live, pending request a user code names (compared without case, spaces or dashes),
    /// with its device code.
    pub(crate) fn pending_by_user_code(
        &self,
        user_code: &str,
        now: i64,
    ) -> Option<(String, DeviceCode)> {
        let wanted = normalize_user_code(user_code);
        if wanted.is_empty() {
            return None;
        }
        self.codes
            .find(now, |c| {
                c.expires_at > now
                    && matches!(c.state, DeviceState::Pending)
                    && normalize_user_code(&c.user_code) == wanted
            })
            .map(|(device_code, c)| (device_code.to_owned(), c.clone()))
    }

    /// The live request a device code names.
    pub(crate) fn get_mut(&mut self, device_code: &str, now: i64) -> Option<&mut DeviceCode> {
        self.codes.get_mut(device_code, now)
    }

    /// The request a device code names (live, or expired and still remembered).
    pub(crate) fn peek(&self, device_code: &str, now: i64) -> Option<&DeviceCode> {
        self.codes.get(device_code, now)
    }

    /// Remove a request once it has been answered with tokens or a final error.
    pub(crate) fn remove(&mut self, device_code: &str, now: i64) {
        self.codes.take(device_code, now);
    }
}

/// A user code as typed: letters upper-cased, spaces and dashes ignored.
fn normalize_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
