//! A panic on a pipeline thread (a timely worker, the collector, a sink it calls) fails the
//! pipeline, with one line saying where, instead of leaving a live API over frozen data.
//!
//! Each pipeline thread registers the status it reports to; one process-wide panic hook looks the
//! panicking thread up and records the panic there (keeping other threads' panics as they were).
//! Whoever watches the status (`flowmart run` and `demo` check it twice a second) then stops the
//! process with a non-zero status: the pipeline cannot go on without the thread.

use std::cell::RefCell;
use std::panic::PanicHookInfo;
use std::sync::{Arc, Once};

use crate::status::PipelineStatus;

thread_local! {
    /// The pipeline this thread works for, and what it is called in messages.
    static SUPERVISED: RefCell<Option<(Arc<PipelineStatus>, String)>> = const { RefCell::new(None) };
}

/// Makes a panic on this thread fail `status`, naming the thread as `role`.
pub(crate) fn supervise(status: &Arc<PipelineStatus>, role: String) {
    install_hook();
    SUPERVISED.with(|supervised| *supervised.borrow_mut() = Some((Arc::clone(status), role)));
}

fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let supervised = SUPERVISED.with(|supervised| supervised.borrow().clone());
            match supervised {
                Some((status, role)) => status.panicked(format!("{role} panicked: {}", describe(info))),
                None => previous(info),
            }
        }));
    });
}

/// `message (at file:line)`.
fn describe(info: &PanicHookInfo<'_>) -> String {
    let message = info
        .payload()
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| info.payload().downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    match info.location() {
        Some(location) => format!("{message} (at {}:{})", location.file(), location.line()),
        None => message.to_string(),
    }
}
