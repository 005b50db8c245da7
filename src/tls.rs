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

/// Why a request failed, from the innermost cause of a transport error (refused, DNS, TLS…),
/// without the URL that reqwest's own message repeats. A certificate that no trusted CA signed
/// gets the option that adds one (`ca_option`).
pub fn transport_cause(e: &reqwest::Error, ca_option: &str) -> String {
    let mut reason = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    if reason.is_empty() {
        reason = e.to_string();
    }
    let unknown_ca = [
        "UnknownIssuer",
        "unknown issuer",
        "self-signed",
        "SelfSigned",
    ]
    .iter()
    .any(|m| reason.contains(m));
    if unknown_ca {
        reason.push_str(&format!(
            "; if its certificate is signed by a private CA, give that CA with {ca_option}"
        ));
    }
    reason
}
