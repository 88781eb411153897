use std::path::PathBuf;
use std::process::Command;

/// A Postgres server of a test's own (initdb in a temporary directory, a free port, trust auth),
/// so the test can stop and start it. Needs the server binaries (`pg_config --bindir`, else
/// `/usr/lib/postgresql/*/bin`); as root, runs them as the `postgres` user. Removed on drop.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// Whether it serves TLS only (`ssl = on`, `hostssl` lines alone in `pg_hba.conf`).
    tls_only: bool,
}

impl PrivatePostgres {
    /// Initializes and starts a server.
    pub fn start() -> PrivatePostgres {
        let server = PrivatePostgres::init(false);
        server.start_again();
        server
    }

    /// Initializes and starts a server that accepts TCP connections over TLS only, presenting
    /// `certificates`' server certificate (for `127.0.0.1` and `localhost`): see
    /// [`tls_url`](PrivatePostgres::tls_url).
    pub fn start_tls_only(certificates: &crate::TestCertificates) -> PrivatePostgres {
        let server = PrivatePostgres::init(true);
        std::fs::copy(certificates.certificate_file(), server.data.join("server.crt")).expect("server.crt");
        std::fs::copy(certificates.key_file(), server.data.join("server.key")).expect("server.key");
        // Postgres refuses a key others can read.
        std::fs::set_permissions(server.data.join("server.key"), std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("server.key mode 600");
        std::fs::write(server.data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
            .expect("pg_hba.conf");
        server.chown_to_postgres();
        server.start_again();
        server
    }

    fn init(tls_only: bool) -> PrivatePostgres {
        let bin = server_binaries();
        let data = std::env::temp_dir().join(format!("flowmart-pg-{}-{}", std::process::id(), crate::free_port()));
        std::fs::create_dir_all(&data).expect("a data directory");
        let server = PrivatePostgres { bin, data, port: crate::free_port(), tls_only };
        server.chown_to_postgres();
        let data_dir = server.data.display().to_string();
        server.run("initdb", &["-D", &data_dir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        server
    }

    /// Its URL over TLS with the server's certificate checked against `ca_file`, host name
    /// included (`sslmode=verify-full`, database `postgres`).
    pub fn tls_url(&self, ca_file: &std::path::Path) -> String {
        format!("{}?sslmode=verify-full&sslrootcert={}", self.url(), ca_file.display())
    }

    /// Its URL (database `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let data_dir = self.data.display().to_string();
        self.run("pg_ctl", &["-D", &data_dir, "-m", "fast", "-w", "stop"]);
    }

    /// Starts the stopped server again, on the same port.
    pub fn start_again(&self) {
        let data_dir = self.data.display().to_string();
        let mut options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, data_dir);
        if self.tls_only {
            options.push_str(" -c ssl=on");
        }
        let log = self.data.join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &data_dir, "-o", &options, "-l", &log, "-w", "start"]);
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program).display().to_string();
        let output = if is_root() {
            Command::new("runuser").args(["-u", "postgres", "--", &program]).args(args).output()
        } else {
            Command::new(&program).args(args).output()
        };
        let output = output.unwrap_or_else(|error| panic!("{program} cannot run: {error}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn chown_to_postgres(&self) {
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&self.data).status();
            assert!(status.is_ok_and(|status| status.success()), "chown {}", self.data.display());
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data_dir = self.data.display().to_string();
        let program = self.bin.join("pg_ctl").display().to_string();
        let args = ["-D", data_dir.as_str(), "-m", "immediate", "stop"];
        let _ = if is_root() {
            Command::new("runuser").args(["-u", "postgres", "--", &program]).args(args).output()
        } else {
            Command::new(&program).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

fn server_binaries() -> PathBuf {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if bin.join("initdb").exists() {
            return bin;
        }
    }
    let mut versions = std::fs::read_dir("/usr/lib/postgresql")
        .expect("Postgres server binaries under /usr/lib/postgresql")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect::<Vec<_>>();
    versions.sort();
    versions.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}
