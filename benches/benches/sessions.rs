//! Live sessions at scale (issue 19): `SESSIONS` Server-Sent Event sessions on `GET
//! /v1/alerts/stream` held by one `flowmart demo` process while its pipeline ingests `RATE`
//! events/s, with the tenants mixed; the server's RSS per session, the fan-out latency of every
//! alert change to every session of its tenant, and the point-query latency at `QUERY_RATE`
//! requests/s alongside.
//!
//! **The server** is a separate process: this bench's own binary run again as the `flowmart`
//! binary (`flowmart::main`, `demo --rate RATE`), so its RSS (`/proc/<pid>/status`, `VmRSS`) is the
//! server's alone. Its admin token is set through `FLOWMART_ADMIN_TOKEN`; a key is issued for
//! every tenant through the admin API.
//!
//! **The client** is this process, and cheap: two threads, each a current-thread tokio runtime
//! with half the sessions, at `nice` 10 like the server's sessions threads (the two share the
//! cores evenly); each session a raw `TcpStream` writing a minimal HTTP/1.1 `GET` with the
//! tenant's bearer key and reading into a 4 KiB buffer (chunked encoding and SSE decoded as bytes
//! arrive, [`flowmart_benches::sse`]). Sessions open at `OPEN_RATE` per second (default 1,000; the
//! tenants' request rate limit is 200/s each), round-robin over the tenants, from source addresses
//! 127.0.0.2, 127.0.0.3, … (8,000 sessions each: a source address has about 14,000 ephemeral ports
//! to `bind`). The bench raises its own `RLIMIT_NOFILE` (soft and hard) to what the sessions need;
//! the server inherits the hard limit and raises its own soft limit at start. Where the hard limit
//! cannot be raised (raising it takes `CAP_SYS_RESOURCE`), the bench says so and measures as many
//! sessions as it allows, keeping 1,000 descriptors to spare.
//!
//! **RSS per session**: the server's RSS with every session open (and again after the fan-out
//! window, whichever is larger) minus its RSS just before the first was opened, over the
//! sessions; the pipeline's own growth meanwhile (its dedupe state grows with the events) is
//! measured for 10 s before the sessions open and subtracted.
//!
//! **Fan-out**: for each alert change a session reads, the wall-clock time it read it minus the
//! change's `changed_at` — the pipeline time the change was made at, i.e. when the records that
//! caused it were read (ms, the same clock: one machine). So it is an upper bound of the
//! fan-out: it includes the pipeline's own freshness (records read → results published, a few
//! ms) and the 1 ms granularity of pipeline time. Counted over the `SECONDS` window for changes
//! made in it; every such change made up to 2 s before its end is checked to have reached every
//! session of its tenant (the `delivered` line). Also the spread: for each change, its last
//! session's read − its first's.
//!
//! **Point queries**: [`OpenLoop`] at `QUERY_RATE` requests/s (default 1,000), `GET
//! /v1/stock/{warehouse_id}/{sku}` of a position of each tenant in turn, over the same window.
//! And the pipeline's own freshness over it (the server's `flowmart_freshness_seconds`), the part
//! of the fan-out figure that is not fan-out.
//!
//! `cargo bench -p flowmart-benches --bench sessions` (`SESSIONS` default 50,000; `RATE` events/s,
//! default 5,000; `TENANTS` default 6; `SECONDS` default 30; `WARMUP` s before the sessions open,
//! default 30, at least 10). A CI slice: `SESSIONS=2000 SECONDS=10 WARMUP=12`. Prints e.g.
//! (BENCHMARKS.md, "Live sessions")
//! `sessions: 19000 of 19000 open in 19.2 s (6 tenants); refused 0, failed 0`
//! `server RSS: 68.9 MiB before, 305.1 MiB with the sessions open, 325.6 MiB after the window:
//! 13.0 KiB per session (the pipeline's own growth, 0.85 MiB/s, subtracted: 16.3 MiB)`
//! `fan-out (changed_at → read by the session): p50 456 ms p99 872 ms max 1184 ms over 44496791
//! deliveries of 14087 changes; spread (first → last session of a change) p50 66 ms p99 351 ms`
//! `delivered: 39580155 of 39580155 expected (100.000%); … lagged 0, reset 0, keep-alives 38000, …`
//! `pipeline freshness meanwhile (…): p50 ≤ 2.5 ms, p99 ≤ 25.0 ms`
//! `point query at 1000 req/s: p50 0.12 ms p99 2.97 ms max 33.44 ms over 30000 requests (…)`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream as StdTcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flowmart_benches::open_loop::{OpenLoop, Target, percentile};
use flowmart_benches::sse::{EventName, EventReader, SseEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Set in the server process: run as the `flowmart` binary.
const SERVER_ROLE: &str = "FLOWMART_SESSIONS_BENCH_SERVER";
/// The server's admin token.
const ADMIN_TOKEN: &str = "fma_sessions_bench";
/// Sessions opened from one source address.
const SESSIONS_PER_SOURCE: usize = 8_000;
/// File descriptors each process needs beyond one per session: the load generator's pool and the
/// runtime here; the pipeline, the point queries' connections and the runtime in the server.
const SPARE_FDS: u64 = 1_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn main() -> ExitCode {
    if std::env::var_os(SERVER_ROLE).is_some() {
        return flowmart::main();
    }
    let sessions = setting("SESSIONS", 50_000) as usize;
    let rate = setting("RATE", 5_000);
    let tenants = setting("TENANTS", 6);
    let seconds = setting("SECONDS", 30);
    let warmup = setting("WARMUP", 30);
    let open_rate = setting("OPEN_RATE", 1_000);
    let query_rate = setting("QUERY_RATE", 1_000);
    let fd_limit = raise_fd_limit(sessions as u64 + SPARE_FDS);
    // Each side holds one descriptor per session, and some for everything else.
    let most = fd_limit.saturating_sub(SPARE_FDS) as usize;
    let sessions = if sessions > most {
        println!(
            "the open-file limit here is {fd_limit} (RLIMIT_NOFILE; raising its hard limit takes CAP_SYS_RESOURCE): one process holds at most {most} sessions with {SPARE_FDS} descriptors to spare; measuring {most}, not {sessions}"
        );
        most
    } else {
        sessions
    };

    let port = free_port();
    let server = Server::start(port, rate, tenants);
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let keys = server.tenant_keys(tenants as usize);
    let targets = keys.iter().map(|(_, key)| point_query(port, key)).collect::<Vec<_>>();
    println!(
        "flowmart demo --rate {rate} --tenants {tenants} (pid {}); {sessions} sessions on /v1/alerts/stream; point queries at {query_rate}/s",
        server.pid()
    );

    std::thread::sleep(Duration::from_secs(warmup.saturating_sub(10)));
    let (early, early_at) = server.rss();
    std::thread::sleep(Duration::from_secs(10));
    let (before, before_at) = server.rss();
    let growth_per_second = before.saturating_sub(early) as f64 / (before_at - early_at).as_secs_f64();

    let client = Client::start(address, sessions, keys.iter().map(|(_, key)| key.clone()).collect(), open_rate);
    let opening = Instant::now();
    while client.settled() < sessions && opening.elapsed() < Duration::from_secs(sessions as u64 / 100 + 120) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let opened_in = opening.elapsed();
    let with_sessions = server.rss();
    let open = client.progress.opened.load(Ordering::Relaxed);
    println!(
        "sessions: {open} of {sessions} open in {:.1} s ({tenants} tenants); refused {}, failed {}",
        opened_in.as_secs_f64(),
        client.progress.refused.load(Ordering::Relaxed),
        client.progress.failed.load(Ordering::Relaxed),
    );

    let freshness_before = freshness_buckets(port);
    client.progress.measuring_since.store(now_ms() as usize, Ordering::Relaxed);
    let cpu_before = cpu_seconds(server.pid());
    let load = OpenLoop {
        rate: query_rate,
        warmup: Duration::from_secs(2),
        measured: Duration::from_secs(seconds),
        latency_sensitive: true,
    };
    let window = Instant::now();
    let queries = load.run(address, &targets);
    let server_cores = (cpu_seconds(server.pid()) - cpu_before) / window.elapsed().as_secs_f64();
    let window_end = now_ms();
    let freshness = freshness_buckets(port);
    // Changes made in the last moments of the window are still on their way: let them arrive.
    std::thread::sleep(Duration::from_secs(2));
    let after = server.rss();
    let progress = Arc::clone(&client.progress);
    let stats = client.stop();

    let grown = growth_per_second * (with_sessions.1 - before_at).as_secs_f64();
    let held = with_sessions.0.max(after.0).saturating_sub(before) as f64 - grown;
    println!(
        "server RSS: {:.1} MiB before, {:.1} MiB with the sessions open, {:.1} MiB after the window: {:.1} KiB per session (the pipeline's own growth, {:.2} MiB/s, subtracted: {:.1} MiB)",
        mib(before),
        mib(with_sessions.0),
        mib(after.0),
        held / open.max(1) as f64 / 1024.0,
        growth_per_second / 1048576.0,
        grown / 1048576.0,
    );
    stats.report(&progress, window_end);
    let quantile = |p| freshness_quantile(&freshness_before, &freshness, p);
    println!(
        "pipeline freshness meanwhile (record read → results published, the server's flowmart_freshness_seconds): p50 ≤ {} ms, p99 ≤ {} ms",
        quantile(0.5),
        quantile(0.99)
    );
    let point = &queries.per_target.concat();
    let mut point = point.clone();
    point.sort_by(f64::total_cmp);
    println!(
        "point query at {query_rate} req/s: p50 {:.2} ms p99 {:.2} ms max {:.2} ms over {} requests (load generator start lag p99 {:.3} ms); server kept {server_cores:.2} of {} cores busy",
        percentile(&point, 0.5),
        percentile(&point, 0.99),
        point[point.len() - 1],
        point.len(),
        percentile(&queries.start_lag, 0.99),
        std::thread::available_parallelism().map_or(1, usize::from),
    );
    ExitCode::SUCCESS
}

/// Raises this process's `RLIMIT_NOFILE` (soft and hard) to `needed` if it is below, as far as
/// it may; the server inherits the hard limit. Returns the limit it has.
fn raise_fd_limit(needed: u64) -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.map_or(needed, |hard| hard.max(needed));
    if setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: Some(hard) }).is_ok() {
        return hard;
    }
    // Raising the hard limit takes CAP_SYS_RESOURCE: up to the hard limit, then.
    let _ = setrlimit(Resource::Nofile, Rlimit { current: limit.maximum, ..limit });
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// A free port on localhost.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis() as u64
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// CPU time process `pid` has used so far (s): utime + stime, in ticks of 1/100 s.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server runs");
    let fields = stat[stat.rfind(')').expect("a stat line") + 2..].split_whitespace();
    fields.skip(11).take(2).map(|ticks| ticks.parse::<f64>().expect("ticks")).sum::<f64>() / 100.0
}

