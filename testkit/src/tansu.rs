use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowmart_kafka::KafkaConnection;

use crate::TestCertificates;

/// A Tansu broker (in-memory storage) on a free port, stopped when dropped.
///
/// Tansu is installed by `scripts/test.sh` (`cargo install tansu`). Known differences from
/// Kafka: no transactions, and its high watermark counts record batches, not records — tests
/// never rely on it. Secured ([`Tansu::start_secured`]): TLS by stunnel in front of it (Tansu
/// 0.6's `--cert` and `--key` cannot be given together), and SASL: Tansu offers SCRAM only (not
/// PLAIN), and its in-memory storage keeps no credentials, so every SCRAM login is refused.
pub struct Tansu {
    child: Child,
    /// The TLS terminator in front of a secured broker.
    stunnel: Option<Child>,
    /// Where clients connect (stunnel's port when secured).
    port: u16,
    /// What its clients need beyond the address (TLS and SASL settings).
    properties: BTreeMap<String, String>,
}

/// How a secured broker asks its clients to authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TansuAuth {
    /// TLS only (`security.protocol` `SSL`).
    Tls,
    /// TLS, then SASL (`SASL_SSL`, SCRAM-SHA-512): a client without SASL is disconnected, and
    /// one with it is refused (Tansu keeps no credentials in memory).
    TlsAndSasl,
}

impl Tansu {
    /// Starts a plain-text broker and waits until it accepts connections.
    pub fn start() -> Tansu {
        let port = crate::free_port();
        let child = Tansu::launch(port, port, &[]);
        Tansu { child, stunnel: None, port, properties: BTreeMap::new() }
    }

    /// Starts a plain-text broker that tells clients to connect on `advertised` (where a
    /// [`crate::TcpProxy`] in front of it listens) and waits until it accepts connections on its
    /// own port.
    pub fn start_behind(advertised: u16) -> Tansu {
        let port = crate::free_port();
        let child = Tansu::launch(port, advertised, &[]);
        Tansu { child, stunnel: None, port, properties: BTreeMap::new() }
    }

    /// Starts a broker reached over TLS only, with `certificates`' server certificate (and SASL
    /// as `auth` says): stunnel (Debian's `stunnel4`, which `scripts/test.sh` installs) listens
    /// on the advertised port and forwards to Tansu on another loopback port. Its
    /// [`connection`](Tansu::connection) trusts the certificates' CA.
    pub fn start_secured(certificates: &TestCertificates, auth: TansuAuth) -> Tansu {
        let (port, inner) = (crate::free_port(), crate::free_port());
        let mut arguments = Vec::new();
        let mut properties =
            BTreeMap::from([("ssl.ca.location".to_string(), certificates.ca_file().display().to_string())]);
        match auth {
            TansuAuth::Tls => {
                properties.insert("security.protocol".into(), "SSL".into());
            }
            TansuAuth::TlsAndSasl => {
                arguments.push("--authentication".into());
                for (key, value) in [
                    ("security.protocol", "SASL_SSL"),
                    ("sasl.mechanism", "SCRAM-SHA-512"),
                    ("sasl.username", "flowmart"),
                    ("sasl.password", "flowmart-secret"),
                ] {
                    properties.insert(key.into(), value.into());
                }
            }
        }
        let child = Tansu::launch(inner, port, &arguments);
        let config = certificates.dir().join(format!("stunnel-{port}.conf"));
        let service = format!(
            "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{inner}\ncert = {}\nkey = {}\n",
            certificates.certificate_file().display(),
            certificates.key_file().display()
        );
        std::fs::write(&config, service).expect("the stunnel configuration");
        let stunnel = crate::in_own_session(&mut Command::new("stunnel"))
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel is installed (scripts/test.sh installs Debian's stunnel4)");
        wait_for(port, "stunnel");
        Tansu { child, stunnel: Some(stunnel), port, properties }
    }

    /// Starts Tansu listening on `port`, telling clients to connect to `advertised`.
    fn launch(port: u16, advertised: u16, extra: &[String]) -> Child {
        let (listener, advertised) = (format!("tcp://127.0.0.1:{port}"), format!("tcp://127.0.0.1:{advertised}"));
        let child = crate::in_own_session(&mut Command::new("tansu"))
            .args(["broker", "--storage-engine", "memory://tansu/", "--listener-url", &listener])
            .args(["--advertised-listener-url", &advertised, "--silent"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is installed (scripts/test.sh installs it)");
        wait_for(port, "tansu");
        child
    }

    /// `bootstrap.servers` for it (not through a proxy).
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address with what a client needs to connect (TLS and SASL settings when secured).
    pub fn connection(&self) -> KafkaConnection {
        KafkaConnection { brokers: self.brokers(), properties: self.properties.clone() }
    }
}

/// Waits until something accepts connections on `port`.
fn wait_for(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        for child in std::iter::once(&mut self.child).chain(self.stunnel.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
