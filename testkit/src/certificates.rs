use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority of a test's own and a certificate it signed for `localhost` and
/// `127.0.0.1`, as PEM files in a temporary directory (removed on drop): what a broker, a
/// registry or a database served over TLS in a test presents, and what its clients trust.
pub struct TestCertificates {
    dir: PathBuf,
}

impl TestCertificates {
    /// Generates a CA and a server certificate (ECDSA P-256) and writes `ca.pem`, `server.pem`
    /// and `server.key`.
    pub fn generate() -> TestCertificates {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("flowmart-tls-{}-{next}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for the certificates");

        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, format!("FlowMart test CA {next}"));
        let ca_certificate = ca.self_signed(&ca_key).expect("a self-signed CA");
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().expect("a server key");
        let mut server =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("server parameters");
        server.distinguished_name.push(DnType::CommonName, "localhost");
        let server_certificate = server.signed_by(&server_key, &issuer).expect("a server certificate");

        let certificates = TestCertificates { dir };
        std::fs::write(certificates.ca_file(), ca_certificate.pem()).expect("ca.pem");
        std::fs::write(certificates.certificate_file(), server_certificate.pem()).expect("server.pem");
        std::fs::write(certificates.key_file(), server_key.serialize_pem()).expect("server.key");
        certificates
    }

    /// The CA's certificate (PEM): what clients are told to trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's certificate (PEM), for `localhost` and `127.0.0.1`.
    pub fn certificate_file(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server's private key (PKCS #8 PEM).
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
