//! A generic HTTP flag backend for flag services rollwatch has no adapter for: a GET that
//! answers JSON (the percentage, the on/off switch and optionally a version found by JSON
//! pointers) and a write request built from a body template.
//!
//! Compare-and-set, strongest first:
//! - the API sends an `ETag`: the write carries `If-Match: <etag the operator saw>`, and the
//!   server's 412 (or 409) is a conflict. The server checks, so no window remains.
//! - the API has a version field (`version_pointer`): the operator's version is compared with a
//!   fresh read, and `{{version}}` in the body template hands it to the server so it can check.
//! - neither: rollwatch re-reads immediately before writing and refuses with a conflict when the
//!   value moved. A change landing in the few milliseconds between that re-read and the write
//!   cannot be seen by any client of such an API; prefer an API with ETags or versions.
//!
//! Transport, credentials, TLS and limits are [`crate::net`]'s, as for every adapter.

mod config;
pub mod discover;
#[cfg(test)]
mod tests;

pub use config::{HttpFlagConfig, HttpLease, KIND, WriteMethod};

use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderValue, IF_MATCH};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::{FlagBackend, FlagError};
use crate::model::{FlagSnapshot, Lease};
use crate::net::{Answer, Auth, Endpoint, EndpointError, NetError, policy};
use crate::secret::Secret;

impl From<NetError> for FlagError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Timeout(ms) => FlagError::Timeout(ms),
            NetError::Transport(m) => FlagError::Transport(m),
            e @ (NetError::TooLarge | NetError::Redirect { .. }) => {
                FlagError::Protocol(e.to_string())
            }
        }
    }
}

impl From<EndpointError> for FlagError {
    fn from(e: EndpointError) -> Self {
        FlagError::Misconfigured(e.to_string())
    }
}

/// The body of an answer as JSON, or a `Protocol` error saying what was wrong.
pub(crate) fn json(ans: &Answer, what: &str) -> Result<Value, FlagError> {
    serde_json::from_slice(&ans.body)
        .map_err(|e| FlagError::Protocol(format!("{what}: the answer is not JSON ({e})")))
}

/// A flag behind a generic JSON-over-HTTP API.
#[derive(Debug)]
pub struct HttpFlag {
    config: HttpFlagConfig,
    read_url: Url,
    write_url: Url,
    endpoint: Endpoint,
}

/// A fresh read: the snapshot and the raw ETag to send back.
struct Fresh {
    snapshot: FlagSnapshot,
    etag: Option<String>,
}

const ETAG_PREFIX: &str = "etag:";

impl HttpFlag {
    /// A backend for `config`; `token` is the resolved bearer token, if any.
    ///
    /// # Errors
    /// `Misconfigured` when a URL, a pointer or the body template is unusable.
    pub fn new(config: HttpFlagConfig, token: Option<Secret>) -> Result<Self, FlagError> {
        config.validate().map_err(FlagError::Misconfigured)?;
        let auth = token.map_or(Auth::None, Auth::Bearer);
        let endpoint = config.endpoint_keys().endpoint(auth, policy::MAX_TIMEOUT)?;
        let read_url = endpoint.url.clone();
        let write_url = match &config.write_url {
            Some(w) => policy::parse_url("write_url", w)?,
            None => read_url.clone(),
        };
        Ok(Self {
            config,
            read_url,
            write_url,
            endpoint,
        })
    }

    async fn fetch(&self) -> Result<Fresh, FlagError> {
        let req = self.endpoint.request(Method::GET, self.read_url.clone());
        let ans = self.endpoint.send(req).await?;
        self.check_status(&ans, "read")?;
        let doc = json(&ans, "read")?;
        let snapshot = self.parse(&doc, ans.etag.as_deref())?;
        Ok(Fresh {
            snapshot,
            etag: ans.etag,
        })
    }

