//! Credentials: the config keys that name them ([`AuthKeys`]), the one place they are read
//! ([`AuthKeys::resolve`]) and what goes on the wire ([`Auth`]). A secret is read from an
//! environment variable or a file, never from the config file, and is removed from every text
//! that could echo it.

use reqwest::header::{AUTHORIZATION, HeaderValue};

use super::EndpointError;
use crate::secret::Secret;

/// What a request carries to prove who sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: <token>`, as Unleash takes its API tokens.
    Raw(Secret),
    /// HTTP basic authentication.
    Basic {
        /// The user name (not secret).
        user: String,
        /// The password.
        password: Secret,
    },
}

impl Auth {
    /// The secret, if any.
    #[must_use]
    pub fn secret(&self) -> Option<&Secret> {
        match self {
            Auth::None => None,
            Auth::Bearer(s) | Auth::Raw(s) | Auth::Basic { password: s, .. } => Some(s),
        }
    }

    /// Removes the secret, if any, from a text that may echo it.
    #[must_use]
    pub fn redact(&self, text: &str) -> String {
        self.secret()
            .map_or_else(|| text.to_owned(), |s| s.redact(text))
    }

    /// The `Authorization` value of a token, marked sensitive (never logged by the HTTP stack).
    fn header(&self) -> Result<Option<HeaderValue>, EndpointError> {
        let text = match self {
            Auth::None | Auth::Basic { .. } => return Ok(None),
            Auth::Bearer(t) => format!("Bearer {}", t.expose()),
            Auth::Raw(t) => t.expose().to_owned(),
        };
        let mut v = HeaderValue::from_str(&text).map_err(|_| {
            EndpointError::Secret("the token has characters a header cannot hold".into())
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    /// Checks that the credentials fit in a header (at construction, not at the first request).
    pub(crate) fn check_header(&self) -> Result<(), EndpointError> {
        self.header().map(drop)
    }

    /// Adds the credentials to a request.
    pub(crate) fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
            _ => match self.header() {
                Ok(Some(v)) => req.header(AUTHORIZATION, v),
                // `Endpoint::new` refused a token that is not a header value.
                Ok(None) | Err(_) => req,
            },
        }
    }
}

/// The credential keys of a config table, as written. Each adapter offers the ones it
/// supports; the others stay `None`.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthKeys<'a> {
    /// `token_env`: environment variable holding a token.
    pub token_env: Option<&'a str>,
    /// `token_file`: file whose first line is a token.
    pub token_file: Option<&'a std::path::Path>,
    /// `user`: basic-authentication user.
    pub user: Option<&'a str>,
    /// `password_env`: environment variable holding the password.
    pub password_env: Option<&'a str>,
    /// `password_file`: file whose first line is the password.
    pub password_file: Option<&'a std::path::Path>,
    /// Whether a token is required (Unleash).
    pub token_required: bool,
}

/// Where one secret comes from.
enum Source<'a> {
    Env(&'a str),
    File(&'a std::path::Path),
}

impl Source<'_> {
    fn read(&self) -> Result<Secret, EndpointError> {
        match self {
            Source::Env(name) => Secret::from_env(name),
            Source::File(path) => Secret::from_file(path),
        }
        .map_err(EndpointError::Secret)
    }
}

fn one_of<'a>(
    env: Option<&'a str>,
    file: Option<&'a std::path::Path>,
    what: &str,
) -> Result<Option<Source<'a>>, EndpointError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(EndpointError::Secret(format!(
            "set `{what}_env` or `{what}_file`, not both"
        ))),
        (Some(e), None) => Ok(Some(Source::Env(e))),
        (None, Some(f)) => Ok(Some(Source::File(f))),
        (None, None) => Ok(None),
    }
}

impl<'a> AuthKeys<'a> {
    /// Keys offering only a token (`token_env` / `token_file`).
    #[must_use]
    pub fn token(token_env: Option<&'a str>, token_file: Option<&'a std::path::Path>) -> Self {
        AuthKeys {
            token_env,
            token_file,
            ..AuthKeys::default()
        }
    }