/// The server's `flowmart_freshness_seconds` histogram: (upper bound in ms, count up to it).
fn freshness_buckets(port: u16) -> Vec<(f64, f64)> {
    let (_, metrics) = request(port, "GET", "/metrics", None).expect("the server answers");
    let bucket = |line: &str| {
        let rest = line.strip_prefix("flowmart_freshness_seconds_bucket{")?;
        let le = rest.split("le=\"").nth(1)?.split('"').next()?;
        let count = rest.rsplit(' ').next()?.parse::<f64>().ok()?;
        Some((le.parse::<f64>().map_or(f64::INFINITY, |seconds| seconds * 1000.0), count))
    };
    metrics.lines().filter_map(bucket).collect()
}

/// The bucket bound (ms) the `p`-quantile of the records between two readings falls under.
fn freshness_quantile(before: &[(f64, f64)], after: &[(f64, f64)], p: f64) -> String {
    let counts = after.iter().map(|(le, count)| {
        let earlier = before.iter().find(|(bound, _)| bound == le).map_or(0.0, |(_, count)| *count);
        (*le, count - earlier)
    });
    let counts = counts.collect::<Vec<_>>();
    let total = counts.last().map_or(0.0, |(_, count)| *count);
    match counts.iter().find(|(_, count)| *count >= total * p) {
        Some((le, _)) if le.is_finite() => format!("{le:.1}"),
        _ => "∞".into(),
    }
}

