//! An open-loop HTTP/1.1 load generator, as wrk2 offers load: requests go out at evenly spaced
//! instants whatever the answers do, and each request's latency is counted from the instant the
//! schedule set for it, so a stall is charged to every request it held back (no coordinated
//! omission).
//!
//! The client is one thread of its own: a current-thread tokio runtime with hyper's
//! connection-level client, sending over a pool of keep-alive connections that grows to the
//! concurrency the load needs. A periodic Linux timerfd (nanosecond precision, read through the
//! runtime's reactor) wakes it for each scheduled instant: tokio's own timer ticks in whole
//! milliseconds and would send the requests in bursts, and a separate pacer thread would add a
//! thread wake-up to every request. Linux only, as is the timerfd.
//!
//! The client keeps its own cost off the measurement: a request waits for no other request's
//! connection to open, and answered requests are reaped as they finish, so after the warm-up its
//! memory stays put (a client that kept every request's task until the end page-faulted
//! thousands of times a second, and on a virtual machine a fresh page can stall the vCPU).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use flowmart_runtime::cpu_share::run_latency_sensitive;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, HOST, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use rustix::fd::OwnedFd;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create, timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::{JoinError, JoinSet};

/// One kind of request the load alternates between: a path on the server, with a bearer token.
#[derive(Clone, Debug)]
pub struct Target {
    /// Path and query, e.g. `/v1/stock/w-1/sku-1`.
    pub path: String,
    /// The `Authorization: Bearer` token sent with it, if any.
    pub bearer: Option<String>,
}

/// The load to offer: `rate` requests per second, request `n` to target `n mod targets`.
#[derive(Clone, Debug)]
pub struct OpenLoop {
    /// Requests per second over all targets.
    pub rate: u64,
    /// Load offered first and not counted (the connection pool grows to what the rate needs).
    pub warmup: Duration,
    /// Load counted after the warm-up.
    pub measured: Duration,
    /// Whether the client thread marks itself latency-sensitive as the API's threads do
    /// ([`run_latency_sensitive`]): a client on another host would not compete for the server's
    /// cores at all.
    pub latency_sensitive: bool,
}

/// What a run measured.
#[derive(Debug)]
pub struct Latencies {
    /// Per target, the counted requests' latencies (ms, scheduled instant → whole answer read),
    /// sorted.
    pub per_target: Vec<Vec<f64>>,
    /// How late the client took up the counted requests (ms after their scheduled instant), sorted:
    /// the load generator's own lag, part of every latency above.
    pub start_lag: Vec<f64>,
    /// Keep-alive connections the pool opened in all.
    pub connections: usize,
}

impl OpenLoop {
    /// Offers the load to the HTTP/1.1 server at `server` and waits for every answer. Panics on
    /// a failed request or an answer that is not 2xx: a benchmark of errors measures nothing.
    pub fn run(&self, server: SocketAddr, targets: &[Target]) -> Latencies {
        assert!(!targets.is_empty() && self.rate > 0, "a load needs a target and a rate");
        let load = self.clone();
        let targets = targets.to_vec();
        std::thread::Builder::new()
            .name("load-client".into())
            .spawn(move || {
                if load.latency_sensitive {
                    run_latency_sensitive();
                }
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                tokio::task::LocalSet::new().block_on(&runtime, load.client(server, targets))
            })
            .expect("a client thread")
            .join()
            .expect("the client finishes")
    }

    /// Sends each request when its instant comes, on an idle pooled connection or a new one.
    async fn client(self, server: SocketAddr, targets: Vec<Target>) -> Latencies {
        let interval = Duration::from_secs_f64(1.0 / self.rate as f64);
        let counted_from = (self.warmup.as_secs_f64() * self.rate as f64) as u64;
        let total = counted_from + (self.measured.as_secs_f64() * self.rate as f64) as u64;
        // Each target's request line and headers, built once: the client's own work per request
        // competes with the server for the same cores.
        let host = HeaderValue::from_str(&server.to_string()).expect("an address is a valid Host");
        let templates: Vec<(Uri, Option<HeaderValue>)> = targets
            .iter()
            .map(|target| {
                let uri = target.path.parse::<Uri>().expect("a valid path");
                let bearer = target.bearer.as_ref().map(|token| {
                    HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is a valid header value")
                });
                (uri, bearer)
            })
            .collect();
        let idle: Rc<RefCell<Vec<SendRequest<Empty<Bytes>>>>> = Rc::default();
        let counted = (total - counted_from) as usize;
        // One vector each (`vec![v; n]` would clone `v`, and a clone does not keep its capacity).
        let mut per_target: Vec<Vec<f64>> =
            (0..targets.len()).map(|_| Vec::with_capacity(counted / targets.len() + 1)).collect();
        let (mut start_lag, mut connections) = (Vec::with_capacity(counted), 0);
        // Answered requests are taken from the set as they finish, so the client's memory stays
        // as it was after the warm-up: growing it would page-fault on every few requests.
        let mut in_flight = JoinSet::new();
        let mut record = |answer: Result<(u64, f64), JoinError>| {
            let (n, latency_ms) = answer.expect("a request task");
            if n >= counted_from {
                per_target[(n % targets.len() as u64) as usize].push(latency_ms);
            }
        };
        let start = Instant::now() + FIRST_REQUEST_AFTER;
        let timer = Ticker::every(interval);
        let mut next = 0;
        while next < total {
            timer.tick().await;
            let now = Instant::now();
            while let Some(answer) = in_flight.try_join_next() {
                record(answer);
            }
            while next < total {
                let (n, due) = (next, start + interval * next as u32);
                if due > now {
                    break;
                }
                next += 1;
                if n >= counted_from {
                    start_lag.push(due.elapsed().as_secs_f64() * 1000.0);
                }
                // A new connection is opened by the request's own task: waiting for it here would
                // hold back every later request (a SYN dropped by a full accept queue waits a second).
                let pooled = idle.borrow_mut().pop();
                connections += usize::from(pooled.is_none());
                let (uri, bearer) = &templates[(n % templates.len() as u64) as usize];
                let mut request = Request::get(uri.clone()).header(HOST, host.clone());
                if let Some(bearer) = bearer {
                    request = request.header(AUTHORIZATION, bearer.clone());
                }
                let request = request.body(Empty::new()).expect("a valid request");
                let idle = Rc::clone(&idle);
                in_flight.spawn_local(async move {
                    let mut sender = match pooled {
                        Some(sender) => sender,
                        None => connect(server).await,
                    };
                    sender.ready().await.expect("the connection stays open");
                    let response = sender.send_request(request).await.expect("answered");
                    let status = response.status();
                    response.into_body().collect().await.expect("the whole answer");
                    assert!(status.is_success(), "request {n} answered {status}");
                    let latency_ms = due.elapsed().as_secs_f64() * 1000.0;
                    idle.borrow_mut().push(sender);
                    (n, latency_ms)
                });
            }
        }
        while let Some(answer) = in_flight.join_next().await {
            record(answer);
        }
        per_target.iter_mut().chain([&mut start_lag]).for_each(|values| values.sort_by(f64::total_cmp));
        Latencies { per_target, start_lag, connections }
    }
}

