//! What the HTTP metrics sources share: a client with connect and total deadlines, the
//! optional credentials, a body read that stops at a size cap, and the mapping of transport
//! failures to [`MetricsError`] without ever echoing a token.

use std::time::Duration;

use thiserror::Error;

use super::MetricsError;
use crate::secret::Secret;

/// Largest body a source reads; a larger answer is an error, not a memory spike.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Longest connect deadline (R1).
pub const MAX_CONNECT: Duration = Duration::from_secs(2);

/// Credentials of a source, resolved from the environment or a file by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HttpAuth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// HTTP basic authentication.
    Basic {
        /// The user name (not secret).
        user: String,
        /// The password.
        password: Secret,
    },
}

impl HttpAuth {
    pub(crate) fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            HttpAuth::None => req,
            HttpAuth::Bearer(t) => req.bearer_auth(t.expose()),
            HttpAuth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
        }
    }

    /// Removes the secret, if any, from a text that may echo it.
    pub(crate) fn redact(&self, text: &str) -> String {
        match self {
            HttpAuth::None => text.to_owned(),
            HttpAuth::Bearer(s) | HttpAuth::Basic { password: s, .. } => s.redact(text),
        }
    }
}

/// Why a source could not be built from its configuration.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SourceConfigError {
    /// The URL is not an absolute http(s) URL.
    #[error("url `{url}`: {reason}")]
    Url {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Another field does not fit.
    #[error("{0}")]
    Invalid(String),
    /// A token or password could not be read.
    #[error("credentials: {0}")]
    Secret(String),
    /// The TLS stack could not be set up.
    #[error("building the HTTP client: {0}")]
    Client(String),
}

/// Resolves `token_env` / `token_file` / `user` + `password_env` / `password_file` fields
/// into [`HttpAuth`]. At most one kind may be configured.
///
/// # Errors
/// When two kinds are configured, a password comes without a user, or a secret is missing.
pub fn resolve_auth(
    token_env: Option<&str>,
    token_file: Option<&std::path::Path>,
    user: Option<&str>,
    password_env: Option<&str>,
    password_file: Option<&std::path::Path>,
) -> Result<HttpAuth, SourceConfigError> {
    let err = SourceConfigError::Secret;
    let token = match (token_env, token_file) {
        (Some(_), Some(_)) => {
            return Err(err("set token_env or token_file, not both".into()));
        }
        (Some(name), None) => Some(Secret::from_env(name).map_err(err)?),
        (None, Some(path)) => Some(Secret::from_file(path).map_err(err)?),
        (None, None) => None,
    };
    let password = match (password_env, password_file) {
        (Some(_), Some(_)) => {
            return Err(err("set password_env or password_file, not both".into()));
        }
        (Some(name), None) => Some(Secret::from_env(name).map_err(err)?),
        (None, Some(path)) => Some(Secret::from_file(path).map_err(err)?),
        (None, None) => None,
    };
    match (token, user, password) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(err(
            "set either a bearer token or a user and password, not both".into(),
        )),
        (Some(t), None, None) => Ok(HttpAuth::Bearer(t)),
        (None, Some(u), Some(p)) => Ok(HttpAuth::Basic {
            user: u.to_owned(),
            password: p,
        }),
        (None, Some(_), None) => Err(err(
            "user is set but no password_env or password_file".into()
        )),
        (None, None, Some(_)) => Err(err("a password needs a user".into())),
        (None, None, None) => Ok(HttpAuth::None),
    }
}

/// Checks that `url` is an absolute http(s) URL and returns it without a trailing slash.
///
/// # Errors
/// When it is not.
pub fn base_url(url: &str) -> Result<String, SourceConfigError> {
    let bad = |reason: &str| SourceConfigError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host().is_none() {
        return Err(bad("no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "put credentials in user/password_env, not in the URL (they would show up in messages)",
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The total deadline: the configured one, or min(refresh interval, 5 s).
#[must_use]
pub fn deadline(configured_ms: Option<u64>, refresh: Duration) -> Duration {
    configured_ms.map_or_else(
        || refresh.min(Duration::from_secs(5)),
        Duration::from_millis,
    )
}

/// A client with a connect deadline of min(2 s, total) and a total deadline per request.
///
/// # Errors
/// When the TLS stack cannot be initialised.
pub fn client(
    total: Duration,
    insecure_skip_verify: bool,
) -> Result<reqwest::Client, SourceConfigError> {
    reqwest::Client::builder()
        .connect_timeout(MAX_CONNECT.min(total))
        .timeout(total)
        .danger_accept_invalid_certs(insecure_skip_verify)
        .user_agent(concat!("rollwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SourceConfigError::Client(e.to_string()))
}

/// Maps a reqwest failure, with its cause chain, to a [`MetricsError`] without the URL's query
/// (which may be long) and without secrets.
pub(crate) fn transport_error(
    e: reqwest::Error,
    timeout: Duration,
    auth: &HttpAuth,
) -> MetricsError {
    #[allow(clippy::cast_possible_truncation)]
    let ms = timeout.as_millis() as u64;
    if e.is_timeout() {
        return MetricsError::Timeout(ms);
    }
    let e = e.without_url();
    // reqwest's own message says "error sending request"; the useful part is in the causes.
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    MetricsError::Transport(auth.redact(&msg))
}

/// Reads the whole body, failing once it passes [`MAX_BODY`].
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    timeout: Duration,
    auth: &HttpAuth,
) -> Result<Vec<u8>, MetricsError> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(e, timeout, auth))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large() -> MetricsError {
    MetricsError::Parse(format!("answer larger than {} MiB", MAX_BODY / 1024 / 1024))
}

/// The start of a body for an error message: one line, at most 200 characters, no secrets.
pub(crate) fn snippet(body: &[u8], auth: &HttpAuth) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    auth.redact(&one_line)
}
