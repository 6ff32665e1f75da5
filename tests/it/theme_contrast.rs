//! Every embedded theme stays readable on the terminals it targets: each role's foreground
//! reaches a WCAG 2.x contrast ratio of at least 4.5:1 against the background it is drawn on,
//! computed from the theme files under real terminal palettes.
//!
//! Palettes (published values):
//! - xterm's default 16 colours (`XTerm-col.ad`), and xterm's 256-colour cube and grey ramp for
//!   `indexed:16…255`; as a dark terminal white on black (`xterm -rv`), as a light one black on
//!   white (xterm's own default).
//! - Solarized (Ethan Schoonover): the 16 ANSI slots as Solarized's terminal schemes map them
//!   (0 base02, 1 red, 2 green, 3 yellow, 4 blue, 5 magenta, 6 cyan, 7 base2, 8 base03,
//!   9 orange, 10 base01, 11 base00, 12 base0, 13 violet, 14 base1, 15 base3); Dark is base0
//!   on base03, Light base00 on base3. Solarized leaves indexes 16…255 to the terminal (xterm's).
//!
//! xterm draws bold text in ANSI colours 0…7 with 8…15 (its `boldColors` resource, on by
//! default), so the xterm palettes are checked that way; Solarized is checked without it: its
//! bright slots are its grey tones, so bold-as-bright would change hues whatever the theme.
//!
//! A role without a background is drawn on the terminal's own background; one with a background
//! of its own (breach, selected, dialog) is checked against that, and `selected` is also checked
//! as the dialogs draw it: over the dialog's style (`sel/dialog` in the table). The 16-colour
//! fallbacks (what a terminal advertising neither 256 colours nor truecolor gets) are checked
//! under xterm's palette: with 16 colours a theme cannot choose other values than the
//! terminal's own.
//!
//! Each theme's targets are listed in [`TARGETS`] and in its file's `# Targets:` header line.

use std::fmt::Write as _;

use ratatui::style::{Color, Modifier, Style};
use rollwatch::ui::theme::{self, BUILTIN, ColorDepth, Theme};

type Rgb = (u8, u8, u8);

const MIN_RATIO: f64 = 4.5;

/// A terminal: its 16 ANSI colours and its default foreground and background.
struct Palette {
    id: &'static str,
    ansi: [Rgb; 16],
    fg: Rgb,
    bg: Rgb,
    /// Whether its 16 colours are xterm's (the reference for 16-colour fallbacks); xterm also
    /// draws bold text in colours 0…7 with 8…15.
    xterm: bool,
}

const XTERM: [Rgb; 16] = [
    (0x00, 0x00, 0x00),
    (0xcd, 0x00, 0x00),
    (0x00, 0xcd, 0x00),
    (0xcd, 0xcd, 0x00),
    (0x00, 0x00, 0xee),
    (0xcd, 0x00, 0xcd),
    (0x00, 0xcd, 0xcd),
    (0xe5, 0xe5, 0xe5),
    (0x7f, 0x7f, 0x7f),
    (0xff, 0x00, 0x00),
    (0x00, 0xff, 0x00),
    (0xff, 0xff, 0x00),
    (0x5c, 0x5c, 0xff),
    (0xff, 0x00, 0xff),
    (0x00, 0xff, 0xff),
    (0xff, 0xff, 0xff),
];

const BASE03: Rgb = (0x00, 0x2b, 0x36);
const BASE02: Rgb = (0x07, 0x36, 0x42);
const BASE01: Rgb = (0x58, 0x6e, 0x75);
const BASE00: Rgb = (0x65, 0x7b, 0x83);
const BASE0: Rgb = (0x83, 0x94, 0x96);
const BASE1: Rgb = (0x93, 0xa1, 0xa1);
const BASE2: Rgb = (0xee, 0xe8, 0xd5);
const BASE3: Rgb = (0xfd, 0xf6, 0xe3);

const SOLARIZED: [Rgb; 16] = [
    BASE02,
    (0xdc, 0x32, 0x2f), // red
    (0x85, 0x99, 0x00), // green
    (0xb5, 0x89, 0x00), // yellow
    (0x26, 0x8b, 0xd2), // blue
    (0xd3, 0x36, 0x82), // magenta
    (0x2a, 0xa1, 0x98), // cyan
    BASE2,
    BASE03,
    (0xcb, 0x4b, 0x16), // orange
    BASE01,
    BASE00,
    BASE0,
    (0x6c, 0x71, 0xc4), // violet
    BASE1,
    BASE3,
];