/// The `flowmart demo` process, killed when the bench ends however it ends.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(port: u16, rate: u64, tenants: u64) -> Server {
        let log = std::env::temp_dir().join(format!("sessions-bench-{}.log", std::process::id()));
        let child = Command::new(std::env::current_exe().expect("this bench's binary"))
            .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--rate", &rate.to_string(), "--tenants", &tenants.to_string()])
            .env(SERVER_ROLE, "1")
            .env("FLOWMART_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn,flowmart=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file in the temporary directory"))
            .spawn()
            .expect("the server starts");
        let server = Server { child, port };
        let started = Instant::now();
        while request(port, "GET", "/healthz", None).is_none_or(|(status, _)| status != 200) {
            assert!(started.elapsed() < Duration::from_secs(30), "the server answers within 30 s (log: {log:?})");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set size (bytes), and when it was read.
    fn rss(&self) -> (u64, Instant) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("the server runs");
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("a VmRSS line");
        let kib = line.split_whitespace().nth(1).and_then(|kib| kib.parse::<u64>().ok()).expect("VmRSS in kB");
        (kib * 1024, Instant::now())
    }

    /// Every tenant's id and a key issued for it, once the pipeline has seen `tenants` tenants
    /// and a stock position of each.
    fn tenant_keys(&self, tenants: usize) -> Vec<(String, String)> {
        let started = Instant::now();
        let ids = loop {
            let list = json(self.port, "GET", "/v1/admin/tenants", ADMIN_TOKEN);
            let seen = list["tenants"].as_array().expect("a tenant list");
            if seen.len() >= tenants && seen.iter().all(|tenant| tenant["stock_positions"].as_u64() > Some(0)) {
                break seen
                    .iter()
                    .map(|tenant| tenant["tenant_id"].as_str().expect("an id").to_string())
                    .collect::<Vec<_>>();
            }
            assert!(started.elapsed() < Duration::from_secs(60), "{tenants} tenants within a minute: {list}");
            std::thread::sleep(Duration::from_millis(200));
        };
        ids.into_iter()
            .map(|tenant_id| {
                let issued = json(self.port, "POST", &format!("/v1/admin/tenants/{tenant_id}/api-keys"), ADMIN_TOKEN);
                let key = issued["api_key"].as_str().expect("an api key").to_string();
                (tenant_id, key)
            })
            .collect()
    }
}

