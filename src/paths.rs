//! XDG locations: config discovery and the state folder for the audit log and rollwatch's
//! own log file.

use std::path::PathBuf;

fn home() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
}

/// `$XDG_STATE_HOME/rollwatch`, else `~/.local/state/rollwatch`.
#[must_use]
pub fn state_dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| home().join(".local/state"), PathBuf::from)
        .join("rollwatch")
}

/// `$XDG_CONFIG_HOME/rollwatch/config.toml`, else `~/.config/rollwatch/config.toml`.
#[must_use]
pub fn user_config_file() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map_or_else(|| home().join(".config"), PathBuf::from)
        .join("rollwatch/config.toml")
}
