//! Renders the real dashboard (the library's `ui::draw` over a state driven by the real
//! update loop and simulator, fixed clock and seed) into SVG files, one per scene.
//! `scripts/screenshots` turns them into the PNGs under `screenshots/`.
//!
//! Usage: `cargo run --example screenshots -- OUT_DIR`

use std::fmt::Write as _;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use rollwatch::app::Msg;
use rollwatch::app::driver::Driver;
use rollwatch::sim::Scenario;
use rollwatch::ui::{self, Theme, theme};

/// A key as the event loop delivers it to `update`: mapped to its action at the edge.
fn press(k: KeyEvent) -> Msg {
    Msg::Action(rollwatch::app::keymap::action(&k).expect("a bound key"))
}

const T0: i64 = 1_767_268_800_000;

async fn driven(scenario: Scenario, seconds: i64) -> Driver {
    Driver::demo(scenario, T0, seconds).await
}

fn hex(c: Color, default: &str) -> String {
    match c {
        Color::Reset => default.to_owned(),
        Color::Black => "#1c1c1c".into(),
        Color::Red => "#d03030".into(),
        Color::Green => "#4caf50".into(),
        Color::Yellow => "#d0a020".into(),
        Color::Blue => "#4a7fd0".into(),
        Color::Magenta => "#b050c0".into(),
        Color::Cyan => "#30a8b8".into(),
        Color::Gray => "#b0b0b0".into(),
        Color::DarkGray => "#707070".into(),
        Color::LightRed => "#ff6060".into(),
        Color::LightGreen => "#80e080".into(),
        Color::LightYellow => "#ffe060".into(),
        Color::LightBlue => "#80b0ff".into(),
        Color::LightMagenta => "#f080ff".into(),
        Color::LightCyan => "#70e8f0".into(),
        Color::White => "#f0f0f0".into(),
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(n) => indexed(n),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One SVG of a buffer: a background rect and a text element per cell run of equal style.
fn svg(buf: &Buffer, light: bool) -> String {
    let (cw, lh, fs) = (8.43_f64, 18.0_f64, 14.0_f64);
    let (dfg, dbg) = if light {
        ("#202020", "#fafafa")
    } else {
        ("#d0d0d0", "#121212")
    };
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}"><rect width="100%" height="100%" fill="{dbg}"/>"#,
        (f64::from(w) * cw + 16.0).ceil(),
        (f64::from(h) * lh + 16.0).ceil()
    );
    for y in 0..h {
        let mut x = 0;
        while x < w {
            let c = &buf[(x, y)];
            let key = (c.fg, c.bg, c.modifier);
            let start = x;
            let mut text = String::new();
            while x < w {
                let d = &buf[(x, y)];
                if (d.fg, d.bg, d.modifier) != key {
                    break;
                }
                text.push_str(d.symbol());
                x += 1;
            }
            let (mut fg, mut bg) = (hex(key.0, dfg), hex(key.1, dbg));
            if key.2.contains(Modifier::REVERSED) {
                std::mem::swap(&mut fg, &mut bg);
            }
            let px = 8.0 + f64::from(start) * cw;
            let py = 8.0 + f64::from(y) * lh;
            let run = f64::from(x - start) * cw;
            if bg != dbg {
                let _ = write!(
                    out,
                    r#"<rect x="{px:.1}" y="{py:.1}" width="{run:.1}" height="{lh}" fill="{bg}"/>"#
                );
            }
            if text.trim().is_empty() {
                continue;
            }
            let weight = if key.2.contains(Modifier::BOLD) {
                "bold"
            } else {
                "normal"
            };
            let deco = if key.2.contains(Modifier::UNDERLINED) {
                " text-decoration=\"underline\""
            } else {
                ""
            };
            let opacity = if key.2.contains(Modifier::DIM) {
                " fill-opacity=\"0.6\""
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<text x="{px:.1}" y="{:.1}" font-family="DejaVu Sans Mono" font-size="{fs}" fill="{fg}" font-weight="{weight}"{deco}{opacity} textLength="{run:.1}" lengthAdjust="spacingAndGlyphs" xml:space="preserve">{}</text>"#,
                py + lh * 0.78,
                esc(&text)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn render(d: &Driver, w: u16, h: u16, t: &Theme) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| ui::draw(f, &d.state, t)).expect("draw");
    term.backend().buffer().clone()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "screenshots".into());
    std::fs::create_dir_all(&out).expect("output folder");
    let themes = theme::builtin();
    let by = |n: &str| themes.iter().find(|t| t.name == n).expect("theme").clone();
    let healthy = driven(Scenario::Healthy, 120).await;
    let mut firing = driven(Scenario::Regression, 100).await;
    let scenes: Vec<(&str, Buffer, bool)> = vec![
        (
            "healthy-dark-120x40",
            render(&healthy, 120, 40, &by("default")),
            false,
        ),
        (
            "firing-dark-120x40",
            render(&firing, 120, 40, &by("default")),
            false,
        ),
        (
            "firing-light-120x40",
            render(&firing, 120, 40, &by("light")),
            true,
        ),
        (
            "firing-monochrome-80x24",
            render(&firing, 80, 24, &by("monochrome")),
            false,
        ),
    ];
    for (name, buf, light) in &scenes {
        let path = format!("{out}/{name}.svg");
        std::fs::write(&path, svg(buf, *light)).expect("write svg");
        println!("{path}");
    }
    // The confirm dialog of a rollback, over the firing state.
    firing
        .send(press(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE)))
        .await;
    let path = format!("{out}/confirm-rollback-dark-120x40.svg");
    std::fs::write(&path, svg(&render(&firing, 120, 40, &by("default")), false))
        .expect("write svg");
    println!("{path}");
    // The detail view of the error rate: its chart with the threshold, values, interval, rule.
    for code in [KeyCode::Esc, KeyCode::Enter] {
        firing
            .send(press(KeyEvent::new(code, KeyModifiers::NONE)))
            .await;
    }
    let path = format!("{out}/detail-error-rate-dark-120x40.svg");
    std::fs::write(&path, svg(&render(&firing, 120, 40, &by("default")), false))
        .expect("write svg");
    println!("{path}");
    // The dashboard with a chart per metric, from about 40 rows.
    firing
        .send(press(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)))
        .await;
    let path = format!("{out}/firing-charts-dark-200x60.svg");
    std::fs::write(&path, svg(&render(&firing, 200, 60, &by("default")), false))
        .expect("write svg");
    println!("{path}");
    // The fleet table of the demo's three rollouts (`F`), the FIRING one first.
    firing
        .send(press(KeyEvent::new(KeyCode::Char('F'), KeyModifiers::NONE)))
        .await;
    let path = format!("{out}/fleet-dark-120x40.svg");
    std::fs::write(&path, svg(&render(&firing, 120, 40, &by("default")), false))
        .expect("write svg");
    println!("{path}");
}

/// xterm's 256-colour palette: the 16 ANSI colours as above, the 6×6×6 cube (levels 0, 95,
/// 135, 175, 215, 255) and the 24 greys (8 + 10·k).
fn indexed(n: u8) -> String {
    const ANSI: [Color; 16] = [
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
    match n {
        0..=15 => hex(ANSI[usize::from(n)], "#000000"),
        16..=231 => {
            let i = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + 40 * v };
            format!(
                "#{:02x}{:02x}{:02x}",
                level(i / 36),
                level((i / 6) % 6),
                level(i % 6)
            )
        }
        _ => {
            let g = 8 + 10 * (n - 232);
            format!("#{g:02x}{g:02x}{g:02x}")
        }
    }
}
