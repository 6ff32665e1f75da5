//! Discovery: a flag backend's selection of flags (`[fleet.flags]`), each of which becomes a
//! rollout. Unleash selects the features of a project with a gradual rollout
//! (`flexibleRollout`) in an environment; the HTTP backend reads a list endpoint whose items
//! are flags. Each discovered flag's backend is the adapter's own, built from the selection's
//! keys and the flag's name.

use std::fmt::Debug;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::FlagError;
use super::registry::Flag;

/// A parsed `[fleet.flags]` table.
pub trait DiscoverySpec: Debug + Send + Sync {
    /// The environment the flags are steered in, when the backend has one.
    fn environment(&self) -> Option<&str> {
        None
    }

    /// What discovering would refuse, without secrets or network.
    ///
    /// # Errors
    /// The refusal, naming the key in backticks.
    fn check(&self) -> Result<(), String>;

    /// The names of the flags selected now, in the backend's order, each once.
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, FlagError>>;

    /// The flag backend of one discovered flag (parsed, not built).
    fn flag(&self, name: &str) -> Flag;
}

/// A fleet's flag selection: its kind and its parsed table.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The kind (`unleash`, `http`).
    pub kind: &'static str,
    /// The adapter's spec.
    pub spec: Arc<dyn DiscoverySpec>,
}

/// The names of the items of a list answer: the array at `items` (a JSON pointer, `""` for
/// the whole document) and each item's name at `name` (a JSON pointer) or the item itself
/// when it is a string. Names that repeat count once; an item without a name is an error.
///
/// # Errors
/// [`FlagError::Protocol`] saying what was not there.
pub fn names_in(doc: &Value, items: &str, name: &str) -> Result<Vec<String>, FlagError> {
    let list = doc
        .pointer(items)
        .and_then(Value::as_array)
        .ok_or_else(|| {
            FlagError::Protocol(format!(
                "the list answer has no array at `{}`",
                if items.is_empty() {
                    "(the root)"
                } else {
                    items
                }
            ))
        })?;
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let n = match item {
            Value::String(s) => Some(s.as_str()),
            v => v.pointer(name).and_then(Value::as_str),
        }
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| FlagError::Protocol(format!("list item {i} has no name at `{name}`")))?;
        if !out.iter().any(|o| o == n) {
            out.push(n.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::names_in;

    #[test]
    fn names_from_an_array_of_objects_or_strings() {
        let doc = json!([{"name": "a"}, {"name": "b"}, {"name": "a"}]);
        assert_eq!(names_in(&doc, "", "/name").unwrap(), ["a", "b"]);
        let doc = json!({"data": {"flags": ["x", "y"]}});
        assert_eq!(names_in(&doc, "/data/flags", "/name").unwrap(), ["x", "y"]);
        let e = names_in(&json!([{"id": 1}]), "", "/name").unwrap_err();
        assert!(e.to_string().contains("list item 0 has no name"), "{e}");
        let e = names_in(&json!({"x": 1}), "/flags", "/name").unwrap_err();
        assert!(e.to_string().contains("no array at `/flags`"), "{e}");
    }
}
