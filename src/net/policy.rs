//! The limits and rules every endpoint follows, each defined once: body cap, error snippet,
//! deadlines, URL and redirect policy.

use std::time::Duration;

use reqwest::Url;

use super::EndpointError;

/// Largest body read from any backend: 8 MiB. A larger answer is an error, not a memory spike.
/// Large enough for a Prometheus range query at its 11,000-point cap over a handful of series;
/// flag documents are far smaller.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Most characters of a body (or a backend's own message) quoted in an error: 200, on one
/// line, after the secret is removed.
pub const SNIPPET_CHARS: usize = 200;

/// The longest total deadline of one request in milliseconds (R1: at most 5 s).
pub const MAX_TIMEOUT_MS: u64 = 5_000;

/// [`MAX_TIMEOUT_MS`] as a duration.
pub const MAX_TIMEOUT: Duration = Duration::from_millis(MAX_TIMEOUT_MS);

/// The longest connect deadline (R1: at most 2 s); shorter when the total deadline is.
pub const MAX_CONNECT: Duration = Duration::from_secs(2);

/// Redirects are never followed: a 3xx answer (other than 304) is an error naming where it
/// pointed. A redirect can send the request, with its `Authorization` header or client
/// certificate, to another host than the one configured, and so leak the credentials; the
/// operator configures the final URL instead.
pub const REDIRECTS: &str = "rollwatch does not follow redirects (one could carry the \
     credentials to another host): configure the final URL";

/// The total deadline of one request: `timeout_ms` when set, else `default`, never more than
/// [`MAX_TIMEOUT`]. The single definition for every adapter and for the effect layer's own
/// bound ([`poll_deadline`]).
///
/// # Errors
/// `timeout_ms = 0`.
pub fn deadline(timeout_ms: Option<u64>, default: Duration) -> Result<Duration, EndpointError> {
    match timeout_ms {
        Some(0) => Err(EndpointError::Invalid(
            "`timeout_ms` = 0: expected 1..=5000 milliseconds".into(),
        )),
        Some(ms) => Ok(Duration::from_millis(ms).min(MAX_TIMEOUT)),
        None => Ok(default.clamp(Duration::from_millis(1), MAX_TIMEOUT)),
    }
}

/// The deadline of a request when the config names none: min(poll interval, 5 s).
#[must_use]
pub fn poll_deadline(refresh: Duration) -> Duration {
    refresh.min(MAX_TIMEOUT)
}

/// The connect deadline for a total deadline: min(2 s, total).
#[must_use]
pub fn connect_deadline(total: Duration) -> Duration {
    MAX_CONNECT.min(total)
}

/// Parses a configured URL: `http` or `https`, with a host, without credentials.
///
/// # Errors
/// [`EndpointError::Url`] naming `key` and what is wrong.
pub fn parse_url(key: &str, url: &str) -> Result<Url, EndpointError> {
    let bad = |reason: &str| EndpointError::Url {
        key: key.to_owned(),
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host().is_none() {
        return Err(bad("no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Say so without echoing the URL: it holds the credentials.
        return Err(EndpointError::Url {
            key: key.to_owned(),
            url: "<redacted>".into(),
            reason: "credentials in the URL are refused (they would show up in messages): \
                     use `user` + `password_env`/`password_file` or `token_env`/`token_file`"
                .into(),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_default_cap_and_refuse_zero() {
        let s = Duration::from_secs;
        assert_eq!(deadline(None, s(1)).unwrap(), s(1));
        assert_eq!(deadline(None, s(30)).unwrap(), MAX_TIMEOUT);
        assert_eq!(
            deadline(Some(250), s(30)).unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(deadline(Some(60_000), s(1)).unwrap(), MAX_TIMEOUT);
        assert!(deadline(Some(0), s(1)).is_err());
        assert_eq!(
            connect_deadline(Duration::from_millis(300)).as_millis(),
            300
        );
        assert_eq!(connect_deadline(s(5)), MAX_CONNECT);
        assert_eq!(poll_deadline(s(1)), s(1));
        assert_eq!(poll_deadline(s(60)), MAX_TIMEOUT);
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(parse_url("url", "https://prom.example:9090/x").is_ok());
        assert!(parse_url("url", "ftp://x").is_err());
        assert!(parse_url("url", "not a url").is_err());
        let e = parse_url("url", "https://bob:hunter2@prom.example").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("credentials in the URL are refused"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.starts_with("`url`"), "{text}");
    }
}