    fn check_status(&self, ans: &Answer, what: &str) -> Result<(), FlagError> {
        match ans.status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(FlagError::Unauthorized),
            StatusCode::FORBIDDEN => Err(FlagError::Forbidden(format!(
                "the token may not {what} this flag: {}",
                self.endpoint.snippet(&ans.body)
            ))),
            StatusCode::NOT_FOUND => Err(FlagError::NotFound(format!(
                "{} answered 404 to the {what}",
                self.endpoint.redact(self.read_url.as_str())
            ))),
            s => Err(FlagError::Protocol(format!(
                "{what} answered HTTP {}: {}",
                s.as_u16(),
                self.endpoint.snippet(&ans.body)
            ))),
        }
    }

    fn parse(&self, doc: &Value, etag: Option<&str>) -> Result<FlagSnapshot, FlagError> {
        let c = &self.config;
        let pv = doc.pointer(&c.percent_pointer).ok_or_else(|| {
            FlagError::Protocol(format!("no value at {} in the answer", c.percent_pointer))
        })?;
        let percent = percent_of(pv).ok_or_else(|| {
            FlagError::Protocol(format!(
                "the value at {} is {}, not a percentage 0..=100",
                c.percent_pointer,
                short(pv)
            ))
        })?;
        let enabled = match &c.enabled_pointer {
            None => true,
            Some(p) => match doc.pointer(p) {
                Some(Value::Bool(b)) => *b,
                Some(v) => {
                    return Err(FlagError::Protocol(format!(
                        "the value at {p} is {}, not true or false",
                        short(v)
                    )));
                }
                None => {
                    return Err(FlagError::Protocol(format!(
                        "no value at {p} in the answer"
                    )));
                }
            },
        };
        let version = match &c.version_pointer {
            Some(p) => match doc.pointer(p) {
                Some(v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    Some(v.to_string())
                }
                Some(v) => {
                    return Err(FlagError::Protocol(format!(
                        "the version at {p} is {}, not a string or number",
                        short(v)
                    )));
                }
                None => {
                    return Err(FlagError::Protocol(format!(
                        "no version at {p} in the answer"
                    )));
                }
            },
            None => etag.map(|e| format!("{ETAG_PREFIX}{e}")),
        };
        let lease = c
            .lease
            .as_ref()
            .and_then(|l| doc.pointer(&l.pointer))
            .and_then(Value::as_str)
            .and_then(Lease::decode)
            .map(Box::new);
        Ok(FlagSnapshot {
            percent,
            enabled,
            version,
            details: Vec::new(),
            lease,
        })
    }

    /// Fresh read, compare the stored lease, then the lease write the server checks too.
    async fn swap(&self, expected: Option<&Lease>, new: Option<&Lease>) -> Result<(), FlagError> {
        let Some(cfg) = &self.config.lease else {
            return Err(FlagError::Misconfigured(
                "this HTTP flag has no `lease` settings".into(),
            ));
        };
        let fresh = self.fetch().await?;
        if fresh.snapshot.lease.as_deref() != expected {
            return Err(FlagError::Conflict {
                current: Some(fresh.snapshot),
            });
        }
        let text = |l: Option<&Lease>| {
            l.map_or(Value::Null, |l| Value::String(l.encode()))
                .to_string()
        };
        let body = cfg
            .body_template
            .replace(config::LEASE, &text(new))
            .replace(config::EXPECTED_LEASE, &text(expected));
        let req = self
            .endpoint
            .request(self.config.method.method(), self.write_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let ans = self.endpoint.send(req).await?;
        if matches!(
            ans.status,
            StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED
        ) {
            return Err(FlagError::Conflict {
                current: self.fetch().await.ok().map(|f| f.snapshot),
            });
        }
        self.check_status(&ans, "write the lease of")
    }

    /// Fresh read, compare with what the operator saw, then write with `If-Match`.
    async fn guarded(
        &self,
        expected: &FlagSnapshot,
        percent: u8,
        enabled: bool,
    ) -> Result<(), FlagError> {
        let fresh = self.fetch().await?;
        let s = &fresh.snapshot;
        let moved = s.percent != expected.percent
            || s.enabled != expected.enabled
            || (expected.version.is_some() && s.version != expected.version);
        if moved {
            return Err(FlagError::Conflict {
                current: Some(fresh.snapshot),
            });
        }
        // The ETag the operator saw when the snapshot carries one, else the fresh one (equal
        // values were just confirmed).
        let if_match = expected
            .version
            .as_deref()
            .and_then(|v| v.strip_prefix(ETAG_PREFIX))
            .map(str::to_owned)
            .or(fresh.etag);
        let version_json = self
            .config
            .version_pointer
            .as_ref()
            .and(expected.version.as_deref().or(s.version.as_deref()));
        let body = render(&self.config.body_template, percent, enabled, version_json);
        let mut req = self
            .endpoint
            .request(self.config.method.method(), self.write_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(tag) = if_match
            && let Ok(v) = HeaderValue::from_str(&tag)
        {
            req = req.header(IF_MATCH, v);
        }
        let ans = self.endpoint.send(req).await?;
        if matches!(
            ans.status,
            StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED
        ) {
            return Err(FlagError::Conflict {
                current: self.fetch().await.ok().map(|f| f.snapshot),
            });
        }
        self.check_status(&ans, "write")
    }
}

/// Fills the body template.
fn render(template: &str, percent: u8, enabled: bool, version_json: Option<&str>) -> String {
    template
        .replace("{{percent}}", &percent.min(100).to_string())
        .replace("{{enabled}}", if enabled { "true" } else { "false" })
        .replace("{{version}}", version_json.unwrap_or("null"))
}

/// A percentage from an integer, an integral float or a string holding an integer.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // whole, in 0..=100: checked
fn percent_of(v: &Value) -> Option<u8> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 100.0)
                .map(|f| f as u64)
        })?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    u8::try_from(n).ok().filter(|p| *p <= 100)
}

/// A value for an error message, cut short.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

impl FlagBackend for HttpFlag {
    fn describe(&self) -> String {
        let u = &self.read_url;
        format!("http {}{}", u.host_str().unwrap_or("?"), u.path())
    }

    fn read(&self) -> BoxFuture<'_, Result<FlagSnapshot, FlagError>> {
        Box::pin(async move { self.fetch().await.map(|f| f.snapshot) })
    }

    fn can_set_enabled(&self) -> bool {
        self.config.kill_switch_unavailable().is_none()
    }

    fn can_lease(&self) -> bool {
        self.config.lease.is_some()
    }

    fn swap_lease(
        &self,
        expected: Option<&Lease>,
        new: Option<&Lease>,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let (expected, new) = (expected.cloned(), new.cloned());
        Box::pin(async move { self.swap(expected.as_ref(), new.as_ref()).await })
    }

    fn compare_and_set(
        &self,
        expected: &FlagSnapshot,
        percent: u8,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let expected = expected.clone();
        Box::pin(async move {
            self.guarded(&expected, percent.min(100), expected.enabled)
                .await
        })
    }

    fn set_enabled(
        &self,
        expected: &FlagSnapshot,
        enabled: bool,
    ) -> BoxFuture<'_, Result<(), FlagError>> {
        let expected = expected.clone();
        Box::pin(async move {
            if let Some(why) = self.config.kill_switch_unavailable() {
                return Err(FlagError::Misconfigured(format!(
                    "kill switch unavailable: {why}"
                )));
            }
            self.guarded(&expected, expected.percent, enabled).await
        })
    }
}
