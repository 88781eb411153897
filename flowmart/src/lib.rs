//! `flowmart`: the composition root. It owns the settings (file, environment, flags), parses the
//! command line and wires the parts; the work happens in the library crates (the runtime, the
//! connectors, the API).
//!
//! The binary (`main.rs`) only calls [`main`]. The code lives in this library so that other
//! targets can reach it: the fuzz targets (`fuzz/`) read [`config`], the pipeline file and the
//! peers file being bytes from outside the process.

#![warn(missing_docs)]

mod audit;
mod cli;
pub mod config;
mod demo;
mod produce;
mod progress;
mod run;
mod serve;

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::process::ExitCode;

/// `flowmart migrate`: the sink's tables and the API's key table.
fn migrate(database_url: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(flowmart_postgres::migrate(database_url))?;
    runtime.block_on(flowmart_api::Store::open(database_url))?;
    println!("the database is up to date");
    Ok(())
}

/// `migrate`'s (and `audit`'s) database: `--database-url` or `DATABASE_URL`, else the file `DATABASE_URL_FILE`
/// names.
fn migrate_database_url(given: Option<String>) -> Result<String, config::ConfigProblem> {
    let problem = |setting: &str, problem: String| config::ConfigProblem { setting: setting.into(), problem };
    match (given, std::env::var_os("DATABASE_URL_FILE")) {
        (Some(url), _) => Ok(url),
        (None, Some(file)) => {
            config::read_secret_file(std::path::Path::new(&file)).map_err(|error| problem("DATABASE_URL_FILE", error))
        }
        (None, None) => Err(problem("--database-url", "is required (or DATABASE_URL, or DATABASE_URL_FILE)".into())),
    }
}

/// Whether log lines may carry ANSI colour codes: only when they go to a terminal, and not when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>). Log files,
/// `docker logs`, journald and pipes get plain text.
fn log_colours(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// The `flowmart` command: parses the command line and runs what it names.
pub fn main() -> ExitCode {
    let command = match cli::parse() {
        Ok(command) => command,
        Err(exit) => return exit,
    };
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,flowmart=info")),
    );
    // FLOWMART_LOG_FORMAT=json: one JSON object per line, for log shippers, never coloured.
    if std::env::var("FLOWMART_LOG_FORMAT").is_ok_and(|format| format == "json") {
        logs.json().with_ansi(false).init();
    } else {
        let colours = log_colours(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
        logs.with_ansi(colours).init();
    }
    let result = match command {
        cli::Command::Demo(args) => demo::run(args),
        cli::Command::Run(args) => match crate::config::load(args.config.as_deref(), &args.flags()) {
            Ok(config) => run::run(config),
            Err(problems) => return cli::report(&problems),
        },
        cli::Command::Validate(args) => match crate::config::load(Some(&args.file), &[]) {
            Ok(_) => {
                println!("{} is valid", args.file.display());
                Ok(())
            }
            Err(problems) => return cli::report(&problems),
        },
        cli::Command::Migrate(args) => match migrate_database_url(args.database_url) {
            Ok(url) => migrate(&url),
            Err(problem) => return cli::report(&[problem]),
        },
        cli::Command::Produce(args) => produce::run(args),
        // Its own exit statuses: 1 is a broken chain, 2 a log that cannot be read.
        cli::Command::Audit(args) => return audit::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flowmart: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))), "an empty NO_COLOR is not set");
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        assert!(!log_colours(true, Some(OsStr::new("0"))), "any non-empty value turns colours off");
        assert!(!log_colours(false, None), "a pipe or a file gets no escape codes");
        assert!(!log_colours(false, Some(OsStr::new(""))));
    }
}
