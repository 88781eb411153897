//! Serving an axum router over https (TLS 1.2 and 1.3 by rustls), for stubs that must be reached
//! the way production reaches the real service.

use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::TestCertificates;

/// Serves `app` over https on `listener` with `certificates`' server certificate, until the
/// runtime stops. A client that fails the handshake is dropped.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    certificates: &TestCertificates,
) -> impl Future<Output = ()> + Send + 'static {
    let acceptor = TlsAcceptor::from(Arc::new(server_config(certificates)));
    async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else { return };
                let service = TowerToHyperService::new(app);
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    }
}

fn server_config(certificates: &TestCertificates) -> ServerConfig {
    let chain = CertificateDer::pem_file_iter(certificates.certificate_file())
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .expect("the server certificate");
    let key = PrivateKeyDer::from_pem_file(certificates.key_file()).expect("the server key");
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a TLS server configuration")
}
