use std::time::{SystemTime, UNIX_EPOCH};

use flowmart_schemas::Time;

/// Pipeline time: wall-clock milliseconds since the epoch, never going backwards.
pub(super) struct PipelineClock {
    last: Time,
}

impl PipelineClock {
    pub(super) fn new() -> Self {
        PipelineClock { last: 0 }
    }

    /// The current pipeline time, at least the last one returned.
    pub(super) fn now(&mut self) -> Time {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as Time);
        self.last = self.last.max(wall);
        self.last
    }
}
