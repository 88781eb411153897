//! How the pipeline's threads share the CPU with the query API of the same process.
//!
//! The timely workers and the collector do throughput work with a freshness budget of tens of
//! milliseconds; the API answers a point query in a tenth of one. Where they share few cores the
//! scheduler lets a running thread finish its time slice (EEVDF's base slice, about a millisecond
//! and a half on two cores) before a thread it woke gets the core, and those waits set the API's
//! p99. So the two kinds of thread tell the kernel what they are:
//!
//! - each pipeline thread, as it starts, takes a lower weight ([`RuntimeConfig::nice`] above the
//!   process's `nice`) and the longest time slice the kernel grants (100 ms): it gets every cycle
//!   the API leaves, in long runs, and gives way when an API thread wakes;
//! - each API thread takes a short time slice (0.2 ms): on wake-up it preempts a thread with a
//!   longer one (`sched_setattr`'s `sched_runtime`, Linux 6.12 and later; older kernels keep only
//!   the weights).
//!
//! Threads started from such a thread (librdkafka's) inherit its settings. BENCHMARKS.md ("Query
//! API latency") measures the effect. A kernel that refuses (not Linux, or a policy that forbids
//! it) leaves the thread as it was, said in the log: everything works the same, only without the
//! priority.
//!
//! [`RuntimeConfig::nice`]: super::RuntimeConfig::nice

/// The longest time slice Linux grants a fair-class thread (ns): it clamps to 0.1–100 ms.
const BACKGROUND_SLICE_NS: u64 = 100_000_000;

/// The slice of a latency-sensitive thread (ns): shorter than the default, so it preempts.
const LATENCY_SENSITIVE_SLICE_NS: u64 = 200_000;

/// Makes the calling pipeline thread yield the CPU to the API's: `nice_offset` (0..=19) added to
/// its `nice` (at most 19) and the longest time slice. An offset of 0 leaves the thread as it is.
pub(super) fn run_in_background(nice_offset: i32) {
    if nice_offset == 0 {
        return;
    }
    if let Err(error) =
        os::current_nice().and_then(|nice| os::set_current((nice + nice_offset).min(19), BACKGROUND_SLICE_NS))
    {
        tracing::warn!(%error, "cannot lower the pipeline thread's CPU priority; it competes with the API as an equal");
    }
}

/// Marks the calling thread latency-sensitive (an API thread): a short time slice at its present
/// `nice`, so it preempts the pipeline's threads when it wakes. Call it as the thread starts,
/// e.g. from tokio's `on_thread_start`.
pub fn run_latency_sensitive() {
    if let Err(error) = os::current_nice().and_then(|nice| os::set_current(nice, LATENCY_SENSITIVE_SLICE_NS)) {
        tracing::warn!(%error, "cannot shorten the API thread's time slice; it waits for the pipeline's as an equal");
    }
}

#[cfg(target_os = "linux")]
mod os {
    use std::io::{Error, Result};

    /// The kernel's `struct sched_attr` up to `sched_period` (`SCHED_ATTR_SIZE_VER0`).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        sched_policy: u32,
        sched_flags: u64,
        sched_nice: i32,
        sched_priority: u32,
        /// For `SCHED_OTHER` since Linux 6.12: the thread's time slice (older kernels ignore it).
        sched_runtime: u64,
        sched_deadline: u64,
        sched_period: u64,
    }

    /// The calling thread's `nice` (Linux applies `PRIO_PROCESS` 0 to the calling thread).
    pub(super) fn current_nice() -> Result<i32> {
        // getpriority returns -1 both as a value and on error: errno tells them apart.
        // SAFETY: getpriority takes plain integers and reads no memory of ours.
        let nice = unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, 0)
        };
        let errno = Error::last_os_error();
        if nice == -1 && errno.raw_os_error() != Some(0) { Err(errno) } else { Ok(nice) }
    }

    /// Sets the calling thread's `nice` and time slice (`SCHED_OTHER`).
    pub(super) fn set_current(nice: i32, slice_ns: u64) -> Result<()> {
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            sched_policy: libc::SCHED_OTHER as u32,
            sched_flags: 0,
            sched_nice: nice,
            sched_priority: 0,
            sched_runtime: slice_ns,
            sched_deadline: 0,
            sched_period: 0,
        };
        // SAFETY: `sched_setattr(0, attr, 0)` reads `size` bytes of a valid, initialised
        // `struct sched_attr` (VER0 layout, `repr(C)`) and changes only the calling thread.
        let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if set == 0 { Ok(()) } else { Err(Error::last_os_error()) }
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use std::io::{Error, ErrorKind, Result};

    pub(super) fn current_nice() -> Result<i32> {
        Err(Error::new(ErrorKind::Unsupported, "per-thread scheduling is set on Linux only"))
    }

    pub(super) fn set_current(_nice: i32, _slice_ns: u64) -> Result<()> {
        current_nice().map(drop)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's nice and time slice (ns) as the kernel reports them; the slice as 0
    /// where the kernel takes no custom slices (before Linux 6.12), so only the nice is compared.
    fn current() -> (i32, u64) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut version = release.split(['.', '-']).map(|part| part.parse::<u32>().unwrap_or(0));
        let custom_slices = (version.next().unwrap(), version.next().unwrap()) >= (6, 12);
        let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
        let field = |name: &str| {
            let line = sched.lines().find(|line| line.starts_with(name)).unwrap();
            line.rsplit(':').next().unwrap().trim().parse::<u64>().unwrap()
        };
        (os::current_nice().unwrap(), if custom_slices { field("se.slice") } else { 0 })
    }

    #[test]
    fn pipeline_threads_take_a_lower_weight_and_api_threads_a_shorter_slice() {
        let (nice, slice) = current();
        assert!(nice <= 9, "the test runs at nice {nice}");
        let background = std::thread::spawn(|| {
            run_in_background(10);
            current()
        });
        let expected_slice = |custom: u64| if slice == 0 { 0 } else { custom };
        assert_eq!(background.join().unwrap(), (nice + 10, expected_slice(BACKGROUND_SLICE_NS)));
        let latency_sensitive = std::thread::spawn(|| {
            run_latency_sensitive();
            current()
        });
        assert_eq!(latency_sensitive.join().unwrap(), (nice, expected_slice(LATENCY_SENSITIVE_SLICE_NS)));
        let equal = std::thread::spawn(|| {
            run_in_background(0);
            current()
        });
        assert_eq!(equal.join().unwrap(), (nice, slice), "an offset of 0 changes nothing");
        assert_eq!(current(), (nice, slice), "only the calling threads change");
    }
}
