//! Headless Chromium for the dashboard tests (`api_over_http`, `history_routes`): started on a
//! free DevTools port with a throwaway profile, driven by evaluating JavaScript in the page.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Headless Chromium driven over the DevTools protocol.
pub struct Chromium {
    process: std::process::Child,
    socket: tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>,
    next_id: u64,
    profile: std::path::PathBuf,
}

impl Chromium {
    pub fn start() -> Chromium {
        let port = flowmart_testkit::free_port();
        let profile = std::env::temp_dir().join(format!("flowmart-chromium-{port}"));
        let process = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--remote-debugging-port={port}"))
            .arg("about:blank")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromium runs (scripts/test.sh installs it)");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let page_socket = loop {
            let targets = runtime.block_on(async {
                reqwest::get(format!("http://127.0.0.1:{port}/json/list")).await.ok()?.json::<Value>().await.ok()
            });
            let page = targets.and_then(|targets| {
                targets.as_array()?.iter().find(|target| target["type"] == "page")?["webSocketDebuggerUrl"]
                    .as_str()
                    .map(str::to_string)
            });
            if let Some(url) = page {
                break url;
            }
            assert!(Instant::now() < deadline, "chromium's DevTools endpoint did not come up");
            std::thread::sleep(Duration::from_millis(100));
        };
        let (socket, _) = tungstenite::connect(page_socket).expect("the DevTools socket");
        Chromium { process, socket, next_id: 1, profile }
    }

    /// Calls a DevTools method and returns its result.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket.send(tungstenite::Message::text(request)).unwrap();
        loop {
            let message = self.socket.read().unwrap();
            let Ok(text) = message.to_text() else { continue };
            let reply: Value = serde_json::from_str(text).unwrap();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true }));
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    pub fn wait_for(&mut self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.eval(expression) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "{what} did not happen");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Writes a PNG of the viewport to `path` (for a person to look at).
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let png = base64_decode(shot["data"].as_str().expect("the PNG, base64"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::write(path, &png).expect("the screenshot written");
        eprintln!("dashboard screenshot: {}", path.display());
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |byte: u8| match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {byte}"),
    };
    let bytes = text.bytes().filter(|byte| *byte != b'=').collect::<Vec<_>>();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut buffer = 0u32;
        for (at, byte) in chunk.iter().enumerate() {
            buffer |= u32::from(value(*byte)) << (18 - 6 * at);
        }
        out.extend_from_slice(&buffer.to_be_bytes()[1..chunk.len()]);
    }
    out
}