    /// Checks that the keys do not contradict each other, without reading any secret (what
    /// `check-config` can know on any machine).
    ///
    /// # Errors
    /// Two kinds of credentials, both `_env` and `_file`, a password without a user, ...
    pub fn check(&self) -> Result<(), EndpointError> {
        self.shape().map(drop)
    }

    /// Reads the secrets the keys name: the single place a token or password is read.
    ///
    /// # Errors
    /// [`check`](Self::check)'s errors, or a variable or file that is missing or empty (the
    /// message names it, never a value).
    pub fn resolve(&self) -> Result<Auth, EndpointError> {
        Ok(match self.shape()? {
            Shape::None => Auth::None,
            Shape::Token(s) => Auth::Bearer(s.read()?),
            Shape::Basic(user, s) => Auth::Basic {
                user: user.to_owned(),
                password: s.read()?,
            },
        })
    }

    fn shape(&self) -> Result<Shape<'_>, EndpointError> {
        let err = |m: &str| Err(EndpointError::Secret(m.to_owned()));
        let token = one_of(self.token_env, self.token_file, "token")?;
        let password = one_of(self.password_env, self.password_file, "password")?;
        match (token, self.user, password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                err("set either a bearer token (`token_env`) or a `user` and password, not both")
            }
            (Some(t), None, None) => Ok(Shape::Token(t)),
            (None, Some(u), Some(p)) => Ok(Shape::Basic(u, p)),
            (None, Some(_), None) => err("`user` is set but no `password_env` or `password_file`"),
            (None, None, Some(_)) => err("a password needs a `user`"),
            (None, None, None) if self.token_required => err("set `token_env` or `token_file`"),
            (None, None, None) => Ok(Shape::None),
        }
    }
}

enum Shape<'a> {
    None,
    Token(Source<'a>),
    Basic(&'a str, Source<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(token: (bool, bool), user: bool, password: (bool, bool)) -> AuthKeys<'static> {
        let p = std::path::Path::new("/nonexistent/secret");
        AuthKeys {
            token_env: token.0.then_some("NO_SUCH_VAR_ROLLWATCH"),
            token_file: token.1.then_some(p),
            user: user.then_some("bob"),
            password_env: password.0.then_some("NO_SUCH_VAR_ROLLWATCH"),
            password_file: password.1.then_some(p),
            token_required: false,
        }
    }

    #[test]
    fn settings_that_exclude_each_other_are_named() {
        assert!(keys((false, false), false, (false, false)).check().is_ok());
        assert!(keys((true, false), false, (false, false)).check().is_ok());
        assert!(keys((false, false), true, (true, false)).check().is_ok());
        for (k, says) in [
            (keys((true, true), false, (false, false)), "not both"),
            (keys((false, false), true, (true, true)), "not both"),
            (keys((true, false), true, (true, false)), "not both"),
            (
                keys((false, false), true, (false, false)),
                "no `password_env`",
            ),
            (keys((false, false), false, (true, false)), "needs a `user`"),
        ] {
            let e = k.check().unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        let required = AuthKeys {
            token_required: true,
            ..AuthKeys::default()
        };
        assert!(
            required
                .check()
                .unwrap_err()
                .to_string()
                .contains("token_env")
        );
    }

    #[test]
    fn a_missing_secret_is_named_never_shown() {
        let e = keys((true, false), false, (false, false))
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(e.contains("NO_SUCH_VAR_ROLLWATCH"), "{e}");
    }

    #[test]
    fn debug_and_redact_hide_the_secret() {
        let a = Auth::Basic {
            user: "bob".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{a:?}").contains("hunter2"));
        assert_eq!(a.redact("pw hunter2!"), "pw ***!");
        assert!(Auth::Raw(Secret::new("a\nb")).check_header().is_err());
    }
}
