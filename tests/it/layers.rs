//! The layering rule, read from the source: config, the simulator, the adapters, the network
//! layer and the domain never import `app` or `ui`; `app` never imports the simulator; `ui`
//! never imports a metrics source or a flag adapter. Every `crate::` path in `src/` (in `use`
//! lines, grouped imports and inline paths alike) is checked against the layer of its file.

use std::path::{Path, PathBuf};

/// (folders of a layer, the module paths it must not name, why)
const RULES: &[(&[&str], &[&str], &str)] = &[
    (
        &[
            "config", "sim", "metrics", "flags", "net", "model", "alerts", "stats",
        ],
        &["app", "ui"],
        "config, sim, adapters and domain never import app or ui",
    ),
    (&["app"], &["sim"], "app never imports sim"),
    (
        &["ui"],
        &[
            "metrics",
            "flags::http",
            "flags::memory",
            "flags::unleash",
            "flags::registry",
        ],
        "ui never imports an adapter",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without `//` comments (doc comments included: they may name any module).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.split_once("//").map_or(l, |(c, _)| c))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path below `crate::` the code names, grouped imports expanded one level
/// (`crate::{app::State, ui}` names `app::State` and `ui`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(e, _)| e);
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => out.push(std::mem::take(&mut item)),
                    _ => {}
                }
                item.push(c);
            }
            out.push(item);
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
        }
    }
    out.into_iter()
        .map(|p| p.trim().trim_start_matches(',').trim().to_owned())
        .collect()
}

fn names(path: &str, module: &str) -> bool {
    path == module
        || path
            .strip_prefix(module)
            .is_some_and(|r| r.starts_with("::"))
}

/// The violations in the tree under `src`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let Some(top) = rel.components().next() else {
            continue;
        };
        let top = top.as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs");
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for (layers, forbidden, why) in RULES {
            if !layers.contains(&top) {
                continue;
            }
            for p in crate_paths(&text) {
                if let Some(m) = forbidden.iter().find(|m| names(&p, m)) {
                    found.push(format!("src/{}: crate::{p} ({why}: `{m}`)", rel.display()));
                }
            }
        }
    }
    found
}

#[test]
fn no_layer_imports_what_it_must_not() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_sees_grouped_inline_and_nested_paths() {
    let text = "use crate::{alerts::Rule, app::{effects::Backends, msg}};\n\
                let x = crate::ui::theme::line_col(t, 0); // crate::sim is fine in a comment\n\
                use crate::sim::rng::Rng;";
    let paths = crate_paths(&code(text));
    assert!(paths.iter().any(|p| names(p, "app")), "{paths:?}");
    assert!(paths.iter().any(|p| names(p, "ui")), "{paths:?}");
    assert!(paths.iter().any(|p| names(p, "sim")), "{paths:?}");
    assert!(paths.iter().any(|p| p == "alerts::Rule"), "{paths:?}");
    assert!(!paths.iter().any(|p| names(p, "application")));
    assert!(!names("metrics_extra", "metrics"));
}
