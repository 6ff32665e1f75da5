//! Reading recording format 1, whose key lines held the key itself
//! (`{"type":"key","code":"c","mods":["ctrl"],"kind":"release"}`) where format 2 holds the
//! action. Every other line reads as in format 2. A key line becomes the action the key is
//! bound to ([`crate::app::keymap::action`], the mapping the live session applied to it then),
//! so a format-1 recording replays exactly as it did.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::Deserialize;

use super::{Line, LineError};
use crate::app::Msg;
use crate::app::keymap::action;

const MODS: [(KeyModifiers, &str); 6] = [
    (KeyModifiers::SHIFT, "shift"),
    (KeyModifiers::CONTROL, "ctrl"),
    (KeyModifiers::ALT, "alt"),
    (KeyModifiers::SUPER, "super"),
    (KeyModifiers::HYPER, "hyper"),
    (KeyModifiers::META, "meta"),
];

const NAMED: [(KeyCode, &str); 15] = [
    (KeyCode::Enter, "Enter"),
    (KeyCode::Esc, "Esc"),
    (KeyCode::Tab, "Tab"),
    (KeyCode::BackTab, "BackTab"),
    (KeyCode::Backspace, "Backspace"),
    (KeyCode::Delete, "Delete"),
    (KeyCode::Insert, "Insert"),
    (KeyCode::Left, "Left"),
    (KeyCode::Right, "Right"),
    (KeyCode::Up, "Up"),
    (KeyCode::Down, "Down"),
    (KeyCode::Home, "Home"),
    (KeyCode::End, "End"),
    (KeyCode::PageUp, "PageUp"),
    (KeyCode::PageDown, "PageDown"),
];

/// A format-1 key line.
#[derive(Deserialize)]
struct KeyLine {
    t: i64,
    msg: KeyMsg,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KeyMsg {
    /// `code` is the character or the key's name (`Enter`, `Tab`, `Left`, `F5`).
    Key {
        code: String,
        #[serde(default)]
        mods: Vec<String>,
        #[serde(default)]
        kind: Option<String>,
    },
}

/// The key a recorded name stands for, `None` for a name format 1 never wrote.
fn parse_code(name: &str) -> Option<KeyCode> {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Some(KeyCode::Char(c));
    }
    if name == "Null" {
        return Some(KeyCode::Null);
    }
    if let Some(n) = name.strip_prefix('F').and_then(|n| n.parse().ok()) {
        return Some(KeyCode::F(n));
    }
    NAMED.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
}

/// What is wrong with a recorded key, if anything: a code, modifiers and kind that format 1
/// wrote. Replay refuses the rest rather than guessing.
///
/// # Errors
/// The first part that a recording never holds, in words.
pub fn key_problem(code: &str, mods: &[String], kind: Option<&str>) -> Result<(), String> {
    if parse_code(code).is_none() {
        return Err(format!(
            "key `{code}`: expected one character, F<number>, Null or one of {}",
            NAMED.map(|(_, n)| n).join(", ")
        ));
    }
    if let Some(m) = mods.iter().find(|m| !MODS.iter().any(|(_, n)| n == m)) {
        return Err(format!(
            "key modifier `{m}`: expected {}",
            MODS.map(|(_, n)| n).join(", ")
        ));
    }
    match kind {
        None | Some("repeat" | "release") => Ok(()),
        Some(k) => Err(format!(
            "key kind `{k}`: expected repeat or release (a press has none)"
        )),
    }
}

/// The key event a checked key line describes.
fn event(code: &str, mods: &[String], kind: Option<&str>) -> KeyEvent {
    let modifiers = MODS
        .iter()
        .filter(|(_, n)| mods.iter().any(|m| m == n))
        .fold(KeyModifiers::NONE, |acc, (m, _)| acc | *m);
    let kind = match kind {
        Some("repeat") => KeyEventKind::Repeat,
        Some("release") => KeyEventKind::Release,
        _ => KeyEventKind::Press,
    };
    KeyEvent::new_with_kind(parse_code(code).unwrap_or(KeyCode::Null), modifiers, kind)
}

/// One format-1 message line: its time and the message (`None` for a key bound to nothing).
pub(super) fn line(text: &str) -> Result<(i64, Option<Msg>), LineError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(LineError::Json)?;
    if v.pointer("/msg/type").and_then(serde_json::Value::as_str) == Some("key") {
        let KeyLine {
            t,
            msg: KeyMsg::Key { code, mods, kind },
        } = KeyLine::deserialize(&v).map_err(LineError::Json)?;
        key_problem(&code, &mods, kind.as_deref()).map_err(LineError::Invalid)?;
        let key = event(&code, &mods, kind.as_deref());
        return Ok((t, action(&key).map(Msg::Action)));
    }
    let line = Line::deserialize(&v).map_err(LineError::Json)?;
    if let Msg::Action(_) | Msg::Started(_) = line.msg {
        return Err(LineError::Invalid(
            "a format 2 message in a format 1 recording: expected the header to say \
             \"rollwatch_recording\":2"
                .into(),
        ));
    }
    Ok((line.t, Some(line.msg)))
}
