//! Processes that stand for services of their own (a broker, the pipeline under test) run each
//! in a session of its own. Linux's autogroup schedules a session as one group, so a process's
//! `nice` ranks its threads against its own only, as a container's or a service's cgroup does.
//! In one session the pipeline's threads (`runtime.nice` 10) would get about a tenth of what a
//! busy broker at `nice` 0 beside them gets, which no deployment gives them.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `command` start its process in a session of its own.
pub fn in_own_session(command: &mut Command) -> &mut Command {
    // SAFETY: runs in the child between fork and exec; setsid is async-signal-safe and touches
    // no memory.
    unsafe { command.pre_exec(|| rustix::process::setsid().map(drop).map_err(std::io::Error::from)) }
}
