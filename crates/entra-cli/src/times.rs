//! Token times for humans: RFC 3339 UTC and "expires in 52 min" / "expired 3 h ago".

use entra_client::{Clock as _, SystemClock};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Seconds since the Unix epoch, now: the system clock, as the libraries read it.
pub(crate) fn now_unix() -> i64 {
    SystemClock.unix_seconds()
}

/// A NumericDate claim (an integer, or a float as some issuers write) as whole seconds.
pub(crate) fn numeric_date(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // Beyond year 9999 nothing useful can be shown; also rules out NaN and infinities.
    (f.is_finite() && f.abs() < 253_402_300_800.0).then_some(f.trunc() as i64)
}

/// `2024-10-26T10:00:00Z`, or `unix time N` when out of range.
pub(crate) fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("unix time {unix}"))
}

/// A duration in the largest sensible unit: `12 s`, `52 min`, `1 h 30 min`, `3 h`, `4 days`.
pub(crate) fn span(seconds: u64) -> String {
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    const DAY: u64 = 86_400;
    if seconds < 90 {
        format!("{seconds} s")
    } else if seconds < 90 * MIN {
        format!("{} min", seconds / MIN)
    } else if seconds < 10 * HOUR {
        let (h, m) = (seconds / HOUR, seconds % HOUR / MIN);
        if m == 0 {
            format!("{h} h")
        } else {
            format!("{h} h {m} min")
        }
    } else if seconds < 2 * DAY {
        format!("{} h", seconds / HOUR)
    } else {
        format!("{} days", seconds / DAY)
    }
}

/// Which time of a token a phrase is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moment {
    /// `iat`.
    Issued,
    /// `nbf`.
    NotBefore,
    /// `exp`.
    Expires,
}

/// The relative phrase for a token time at `now`: `3 h ago`, `in 5 min: not valid yet`,
/// `expires in 52 min`, `expired 3 h ago`.
pub(crate) fn relative(moment: Moment, at: i64, now: i64) -> String {
    let delta = at.saturating_sub(now);
    let amount = span(delta.unsigned_abs());
    match (moment, delta > 0) {
        (Moment::Issued, false) => format!("{amount} ago"),
        (Moment::Issued, true) => format!("in {amount}: issued in the future"),
        (Moment::NotBefore, false) => format!("{amount} ago"),
        (Moment::NotBefore, true) => format!("in {amount}: not valid yet"),
        (Moment::Expires, false) => format!("expired {amount} ago"),
        (Moment::Expires, true) => format!("expires in {amount}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(89), "89 s");
        assert_eq!(span(52 * 60 + 10), "52 min");
        assert_eq!(span(90 * 60), "1 h 30 min");
        assert_eq!(span(3 * 3600), "3 h");
        assert_eq!(span(3 * 3600 + 60), "3 h 1 min");
        assert_eq!(span(30 * 3600), "30 h");
        assert_eq!(span(5 * 86_400), "5 days");
    }

    #[test]
    fn phrases() {
        let now = 1_000_000;
        assert_eq!(
            relative(Moment::Expires, now - 3 * 3600, now),
            "expired 3 h ago"
        );
        assert_eq!(
            relative(Moment::Expires, now + 52 * 60, now),
            "expires in 52 min"
        );
        assert_eq!(
            relative(Moment::NotBefore, now + 3600, now),
            "in 60 min: not valid yet"
        );
        assert_eq!(relative(Moment::Issued, now - 5, now), "5 s ago");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(1_729_936_800), "2024-10-26T10:00:00Z");
        assert_eq!(rfc3339(i64::MAX), format!("unix time {}", i64::MAX));
        assert_eq!(
            numeric_date(&serde_json::json!(1_729_936_800.7)),
            Some(1_729_936_800)
        );
        assert_eq!(numeric_date(&serde_json::json!("1729936800")), None);
        assert_eq!(numeric_date(&serde_json::json!(1e300)), None);
    }
}
