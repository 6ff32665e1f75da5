//! The guard lease: who steers a rollout's automation, kept in the flag backend itself so that
//! every rollwatch watching the flag sees it on its next read. One holder at a time; it lapses
//! unless renewed before `expires_ms`. Backends store it as text ([`Lease::encode`]): an
//! Unleash strategy title, a field of a generic HTTP flag API.

use serde::{Deserialize, Serialize};

/// The prefix of an encoded lease.
pub const PREFIX: &str = "rollwatch-guard";

/// A lease on a rollout's automation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it, as shown (`guard@host`).
    pub holder: String,
    /// What tells this holder from another of the same name (the process and its start).
    pub token: String,
    /// When it was first taken (Unix ms, whole seconds).
    pub since_ms: i64,
    /// When it lapses unless renewed (Unix ms, whole seconds).
    pub expires_ms: i64,
}

/// Characters that separate the fields, kept out of names.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || c == ':' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

impl Lease {
    /// A lease for `holder` from `now_ms` for `ttl_ms`.
    #[must_use]
    pub fn new(holder: &str, token: &str, now_ms: i64, ttl_ms: i64) -> Self {
        let since_ms = now_ms.div_euclid(1000) * 1000;
        Self {
            holder: clean(holder),
            token: clean(token),
            since_ms,
            expires_ms: since_ms + ttl_ms.max(1000),
        }
    }

    /// The same lease, renewed at `now_ms` for `ttl_ms`.
    #[must_use]
    pub fn renewed(&self, now_ms: i64, ttl_ms: i64) -> Self {
        Self {
            expires_ms: now_ms.div_euclid(1000) * 1000 + ttl_ms.max(1000),
            ..self.clone()
        }
    }

    /// Whether it is held at `now_ms` (not lapsed).
    #[must_use]
    pub fn live_at(&self, now_ms: i64) -> bool {
        now_ms < self.expires_ms
    }

    /// Whether `other` is the same holder (the same process), whatever its expiry.
    #[must_use]
    pub fn same_holder(&self, other: &Lease) -> bool {
        self.holder == other.holder && self.token == other.token
    }

    /// As stored in a backend: `rollwatch-guard guard@host token since=S until=S` (Unix
    /// seconds), readable where the backend shows it.
    #[must_use]
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX} {} {} since={} until={}",
            self.holder,
            self.token,
            self.since_ms.div_euclid(1000),
            self.expires_ms.div_euclid(1000)
        )
    }

    /// Reads [`Lease::encode`]'s text; `None` for anything else (a title someone wrote).
    #[must_use]
    pub fn decode(text: &str) -> Option<Self> {
        let mut it = text.split_whitespace();
        if it.next()? != PREFIX {
            return None;
        }
        let holder = it.next()?.to_owned();
        let token = it.next()?.to_owned();
        let since: i64 = it.next()?.strip_prefix("since=")?.parse().ok()?;
        let until: i64 = it.next()?.strip_prefix("until=")?.parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Some(Self {
            holder,
            token,
            since_ms: since.checked_mul(1000)?,
            expires_ms: until.checked_mul(1000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes() {
        let l = Lease::new("guard@web 1", "42:7", 1_767_229_920_500, 60_000);
        assert_eq!(l.holder, "guard@web_1");
        assert_eq!(l.since_ms, 1_767_229_920_000);
        assert_eq!(l.expires_ms, 1_767_229_980_000);
        let text = l.encode();
        assert_eq!(
            text,
            "rollwatch-guard guard@web_1 42_7 since=1767229920 until=1767229980"
        );
        assert_eq!(Lease::decode(&text), Some(l));
    }

    #[test]
    fn other_text_is_no_lease() {
        for t in [
            "",
            "Gradual rollout",
            "rollwatch-guard a b since=1",
            "rollwatch-guard a b since=x until=2",
            "rollwatch-guard a b since=1 until=2 extra",
        ] {
            assert_eq!(Lease::decode(t), None, "{t}");
        }
    }

    #[test]
    fn lapses_at_its_expiry_and_renewal_keeps_the_holder() {
        let l = Lease::new("guard@h", "t", 10_000, 30_000);
        assert!(l.live_at(39_999));
        assert!(!l.live_at(40_000));
        let r = l.renewed(35_000, 30_000);
        assert!(r.live_at(64_999));
        assert!(r.same_holder(&l));
        assert_eq!(r.since_ms, l.since_ms);
        assert!(!l.same_holder(&Lease::new("guard@h", "u", 10_000, 30_000)));
    }
}
