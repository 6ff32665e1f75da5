//! The `[flag]` table of the generic HTTP backend: URLs, pointers, body template, write method.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::{HttpFlag, render};
use crate::flags::registry::{self, BuiltFlag, FlagSpec, Kind};
use crate::net::{Auth, AuthKeys, policy};

/// How the generic backend writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum WriteMethod {
    /// `PUT` (the default).
    #[default]
    Put,
    /// `PATCH`.
    Patch,
    /// `POST`.
    Post,
}

impl WriteMethod {
    pub(super) fn method(self) -> Method {
        match self {
            WriteMethod::Put => Method::PUT,
            WriteMethod::Patch => Method::PATCH,
            WriteMethod::Post => Method::POST,
        }
    }
}

crate::net::endpoint_config! {
    /// Configuration of the generic HTTP flag backend.
    #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct HttpFlagConfig {
        /// The URL read with GET; it answers a JSON document.
        pub url: String,
        /// JSON pointer (RFC 6901) to the percentage in the GET answer, e.g. `/rollout/percent`.
        /// The value may be an integer or a string holding one, 0..=100.
        pub percent_pointer: String,
        /// JSON pointer to the on/off switch (a boolean). Without it the flag counts as always on
        /// and the kill switch is unavailable.
        #[serde(default)]
        pub enabled_pointer: Option<String>,
        /// JSON pointer to a version field (any scalar) that changes with every write. Compared
        /// before writing and available to the body template as `{{version}}`.
        #[serde(default)]
        pub version_pointer: Option<String>,
        /// The write request's method: `PUT` (default), `PATCH` or `POST`.
        #[serde(default)]
        pub method: WriteMethod,
        /// Where writes go; `url` when absent.
        #[serde(default)]
        pub write_url: Option<String>,
        /// The JSON body of a write. `{{percent}}` becomes the integer percentage, `{{enabled}}`
        /// `true` or `false`, `{{version}}` the version as JSON (as read via `version_pointer`).
        pub body_template: String,
        /// Total deadline per request in milliseconds (at most 5000; connect at most 2000).
        #[serde(default = "default_timeout_ms")]
        pub timeout_ms: u64,
        /// Where the API keeps a `rollwatch guard` lease, when it can (see [`HttpLease`]).
        #[serde(default)]
        pub lease: Option<HttpLease>,
    }
}

/// A guard lease kept in a field of the flag's JSON: read with every GET, written by a request
/// the server checks (compare-and-set: it refuses, 409 or 412, when the stored lease is not
/// `{{expected_lease}}`). The flag's version is not involved, so a renewal never makes an
/// operator's write conflict.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLease {
    /// JSON pointer to the lease text (a string, or null when none) in the GET answer.
    pub pointer: String,
    /// The JSON body that replaces the lease, sent with the write method to the write URL:
    /// `{{lease}}` becomes the new lease (a JSON string, or null to release it),
    /// `{{expected_lease}}` the one it replaces.
    pub body_template: String,
}

/// The lease placeholders.
pub(super) const LEASE: &str = "{{lease}}";
pub(super) const EXPECTED_LEASE: &str = "{{expected_lease}}";

impl HttpLease {
    fn validate(&self) -> Result<(), String> {
        if !self.pointer.starts_with('/') {
            return Err(format!(
                "`lease.pointer` = {:?} is not a JSON pointer: one starts with '/'",
                self.pointer
            ));
        }
        for p in [LEASE, EXPECTED_LEASE] {
            if !self.body_template.contains(p) {
                return Err(format!(
                    "`lease.body_template` has no {p}: the server could not check the lease"
                ));
            }
        }
        let sample = self
            .body_template
            .replace(LEASE, "\"a\"")
            .replace(EXPECTED_LEASE, "null");
        serde_json::from_str::<Value>(&sample).map_err(|e| {
            format!("`lease.body_template` does not give JSON once filled in ({e}): {sample}")
        })?;
        Ok(())
    }
}

