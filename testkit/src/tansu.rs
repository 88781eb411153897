use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowmart_kafka::KafkaConnection;

use crate::TestCertificates;

/// A Tansu broker (in-memory storage) on a free port, stopped when dropped.
///
/// Tansu is installed by `scripts/test.sh` (`cargo install tansu`). Known differences from
/// Kafka: no transactions, and its high watermark counts record batches, not records — tests
/// never rely on it. Secured ([`Tansu::start_secured`]): TLS with rustls, and SASL where PLAIN
/// takes any password (its in-memory storage keeps no credentials, so SCRAM always fails).
pub struct Tansu {
    child: Child,
    port: u16,
    /// What its clients need beyond the address (TLS and SASL settings).
    properties: BTreeMap<String, String>,
}

/// How a secured broker asks its clients to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TansuAuth {
    /// TLS only (`security.protocol` `SSL`).
    Tls,
    /// TLS, then SASL PLAIN (`SASL_SSL`); a client without SASL is disconnected.
    TlsAndSaslPlain,
}

impl Tansu {
    /// Starts a plain-text broker and waits until it accepts connections.
    pub fn start() -> Tansu {
        Tansu::launch(&[], BTreeMap::new())
    }

    /// Starts a broker serving TLS with `certificates` (and SASL as `auth` says); its
    /// [`connection`](Tansu::connection) trusts their CA.
    pub fn start_secured(certificates: &TestCertificates, auth: TansuAuth) -> Tansu {
        let (certificate, key) = (certificates.certificate_file(), certificates.key_file());
        let mut arguments = vec!["--cert".to_string(), certificate.display().to_string()];
        arguments.extend(["--key".to_string(), key.display().to_string()]);
        let mut properties =
            BTreeMap::from([("ssl.ca.location".to_string(), certificates.ca_file().display().to_string())]);
        match auth {
            TansuAuth::Tls => {
                properties.insert("security.protocol".into(), "SSL".into());
            }
            TansuAuth::TlsAndSaslPlain => {
                arguments.push("--authentication".into());
                for (key, value) in [
                    ("security.protocol", "SASL_SSL"),
                    ("sasl.mechanism", "PLAIN"),
                    ("sasl.username", "flowmart"),
                    ("sasl.password", "flowmart-secret"),
                ] {
                    properties.insert(key.into(), value.into());
                }
            }
        }
        Tansu::launch(&arguments, properties)
    }

    fn launch(extra: &[String], properties: BTreeMap<String, String>) -> Tansu {
        let port = crate::free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new("tansu")
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--silent",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu { child, port, properties }
    }

    /// `bootstrap.servers` for it.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its address with what a client needs to connect (TLS and SASL settings when secured).
    pub fn connection(&self) -> KafkaConnection {
        KafkaConnection { brokers: self.brokers(), properties: self.properties.clone() }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
