//! A reader of `as_of` for the whole of a scenario: it asks every process's API, over and over,
//! how far the results it serves are complete (`/v1/admin/progress`), and records each time one
//! answered with an older `as_of` than it had already shown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ADMIN;
use super::support::Http;

/// The reader, on a thread of its own until stopped.
pub struct AsOfWatch {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Watched>,
}

/// What the reader saw.
pub struct Watched {
    /// Answers that carried an `as_of`.
    pub reads: u64,
    /// Each time an API answered older than it had shown (once per `as_of` it had shown).
    pub went_back: Vec<WentBack>,
}

/// An API answering with an older `as_of` than it had shown.
#[derive(Debug)]
pub struct WentBack {
    /// Which process's API (as named to `AsOfWatch::start`).
    pub api: String,
    /// Seconds since the watch started.
    pub at_s: f64,
    /// The newest `as_of` it had shown.
    pub shown: u64,
    /// The older one it answered.
    pub answered: u64,
}

impl AsOfWatch {
    /// Starts reading `apis` (names and base URLs) every 20 ms; a process that is down is skipped.
    pub fn start(apis: Vec<(String, String)>) -> AsOfWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || watch(&apis, &stop))
        };
        AsOfWatch { stop, thread }
    }

    /// Stops reading; what was seen.
    pub fn stop(self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the as_of reader")
    }
}

fn watch(apis: &[(String, String)], stop: &AtomicBool) -> Watched {
    let http = Http::new();
    let began = Instant::now();
    let mut shown = vec![0; apis.len()];
    let mut watched = Watched { reads: 0, went_back: Vec::new() };
    while !stop.load(Ordering::Relaxed) {
        for ((name, url), shown) in apis.iter().zip(shown.iter_mut()) {
            let Some((200, progress)) = http.get(&format!("{url}/v1/admin/progress"), ADMIN) else { continue };
            let Some(as_of) = progress["as_of"].as_u64() else { continue };
            watched.reads += 1;
            let reported = |back: &WentBack| back.api == *name && back.shown == *shown;
            if as_of < *shown && !watched.went_back.iter().any(reported) {
                let at_s = began.elapsed().as_secs_f64();
                watched.went_back.push(WentBack { api: name.clone(), at_s, shown: *shown, answered: as_of });
            }
            *shown = (*shown).max(as_of);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    watched
}
