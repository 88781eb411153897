//! Receivers for the delivery and forwarding tests, on loopback addresses only: plain http, or https with a
//! certificate for `127.0.0.1` issued by a CA generated here. Each answers every request the
//! same way and records what it got.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// One request as received.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A running receiver.
pub(crate) struct Receiver {
    /// `http(s)://127.0.0.x:port/hook`.
    pub(crate) url: reqwest::Url,
    pub(crate) received: Arc<Mutex<Vec<Received>>>,
}

/// What a receiver answers.
#[derive(Clone)]
pub(crate) enum Answer {
    Status(StatusCode),
    RedirectTo(String),
}

/// A CA and the PEM file its certificate is written to (removed on drop).
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub(crate) pem_file: PathBuf,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pem_file = std::env::temp_dir().join(format!("flowmart-test-ca-{}-{next}.pem", std::process::id()));
        std::fs::write(&pem_file, issuer.pem()).unwrap();
        TestCa { issuer, pem_file }
    }

    /// A TLS acceptor with a certificate for `127.0.0.1` signed by this CA.
    fn acceptor(&self) -> TlsAcceptor {
        let key = KeyPair::generate().unwrap();
        let certificate = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &self.issuer);
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certificate.unwrap().der().clone()], key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pem_file);
    }
}

/// A plain http receiver on `ip` (a loopback address).
pub(crate) async fn plain(ip: [u8; 4], answer: Answer) -> Receiver {
    let listener = TcpListener::bind(SocketAddr::from((ip, 0))).await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (router, received) = router(answer);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Receiver { url: url.parse().unwrap(), received }
}

/// An https receiver on `127.0.0.1` with a certificate from `ca`.
pub(crate) async fn tls(ca: &TestCa, answer: Answer) -> Receiver {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/hook", tcp.local_addr().unwrap());
    let (router, received) = router(answer);
    let listener = TlsListener { tcp, acceptor: ca.acceptor() };
    tokio::spawn(async move { axum::serve(listener, router).await });
    Receiver { url: url.parse().unwrap(), received }
}

fn router(answer: Answer) -> (axum::Router, Arc<Mutex<Vec<Received>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    let handler = move |headers: HeaderMap, body: Bytes| {
        log.lock().unwrap().push(Received { headers, body });
        let answer = answer.clone();
        async move {
            match answer {
                Answer::Status(status) => (status, HeaderMap::new()),
                Answer::RedirectTo(location) => {
                    let mut headers = HeaderMap::new();
                    headers.insert(header::LOCATION, location.parse().unwrap());
                    (StatusCode::FOUND, headers)
                }
            }
        }
    };
    (axum::Router::new().fallback(handler), received)
}

/// Accepts TCP connections and completes their TLS handshake (a failed one is dropped).
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.tcp.accept().await else { continue };
            if let Ok(stream) = self.acceptor.accept(stream).await {
                return (stream, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}
