//! Themes: TOML files (`themes/*.toml`, embedded at build time, or a path) describing a style
//! per role. The file format is kept apart from ratatui's types; [`Theme`] is what widgets use.
//!
//! A colour is one of the 16 ANSI names, `reset`, `indexed:N` (the 256-colour palette) or
//! `#rrggbb`. A role may add `fg16`/`bg16`, a 16-colour fallback (a name or `reset`) used
//! instead of `fg`/`bg` when the terminal cannot show that colour: `indexed:N` above 15 needs a
//! terminal that advertises 256 colours, `#rrggbb` one that advertises truecolor (see
//! [`ColorDepth`]). Without a fallback the colour is sent as written.

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

/// How many colours the terminal advertises; decides whether a role's `fg16`/`bg16` fallback
/// replaces its `fg`/`bg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColorDepth {
    /// The 16 ANSI colours only.
    Ansi16,
    /// The 256-colour palette (`TERM` contains `256color`).
    Indexed256,
    /// 24-bit colour (`COLORTERM` is `truecolor` or `24bit`).
    TrueColor,
}

impl ColorDepth {
    /// The depth the environment advertises (`COLORTERM`, `TERM`).
    #[must_use]
    pub fn from_env() -> Self {
        let colorterm = std::env::var("COLORTERM").ok();
        let term = std::env::var("TERM").ok();
        Self::from_vars(colorterm.as_deref(), term.as_deref())
    }

    /// The depth advertised by these values of `COLORTERM` and `TERM`.
    #[must_use]
    pub fn from_vars(colorterm: Option<&str>, term: Option<&str>) -> Self {
        let ct = colorterm.unwrap_or_default().to_ascii_lowercase();
        if ct == "truecolor" || ct == "24bit" {
            Self::TrueColor
        } else if term.is_some_and(|t| t.contains("256color")) {
            Self::Indexed256
        } else {
            Self::Ansi16
        }
    }

    /// Whether a terminal of this depth shows `c` as intended.
    fn shows(self, c: Color) -> bool {
        match c {
            Color::Indexed(n) if n >= 16 => self >= Self::Indexed256,
            Color::Rgb(..) => self == Self::TrueColor,
            _ => true,
        }
    }
}

#[allow(clippy::struct_excessive_bools)] // mirrors the theme file's style table, one key each
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    /// 16-colour fallback for `fg`.
    fg16: Option<String>,
    /// 16-colour fallback for `bg`.
    bg16: Option<String>,
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

        impl Theme {
            /// Every role's name and style, in declaration order.
            #[must_use]
            pub fn roles(&self) -> Vec<(&'static str, Style)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }

        fn build(name: String, s: &Styles, depth: ColorDepth) -> Result<Theme, String> {
            Ok(Theme { name, $($name: to_style(stringify!($name), &s.$name, depth)?,)* })
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
        idx if idx.starts_with("indexed:") => {
            let n = idx["indexed:".len()..]
                .parse::<u8>()
                .map_err(|_| bad(role, key, v))?;
            Color::Indexed(n)
        }
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
         blue, magenta, cyan, gray, darkgray, light…, white, reset), indexed:0…255 or #rrggbb"
    )
}

/// The colour to draw for one of `fg`/`bg`: the main value when the terminal shows it, else
/// the 16-colour fallback if there is one.
fn pick(
    role: &str,
    key: &str,
    main: Option<&String>,
    fallback: Option<&String>,
    depth: ColorDepth,
) -> Result<Option<Color>, String> {
    let key16 = format!("{key}16");
    let fallback = fallback
        .map(|v| match parse_color(role, &key16, v)? {
            Color::Rgb(..) | Color::Indexed(_) => Err(format!(
                "styles.{role}.{key16}: `{v}` is not one of the 16 ANSI colour names or reset"
            )),
            c => Ok(c),
        })
        .transpose()?;
    let main = main.map(|v| parse_color(role, key, v)).transpose()?;
    Ok(match (main, fallback) {
        (Some(m), _) if depth.shows(m) => Some(m),
        (_, Some(f)) if depth == ColorDepth::Ansi16 || main.is_some() => Some(f),
        (m, _) => m,
    })
}

