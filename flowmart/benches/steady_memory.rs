//! Whether the whole process's memory stays flat once its retention window is full: `flowmart
//! demo` (the built-in generator → pipeline → serving index and API, no database) at `RATE`
//! records/s (default 50,000) with every retention shortened to `RETENTION` seconds (default 120;
//! `--retention-seconds`: event ids, orders after their last change, resolved alerts), its RSS
//! (`/proc/<pid>/status`) and records consumed (`/metrics`, `flowmart_records_consumed_total` per
//! topic) sampled every second.
//!
//! The window is warm once every retention has passed 1⅛ times (the dedupe drops its ids in runs
//! of ⅛ of the retention, so it remembers between 1 and 1⅛ retentions of ids) plus 15 s; the
//! steady part is the `DURATION` seconds after that (default 90). It reports the RSS at the start
//! of the steady part, its least and most during it and whether they are within 10% of each
//! other, the rate the pipeline consumed at, the event ids remembered (inventory and payment
//! records consumed in the last retention: only those two topics are deduplicated by event id),
//! and the bytes per remembered id two ways: the whole process's RSS over them, and the RSS the
//! warm-up added (from 10 s after start, when every position is live, to warm) over the ids it
//! added — the second includes the orders kept within the same retention, which fill alongside.
//!
//! `cargo bench -p flowmart --bench steady_memory` (about 4.5 minutes with the defaults);
//! `RATE=5000 RETENTION=30 DURATION=60` for a quicker look.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The topics deduplicated by event id (the demo's default topic names).
const DEDUPED_TOPICS: [&str; 2] = ["flowmart.inventory", "flowmart.payments"];

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|text| text.parse().ok()).unwrap_or(default)
}

/// The demo, killed when the benchmark ends however it ends.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One second's reading.
#[derive(Clone, Copy)]
struct Sample {
    /// Seconds since the demo started.
    at: f64,
    rss: u64,
    /// Records consumed, every topic.
    consumed: u64,
    /// Records consumed on the deduplicated topics.
    deduped: u64,
}

/// The resident set size of process `pid`, in bytes; `None` once it is gone.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

/// The body of `GET /metrics` on `port`, `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Records consumed, in all and on the deduplicated topics, from a `/metrics` body.
fn consumed(metrics: &str) -> (u64, u64) {
    let mut all = 0;
    let mut deduped = 0;
    for line in metrics.lines().filter(|line| line.starts_with("flowmart_records_consumed_total{")) {
        let Some(count) = line.rsplit_once(' ').and_then(|(_, count)| count.parse::<f64>().ok()) else { continue };
        all += count as u64;
        if DEDUPED_TOPICS.iter().any(|topic| line.contains(&format!("topic=\"{topic}\""))) {
            deduped += count as u64;
        }
    }
    (all, deduped)
}

/// A free port on localhost.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// The sample nearest to `at` seconds.
fn nearest(samples: &[Sample], at: f64) -> Sample {
    *samples.iter().min_by(|a, b| (a.at - at).abs().total_cmp(&(b.at - at).abs())).expect("at least one sample")
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

fn main() {
    let rate = setting("RATE", 50_000);
    let retention = setting("RETENTION", 120);
    let steady = setting("DURATION", 90);
    let warm = retention as f64 * 9.0 / 8.0 + 15.0;
    let end = warm + steady as f64;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("steady_memory-{}.log", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_flowmart"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}"), "--rate", &rate.to_string()])
        .args(["--retention-seconds", &retention.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file in the temporary directory"))
        .spawn()
        .expect("the flowmart binary starts");
    let demo = Demo(child);
    let pid = demo.0.id();
    println!(
        "flowmart demo --rate {rate} --retention-seconds {retention}: warm after {warm:.0} s, then {steady} s steady"
    );

    let started = Instant::now();
    let mut samples = Vec::<Sample>::new();
    let mut next = started;
    while started.elapsed().as_secs_f64() < end {
        next += Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let Some(rss) = rss(pid) else {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the demo exited after {:.0} s; its log:\n{log}", started.elapsed().as_secs_f64());
        };
        let Some((consumed, deduped)) = scrape(port).as_deref().map(consumed) else { continue };
        let sample = Sample { at: started.elapsed().as_secs_f64(), rss, consumed, deduped };
        if samples.len().is_multiple_of(15) {
            println!(
                "  {:>4.0} s  RSS {:>7.1} MiB  {:>10} records consumed ({} deduplicated)",
                sample.at,
                mib(rss),
                consumed,
                deduped
            );
        }
        samples.push(sample);
    }
    drop(demo);
    let _ = std::fs::remove_file(&log);

    let steady_part: Vec<Sample> = samples.iter().copied().filter(|sample| sample.at >= warm).collect();
    let (first, last) = (steady_part[0], *steady_part.last().expect("steady samples"));
    let least = steady_part.iter().map(|sample| sample.rss).min().expect("steady samples");
    let most = steady_part.iter().map(|sample| sample.rss).max().expect("steady samples");
    let spread = (most - least) as f64 / least as f64;
    let consumed_rate = (last.consumed - first.consumed) as f64 / (last.at - first.at);
    // Ids remembered: those counted within the last retention (at least; up to ⅛ more await
    // their run's expiry).
    let remembered = |at: Sample| {
        let since = at.at - retention as f64;
        at.deduped - if since <= 0.0 { 0 } else { nearest(&samples, since).deduped }
    };
    let mean_remembered =
        steady_part.iter().map(|&sample| remembered(sample)).sum::<u64>() as f64 / steady_part.len() as f64;
    let mean_rss = steady_part.iter().map(|sample| sample.rss).sum::<u64>() as f64 / steady_part.len() as f64;
    let live = nearest(&samples, 10.0);
    let warm_sample = first;
    println!();
    println!(
        "steady part {:.0}-{:.0} s: RSS at its start {:.1} MiB, least {:.1} MiB, most {:.1} MiB: spread {:.1}% ({})",
        first.at,
        last.at,
        mib(first.rss),
        mib(least),
        mib(most),
        spread * 100.0,
        if spread <= 0.10 { "flat within 10%" } else { "NOT flat within 10%" },
    );
    println!(
        "consumed {consumed_rate:.0} records/s during it ({:.0}% of the {rate} asked); RSS {:+.1} MiB from its start to its end",
        consumed_rate / rate as f64 * 100.0,
        (last.rss as f64 - first.rss as f64) / 1048576.0,
    );
    println!(
        "event ids remembered (inventory + payments in the last {retention} s): {mean_remembered:.0} on average over the steady part"
    );
    println!(
        "bytes per remembered id: whole process {:.1} (mean RSS / ids); warm-up {:.1} (RSS {:.1} -> {:.1} MiB from {:.0} s to {:.0} s over {} ids, orders within retention included)",
        mean_rss / mean_remembered,
        (warm_sample.rss as f64 - live.rss as f64) / (remembered(warm_sample) as f64 - remembered(live) as f64),
        mib(live.rss),
        mib(warm_sample.rss),
        live.at,
        warm_sample.at,
        remembered(warm_sample) as i64 - remembered(live) as i64,
    );
}