fn default_timeout_ms() -> u64 {
    policy::MAX_TIMEOUT_MS
}

/// The template placeholders.
const PERCENT: &str = "{{percent}}";
const ENABLED: &str = "{{enabled}}";

impl HttpFlagConfig {
    /// The credential keys (a bearer token).
    #[must_use]
    pub fn auth_keys(&self) -> AuthKeys<'_> {
        AuthKeys::token(self.token_env.as_deref(), self.token_file.as_deref())
    }

    /// Why the kill switch cannot work with this config, or `None` when it can: it needs an
    /// `enabled_pointer` to read the switch and `{{enabled}}` in the body template to write it.
    #[must_use]
    pub fn kill_switch_unavailable(&self) -> Option<&'static str> {
        if self.enabled_pointer.is_none() {
            Some("this HTTP flag has no `enabled_pointer`")
        } else if !self.body_template.contains(ENABLED) {
            Some("the `body_template` has no {{enabled}}, so a write cannot switch the flag")
        } else {
            None
        }
    }

    /// Checks what can be checked without a network or secrets: the URLs, the JSON pointers,
    /// the body template (JSON once filled in, carrying `{{percent}}`, and `{{enabled}}` when
    /// `enabled_pointer` is set) and the token settings. Each message names the key it is
    /// about in backticks.
    ///
    /// # Errors
    /// The first problem, in words.
    pub fn validate(&self) -> Result<(), String> {
        policy::parse_url("url", &self.url).map_err(|e| e.to_string())?;
        if let Some(w) = &self.write_url {
            policy::parse_url("write_url", w).map_err(|e| e.to_string())?;
        }
        for (name, p) in [
            ("percent_pointer", Some(&self.percent_pointer)),
            ("enabled_pointer", self.enabled_pointer.as_ref()),
            ("version_pointer", self.version_pointer.as_ref()),
        ] {
            if let Some(p) = p
                && !p.is_empty()
                && !p.starts_with('/')
            {
                return Err(format!(
                    "`{name}` = {p:?} is not a JSON pointer: one starts with '/' (\"/{p}\")"
                ));
            }
        }
        let sample = render(&self.body_template, 50, true, Some("1"));
        serde_json::from_str::<Value>(&sample).map_err(|e| {
            format!("`body_template` does not give JSON once filled in ({e}): {sample}")
        })?;
        if !self.body_template.contains(PERCENT) {
            return Err(
                "`body_template` has no {{percent}}: a write could not set the percentage".into(),
            );
        }
        if self.enabled_pointer.is_some() && !self.body_template.contains(ENABLED) {
            return Err(
                "`body_template` has no {{enabled}} but `enabled_pointer` is set: \
                 the kill switch would be a silent no-op; add {{enabled}} to the template"
                    .into(),
            );
        }
        if let Some(l) = &self.lease {
            l.validate()?;
        }
        self.auth_keys().check().map_err(|e| e.to_string())
    }
}

/// The registry line of `kind = "http"`.
pub const KIND: Kind = Kind {
    name: "http",
    parse: registry::deserialize::<HttpFlagConfig>,
    discover: Some(super::discover::parse),
};

impl FlagSpec for HttpFlagConfig {
    fn insecure_tls(&self) -> bool {
        self.insecure_skip_verify
    }

    fn check(&self) -> Result<(), String> {
        HttpFlag::new(self.clone(), None)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn build(&self, _rollout: &str) -> Result<BuiltFlag, String> {
        let token = match self.auth_keys().resolve() {
            Ok(Auth::Bearer(t)) => Some(t),
            Ok(_) => None,
            Err(e) => return Err(e.to_string()),
        };
        let f = HttpFlag::new(self.clone(), token).map_err(|e| e.to_string())?;
        Ok(BuiltFlag::remote(f))
    }
}