fn to_style(role: &str, s: &StyleSpec, depth: ColorDepth) -> Result<Style, String> {
    let mut st = Style::default();
    if let Some(fg) = pick(role, "fg", s.fg.as_ref(), s.fg16.as_ref(), depth)? {
        st = st.fg(fg);
    }
    if let Some(bg) = pick(role, "bg", s.bg.as_ref(), s.bg16.as_ref(), depth)? {
        st = st.bg(bg);
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

/// Parses a theme from TOML text as a truecolor terminal shows it; `origin` names the file in
/// errors.
///
/// # Errors
/// A message naming the file, the line and column, and the bad key or value.
pub fn parse(origin: &str, text: &str) -> Result<Theme, String> {
    parse_for(origin, text, ColorDepth::TrueColor)
}

/// Parses a theme from TOML text for a terminal of `depth` colours (fallbacks applied).
///
/// # Errors
/// As [`parse`].
pub fn parse_for(origin: &str, text: &str, depth: ColorDepth) -> Result<Theme, String> {
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
    build(file.name, &file.styles, depth).map_err(|m| format!("theme {origin}: {m}"))
}

/// 1-based line and column of a byte offset (the config's, shared).
pub use crate::config::locate::line_col;

/// The embedded themes as a truecolor terminal shows them (deterministic: snapshots,
/// screenshots).
#[must_use]
pub fn builtin() -> Vec<Theme> {
    builtin_for(ColorDepth::TrueColor)
}

/// The embedded themes for a terminal of `depth` colours.
///
/// # Panics
/// Never in a tested build: the embedded themes are parsed by the unit tests.
#[must_use]
pub fn builtin_for(depth: ColorDepth) -> Vec<Theme> {
    BUILTIN
        .iter()
        .map(|(n, t)| {
            parse_for(&format!("themes/{n}.toml"), t, depth).expect("embedded themes are valid")
        })
        .collect()
}

/// The themes to cycle through, starting with the one `choice` names (a built-in name or a
/// path to a TOML file); `no_color` forces monochrome first. Colours are chosen for the depth
/// the terminal advertises ([`ColorDepth::from_env`]).
///
/// # Errors
/// When a path cannot be read or parsed, or a name is unknown.
pub fn load(choice: Option<&str>, no_color: bool) -> Result<Vec<Theme>, String> {
    load_for(choice, no_color, ColorDepth::from_env())
}

/// [`load`] for a terminal of `depth` colours.
///
/// # Errors
/// As [`load`].
pub fn load_for(
    choice: Option<&str>,
    no_color: bool,
    depth: ColorDepth,
) -> Result<Vec<Theme>, String> {
    let mut all = builtin_for(depth);
    let first = if no_color { Some("monochrome") } else { choice };
    let Some(first) = first else {
        return Ok(all);
    };
    if let Some(pos) = all.iter().position(|t| t.name == first) {
        all.rotate_left(pos);
        return Ok(all);
    }
    let p = Path::new(first);
    #[allow(clippy::case_sensitive_file_extension_comparisons)] // documented: a `.toml` path
    if first.ends_with(".toml") || p.exists() {
        let text = std::fs::read_to_string(p).map_err(|e| format!("theme {first}: {e}"))?;
        let t = parse_for(first, &text, depth)?;
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

    const FALLBACK: &str = "name = \"x\"\n[styles]\n\
        text = { fg = \"indexed:246\", fg16 = \"darkgray\" }\n\
        dim = { fg = \"#586e75\", fg16 = \"gray\" }\n\
        title = { fg = \"cyan\" }\n\
        legacy = { fg = \"indexed:4\" }\n\
        new = { bg16 = \"yellow\" }\n\
        ok = {}\nwarn = {}\ncritical = {}\nunknown = {}\n\
        breach = { fg = \"white\", bg = \"indexed:124\", bg16 = \"red\" }\n\
        border = {}\ngauge = {}\nselected = {}\ndialog = {}\n";

    #[test]
    fn fallbacks_replace_colours_the_terminal_cannot_show() {
        use ColorDepth::{Ansi16, Indexed256, TrueColor};
        let t = |d| parse_for("x.toml", FALLBACK, d).unwrap();
        let (full, i256, a16) = (t(TrueColor), t(Indexed256), t(Ansi16));
        assert_eq!(full.text.fg, Some(Color::Indexed(246)));
        assert_eq!(i256.text.fg, Some(Color::Indexed(246)));
        assert_eq!(a16.text.fg, Some(Color::DarkGray));
        assert_eq!(full.dim.fg, Some(Color::Rgb(0x58, 0x6e, 0x75)));
        assert_eq!(i256.dim.fg, Some(Color::Gray), "RGB needs truecolor");
        assert_eq!(a16.dim.fg, Some(Color::Gray));
        assert_eq!(a16.title.fg, Some(Color::Cyan), "ANSI names stay");
        assert_eq!(
            a16.legacy.fg,
            Some(Color::Indexed(4)),
            "indexed 0-15 is ANSI"
        );
        assert_eq!((full.new.bg, a16.new.bg), (None, Some(Color::Yellow)));
        assert_eq!(full.breach.bg, Some(Color::Indexed(124)));
        assert_eq!(a16.breach.bg, Some(Color::Red));
        assert_eq!(a16.breach.fg, Some(Color::White));
    }

    #[test]
    fn a_fallback_must_be_a_16_colour_name_and_indexed_in_range() {
        let text = FALLBACK.replace("fg16 = \"darkgray\"", "fg16 = \"indexed:200\"");
        let e = parse("x.toml", &text).unwrap_err();
        assert!(e.contains("styles.text.fg16"), "{e}");
        let text = FALLBACK.replace("indexed:246", "indexed:256");
        let e = parse("x.toml", &text).unwrap_err();
        assert!(e.contains("styles.text.fg: `indexed:256`"), "{e}");
    }

    #[test]
    fn colour_depth_comes_from_colorterm_and_term() {
        use ColorDepth::{Ansi16, Indexed256, TrueColor};
        let d = ColorDepth::from_vars;
        assert_eq!(d(Some("truecolor"), Some("xterm")), TrueColor);
        assert_eq!(d(Some("24bit"), None), TrueColor);
        assert_eq!(d(None, Some("xterm-256color")), Indexed256);
        assert_eq!(d(Some(""), Some("tmux-256color")), Indexed256);
        assert_eq!(d(None, Some("xterm")), Ansi16);
        assert_eq!(d(None, Some("linux")), Ansi16);
        assert_eq!(d(None, None), Ansi16);
    }
}
