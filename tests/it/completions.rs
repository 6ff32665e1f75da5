//! Shell completions and the man page are generated from the clap definitions: each names
//! every subcommand, so a new subcommand shows up in both without anyone editing them.

use clap::Parser;
use clap_complete::Shell;

use rollwatch::cli::{self, Cli, Commands};

const SUBCOMMANDS: &[&str] = &[
    "demo",
    "watch",
    "check-config",
    "status",
    "set",
    "rollback",
    "simulate",
    "replay",
    "completions",
    "man",
];

#[test]
fn completions_name_every_subcommand_in_each_shell() {
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let script = cli::completions(shell);
        assert!(script.len() > 500, "{shell}: {} bytes", script.len());
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks `{sub}`");
        }
        assert!(script.contains("--record"), "{shell}: options too");
    }
    assert!(cli::completions(Shell::Bash).contains("complete -F"));
    assert!(cli::completions(Shell::Fish).contains("complete -c rollwatch"));
    assert!(cli::completions(Shell::Zsh).starts_with("#compdef rollwatch"));
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let mut out = Vec::new();
    cli::man_page(&mut out).unwrap();
    let page = String::from_utf8(out).unwrap();
    assert!(
        page.starts_with(".ie"),
        "roff: {}",
        &page[..page.len().min(80)]
    );
    assert!(page.contains(".TH rollwatch 1"), "title header");
    assert!(
        page.contains("steering feature\\-flag rollouts"),
        "the description"
    );
    for sub in SUBCOMMANDS {
        assert!(
            page.contains(&format!("rollwatch\\-{}", sub.replace('-', "\\-"))),
            "man page lacks `{sub}`"
        );
    }
}

#[test]
fn man_pages_for_every_subcommand_go_to_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let files = cli::man_pages(dir.path()).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"rollwatch.1".to_owned()), "{names:?}");
    for sub in SUBCOMMANDS {
        assert!(names.contains(&format!("rollwatch-{sub}.1")), "{names:?}");
    }
    let replay = std::fs::read_to_string(dir.path().join("rollwatch-replay.1")).unwrap();
    assert!(replay.contains("\\-\\-speed"), "{replay}");
    let demo = std::fs::read_to_string(dir.path().join("rollwatch-demo.1")).unwrap();
    assert!(demo.contains("\\-\\-record"), "{demo}");
}

#[test]
fn the_subcommands_parse() {
    let c = Cli::try_parse_from(["rollwatch", "completions", "zsh"]).unwrap();
    assert!(matches!(
        c.command,
        Some(Commands::Completions { shell: Shell::Zsh })
    ));
    assert!(Cli::try_parse_from(["rollwatch", "completions", "tcsh"]).is_err());
    let c = Cli::try_parse_from(["rollwatch", "man"]).unwrap();
    assert!(matches!(c.command, Some(Commands::Man { out_dir: None })));
    let c = Cli::try_parse_from(["rollwatch", "replay", "x.jsonl", "--speed", "4"]).unwrap();
    let Some(Commands::Replay(r)) = c.command else {
        panic!("not replay")
    };
    assert_eq!(r.speed, Some(4.0));
    let c = Cli::try_parse_from(["rollwatch", "demo", "--record", "s.jsonl"]).unwrap();
    let Some(Commands::Demo(d)) = c.command else {
        panic!("not demo")
    };
    assert_eq!(
        d.record.record.as_deref(),
        Some(std::path::Path::new("s.jsonl"))
    );
    assert!(Cli::try_parse_from(["rollwatch", "status", "--record", "s.jsonl"]).is_err());
}