/// When the first request is due, after the timer is set.
const FIRST_REQUEST_AFTER: Duration = Duration::from_millis(1);

/// A periodic timerfd the runtime's reactor watches: `tick` returns once an expiry has passed.
struct Ticker(AsyncFd<OwnedFd>);

impl Ticker {
    /// Expires `FIRST_REQUEST_AFTER` from now, then every `interval`.
    fn every(interval: Duration) -> Ticker {
        let timespec =
            |duration: Duration| Timespec { tv_sec: duration.as_secs() as _, tv_nsec: duration.subsec_nanos() as _ };
        let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)
            .expect("a timerfd");
        let schedule = Itimerspec { it_interval: timespec(interval), it_value: timespec(FIRST_REQUEST_AFTER) };
        timerfd_settime(&fd, TimerfdTimerFlags::empty(), &schedule).expect("the timer set");
        // SAFETY: the `OwnedFd` is the open timerfd and the `AsyncFd` owns it until it is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
        Ticker(fd.expect("the reactor watches the timer"))
    }

    /// Waits for the next expiry (returns at once if some passed unread).
    async fn tick(&self) {
        loop {
            let mut ready = self.0.readable().await.expect("the timer stays readable");
            let mut expirations = [0; 8];
            match ready.try_io(|fd| Ok(rustix::io::read(fd, &mut expirations)?)) {
                Ok(read) => {
                    read.expect("a timerfd read");
                    return;
                }
                Err(_would_block) => continue,
            }
        }
    }
}

/// A new keep-alive connection (no Nagle delay), its driver running on the client's runtime.
async fn connect(server: SocketAddr) -> SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(server).await.expect("the server accepts");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("an HTTP/1.1 connection");
    tokio::task::spawn_local(connection);
    sender
}

/// The `p`-quantile (0..=1) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;

    use super::*;

    #[test]
    fn every_scheduled_request_goes_out_once_and_only_those_after_the_warm_up_count() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (keyed, open) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let app = {
            let (keyed, open) = (Arc::clone(&keyed), Arc::clone(&open));
            axum::Router::new()
                .route(
                    "/keyed",
                    get(move |headers: HeaderMap| async move {
                        keyed.fetch_add(1, Ordering::SeqCst);
                        let authorized = headers.get("authorization").is_some_and(|value| value == "Bearer k");
                        if authorized { StatusCode::OK } else { StatusCode::UNAUTHORIZED }
                    }),
                )
                .route(
                    "/open",
                    get(move || async move {
                        open.fetch_add(1, Ordering::SeqCst);
                        "ok"
                    }),
                )
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let server = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await });

        let load = OpenLoop {
            rate: 2_000,
            warmup: Duration::from_millis(100),
            measured: Duration::from_millis(250),
            latency_sensitive: false,
        };
        let targets =
            [Target { path: "/keyed".into(), bearer: Some("k".into()) }, Target { path: "/open".into(), bearer: None }];
        let latencies = load.run(server, &targets);

        // 200 warm-up requests and 500 counted, alternating between the two targets.
        assert_eq!((keyed.load(Ordering::SeqCst), open.load(Ordering::SeqCst)), (350, 350));
        assert_eq!(latencies.per_target.iter().map(Vec::len).collect::<Vec<_>>(), [250, 250]);
        assert_eq!(latencies.start_lag.len(), 500);
        for sorted in latencies.per_target.iter().chain([&latencies.start_lag]) {
            assert!(sorted.is_sorted() && sorted[0] >= 0.0, "{sorted:?}");
        }
        // A request's latency includes its start lag: the slowest answer took at least as long
        // as the latest start.
        let slowest = latencies.per_target.iter().map(|sorted| sorted[sorted.len() - 1]).fold(0.0, f64::max);
        assert!(slowest >= latencies.start_lag[499], "{slowest} < {}", latencies.start_lag[499]);
        assert!(latencies.connections >= 1);
    }
}
