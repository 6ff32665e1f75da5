//! Hostile input: arbitrary and mutated config and theme files never panic; every refusal
//! names a line and column inside the file.

use std::path::Path;

use proptest::prelude::*;

const VALID: &str = include_str!("../fixtures/config-valid.toml");
const THEME: &str = include_str!("../../themes/default.toml");

fn lines(s: &str) -> usize {
    s.lines().count().max(1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        if let Err(e) = rollwatch::config::parse(Path::new("x.toml"), &text) {
            prop_assert!(e.line >= 1 && e.col >= 1);
            prop_assert!(e.line <= lines(&text) + 1, "{e}");
        }
        let _ = rollwatch::ui::theme::parse("x.toml", &text);
    }

    #[test]
    fn mutated_valid_config_never_panics(pos in 0usize..600, del in 0usize..8, ins in "[ -~\n]{0,8}") {
        let mut text = VALID.to_owned();
        let p = pos.min(text.len());
        let end = (p + del).min(text.len());
        if text.is_char_boundary(p) && text.is_char_boundary(end) {
            text.replace_range(p..end, &ins);
        }
        if let Err(e) = rollwatch::config::parse(Path::new("m.toml"), &text) {
            prop_assert!(e.line >= 1 && e.line <= lines(&text) + 1, "{e}");
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn numbers_anywhere_never_panic(n in prop_oneof![
        Just("1e999".to_owned()), Just("-1".to_owned()), Just("nan".to_owned()), Just("inf".to_owned()),
        Just("99999999999999999999".to_owned()), Just("-0".to_owned()), Just("0.0000001".to_owned()),
        any::<i64>().prop_map(|v| v.to_string()), any::<f64>().prop_map(|v| format!("{v:?}")),
    ], which in 0usize..4) {
        let text = match which {
            0 => VALID.replace("[5, 25, 50]", &format!("[5, {n}]")),
            1 => VALID.replace("percent = 5", &format!("percent = {n}")),
            2 => VALID.replace("new > 0.5%", &format!("new > {n}")),
            _ => VALID.replace("kind = \"ratio\"", &format!("kind = \"latency\"\nquantile = {n}")),
        };
        let _ = rollwatch::config::parse(Path::new("n.toml"), &text);
    }

    #[test]
    fn mutated_theme_never_panics(pos in 0usize..900, ins in "[ -~\n]{0,6}") {
        let mut text = THEME.to_owned();
        let p = pos.min(text.len());
        if text.is_char_boundary(p) {
            text.insert_str(p, &ins);
        }
        if let Err(e) = rollwatch::ui::theme::parse("t.toml", &text) {
            prop_assert!(e.starts_with("theme t.toml"), "{e}");
        }
    }
}
