//! Where things are in a config file: byte offsets become `file:line:col`, an error is placed
//! at a span or at a key of a table, and a table is handed to its adapter with every span
//! intact ([`Table`]), so an adapter that deserialises and checks its own keys reports them
//! where they are written. A leaf module: it knows no adapter and no other part of rollwatch.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// A config error at a place in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

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

/// Turns spans of one file's text into [`ConfigError`]s.
#[derive(Debug)]
pub struct Locator<'a> {
    file: String,
    text: &'a str,
}

impl<'a> Locator<'a> {
    /// A locator for `text`, named `file` in errors.
    #[must_use]
    pub fn new(file: String, text: &'a str) -> Self {
        Self { file, text }
    }

    /// An error at the start of `span`.
    pub fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, col) = line_col(self.text, span.start);
        ConfigError {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
        }
    }

    /// An error at a spanned value.
    pub fn at<T>(&self, s: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.err(s.span(), message)
    }

    /// An error inside the table at `span`: points at the key the message names (a word in
    /// backticks written as `key =` in this table), else at the table.
    #[must_use]
    pub fn in_table(&self, span: Range<usize>, message: String) -> ConfigError {
        let start = span.start.min(self.text.len());
        let body = &self.text[start..];
        // The table ends where the next table header starts.
        let end = body
            .get(1..)
            .and_then(|b| b.find("\n["))
            .map_or(body.len(), |e| e + 1);
        let body = &body[..end];
        let pos = message.split('`').skip(1).step_by(2).find_map(|name| {
            body.match_indices(name).find_map(|(i, _)| {
                let line_start = body[..i].rfind('\n').map_or(0, |p| p + 1);
                let before_ok = body[line_start..i].trim().is_empty();
                let after = body[i + name.len()..].trim_start();
                (before_ok && after.starts_with('=')).then_some(i)
            })
        });
        match pos {
            Some(p) => self.err(start + p..start + p, message),
            None => self.err(span, message),
        }
    }
}

/// A table of the config as written (`[rollout.flag]`, `[rollout.metrics]`, the keys of a
/// `[[rollout.metric]]` that its source reads), with the spans of every key and value.
#[derive(Debug, Clone)]
pub struct Table<'a> {
    lx: &'a Locator<'a>,
    table: Spanned<DeTable<'a>>,
}

impl<'a> Table<'a> {
    /// The table at `table`, located by `lx`.
    #[must_use]
    pub fn new(lx: &'a Locator<'a>, table: Spanned<DeTable<'a>>) -> Self {
        Self { lx, table }
    }

    /// The locator, for errors at spans inside the table.
    #[must_use]
    pub fn locator(&self) -> &'a Locator<'a> {
        self.lx
    }

    /// Where the table is.
    #[must_use]
    pub fn span(&self) -> Range<usize> {
        self.table.span()
    }

    /// The keys with their spans, in file order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, Range<usize>)> {
        self.table
            .get_ref()
            .iter()
            .map(|(k, _)| (k.get_ref().as_ref(), k.span()))
    }

    /// The value of `key`, when present.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Spanned<DeValue<'a>>> {
        self.table
            .get_ref()
            .iter()
            .find_map(|(k, v)| (k.get_ref() == key).then_some(v))
    }

    /// The table with only the keys `keep` says yes to (same span).
    #[must_use]
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> Table<'a> {
        let mut t = DeTable::new();
        for (k, v) in self.table.get_ref() {
            if keep(k.get_ref()) {
                t.insert(k.clone(), v.clone());
            }
        }
        Table::new(self.lx, Spanned::new(self.table.span(), t))
    }

    /// Deserialises the table (a struct with `deny_unknown_fields`, `Spanned` fields keep
    /// their place in the file).
    ///
    /// # Errors
    /// The TOML error (its message and span).
    pub fn parse<T: Deserialize<'a>>(&self) -> Result<T, toml::de::Error> {
        T::deserialize(self.table.clone().into_deserializer())
    }

    /// Deserialises the table as [`Table::parse`] does; an error becomes `what: message` at
    /// the key the message names, else at the table.
    ///
    /// # Errors
    /// The located error.
    pub fn parse_as<T: Deserialize<'a>>(&self, what: &str) -> Result<T, ConfigError> {
        self.parse()
            .map_err(|e| self.error(format!("{what}: {}", e.message().trim())))
    }

    /// An error in this table, at the key the message names in backticks, else at the table.
    #[must_use]
    pub fn error(&self, message: String) -> ConfigError {
        self.lx.in_table(self.span(), message)
    }
}

/// The field names of a struct that derives `Deserialize` (what `deny_unknown_fields` accepts).
#[must_use]
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

/// A deserializer that only records the field names it is asked for.
struct Probe(Option<&'static [&'static str]>);

#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for &mut Probe {
    type Error = Stop;

    fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0 = Some(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Two {
        a: u8,
        #[serde(rename = "b-b")]
        b: Option<String>,
    }

    #[test]
    fn fields_of_names_what_a_struct_accepts() {
        assert_eq!(fields_of::<Two>(), &["a", "b-b"]);
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 0), (1, 1));
    }
}
