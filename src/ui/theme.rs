//! Themes: TOML files (`themes/*.toml`, embedded at build time, or a path) describing a style
//! per role. The file format is kept apart from ratatui's types; [`Theme`] is what widgets use.

use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The embedded themes, in the order `t` cycles through them.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("monochrome", include_str!("../../themes/monochrome.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    styles: Styles,
}

#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reverse: bool,
}

macro_rules! roles {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Styles { $($name: StyleSpec,)* }

        /// Styles per role, ready for widgets.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Theme {
            /// Theme name.
            pub name: String,
            $($(#[$doc])* pub $name: Style,)*
        }

        fn build(name: String, s: &Styles) -> Result<Theme, String> {
            Ok(Theme { name, $($name: to_style(stringify!($name), &s.$name)?,)* })
        }
    };
}

roles! {
    /// Plain text.
    text,
    /// Secondary text (ages, units, hints).
    dim,
    /// Panel titles.
    title,
    /// The legacy cohort.
    legacy,
    /// The new cohort.
    new,
    /// Healthy.
    ok,
    /// Warning.
    warn,
    /// Critical.
    critical,
    /// Unknown / no data / stale.
    unknown,
    /// A breached row or firing alert.
    breach,
    /// Borders.
    border,
    /// The rollout gauge.
    gauge,
    /// Selected item.
    selected,
    /// Dialog body.
    dialog,
}

fn parse_color(role: &str, key: &str, v: &str) -> Result<Color, String> {
    let c = match v.to_ascii_lowercase().as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        hex if hex.starts_with('#') && hex.len() == 7 => {
            let n = u32::from_str_radix(&hex[1..], 16).map_err(|_| bad(role, key, v))?;
            let [_, r, g, b] = n.to_be_bytes();
            Color::Rgb(r, g, b)
        }
        _ => return Err(bad(role, key, v)),
    };
    Ok(c)
}

fn bad(role: &str, key: &str, v: &str) -> String {
    format!(
        "styles.{role}.{key}: `{v}` is not a colour; expected a name (black, red, green, yellow, \
         blue, magenta, cyan, gray, darkgray, light…, white, reset) or #rrggbb"
    )
}

fn to_style(role: &str, s: &StyleSpec) -> Result<Style, String> {
    let mut st = Style::default();
    if let Some(fg) = &s.fg {
        st = st.fg(parse_color(role, "fg", fg)?);
    }
    if let Some(bg) = &s.bg {
        st = st.bg(parse_color(role, "bg", bg)?);
    }
    for (on, m) in [
        (s.bold, Modifier::BOLD),
        (s.dim, Modifier::DIM),
        (s.italic, Modifier::ITALIC),
        (s.underline, Modifier::UNDERLINED),
        (s.reverse, Modifier::REVERSED),
    ] {
        if on {
            st = st.add_modifier(m);
        }
    }
    Ok(st)
}

/// Parses a theme from TOML text; `origin` names the file in errors.
///
/// # Errors
/// A message naming the file, the line and column, and the bad key or value.
pub fn parse(origin: &str, text: &str) -> Result<Theme, String> {
    let file: ThemeFile = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let (l, c) = line_col(text, s.start);
                format!(":{l}:{c}")
            })
            .unwrap_or_default();
        format!("theme {origin}{at}: {}", e.message())
    })?;
    build(file.name, &file.styles).map_err(|m| format!("theme {origin}: {m}"))
}

/// 1-based line and column of a byte offset.
#[must_use]
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

/// The embedded themes.
#[must_use]
pub fn builtin() -> Vec<Theme> {
    BUILTIN
        .iter()
        .map(|(n, t)| parse(&format!("themes/{n}.toml"), t).expect("embedded themes are valid"))
        .collect()
}

/// The themes to cycle through, starting with the one `choice` names (a built-in name or a
/// path to a TOML file); `no_color` forces monochrome first.
///
/// # Errors
/// When a path cannot be read or parsed, or a name is unknown.
pub fn load(choice: Option<&str>, no_color: bool) -> Result<Vec<Theme>, String> {
    let mut all = builtin();
    let first = if no_color { Some("monochrome") } else { choice };
    let Some(first) = first else {
        return Ok(all);
    };
    if let Some(pos) = all.iter().position(|t| t.name == first) {
        all.rotate_left(pos);
        return Ok(all);
    }
    let p = Path::new(first);
    if first.ends_with(".toml") || p.exists() {
        let text = std::fs::read_to_string(p).map_err(|e| format!("theme {first}: {e}"))?;
        let t = parse(first, &text)?;
        all.insert(0, t);
        return Ok(all);
    }
    Err(format!(
        "unknown theme `{first}`: expected one of {} or a path to a .toml file",
        BUILTIN
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses() {
        let t = builtin();
        assert_eq!(t.len(), 4);
        assert_eq!(t[3].name, "monochrome");
        assert_eq!(t[3].breach.fg, None, "monochrome has no colours");
    }

    #[test]
    fn a_bad_colour_names_file_role_and_value() {
        let text = BUILTIN[0]
            .1
            .replace("fg = \"cyan\", bold", "fg = \"chartreuse\", bold");
        let e = parse("mine.toml", &text).unwrap_err();
        assert!(e.contains("mine.toml"), "{e}");
        assert!(e.contains("styles.title.fg"), "{e}");
        assert!(e.contains("chartreuse"), "{e}");
    }

    #[test]
    fn an_unknown_key_names_line_and_column() {
        let text = "name = \"x\"\n[styles]\ntext = { fgg = \"red\" }\n";
        let e = parse("x.toml", text).unwrap_err();
        assert!(e.starts_with("theme x.toml:3:"), "{e}");
        assert!(e.contains("fgg"), "{e}");
    }

    #[test]
    fn no_color_selects_monochrome() {
        assert_eq!(load(Some("light"), true).unwrap()[0].name, "monochrome");
        assert_eq!(load(Some("light"), false).unwrap()[0].name, "light");
        assert!(
            load(Some("nope"), false)
                .unwrap_err()
                .contains("unknown theme")
        );
    }
}
