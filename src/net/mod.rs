//! The one HTTP, TLS and credentials layer every network adapter uses (Prometheus, JSON
//! metrics, the generic HTTP flag, Unleash). An adapter describes where it talks to as an
//! [`Endpoint`] (URL, credentials, TLS, deadline) and sends through [`Endpoint::send`]; what
//! is decided here is decided once for all of them:
//!
//! - **URLs** ([`policy::parse_url`]): `http` or `https` with a host; credentials in the URL
//!   are refused (they would show up in every message that names the URL).
//! - **Redirects** are refused ([`policy::REDIRECTS`]).
//! - **Deadlines** ([`policy::deadline`]): one total deadline per request, at most 5 s, of which
//!   connecting has at most 2 s.
//! - **Bodies** are read up to [`policy::MAX_BODY`]; error texts quote at most
//!   [`policy::SNIPPET_CHARS`] characters of a body, on one line, with the secret removed.
//! - **Secrets** are read in one place ([`AuthKeys::resolve`]) and never appear in errors,
//!   `Debug` output or logs ([`Auth::redact`], [`crate::secret::Secret`]).
//! - **TLS** ([`TlsFiles`]): rustls with the system's roots, or only a private CA
//!   (`ca_file`); a client certificate (`client_cert_file` + `client_key_file`) for mTLS;
//!   `insecure_skip_verify` for test servers.

pub mod answer;
pub mod auth;
mod keys;
pub mod policy;
pub mod tls;

use std::time::Duration;

use reqwest::{Method, Url};
use thiserror::Error;

pub use answer::{Answer, NetError};
pub use auth::{Auth, AuthKeys};
pub use tls::TlsFiles;

/// Why an endpoint could not be built from its configuration. Each message names the config
/// key it is about in backticks, so `check-config` can point at it.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EndpointError {
    /// The URL is not an absolute http(s) URL without credentials.
    #[error("`{key}` = {url:?}: {reason}")]
    Url {
        /// The key (`url`, `write_url`).
        key: String,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another field does not fit (the deadline, an adapter's own check).
    #[error("{0}")]
    Invalid(String),
    /// A token or password could not be read, or the credential keys contradict each other.
    #[error("credentials: {0}")]
    Secret(String),
    /// A TLS file is missing, unreadable or not the PEM it should be.
    #[error("{0}")]
    Tls(String),
}

/// Where an adapter talks to and how: URL, credentials, TLS and deadline, with the client
/// built from them. Cheap to share; its `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The base URL (checked by [`policy::parse_url`]).
    pub url: Url,
    /// The credentials sent with every request.
    pub auth: Auth,
    /// The TLS settings the client was built with.
    pub tls: TlsFiles,
    /// The total deadline of one request.
    pub timeout: Duration,
    client: reqwest::Client,
}

/// The endpoint keys of an adapter's config table, as written (borrowed). Every adapter's
/// config (declared with `endpoint_config!`, which also writes its `endpoint_keys()`) hands
/// these to [`EndpointKeys::endpoint`], the one place that turns them into an [`Endpoint`].
#[derive(Debug, Clone)]
pub struct EndpointKeys<'a> {
    /// `url`.
    pub url: &'a str,
    /// `ca_file`, `client_cert_file`, `client_key_file`, `insecure_skip_verify`.
    pub tls: TlsFiles,
    /// `timeout_ms`.
    pub timeout_ms: Option<u64>,
}

pub(crate) use keys::endpoint_config;

impl EndpointKeys<'_> {
    /// Builds the endpoint with credentials already resolved ([`AuthKeys::resolve`]).
    /// `default_timeout` is the deadline when `timeout_ms` is not set (before the 5 s cap).
    ///
    /// # Errors
    /// When the URL, the deadline or a TLS file is unusable.
    pub fn endpoint(
        &self,
        auth: Auth,
        default_timeout: Duration,
    ) -> Result<Endpoint, EndpointError> {
        let url = policy::parse_url("url", self.url)?;
        let timeout = policy::deadline(self.timeout_ms, default_timeout)?;
        Endpoint::new(url, auth, self.tls.clone(), timeout)
    }
}

