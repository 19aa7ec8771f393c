//! Reading an endpoint's answer, shared by every credential that talks HTTP: the status, the
//! `Retry-After` delay (seconds or an HTTP-date) and the body, bounded, in a buffer sized once
//! from `Content-Length` and zeroized on drop (a token answer never leaves copies in freed
//! memory: when the buffer must grow, the old one is zeroized).

use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

use crate::Error;

/// An answer, read.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// The first allocation when the answer does not say its length.
const INITIAL_CAPACITY: usize = 8 * 1024;

/// Reads `response` to its end, at most `max` bytes of body: more is
/// [`Error::InvalidResponse`]; a transport failure while reading is that error.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Answer, Error> {
    let status = response.status().as_u16();
    let retry_after = parse_retry_after(response.headers(), SystemTime::now());
    let too_large = || Error::InvalidResponse(format!("response body larger than {max} bytes"));
    let declared = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut body = Zeroizing::new(Vec::with_capacity(
        declared.unwrap_or(INITIAL_CAPACITY).min(max),
    ));
    while let Some(chunk) = response.chunk().await.map_err(Error::from_reqwest)? {
        let needed = body.len() + chunk.len();
        if needed > max {
            return Err(too_large());
        }
        if needed > body.capacity() {
            // Grow into a new buffer; the old one is zeroized as it is dropped.
            let mut grown = Zeroizing::new(Vec::with_capacity(
                needed.max(body.capacity().saturating_mul(2)).min(max),
            ));
            grown.extend_from_slice(&body);
            body = grown;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// `Retry-After` as delay-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`,
/// measured from `now`; a date past is no delay). Anything else is ignored.
pub(crate) fn parse_retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(&headers(" 0 "), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(&headers("Wed, 21 Oct 2015 07:28:30 GMT"), now),
            Some(Duration::from_secs(30))
        );
        // A date past: no delay.
        assert_eq!(
            parse_retry_after(&headers("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(&headers("soon"), now), None);
        assert_eq!(parse_retry_after(&headers("-5"), now), None);
        assert_eq!(parse_retry_after(&http::HeaderMap::new(), now), None);
    }

    /// One HTTP answer on 127.0.0.1 (a chunked body when `length` is false), read by
    /// [`read_bounded`].
    async fn serve_once(body: Vec<u8>, length: bool, max: usize) -> Result<Answer, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let head = if length {
                format!(
                    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
            } else {
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned()
            };
            let _ = stream.write_all(head.as_bytes()).await;
            if length {
                let _ = stream.write_all(&body).await;
            } else {
                for chunk in body.chunks(1000) {
                    let _ = stream
                        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                        .await;
                    let _ = stream.write_all(chunk).await;
                    let _ = stream.write_all(b"\r\n").await;
                }
                let _ = stream.write_all(b"0\r\n\r\n").await;
            }
        });
        let response = reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap();
        let answer = read_bounded(response, max).await;
        server.abort();
        answer
    }

    #[tokio::test]
    async fn bodies_are_read_whole_up_to_the_bound() {
        let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        for length in [true, false] {
            let answer = serve_once(body.clone(), length, 1 << 20).await.unwrap();
            assert_eq!(answer.status, 503);
            assert_eq!(answer.retry_after, Some(Duration::from_secs(7)));
            assert_eq!(*answer.body, body);
            let e = serve_once(body.clone(), length, 10_000)
                .await
                .err()
                .unwrap();
            assert!(e.to_string().contains("larger than 10000 bytes"), "{e}");
        }
    }
}
