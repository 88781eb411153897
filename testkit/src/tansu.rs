use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Tansu broker (in-memory storage) on a free port, stopped when dropped.
///
/// Tansu is installed by `scripts/test.sh` (`cargo install tansu`). Known differences from
/// Kafka: no transactions, and its high watermark counts record batches, not records — tests
/// never rely on it.
pub struct Tansu {
    child: Child,
    port: u16,
}

impl Tansu {
    /// Starts a broker and waits until it accepts connections.
    pub fn start() -> Tansu {
        let port = crate::free_port();
        Tansu::spawn(port, port)
    }

    /// Starts a broker that tells clients to connect on `advertised` (where a [`crate::TcpProxy`]
    /// in front of it listens) and waits until it accepts connections on its own port.
    pub fn start_behind(advertised: u16) -> Tansu {
        Tansu::spawn(crate::free_port(), advertised)
    }

    fn spawn(port: u16, advertised: u16) -> Tansu {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        let child = Command::new("tansu")
            .args([
                "broker",
                "--storage-engine",
                "memory://tansu/",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised_url,
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is installed (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu { child, port }
    }

    /// `bootstrap.servers` for it (not through a proxy).
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