const PALETTES: [Palette; 4] = [
    Palette {
        id: "xterm-dark",
        ansi: XTERM,
        fg: (0xff, 0xff, 0xff),
        bg: (0x00, 0x00, 0x00),
        xterm: true,
    },
    Palette {
        id: "solarized-dark",
        ansi: SOLARIZED,
        fg: BASE0,
        bg: BASE03,
        xterm: false,
    },
    Palette {
        id: "xterm-light",
        ansi: XTERM,
        fg: (0x00, 0x00, 0x00),
        bg: (0xff, 0xff, 0xff),
        xterm: true,
    },
    Palette {
        id: "solarized-light",
        ansi: SOLARIZED,
        fg: BASE00,
        bg: BASE3,
        xterm: false,
    },
];

/// The terminals each embedded theme is made for (its file's `# Targets:` line says the same);
/// an empty list means the theme must not use colours at all.
const TARGETS: &[(&str, &[&str])] = &[
    ("default", &["xterm-dark", "solarized-dark"]),
    ("light", &["xterm-light", "solarized-light"]),
    ("high-contrast", &["xterm-dark", "solarized-dark"]),
    ("monochrome", &[]),
];

const DEPTHS: [ColorDepth; 3] = [
    ColorDepth::TrueColor,
    ColorDepth::Indexed256,
    ColorDepth::Ansi16,
];

fn targets(name: &str) -> &'static [&'static str] {
    TARGETS.iter().find(|(n, _)| *n == name).map_or_else(
        || panic!("theme `{name}` has no targets in tests/it/theme_contrast.rs"),
        |(_, t)| *t,
    )
}

fn palette(id: &str) -> &'static Palette {
    PALETTES.iter().find(|p| p.id == id).expect("known palette")
}

/// xterm's 256-colour palette above 15: a 6×6×6 cube, then 24 greys.
fn xterm_256(n: u8) -> Rgb {
    if n >= 232 {
        let v = 8 + 10 * (n - 232);
        return (v, v, v);
    }
    let level = |i: u8| if i == 0 { 0 } else { 55 + 40 * i };
    let i = n - 16;
    (level(i / 36), level(i / 6 % 6), level(i % 6))
}

fn ansi_index(c: Color) -> Option<usize> {
    let all = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    all.iter().position(|a| *a == c)
}

/// The colour a terminal with palette `p` draws for `c`; `default` for none/reset.
fn resolve(c: Option<Color>, p: &Palette, default: Rgb) -> Rgb {
    match c {
        None | Some(Color::Reset) => default,
        Some(Color::Rgb(r, g, b)) => (r, g, b),
        Some(Color::Indexed(n)) if n < 16 => p.ansi[usize::from(n)],
        Some(Color::Indexed(n)) => xterm_256(n),
        Some(c) => p.ansi[ansi_index(c).expect("a named ANSI colour")],
    }
}

