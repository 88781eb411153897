use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A loopback TCP proxy a test can take down and bring back: while it is down, every connection
/// through it is cut and new ones are refused, as when the server behind it is unreachable. Put in
/// front of a broker whose storage would not survive a restart of its own (Tansu's memory
/// storage), it makes a broker *outage*, not a broker process restart.
pub struct TcpProxy {
    port: u16,
    target: u16,
    running: Option<Accepting>,
}

/// The accepting thread and the connections it made, while the proxy is up.
struct Accepting {
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    thread: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on `port` and forwards every connection to `target` (both on 127.0.0.1).
    pub fn start(port: u16, target: u16) -> TcpProxy {
        let mut proxy = TcpProxy { port, target, running: None };
        proxy.start_again();
        proxy
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cuts every connection and stops listening: new connections are refused.
    pub fn stop(&mut self) {
        if let Some(accepting) = self.running.take() {
            accepting.stop.store(true, Ordering::Relaxed);
            let _ = accepting.thread.join();
            for connection in accepting.connections.lock().expect("the connection list").drain(..) {
                let _ = connection.shutdown(Shutdown::Both);
            }
        }
    }

    /// Listens again on the same port (after `stop`).
    pub fn start_again(&mut self) {
        assert!(self.running.is_none(), "the proxy is already up");
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("the proxy's port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, connections, target) = (stop.clone(), connections.clone(), self.target);
            std::thread::spawn(move || accept(&listener, target, &stop, &connections))
        };
        self.running = Some(Accepting { stop, connections, thread });
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts until `stop`, piping each client to a new connection to `target`; keeps both ends in
/// `connections` so that `stop` can cut them.
fn accept(listener: &TcpListener, target: u16, stop: &AtomicBool, connections: &Mutex<Vec<TcpStream>>) {
    while !stop.load(Ordering::Relaxed) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
        let _ = client.set_nonblocking(false);
        let (Ok(client_copy), Ok(server_copy)) = (client.try_clone(), server.try_clone()) else { continue };
        let mut kept = connections.lock().expect("the connection list");
        kept.retain(|connection| connection.peer_addr().is_ok());
        let (Ok(client_kept), Ok(server_kept)) = (client.try_clone(), server.try_clone()) else { continue };
        kept.extend([client_kept, server_kept]);
        std::thread::spawn(move || pipe(client, server_copy));
        std::thread::spawn(move || pipe(server, client_copy));
    }
}

/// Copies `from` to `to` until either closes, then closes both directions.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server on a free port that echoes what each connection sends.
    fn echo_server() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut connection in listener.incoming().map_while(Result::ok) {
                std::thread::spawn(move || {
                    let mut reading = connection.try_clone().unwrap();
                    let _ = std::io::copy(&mut reading, &mut connection);
                });
            }
        });
        port
    }

    fn echoes(connection: &mut TcpStream) -> bool {
        let mut answer = [0; 4];
        connection.write_all(b"ping").is_ok() && connection.read_exact(&mut answer).is_ok() && &answer == b"ping"
    }

    #[test]
    fn a_stopped_proxy_cuts_its_connections_and_refuses_new_ones_until_started_again() {
        let mut proxy = TcpProxy::start(crate::free_port(), echo_server());
        let mut before = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        assert!(echoes(&mut before), "forwarded");
        proxy.stop();
        assert!(!echoes(&mut before), "a connection made before the outage is cut");
        assert!(TcpStream::connect(("127.0.0.1", proxy.port())).is_err(), "refused while down");
        proxy.start_again();
        let mut after = TcpStream::connect(("127.0.0.1", proxy.port())).unwrap();
        assert!(echoes(&mut after), "forwarded again");
    }
}
