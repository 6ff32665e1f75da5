//! Sending a request and reading its answer: the capped body reader, the redirect refusal,
//! the mapping of transport failures to [`NetError`] and the error snippet, each redacted.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ETAG, LOCATION};
use thiserror::Error;

use super::auth::Auth;
use super::policy::{MAX_BODY, REDIRECTS, SNIPPET_CHARS};

/// Why a request got no usable answer. Texts never contain a secret.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum NetError {
    /// No answer within the deadline (milliseconds).
    #[error("timed out after {0} ms")]
    Timeout(u64),
    /// Connection refused or reset, DNS, TLS (with a hint when a certificate is the cause).
    #[error("transport: {0}")]
    Transport(String),
    /// The body is larger than [`MAX_BODY`].
    #[error("the answer is larger than {} MiB; refusing to read it", MAX_BODY / 1024 / 1024)]
    TooLarge,
    /// A redirect, which is never followed ([`REDIRECTS`]).
    #[error("HTTP {status}: redirect to {location} refused: {REDIRECTS}")]
    Redirect {
        /// The 3xx status.
        status: u16,
        /// Where it pointed (redacted), or `?`.
        location: String,
    },
}

/// A status, its `ETag` and the body, read up to [`MAX_BODY`].
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The `ETag` header, when present and readable.
    pub etag: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// An error and its causes on one line, each cause once (reqwest's own message says only
/// "error sending request"; the useful part is in the causes).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

/// The hint for a server that wants a client certificate (mutual TLS).
const MTLS_HINT: &str = "the server refused the TLS handshake for want of a client \
     certificate it accepts (mutual TLS): set `client_cert_file` and `client_key_file`";

/// What to do about a TLS failure, when the message shows one rollwatch can name.
fn tls_hint(msg: &str) -> Option<&'static str> {
    let m = msg.to_ascii_lowercase();
    if m.contains("unknownissuer") || m.contains("invalid peer certificate") {
        Some(
            "the server's TLS certificate is not signed by a trusted CA: set `ca_file` to the \
             CA that signed it (certificate verification failed)",
        )
    } else if m.contains("certificaterequired")
        || m.contains("certificate required")
        || m.contains("bad certificate")
        || m.contains("badcertificate")
    {
        Some(MTLS_HINT)
    } else {
        None
    }
}

/// Maps a reqwest failure to a [`NetError`]: the deadline → `Timeout`, the rest →
/// `Transport`, without the URL and without the secret.
pub(crate) fn transport_error(e: reqwest::Error, timeout: Duration, auth: &Auth) -> NetError {
    if e.is_timeout() {
        return NetError::Timeout(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    }
    let e = e.without_url();
    let msg = chain(&e);
    let msg = match tls_hint(&msg) {
        Some(hint) => format!("{hint}; {msg}"),
        None => msg,
    };
    NetError::Transport(auth.redact(&msg))
}

/// Sends `req` (credentials already on it) and reads the answer.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    timeout: Duration,
    auth: &Auth,
) -> Result<Answer, NetError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| transport_error(e, timeout, auth))?;
    let status = resp.status();
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| "?".to_owned(), |l| auth.redact(&cut(l)));
        return Err(NetError::Redirect {
            status: status.as_u16(),
            location,
        });
    }
    let etag = resp
        .headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(NetError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(e, timeout, auth))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(NetError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, etag, body })
}

/// The start of a text for an error message: the secret removed first (so a cut cannot leave
/// half of it), then on one line, at most [`SNIPPET_CHARS`] characters.
fn cut(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(SNIPPET_CHARS)
        .collect()
}

/// A body (or a backend's own message) for an error text: redacted, one line, at most
/// [`SNIPPET_CHARS`] characters.
#[must_use]
pub fn snippet(body: &[u8], auth: &Auth) -> String {
    cut(&auth.redact(&String::from_utf8_lossy(body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn snippets_are_one_short_line_without_the_secret() {
        let auth = Auth::Bearer(Secret::new("tok-123"));
        let body = format!("error:\n\tbad\ttoken tok-123 {}", "x".repeat(500));
        let s = snippet(body.as_bytes(), &auth);
        assert!(s.starts_with("error: bad token *** x"), "{s}");
        assert_eq!(s.chars().count(), SNIPPET_CHARS);
        // A secret straddling the cut is removed before cutting.
        let body = format!("{}tok-123", "y".repeat(SNIPPET_CHARS - 3));
        assert!(!snippet(body.as_bytes(), &auth).contains("tok"));
    }

    #[test]
    fn tls_failures_say_what_to_configure() {
        assert!(
            tls_hint("invalid peer certificate: UnknownIssuer")
                .is_some_and(|h| h.contains("`ca_file`"))
        );
        assert!(
            tls_hint("received fatal alert: CertificateRequired")
                .is_some_and(|h| h.contains("`client_cert_file`"))
        );
        assert_eq!(tls_hint("connection refused"), None);
    }
}
