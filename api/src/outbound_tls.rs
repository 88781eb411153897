//! TLS for the requests the API makes itself — webhook deliveries and requests routed to another
//! process of a cluster: rustls (with aws-lc-rs) trusting the system's root certificates plus, if
//! given, those of a PEM CA file (a company's internal CA).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The trusted roots for outgoing https.
#[derive(Clone, Debug)]
pub struct OutboundTls(Arc<rustls::ClientConfig>);

/// Why a CA file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file could not be read or is not PEM.
    #[error("cannot read CA certificates from {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file holds no `CERTIFICATE` block.
    #[error("{0} holds no PEM certificate")]
    Empty(PathBuf),
    /// A certificate is not one a trust anchor can be made of.
    #[error("{path} holds a certificate rustls cannot trust: {reason}")]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
}

impl OutboundTls {
    /// The system's roots (read once, here), and every certificate of `ca_file` if given.
    pub fn new(ca_file: Option<&Path>) -> Result<OutboundTls, CaFileError> {
        let mut roots = system_roots();
        if let Some(path) = ca_file {
            add_ca_file(&mut roots, path)?;
        } else if roots.is_empty() {
            tracing::warn!("no system root certificates and no CA file: outgoing https will fail");
        }
        Ok(OutboundTls::trusting(roots))
    }

    fn trusting(roots: RootCertStore) -> OutboundTls {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        OutboundTls(Arc::new(config))
    }

    /// A client builder using these roots that follows no redirect (a receiver or peer answering
    /// 3xx gets that answer back, never a request elsewhere) and ignores `HTTP(S)_PROXY` (the
    /// address a request goes to is the one checked).
    pub(crate) fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .tls_backend_preconfigured((*self.0).clone())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
    }
}

impl Default for OutboundTls {
    /// The system's roots only.
    fn default() -> Self {
        OutboundTls::trusting(system_roots())
    }
}

/// The certificates the system trusts (unreadable ones are skipped).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

/// Adds every certificate of the PEM file `path` to `roots`.
fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), CaFileError> {
    let unreadable = |reason: String| CaFileError::Unreadable { path: path.to_path_buf(), reason };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| unreadable(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| unreadable(error.to_string()))?;
    if certificates.is_empty() {
        return Err(CaFileError::Empty(path.to_path_buf()));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|error| CaFileError::Unusable { path: path.to_path_buf(), reason: error.to_string() })?;
    }
    Ok(())
}
