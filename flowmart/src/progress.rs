//! The demo's live progress line.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flowmart_runtime::PipelineStatus;
use flowmart_serving::ServingIndex;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Redraws one status line (or, when stderr is not a terminal, logs one every few seconds).
pub(crate) struct ProgressLine {
    bar: ProgressBar,
    last: (Instant, u64),
    last_logged: Instant,
}

impl ProgressLine {
    pub(crate) fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        ProgressLine { bar, last: (Instant::now(), 0), last_logged: Instant::now() }
    }

    /// Refreshes the line from the pipeline's counters and the index.
    pub(crate) fn update(&mut self, status: &PipelineStatus, index: &ServingIndex) {
        let (now, records) = (Instant::now(), status.records());
        let rate = (records - self.last.1) as f64 / now.duration_since(self.last.0).as_secs_f64().max(1e-3);
        self.last = (now, records);
        let snapshot = index.snapshot();
        let positions: usize = snapshot.tenants.values().map(|tenant| tenant.stock.len()).sum();
        let open_alerts: usize = snapshot.tenants.values().map(|tenant| tenant.open_alerts).sum();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64);
        let lag = wall.saturating_sub(snapshot.as_of);
        let line = format!(
            "{rate:>8.0} events/s | {records} read | {positions} positions | {open_alerts} open alerts | {} dead letters | as_of {lag} ms ago",
            status.dead_letters()
        );
        if self.bar.is_hidden() {
            if self.last_logged.elapsed() >= Duration::from_secs(5) {
                tracing::info!("{line}");
                self.last_logged = Instant::now();
            }
        } else {
            self.bar.set_message(line);
            self.bar.tick();
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
