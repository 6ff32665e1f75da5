//! Notifications for an operator who is looking elsewhere: the terminal bell, and the desktop
//! notification escapes terminals understand (OSC 9, as iTerm2, Windows Terminal, kitty and
//! foot do; OSC 777 `notify`, as urxvt, foot and VTE-based terminals do). A terminal that knows
//! neither ignores them. Sent when a rule starts firing or a write fails; off with the config
//! key `notify = false`.

/// The bytes that ring the bell and raise one desktop notification for `texts`.
#[must_use]
pub fn sequences(texts: &[String]) -> Vec<u8> {
    if texts.is_empty() {
        return Vec::new();
    }
    let body = clean(&texts.join(" | "));
    let mut out = Vec::with_capacity(body.len() * 2 + 32);
    out.push(0x07);
    out.extend_from_slice(b"\x1b]9;rollwatch: ");
    out.extend_from_slice(body.as_bytes());
    out.push(0x07);
    out.extend_from_slice(b"\x1b]777;notify;rollwatch;");
    out.extend_from_slice(body.as_bytes());
    out.push(0x07);
    out
}

/// One line of printable text without the characters that would end or break an escape
/// (control characters, `;` in OSC 777's fields), at most 200 characters.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() || c == ';' { ' ' } else { c })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sequences;

    #[test]
    fn a_notification_rings_and_sends_both_escapes_without_breaking_them() {
        let out = sequences(&["rule x: OK → FIRING\x1b]0;evil\x07; y".into()]);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with('\x07'));
        assert!(text.contains("\x1b]9;rollwatch: rule x: OK → FIRING"));
        assert!(text.contains("\x1b]777;notify;rollwatch;rule x"));
        // The injected escape and the field separator are neutralised: exactly the three BELs
        // rollwatch itself sends terminate anything.
        assert_eq!(text.matches('\x07').count(), 3);
        assert_eq!(text.matches('\x1b').count(), 2);
        assert!(sequences(&[]).is_empty());
    }
}
