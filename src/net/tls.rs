//! TLS per endpoint. The HTTP stack is reqwest over rustls (`rustls-tls-native-roots`): the
//! system's root certificates by default; with `ca_file`, only the CA(s) in that PEM file
//! (a private CA, as in-cluster Prometheus, Thanos or Mimir gateways use), so a public CA
//! cannot vouch for the private host; with `client_cert_file` + `client_key_file`, a client
//! certificate for mutual TLS. Files are read and checked when the endpoint is built, so
//! `check-config` reports a missing, unreadable or invalid PEM at its key.

use std::path::{Path, PathBuf};

use reqwest::{Certificate, ClientBuilder, Identity};

use super::EndpointError;

/// The TLS keys of an endpoint's config table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `ca_file`: PEM file with the CA certificate(s) that sign the server's certificate.
    /// When set, the system's roots are not used for this endpoint.
    pub ca_file: Option<PathBuf>,
    /// `client_cert_file`: PEM file with the client certificate (and any intermediates).
    pub client_cert_file: Option<PathBuf>,
    /// `client_key_file`: PEM file with the client certificate's private key (PKCS#8, PKCS#1
    /// or SEC1).
    pub client_key_file: Option<PathBuf>,
    /// `insecure_skip_verify`: accept any server certificate (test servers only).
    pub insecure_skip_verify: bool,
}

fn read(key: &str, path: &Path) -> Result<Vec<u8>, EndpointError> {
    std::fs::read(path).map_err(|e| {
        EndpointError::Tls(format!("`{key}` = {:?}: cannot read: {e}", path.display()))
    })
}

fn bad(key: &str, path: &Path, what: &str) -> EndpointError {
    EndpointError::Tls(format!("`{key}` = {:?}: {what}", path.display()))
}

/// Whether a PEM text has a section whose label ends with `label` (`CERTIFICATE`,
/// `PRIVATE KEY`).
fn has_section(pem: &[u8], label: &str) -> bool {
    String::from_utf8_lossy(pem).lines().any(|l| {
        l.trim().starts_with("-----BEGIN ") && l.trim().ends_with(&format!("{label}-----"))
    })
}

impl TlsFiles {
    /// The private CA's certificates, when `ca_file` is set.
    fn roots(&self) -> Result<Vec<Certificate>, EndpointError> {
        let Some(path) = &self.ca_file else {
            return Ok(Vec::new());
        };
        let pem = read("ca_file", path)?;
        if !has_section(&pem, "CERTIFICATE") {
            return Err(bad(
                "ca_file",
                path,
                "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
            ));
        }
        let certs = Certificate::from_pem_bundle(&pem).map_err(|e| {
            bad(
                "ca_file",
                path,
                &format!("not a valid PEM certificate: {e}"),
            )
        })?;
        if certs.is_empty() {
            return Err(bad("ca_file", path, "no PEM certificate in it"));
        }
        Ok(certs)
    }

    /// The client identity, when both `client_cert_file` and `client_key_file` are set.
    fn identity(&self) -> Result<Option<Identity>, EndpointError> {
        let (cert, key) = match (&self.client_cert_file, &self.client_key_file) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(EndpointError::Tls(
                    "`client_cert_file` needs `client_key_file` (mutual TLS takes both)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(EndpointError::Tls(
                    "`client_key_file` needs `client_cert_file` (mutual TLS takes both)".into(),
                ));
            }
            (Some(c), Some(k)) => (c, k),
        };
        let mut pem = read("client_cert_file", cert)?;
        if !has_section(&pem, "CERTIFICATE") {
            return Err(bad(
                "client_cert_file",
                cert,
                "no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
            ));
        }
        let key_pem = read("client_key_file", key)?;
        if !has_section(&key_pem, "PRIVATE KEY") {
            return Err(bad(
                "client_key_file",
                key,
                "no PEM private key in it (expected -----BEGIN PRIVATE KEY----- or a PKCS#1/SEC1 key)",
            ));
        }
        pem.push(b'\n');
        pem.extend_from_slice(&key_pem);
        // reqwest's message names neither file nor content; say which pair it was.
        Identity::from_pem(&pem).map(Some).map_err(|e| {
            bad(
                "client_cert_file",
                cert,
                &format!(
                    "with `client_key_file` = {:?}: not a usable certificate and key: {e}",
                    key.display()
                ),
            )
        })
    }

    /// Applies the settings to a client builder, reading and checking the files.
    pub(super) fn apply(&self, mut b: ClientBuilder) -> Result<ClientBuilder, EndpointError> {
        let roots = self.roots()?;
        if !roots.is_empty() {
            b = b.tls_built_in_root_certs(false);
            for c in roots {
                b = b.add_root_certificate(c);
            }
        }
        if let Some(id) = self.identity()? {
            b = b.identity(id);
        }
        Ok(b.danger_accept_invalid_certs(self.insecure_skip_verify))
    }

    /// The message for a client that could not be built: with custom TLS the files are the
    /// likely cause (rustls checks the certificates only now), so it names them.
    pub(super) fn build_error(&self, e: &reqwest::Error) -> String {
        let cause = super::answer::chain(e);
        match (&self.ca_file, &self.client_cert_file) {
            (Some(ca), _) => format!(
                "`ca_file` = {:?} (or the client certificate): not usable for TLS: {cause}",
                ca.display()
            ),
            (None, Some(c)) => format!(
                "`client_cert_file` = {:?}: not usable for TLS: {cause}",
                c.display()
            ),
            (None, None) => format!("building the HTTP client: {cause}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_and_half_configured_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let case = |t: TlsFiles| t.apply(reqwest::Client::builder()).unwrap_err().to_string();
        let missing = case(TlsFiles {
            ca_file: Some(dir.path().join("nope.pem")),
            ..TlsFiles::default()
        });
        assert!(
            missing.starts_with("`ca_file` = ") && missing.contains("cannot read"),
            "{missing}"
        );
        let e = case(TlsFiles {
            ca_file: Some(empty.clone()),
            ..TlsFiles::default()
        });
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = case(TlsFiles {
            ca_file: Some(garbage),
            ..TlsFiles::default()
        });
        assert!(
            e.contains("`ca_file`") && e.contains("not a valid PEM"),
            "{e}"
        );
        let e = case(TlsFiles {
            client_cert_file: Some(empty.clone()),
            ..TlsFiles::default()
        });
        assert!(e.contains("needs `client_key_file`"), "{e}");
        let e = case(TlsFiles {
            client_key_file: Some(empty.clone()),
            ..TlsFiles::default()
        });
        assert!(e.contains("needs `client_cert_file`"), "{e}");
        let cert = dir.path().join("cert.pem");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = case(TlsFiles {
            client_cert_file: Some(cert),
            client_key_file: Some(empty),
            ..TlsFiles::default()
        });
        assert!(
            e.starts_with("`client_key_file` = ") && e.contains("no PEM private key"),
            "{e}"
        );
    }
}
