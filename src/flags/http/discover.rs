//! `[fleet.flags]` of kind `http`: a list endpoint (`list_url`) whose answer holds an array of
//! flags (at `items_pointer`, the whole document by default), each named at `name_pointer`
//! (`/name`) or a plain string; every other key is a flag's `[rollout.flag]` key, with
//! `{name}` in `url` (and `write_url`) standing for the flag's name, percent-encoded.

use std::fmt::Write as _;
use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::Method;
use serde::Deserialize;

use super::{HttpFlagConfig, json};
use crate::config::locate::{ConfigError, Table, fields_of};
use crate::flags::FlagError;
use crate::flags::discover::{DiscoverySpec, names_in};
use crate::flags::registry::{self, Flag};
use crate::net::{Auth, policy};

/// The placeholder of the flag's name in `url` and `write_url`.
pub const NAME: &str = "{name}";

fn name_pointer() -> String {
    "/name".into()
}

/// The keys of the list endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListKeys {
    /// The URL answering the list (GET), with the flag's credentials and TLS settings.
    list_url: String,
    /// JSON pointer to the array of flags in the answer (default: the whole answer).
    #[serde(default)]
    items_pointer: String,
    /// JSON pointer to an item's name (default `/name`).
    #[serde(default = "name_pointer")]
    name_pointer: String,
}

/// A parsed `[fleet.flags]` of kind `http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpDiscovery {
    list: ListKeys,
    /// Every flag's config, `{name}` not yet replaced.
    flag: HttpFlagConfig,
}

/// Parses the table: the list keys, and the rest as a flag's.
///
/// # Errors
/// The located error.
pub fn parse(t: &Table<'_>, kind: &str) -> Result<Arc<dyn DiscoverySpec>, ConfigError> {
    let own = fields_of::<ListKeys>();
    let list: ListKeys = registry::table(&t.filter(|k| own.contains(&k)), kind)?;
    let flag: HttpFlagConfig = registry::table(&t.filter(|k| !own.contains(&k)), kind)?;
    Ok(Arc::new(HttpDiscovery { list, flag }))
}

/// `name` percent-encoded for a URL path segment or query value.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

impl HttpDiscovery {
    fn config(&self, name: &str) -> HttpFlagConfig {
        let e = encode(name);
        HttpFlagConfig {
            url: self.flag.url.replace(NAME, &e),
            write_url: self.flag.write_url.as_ref().map(|w| w.replace(NAME, &e)),
            ..self.flag.clone()
        }
    }

    async fn list(&self) -> Result<Vec<String>, FlagError> {
        let auth = match self.flag.auth_keys().resolve() {
            Ok(a) => a,
            Err(e) => return Err(FlagError::Misconfigured(e.to_string())),
        };
        let auth = match auth {
            Auth::Bearer(t) => Auth::Bearer(t),
            _ => Auth::None,
        };
        let mut keys = self.flag.endpoint_keys();
        keys.url = &self.list.list_url;
        let endpoint = keys.endpoint(auth, policy::MAX_TIMEOUT)?;
        let ans = endpoint
            .send(endpoint.request(Method::GET, endpoint.url.clone()))
            .await?;
        if !ans.status.is_success() {
            return Err(match ans.status.as_u16() {
                401 => FlagError::Unauthorized,
                403 => FlagError::Forbidden(endpoint.snippet(&ans.body)),
                404 => FlagError::NotFound(format!(
                    "{} answered 404 to the list",
                    endpoint.redact(endpoint.url.as_str())
                )),
                s => FlagError::Protocol(format!(
                    "the list answered HTTP {s}: {}",
                    endpoint.snippet(&ans.body)
                )),
            });
        }
        let doc = json(&ans, "list")?;
        names_in(&doc, &self.list.items_pointer, &self.list.name_pointer)
    }
}

impl DiscoverySpec for HttpDiscovery {
    fn check(&self) -> Result<(), String> {
        policy::parse_url("list_url", &self.list.list_url).map_err(|e| e.to_string())?;
        if !self.flag.url.contains(NAME) {
            return Err(format!(
                "`url` has no {NAME}: every flag would be read from the same URL; write where one flag is, e.g. http://host/api/flags/{NAME}"
            ));
        }
        for (key, p) in [
            ("items_pointer", &self.list.items_pointer),
            ("name_pointer", &self.list.name_pointer),
        ] {
            if !p.is_empty() && !p.starts_with('/') {
                return Err(format!("`{key}` = {p:?} is not a JSON pointer (\"/{p}\")"));
            }
        }
        self.config("x").validate()
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, FlagError>> {
        Box::pin(self.list())
    }

    fn flag(&self, name: &str) -> Flag {
        Flag {
            kind: "http",
            spec: Arc::new(self.config(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(encode("flag-001"), "flag-001");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
