//! TLS options shared by the Jenkins client and the HTTP sinks: extra trusted CAs (an internal
//! CA bundle), and, only when asked, no certificate verification at all.

use std::path::Path;

/// TLS settings of one HTTP client.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// Certificates trusted in addition to the system's (webpki) roots.
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Accept any certificate (testing only; a warning is logged at start-up).
    pub insecure_skip_verify: bool,
}

impl Tls {
    /// Reads a PEM bundle of CA certificates; the error says what is wrong with the file.
    pub fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        Ok(certs)
    }

    /// Applies the settings to a client builder.
    pub fn apply(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        for cert in &self.extra_roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        builder.danger_accept_invalid_certs(self.insecure_skip_verify)
    }
}
