//! The guard lease in Unleash: the text of [`Lease::encode`] at the end of the rollout
//! strategy's `title` (a title someone gave the strategy stays in front of it). Written with
//! a JSON Patch whose `test` holds the title as read, so Unleash refuses the change when the
//! title moved (checked against Unleash 7.5.1: a failed `test` answers `TEST_OPERATION_FAILED`;
//! a `null` title is ignored, so a release writes the title without the lease, possibly "").
//! Only `/title` is patched: constraints, parameters, segments and variants stay as they are.
//! The version ([`super::parse`]) leaves the title out, so renewals never make an operator's
//! write conflict, and the change history leaves out updates that touched only the lease.

use serde_json::{Value, json};

use super::UnleashFlag;
use crate::flags::FlagError;
use crate::model::Lease;
use crate::model::lease::PREFIX;

/// The part of a title before the lease (trimmed), and the lease when there is one.
fn split(title: &str) -> (&str, Option<Lease>) {
    match title.find(PREFIX) {
        Some(i) => match Lease::decode(&title[i..]) {
            Some(l) => (title[..i].trim_end(), Some(l)),
            None => (title, None),
        },
        None => (title, None),
    }
}

/// The lease held in a strategy's title value.
pub(super) fn in_title(title: &Value) -> Option<Lease> {
    split(title.as_str()?).1
}

/// The title that holds `new` (none: the title without a lease) after `title`.
fn retitled(title: &Value, new: Option<&Lease>) -> String {
    let human = title.as_str().map_or("", |t| split(t).0);
    match new {
        Some(l) if human.is_empty() => l.encode(),
        Some(l) => format!("{human} {}", l.encode()),
        None => human.to_owned(),
    }
}

/// A strategy document without its title (for the version).
pub(super) fn untitled(strategy: &Value) -> Value {
    let mut s = strategy.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("title");
    }
    s
}

/// Whether an event changed nothing but the lease in a strategy's title.
pub(super) fn lease_only(event: &Value) -> bool {
    let (Some(before), Some(after)) = (event.get("preData"), event.get("data")) else {
        return false;
    };
    let title = |v: &Value| v.get("title").cloned().unwrap_or(Value::Null);
    before.is_object()
        && untitled(before) == untitled(after)
        && (in_title(&title(before)).is_some() || in_title(&title(after)).is_some())
}

impl UnleashFlag {
    /// Compare-and-set of the lease in the strategy's title.
    pub(super) async fn swap(
        &self,
        expected: Option<&Lease>,
        new: Option<&Lease>,
    ) -> Result<(), FlagError> {
        let fresh = self.fetch(false).await?;
        if fresh.snapshot.lease.as_deref() != expected {
            return Err(FlagError::Conflict {
                current: Some(fresh.snapshot),
            });
        }
        let patch = json!([
            {"op": "test", "path": "/title", "value": fresh.title},
            {"op": "add", "path": "/title", "value": retitled(&fresh.title, new)},
        ]);
        self.patch_strategy(&fresh.strategy_id, &patch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_follows_a_human_title_and_leaves_it_on_release() {
        let l = Lease::new("guard@h", "1-2", 1_000_000, 60_000);
        let human = json!("Gradual EU rollout");
        let with = retitled(&human, Some(&l));
        assert_eq!(with, format!("Gradual EU rollout {}", l.encode()));
        assert_eq!(in_title(&json!(with)), Some(l.clone()));
        assert_eq!(retitled(&json!(with), None), "Gradual EU rollout");
        assert_eq!(retitled(&Value::Null, Some(&l)), l.encode());
        assert_eq!(retitled(&json!(l.encode()), None), "");
        assert_eq!(in_title(&human), None);
        assert_eq!(in_title(&Value::Null), None);
    }

    #[test]
    fn events_that_only_moved_the_lease_are_left_out() {
        let l = Lease::new("guard@h", "1-2", 1_000_000, 60_000).encode();
        let s = |title: &str, rollout: &str| json!({"id": "s1", "title": title, "parameters": {"rollout": rollout}});
        let ev = |a: Value, b: Value| json!({"type": "feature-strategy-update", "preData": a, "data": b});
        assert!(lease_only(&ev(s("", "5"), s(&l, "5"))));
        assert!(
            !lease_only(&ev(s(&l, "5"), s(&l, "25"))),
            "a step is history"
        );
        assert!(
            !lease_only(&ev(s("a", "5"), s("b", "5"))),
            "a human retitle is history"
        );
        assert!(!lease_only(&json!({"type": "feature-created"})));
    }
}
