//! The vocabulary shared by the entra-rs crates: where the time comes from, which Entra ID cloud
//! an app talks to, and which authority URLs are acceptable.
//!
//! ```
//! use std::time::Duration;
//! use entra_core::{AuthorityHost, Clock, ManualClock, check_authority_url};
//! use url::Url;
//!
//! // Tests move time by hand; clones of a `ManualClock` share it.
//! let clock = ManualClock::at_unix_seconds(1_700_000_000);
//! let given_to_the_library = clock.clone();
//! clock.advance(Duration::from_secs(3_600));
//! assert_eq!(given_to_the_library.unix_seconds(), 1_700_003_600);
//!
//! // One rule for authorities: https, or plain http for a loopback emulator only.
//! let authority = Url::parse(AuthorityHost::AzureUsGovernment.as_str())?;
//! assert_eq!(check_authority_url(&authority), Ok(()));
//! assert!(check_authority_url(&Url::parse("http://login.example.com")?).is_err());
//! # Ok::<(), url::ParseError>(())
//! ```
//!
//! `entra-auth` (validating tokens) and `entra-client` (obtaining them) both use and re-export
//! these items, so a program that uses both learns one [`Clock`] and one [`AuthorityHost`], and
//! rarely needs to name this crate.
//!
//! - [`clock`]: the [`Clock`] trait, [`SystemClock`] (the default) and [`ManualClock`] (tests).
//! - [`cloud`]: [`AuthorityHost`], the `AZURE_*` authority constants, [`check_authority_url`] and
//!   [`is_loopback`].

pub mod clock;
pub mod cloud;

pub use clock::{Clock, ManualClock, SystemClock};
pub use cloud::{
    AZURE_CHINA, AZURE_PUBLIC_CLOUD, AZURE_US_GOVERNMENT, AuthorityHost, check_authority_url,
    is_loopback,
};
