//! `flowmart`: the composition root. It owns the settings (file, environment, flags), parses the
//! command line and wires the parts; the work happens in the library crates (the runtime, the
//! connectors, the API).

mod cli;
mod config;
mod demo;
mod produce;
mod progress;
mod run;
mod serve;

use std::process::ExitCode;

/// `flowmart migrate`: the sink's tables and the API's key table.
fn migrate(database_url: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(flowmart_postgres::migrate(database_url))?;
    runtime.block_on(flowmart_api::Store::open(database_url))?;
    println!("the database is up to date");
    Ok(())
}

fn main() -> ExitCode {
    let command = match cli::parse() {
        Ok(command) => command,
        Err(exit) => return exit,
    };
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,flowmart=info")),
    );
    // FLOWMART_LOG_FORMAT=json: one JSON object per line, for log shippers.
    if std::env::var("FLOWMART_LOG_FORMAT").is_ok_and(|format| format == "json") {
        logs.json().init();
    } else {
        logs.init();
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
        cli::Command::Migrate(args) => migrate(&args.database_url),
        cli::Command::Produce(args) => produce::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flowmart: {error:#}");
            ExitCode::FAILURE
        }
    }
}
