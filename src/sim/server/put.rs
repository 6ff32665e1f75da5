//! The body of a `PUT /api/flags/{name}`, validated: the percentage, the switch and the guard
//! lease with the lease it must replace.

use serde_json::Value;

/// A lease change: the new lease and the one it must replace.
type LeaseChange = (Option<String>, Option<String>);

/// The fields of a PUT body, validated.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Put {
    pub(super) percent: Option<u8>,
    pub(super) enabled: Option<bool>,
    pub(super) lease: Option<LeaseChange>,
}

fn text_or_null(v: Option<&Value>, key: &str) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => Ok(Some(t.clone())),
        Some(x) => Err(format!("{key} must be a string or null, got {x}")),
    }
}

pub(super) fn parse_put(body: &[u8]) -> Result<Put, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "body must be a JSON object".to_owned())?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "percent" | "enabled" | "lease" | "expect_lease"))
    {
        return Err(format!(
            "unknown field `{k}`: expected percent, enabled and/or lease with expect_lease"
        ));
    }
    let percent = match obj.get("percent") {
        None => None,
        Some(p) => {
            let n = p
                .as_f64()
                .filter(|n| n.fract() == 0.0 && (0.0..=100.0).contains(n))
                .ok_or_else(|| format!("percent must be a whole number from 0 to 100, got {p}"))?;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(n as u8)
        }
    };
    let enabled = match obj.get("enabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(e) => return Err(format!("enabled must be true or false, got {e}")),
    };
    let lease = if obj.contains_key("lease") {
        Some((
            text_or_null(obj.get("lease"), "lease")?,
            text_or_null(obj.get("expect_lease"), "expect_lease")?,
        ))
    } else if obj.contains_key("expect_lease") {
        return Err("expect_lease without lease".into());
    } else {
        None
    };
    if percent.is_none() && enabled.is_none() && lease.is_none() {
        return Err("nothing to change: give percent, enabled and/or lease".into());
    }
    Ok(Put {
        percent,
        enabled,
        lease,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_change_names_the_lease_it_replaces() {
        assert_eq!(
            parse_put(br#"{"lease": "rollwatch-guard a t since=1 until=2", "expect_lease": null}"#),
            Ok(Put {
                lease: Some((Some("rollwatch-guard a t since=1 until=2".into()), None)),
                ..Put::default()
            })
        );
        assert_eq!(
            parse_put(br#"{"lease": null, "expect_lease": "x"}"#),
            Ok(Put {
                lease: Some((None, Some("x".into()))),
                ..Put::default()
            })
        );
        for bad in [
            &br#"{"expect_lease": "x"}"#[..],
            br#"{"lease": 5}"#,
            br#"{"lease": "a", "expect_lease": true}"#,
        ] {
            assert!(parse_put(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
