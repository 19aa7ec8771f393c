//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): any
//! recorder the application installs (Prometheus, OpenTelemetry, StatsD...) receives them.
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! use entra_auth::{Authenticator, EntraConfig};
//! let auth = Authenticator::new(
//!     EntraConfig::builder().tenant("contoso.onmicrosoft.com").client_id("my-api-id").build()?,
//! );
//! // On every scrape (e.g. in a `/metrics` handler, before rendering the recorder's output):
//! auth.publish_metrics();
//! # }
//! # Ok::<(), entra_auth::ConfigError>(())
//! ```
//!
//! Counting costs the request path nothing but relaxed atomics, off the cache-hit path
//! ([`Stats`](crate::Stats) holds them); `Authenticator::publish_metrics` hands them to the
//! recorder when it is called. Only the key refresh's latency is recorded as it happens (a
//! histogram needs every sample; refreshes are rare).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `entra_auth_requests_total` | counter | `outcome`: `cached`, `accepted`, `rejected`, `unavailable`; `reason` for `rejected` (an [`InvalidToken::code`](crate::InvalidToken::code), or `missing_token`) |
//! | `entra_auth_token_cache_hits_total`, `_misses_total`, `_evictions_total` | counter | |
//! | `entra_auth_token_cache_entries` | gauge | |
//! | `entra_auth_key_fetches_total` | counter | `document`: `metadata`, `key_set` |
//! | `entra_auth_key_refresh_failures_total` | counter | |
//! | `entra_auth_key_set_age_seconds` | gauge | (absent before the first fetch) |
//! | `entra_auth_key_refresh_duration_seconds` | histogram | `result`: `ok`, `failed` |
//! | `entra_auth_tenant_requests_total` | counter | `tenant`, only with [`metrics_tenant_label`](crate::EntraConfigBuilder::metrics_tenant_label) |
//!
//! No label carries a token, a user, or (without the opt-in) a tenant. The counters are the
//! authenticator's totals since it started, published as absolute values: publish one
//! authenticator per process, or they overwrite each other.

use std::time::Duration;

/// Records one key refresh's duration and result (nothing without the `metrics` feature).
pub(crate) fn refresh_finished(elapsed: Duration, ok: bool) {
    #[cfg(feature = "metrics")]
    metrics::histogram!(
        "entra_auth_key_refresh_duration_seconds",
        "result" => if ok { "ok" } else { "failed" }
    )
    .record(elapsed.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (elapsed, ok);
}

/// Counts an accepted request under its tenant, when the configuration opted in.
pub(crate) fn accepted_in_tenant(opted_in: bool, claims: &crate::Claims) {
    #[cfg(feature = "metrics")]
    if opted_in && let Some(tid) = claims.tenant_id() {
        metrics::counter!("entra_auth_tenant_requests_total", "tenant" => tid.to_owned())
            .increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (opted_in, claims);
}

#[cfg(feature = "metrics")]
impl crate::Authenticator {
    /// Hands this authenticator's counters to the installed `metrics` recorder (see the
    /// [`metrics`](crate::metrics) module for the names). Cheap (a few dozen atomic loads); call
    /// it on every scrape.
    pub fn publish_metrics(&self) {
        let stats = self.stats();
        let requests = "entra_auth_requests_total";
        metrics::counter!(requests, "outcome" => "cached").absolute(stats.validations_cached);
        metrics::counter!(requests, "outcome" => "accepted").absolute(stats.validations_accepted);
        metrics::counter!(requests, "outcome" => "unavailable").absolute(stats.unavailable);
        for (reason, count) in &stats.rejections {
            metrics::counter!(requests, "outcome" => "rejected", "reason" => *reason)
                .absolute(*count);
        }
        metrics::counter!("entra_auth_token_cache_hits_total").absolute(stats.cache_hits);
        metrics::counter!("entra_auth_token_cache_misses_total").absolute(stats.cache_misses);
        metrics::counter!("entra_auth_token_cache_evictions_total").absolute(stats.cache_evictions);
        metrics::gauge!("entra_auth_token_cache_entries").set(stats.cached_tokens as f64);
        let fetches = "entra_auth_key_fetches_total";
        metrics::counter!(fetches, "document" => "metadata").absolute(stats.metadata_fetches);
        metrics::counter!(fetches, "document" => "key_set").absolute(stats.key_set_fetches);
        metrics::counter!("entra_auth_key_refresh_failures_total")
            .absolute(stats.key_refresh_failures);
        if let Some(age) = stats.key_set_age_secs {
            metrics::gauge!("entra_auth_key_set_age_seconds").set(age as f64);
        }
    }
}