impl Endpoint {
    /// An endpoint for `url` (already checked) with its client.
    ///
    /// # Errors
    /// When a TLS file cannot be loaded or the client cannot be built.
    pub fn new(
        url: Url,
        auth: Auth,
        tls: TlsFiles,
        timeout: Duration,
    ) -> Result<Self, EndpointError> {
        auth.check_header()?;
        let client = client(&tls, timeout)?;
        Ok(Self {
            url,
            auth,
            tls,
            timeout,
            client,
        })
    }

    /// A request to `url` (normally derived from [`Endpoint::url`]); send it with
    /// [`Endpoint::send`], which adds the credentials.
    pub fn request(&self, method: Method, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Adds the credentials, sends, refuses redirects and reads the body up to
    /// [`policy::MAX_BODY`]. Every error text is redacted.
    ///
    /// # Errors
    /// [`NetError`]: deadline, transport (TLS included), a redirect, a body past the cap.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, NetError> {
        let result = answer::send(self.auth.apply(req), self.timeout, &self.auth).await;
        match result {
            Err(NetError::Transport(m)) if self.may_want_a_client_certificate(&m) => {
                Err(NetError::Transport(format!(
                    "the connection closed before an answer: if the server wants a client \
                     certificate (mutual TLS), set `client_cert_file` and `client_key_file`; {m}"
                )))
            }
            other => other,
        }
    }

    /// Under TLS 1.3 a server that wants a client certificate rejects the connection after
    /// the client's side of the handshake is done, so the client may see only a connection
    /// that closed before its answer. Over https without a client certificate, say so.
    fn may_want_a_client_certificate(&self, msg: &str) -> bool {
        let m = msg.to_ascii_lowercase();
        self.url.scheme() == "https"
            && self.tls.client_cert_file.is_none()
            && !m.contains("client certificate")
            && (m.contains("connection was not ready")
                || m.contains("connection closed")
                || m.contains("connection reset"))
    }

    /// The first [`policy::SNIPPET_CHARS`] characters of a text or body, on one line, without
    /// the secret: the only way a body reaches an error message.
    #[must_use]
    pub fn snippet(&self, body: &[u8]) -> String {
        answer::snippet(body, &self.auth)
    }

    /// Removes the secret from a text.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        self.auth.redact(text)
    }
}

/// The one client builder: deadlines, no redirects, the TLS settings, a user agent.
/// Clients built so far, by TLS settings and deadline: endpoints that would build the same
/// client share one (a `reqwest::Client` is a handle on a connection pool), so a fleet's 200
/// flags on one server cost one certificate store and one pool, not 200.
static CLIENTS: std::sync::Mutex<Vec<(TlsFiles, Duration, reqwest::Client)>> =
    std::sync::Mutex::new(Vec::new());

/// Most clients kept for sharing.
const CLIENTS_KEPT: usize = 32;

fn client(tls: &TlsFiles, total: Duration) -> Result<reqwest::Client, EndpointError> {
    let mut kept = CLIENTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, _, c)) = kept.iter().find(|(t, d, _)| t == tls && *d == total) {
        return Ok(c.clone());
    }
    let c = build_client(tls, total)?;
    if kept.len() == CLIENTS_KEPT {
        kept.remove(0);
    }
    kept.push((tls.clone(), total, c.clone()));
    Ok(c)
}

fn build_client(tls: &TlsFiles, total: Duration) -> Result<reqwest::Client, EndpointError> {
    let builder = reqwest::Client::builder()
        .connect_timeout(policy::connect_deadline(total))
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("rollwatch/", env!("CARGO_PKG_VERSION")));
    tls.apply(builder)?
        .build()
        .map_err(|e| EndpointError::Tls(tls.build_error(&e)))
}