/// One request on a connection of its own to the server on `port`: the status and body
/// (`None` while nothing answers).
fn request(port: u16, method: &str, path: &str, bearer: Option<&str>) -> Option<(u16, String)> {
    let mut stream = StdTcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let authorization = bearer.map(|token| format!("Authorization: Bearer {token}\r\n")).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// A request that must succeed with JSON.
fn json(port: u16, method: &str, path: &str, bearer: &str) -> serde_json::Value {
    let (status, body) = request(port, method, path, Some(bearer)).expect("the server answers");
    assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
    serde_json::from_str(&body).expect("a JSON answer")
}

/// The point query of one of the tenant's positions.
fn point_query(port: u16, key: &str) -> Target {
    let list = json(port, "GET", "/v1/stock?limit=1", key);
    let item = &list["items"][0];
    let (warehouse_id, sku) =
        (item["warehouse_id"].as_str().expect("a warehouse"), item["sku"].as_str().expect("a sku"));
    Target { path: format!("/v1/stock/{warehouse_id}/{sku}"), bearer: Some(key.to_string()) }
}

/// What the client thread tells the main thread as it goes.
#[derive(Default)]
struct Progress {
    opened: AtomicUsize,
    refused: AtomicUsize,
    failed: AtomicUsize,
    /// Wall-clock ms from which changes count (0: not yet).
    measuring_since: AtomicUsize,
}

/// Threads the sessions are read on, each a current-thread runtime with its share.
const CLIENT_THREADS: usize = 2;
/// The readers' `nice`: the server's sessions threads' (`flowmart_api`'s `SESSIONS_NICE`).
const CLIENT_NICE: i32 = 10;

/// The sessions, on threads of their own.
struct Client {
    progress: Arc<Progress>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<Stats>>,
}

impl Client {
    fn start(server: SocketAddr, sessions: usize, keys: Vec<String>, open_rate: u64) -> Client {
        let progress = Arc::new(Progress::default());
        let (mut stops, mut threads) = (Vec::new(), Vec::new());
        for thread in 0..CLIENT_THREADS {
            let (stop, stopped) = tokio::sync::oneshot::channel();
            let (progress, keys) = (Arc::clone(&progress), keys.clone());
            // Session `n` is this thread's when `n % CLIENT_THREADS == thread`; they open in turn.
            let mine = (thread..sessions).step_by(CLIENT_THREADS);
            let pace = Duration::from_secs_f64(CLIENT_THREADS as f64 / open_rate as f64);
            let reader = std::thread::Builder::new().name(format!("sessions-{thread}")).spawn(move || {
                // As nice as the server's sessions threads: the two share the cores evenly.
                let _ = rustix::process::setpriority_process(None, CLIENT_NICE);
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
                tokio::task::LocalSet::new()
                    .block_on(&runtime, read_sessions(server, mine, keys, pace, progress, stopped))
            });
            stops.push(stop);
            threads.push(reader.expect("a client thread"));
        }
        Client { progress, stops, threads }
    }

    /// Sessions that opened, were refused or failed to open.
    fn settled(&self) -> usize {
        let progress = &self.progress;
        [&progress.opened, &progress.refused, &progress.failed].iter().map(|count| count.load(Ordering::Relaxed)).sum()
    }

    fn stop(self) -> Stats {
        for stop in self.stops {
            let _ = stop.send(());
        }
        let mut all = self.threads.into_iter().map(|thread| thread.join().expect("a client thread"));
        let first = all.next().expect("a client thread");
        all.fold(first, Stats::merge)
    }
}

/// Opens the sessions numbered `mine`, one per `pace`, and reads them until `stopped`.
async fn read_sessions(
    server: SocketAddr,
    mine: impl Iterator<Item = usize> + 'static,
    keys: Vec<String>,
    pace: Duration,
    progress: Arc<Progress>,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Stats {
    let tenants = keys.len();
    let state = Rc::new(ClientState {
        progress,
        stats: RefCell::new(Stats::new(tenants)),
        per_tenant: (0..tenants).map(|_| Cell::new(0)).collect(),
    });
    let keys: Vec<Rc<str>> = keys.into_iter().map(Rc::from).collect();
    let opener = Rc::clone(&state);
    tokio::task::spawn_local(async move {
        let mut pace = tokio::time::interval(pace);
        for n in mine {
            pace.tick().await;
            let source = Ipv4Addr::new(127, 0, 0, 2 + (n / SESSIONS_PER_SOURCE) as u8);
            let tenant = n % tenants;
            tokio::task::spawn_local(session(server, source, Rc::clone(&keys[tenant]), tenant, Rc::clone(&opener)));
        }
    });
    let _ = stopped.await;
    let mut stats = state.stats.take();
    stats.sessions_per_tenant = state.per_tenant.iter().map(Cell::get).collect();
    stats
}

struct ClientState {
    progress: Arc<Progress>,
    stats: RefCell<Stats>,
    /// Sessions open per tenant.
    per_tenant: Vec<Cell<usize>>,
}

/// One session: connects from `source`, asks for the alert stream, and reads it until the end.
async fn session(server: SocketAddr, source: Ipv4Addr, key: Rc<str>, tenant: usize, state: Rc<ClientState>) {
    let request = format!(
        "GET /v1/alerts/stream HTTP/1.1\r\nHost: {server}\r\nAuthorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n"
    );
    let mut buffer = [0_u8; 4096];
    let (mut stream, mut reader, mut unread) = loop {
        let opened = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::from((source, 0)))?;
            let mut stream = socket.connect(server).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut head = Vec::new();
            loop {
                let read = stream.read(&mut buffer).await?;
                if read == 0 {
                    return Err(std::io::Error::other("closed before the answer's head"));
                }
                head.extend_from_slice(&buffer[..read]);
                if let Some(end) = head.windows(4).position(|window| window == b"\r\n\r\n") {
                    let status = std::str::from_utf8(&head[9..12]).unwrap_or("0").parse::<u16>().unwrap_or(0);
                    return Ok((stream, status, head.split_off(end + 4)));
                }
            }
        };
        match opened.await {
            Ok((stream, 200, unread)) => break (stream, EventReader::default(), unread),
            // Over the tenant's request rate: wait and try again, as a client would (over the
            // tenant's limit of sessions, the answer says so: refused, as no wait would help).
            Ok((_, 429, body)) if memchr::memmem::find(&body, b"live sessions").is_none() => {
                tokio::time::sleep(Duration::from_secs(1)).await
            }
            Ok(_) => {
                state.progress.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(_) => {
                state.progress.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    };
    state.per_tenant[tenant].set(state.per_tenant[tenant].get() + 1);
    state.progress.opened.fetch_add(1, Ordering::Relaxed);
    let closed = loop {
        let received_ms = now_ms();
        let measuring_since = state.progress.measuring_since.load(Ordering::Relaxed) as u64;
        let mut record = |event: SseEvent| {
            if measuring_since != 0 {
                state.stats.borrow_mut().record(tenant, event, received_ms, measuring_since);
            }
        };
        if reader.feed(&unread, &mut record).is_err() {
            break true;
        }
        unread.clear();
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break true,
            Ok(read) => unread.extend_from_slice(&buffer[..read]),
        }
    };
    if closed {
        state.per_tenant[tenant].set(state.per_tenant[tenant].get() - 1);
        state.stats.borrow_mut().closed += 1;
    }
}

/// One alert change as the sessions of its tenant read it.
struct Change {
    tenant: usize,
    changed_at: u64,
    deliveries: usize,
    first_ms: u64,
    last_ms: u64,
}

/// What the sessions read while measuring.
#[derive(Default)]
struct Stats {
    /// Deliveries by fan-out latency, 1 ms buckets (the last: that or more).
    fan_out_ms: Vec<u64>,
    changes: HashMap<u64, Change>,
    lagged: u64,
    resets: u64,
    keep_alives: u64,
    closed: u64,
    sessions_per_tenant: Vec<usize>,
}

const FAN_OUT_BUCKETS: usize = 60_001;

impl Stats {
    fn new(tenants: usize) -> Stats {
        Stats { fan_out_ms: vec![0; FAN_OUT_BUCKETS], sessions_per_tenant: vec![0; tenants], ..Stats::default() }
    }

    /// Both threads' readings as one.
    fn merge(mut self, other: Stats) -> Stats {
        for (bucket, count) in self.fan_out_ms.iter_mut().zip(other.fan_out_ms) {
            *bucket += count;
        }
        for (id, change) in other.changes {
            let mine = self.changes.entry(id).or_insert(Change { deliveries: 0, ..change });
            mine.deliveries += change.deliveries;
            mine.first_ms = mine.first_ms.min(change.first_ms);
            mine.last_ms = mine.last_ms.max(change.last_ms);
        }
        for (sessions, more) in self.sessions_per_tenant.iter_mut().zip(other.sessions_per_tenant) {
            *sessions += more;
        }
        self.lagged += other.lagged;
        self.resets += other.resets;
        self.keep_alives += other.keep_alives;
        self.closed += other.closed;
        self
    }

    fn record(&mut self, tenant: usize, event: SseEvent, received_ms: u64, measuring_since: u64) {
        match (event.name, event.id, event.changed_at) {
            (EventName::ReorderAlert, Some(id), Some(changed_at)) if changed_at >= measuring_since => {
                let latency = received_ms.saturating_sub(changed_at) as usize;
                self.fan_out_ms[latency.min(FAN_OUT_BUCKETS - 1)] += 1;
                let change = self.changes.entry(id).or_insert(Change {
                    tenant,
                    changed_at,
                    deliveries: 0,
                    first_ms: received_ms,
                    last_ms: received_ms,
                });
                change.deliveries += 1;
                change.first_ms = change.first_ms.min(received_ms);
                change.last_ms = change.last_ms.max(received_ms);
            }
            (EventName::ReorderAlert, ..) => {}
            (EventName::Lagged, ..) => self.lagged += 1,
            (EventName::Reset, ..) => self.resets += 1,
            _ if event.comment => self.keep_alives += 1,
            _ => {}
        }
    }

    /// The `p`-quantile of the fan-out histogram (ms).
    fn fan_out_quantile(&self, p: f64) -> usize {
        let total: u64 = self.fan_out_ms.iter().sum();
        let rank = ((total as f64 - 1.0) * p).round() as u64;
        let mut seen = 0;
        for (ms, count) in self.fan_out_ms.iter().enumerate() {
            seen += count;
            if seen > rank {
                return ms;
            }
        }
        FAN_OUT_BUCKETS - 1
    }

    fn report(&self, progress: &Progress, window_end: u64) {
        let deliveries: u64 = self.fan_out_ms.iter().sum();
        let max = self.fan_out_ms.iter().rposition(|count| *count > 0).unwrap_or(0);
        let mut spread =
            self.changes.values().map(|change| (change.last_ms - change.first_ms) as f64).collect::<Vec<_>>();
        spread.sort_by(f64::total_cmp);
        if deliveries == 0 {
            println!("fan-out: no alert change reached a session in the window");
        } else {
            println!(
                "fan-out (changed_at → read by the session): p50 {} ms p99 {} ms max {max} ms over {deliveries} deliveries of {} changes; spread (first → last session of a change) p50 {:.0} ms p99 {:.0} ms",
                self.fan_out_quantile(0.5),
                self.fan_out_quantile(0.99),
                self.changes.len(),
                percentile(&spread, 0.5),
                percentile(&spread, 0.99),
            );
        }
        // Changes made up to 2 s before the window's end have had time to reach every session.
        let checked = self.changes.values().filter(|change| change.changed_at + 2_000 <= window_end);
        let (mut expected, mut delivered, mut complete, mut count) = (0, 0, 0, 0);
        for change in checked {
            let sessions = self.sessions_per_tenant[change.tenant];
            expected += sessions;
            delivered += change.deliveries.min(sessions);
            complete += usize::from(change.deliveries >= sessions);
            count += 1;
        }
        println!(
            "delivered: {delivered} of {expected} expected ({:.3}%); {complete} of {count} changes reached every session of their tenant; lagged {}, reset {}, keep-alives {}, sessions closed {}; {} open at the end (per tenant {:?})",
            100.0 * delivered as f64 / expected.max(1) as f64,
            self.lagged,
            self.resets,
            self.keep_alives,
            self.closed,
            progress.opened.load(Ordering::Relaxed) - self.closed as usize,
            self.sessions_per_tenant,
        );
    }
}