/// WCAG 2.x relative luminance (sRGB linearised).
fn luminance((r, g, b): Rgb) -> f64 {
    let lin = |v: u8| {
        let c = f64::from(v) / 255.0;
        if c <= 0.040_45 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}

fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la >= lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The foreground and background cells of `style` get under `p`.
fn drawn(style: Style, p: &Palette) -> (Rgb, Rgb) {
    let mut fg_colour = style.fg;
    if p.xterm && style.add_modifier.contains(Modifier::BOLD) {
        let slot = match style.fg {
            Some(Color::Indexed(n)) => Some(usize::from(n)),
            c => c.and_then(ansi_index),
        };
        if let Some(n) = slot.filter(|n| *n < 8) {
            fg_colour = Some(Color::Indexed(u8::try_from(n + 8).expect("below 16")));
        }
    }
    let fg = resolve(fg_colour, p, p.fg);
    let bg = resolve(style.bg, p, p.bg);
    if style.add_modifier.contains(Modifier::REVERSED) {
        (bg, fg)
    } else {
        (fg, bg)
    }
}

fn colour_name(c: Option<Color>) -> String {
    match c {
        None => "-".to_owned(),
        Some(Color::Indexed(n)) => format!("indexed:{n}"),
        Some(c) => c.to_string(),
    }
}

fn shown_by_16_colours(c: Option<Color>) -> bool {
    match c {
        None | Some(Color::Reset) => true,
        Some(Color::Indexed(n)) => n < 16,
        Some(Color::Rgb(..)) => false,
        Some(c) => ansi_index(c).is_some(),
    }
}

/// Checks one theme at one colour depth; appends its table to `report` (attrs: b bold,
/// r reversed) and returns the number of failures.
fn check(theme: &Theme, depth: ColorDepth, palettes: &[&Palette], report: &mut String) -> usize {
    let mut failures = 0;
    let _ = write!(
        report,
        "\n{} at {depth:?}\n{:<10} {:<14} {:<14} {:<5}",
        theme.name, "role", "fg", "bg", "attrs"
    );
    for p in palettes {
        let _ = write!(report, " {:>16}", p.id);
    }
    report.push('\n');
    // The dialogs draw their buttons in `selected` over the dialog's own style.
    let layered = ("sel/dialog", theme.dialog.patch(theme.selected));
    for (role, style) in theme.roles().into_iter().chain([layered]) {
        if style.fg.is_none() && style.bg.is_none() {
            continue;
        }
        let attrs: String = [(Modifier::BOLD, 'b'), (Modifier::REVERSED, 'r')]
            .iter()
            .filter(|(m, _)| style.add_modifier.contains(*m))
            .map(|(_, c)| *c)
            .collect();
        let _ = write!(
            report,
            "{role:<10} {:<14} {:<14} {attrs:<5}",
            colour_name(style.fg),
            colour_name(style.bg)
        );
        for p in palettes {
            let (fg, bg) = drawn(style, p);
            let r = contrast(fg, bg);
            let mark = if r < MIN_RATIO {
                failures += 1;
                "✗"
            } else {
                " "
            };
            let _ = write!(report, " {r:>14.2}{mark} ");
        }
        if depth == ColorDepth::Ansi16
            && !(shown_by_16_colours(style.fg) && shown_by_16_colours(style.bg))
        {
            failures += 1;
            report.push_str(" ✗ no 16-colour fallback");
        }
        report.push('\n');
    }
    failures
}

#[test]
fn every_themes_foreground_roles_reach_4_5_to_1_on_the_terminals_it_targets() {
    let mut report = String::new();
    let mut failures = 0;
    let mut checked = 0;
    for depth in DEPTHS {
        for theme in theme::builtin_for(depth) {
            let ids = targets(&theme.name);
            if ids.is_empty() {
                continue;
            }
            // A 16-colour terminal shows its own 16 colours: the fallbacks are checked under
            // xterm's, the reference 16-colour palette.
            let palettes: Vec<&Palette> = ids
                .iter()
                .map(|id| palette(id))
                .filter(|p| depth != ColorDepth::Ansi16 || p.xterm)
                .collect();
            failures += check(&theme, depth, &palettes, &mut report);
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        3 * DEPTHS.len(),
        "three colour themes at each depth"
    );
    println!("{report}");
    assert!(
        failures == 0,
        "{failures} role/palette pairs below {MIN_RATIO}:1 (✗):\n{report}"
    );
}

#[test]
fn monochrome_uses_no_colours_at_any_depth() {
    for depth in DEPTHS {
        for theme in theme::builtin_for(depth) {
            if !targets(&theme.name).is_empty() {
                continue;
            }
            for (role, style) in theme.roles() {
                for c in [style.fg, style.bg] {
                    assert!(
                        matches!(c, None | Some(Color::Reset)),
                        "{} at {depth:?}: role {role} uses colour {c:?}",
                        theme.name
                    );
                }
            }
        }
    }
}

#[test]
fn each_theme_file_names_the_terminals_it_targets() {
    for (name, text) in BUILTIN {
        let line = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix("# Targets:"))
            .unwrap_or_else(|| panic!("themes/{name}.toml: no `# Targets:` header line"));
        let listed: Vec<&str> = line
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "none (no colours)")
            .collect();
        assert_eq!(
            listed,
            targets(name),
            "themes/{name}.toml header vs this test"
        );
    }
}

#[test]
fn the_contrast_formula_matches_known_pairs() {
    let black = (0, 0, 0);
    let white = (0xff, 0xff, 0xff);
    assert!((contrast(black, white) - 21.0).abs() < 1e-9);
    assert!((contrast(white, white) - 1.0).abs() < 1e-9);
    // #767676 is the lightest grey that reaches 4.5:1 on white; #777777 just misses.
    assert!(contrast((0x76, 0x76, 0x76), white) >= 4.5);
    assert!(contrast((0x77, 0x77, 0x77), white) < 4.5);
    assert_eq!(xterm_256(16), (0, 0, 0));
    assert_eq!(xterm_256(75), (0x5f, 0xaf, 0xff));
    assert_eq!(xterm_256(231), (0xff, 0xff, 0xff));
    assert_eq!(xterm_256(232), (8, 8, 8));
    assert_eq!(xterm_256(255), (0xee, 0xee, 0xee));
}
