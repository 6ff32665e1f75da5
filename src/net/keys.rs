//! The endpoint keys every network adapter's config table shares, declared once.
//!
//! Why a macro: serde's `flatten` cannot be combined with `deny_unknown_fields`, which every
//! adapter table needs so that a typo is an error at its line. A nested shared struct would
//! either need `flatten` or a second, hand-written pass over the table, and would change the
//! adapters' public field layout (tests and callers build these configs field by field). The
//! macro keeps flat fields, one declaration of each shared key with its documentation and
//! default, the derived `deny_unknown_fields` check (its message lists every key the table
//! accepts), and the one mapping to [`crate::net::EndpointKeys`].

/// Declares an adapter's config struct (which must have `url: String` and a `timeout_ms` of
/// type `u64` or `Option<u64>`, and derive `Deserialize` with `deny_unknown_fields`) with the
/// shared credential and TLS keys appended: `token_env`, `token_file`,
/// `insecure_skip_verify`, `ca_file`, `client_cert_file`, `client_key_file`; and its
/// `endpoint_keys()`.
macro_rules! endpoint_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($body:tt)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($body)*
            /// Environment variable holding the token (sent as `Authorization: Bearer <token>`;
            /// Unleash takes its API token as it is).
            #[serde(default)]
            pub token_env: Option<String>,
            /// File whose first line is the token.
            #[serde(default)]
            pub token_file: Option<std::path::PathBuf>,
            /// Accept any TLS certificate. Off by default: certificates are verified (rustls,
            /// system roots). Only for test servers with self-signed certificates.
            #[serde(default)]
            pub insecure_skip_verify: bool,
            /// PEM file of the private CA that signs the server's certificate; when set, only
            /// it is trusted for this endpoint.
            #[serde(default)]
            pub ca_file: Option<std::path::PathBuf>,
            /// PEM file of a client certificate for mutual TLS (with `client_key_file`).
            #[serde(default)]
            pub client_cert_file: Option<std::path::PathBuf>,
            /// PEM file of the client certificate's private key.
            #[serde(default)]
            pub client_key_file: Option<std::path::PathBuf>,
        }

        impl $name {
            /// The endpoint keys: URL, TLS, deadline.
            #[must_use]
            pub fn endpoint_keys(&self) -> $crate::net::EndpointKeys<'_> {
                $crate::net::EndpointKeys {
                    url: &self.url,
                    tls: $crate::net::TlsFiles {
                        ca_file: self.ca_file.clone(),
                        client_cert_file: self.client_cert_file.clone(),
                        client_key_file: self.client_key_file.clone(),
                        insecure_skip_verify: self.insecure_skip_verify,
                    },
                    timeout_ms: Option::<u64>::from(self.timeout_ms),
                }
            }
        }
    };
}
pub(crate) use endpoint_config;
