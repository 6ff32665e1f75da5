//! Secrets (API tokens): taken from an environment variable or a file, never from the config
//! file itself, and never shown: `Debug` and `Display` print `***`.

use std::fmt;
use std::path::Path;

/// A token. The only way to read it is [`Secret::expose`], at the point of use.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    #[must_use]
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }

    /// The value, for an Authorization header. Do not log it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a token from the environment variable `name`.
    ///
    /// # Errors
    /// When the variable is unset or empty (the message names the variable, not a value).
    pub fn from_env(name: &str) -> Result<Self, String> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => Ok(Self(v.trim().to_owned())),
            Ok(_) => Err(format!("environment variable {name} is empty")),
            Err(_) => Err(format!("environment variable {name} is not set")),
        }
    }

    /// Reads a token from a file (first line, trimmed).
    ///
    /// # Errors
    /// When the file cannot be read or is empty.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let s = std::fs::read_to_string(path)
            .map_err(|e| format!("token file {}: {e}", path.display()))?;
        let v = s.lines().next().unwrap_or("").trim();
        if v.is_empty() {
            return Err(format!("token file {} is empty", path.display()));
        }
        Ok(Self(v.to_owned()))
    }

    /// Removes every occurrence of the secret from `text` (for error messages that echo a
    /// request or a body).
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new("*:*.supersecret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(
            s.redact("token *:*.supersecret rejected"),
            "token *** rejected"
        );
    }

    #[test]
    fn from_file_takes_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "abc\n").unwrap();
        assert_eq!(Secret::from_file(&p).unwrap().expose(), "abc");
        std::fs::write(&p, "\n").unwrap();
        assert!(Secret::from_file(&p).unwrap_err().contains("empty"));
    }
}
