//! The shared state of a running emulator: what the request handlers read and the
//! [`Emulator`](crate::Emulator) handle changes, each part behind its own lock.

use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use entra_core::Clock;

use crate::directory::Directory;
use crate::faults::Faults;
use crate::http::SeenAssertions;
use crate::keys::{KeyStore, SigningKey};
use crate::mint::random_b64;
use crate::store::Store;
use crate::urls::Urls;
use crate::workload::WorkloadIssuers;

pub(crate) struct State {
    pub(crate) urls: Urls,
    pub(crate) directory: RwLock<Directory>,
    pub(crate) keys: RwLock<KeyStore>,
    pub(crate) faults: Faults,
    /// Client assertions seen, remembered until they expire (replay protection).
    pub(crate) seen_assertions: Mutex<SeenAssertions>,
    /// The longest a client assertion may be valid (`exp` minus its start).
    pub(crate) max_assertion_lifetime: Duration,
    /// Sessions, codes, refresh tokens and device codes of the user flows.
    pub(crate) store: Store,
    /// Where the time comes from (expiry of codes, sessions and tokens; token timestamps).
    pub(crate) clock: Arc<dyn Clock>,
    /// Sign this user in without the sign-in page (headless tests), by UPN.
    pub(crate) auto_sign_in: Option<String>,
    /// The secret the App Service managed identity endpoint expects in `X-IDENTITY-HEADER`
    /// (`IDENTITY_HEADER`); random per emulator, never logged.
    pub(crate) identity_header: String,
    /// The workload identity issuers the emulator serves.
    pub(crate) workload_issuers: RwLock<WorkloadIssuers>,
}

impl State {
    pub(crate) fn new(
        urls: Urls,
        directory: Directory,
        keys: KeyStore,
        max_assertion_lifetime: Duration,
        clock: Arc<dyn Clock>,
    ) -> State {
        State {
            urls,
            directory: RwLock::new(directory),
            keys: RwLock::new(keys),
            faults: Faults::default(),
            seen_assertions: Mutex::new(SeenAssertions::default()),
            max_assertion_lifetime,
            store: Store::default(),
            clock,
            auto_sign_in: None,
            identity_header: random_b64(32),
            workload_issuers: RwLock::new(WorkloadIssuers::default()),
        }
    }

    /// Now, in Unix seconds, by the emulator's clock.
    pub(crate) fn now(&self) -> i64 {
        self.clock.unix_seconds()
    }

    /// The key tokens are signed with (unless the resource app has its own).
    pub(crate) fn active_key(&self) -> SigningKey {
        read(&self.keys).active().clone()
    }
}

/// Lock a mutex; a panic while it was held does not poison it for the emulator.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Read-lock, ignoring poisoning.
pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

/// Write-lock, ignoring poisoning.
pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}
