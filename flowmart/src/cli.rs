//! The command line (`CONTRACT.md` §6): every flag also read from its `FLOWMART_*` variable;
//! flags win over the environment.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand};

/// EX_CONFIG from sysexits.h: a setting is wrong.
const EX_CONFIG: u8 = 78;
/// EX_USAGE from sysexits.h: the command line is wrong.
const EX_USAGE: u8 = 64;

/// FlowMart Streams: live stock levels, reorder alerts and settlement totals for a B2B
/// marketplace, computed incrementally from its order, inventory and payment events.
///
/// With no subcommand, runs `flowmart demo` (its options may be given directly).
#[derive(Parser, Debug)]
#[command(name = "flowmart", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

/// What to run.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// The embedded demo: a built-in multi-tenant event generator feeds the pipeline, and the
    /// query API serves the live results. Prints the API address, the admin token and a curl
    /// line with a demo tenant's key, then one live progress line until Ctrl-C.
    Demo(DemoArgs),
}

/// Settings of `flowmart demo`.
#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Address the API listens on.
    #[arg(long, env = "FLOWMART_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// Timely worker threads [default: the machine's cores].
    #[arg(long, env = "FLOWMART_WORKERS", value_parser = parse_workers)]
    pub(crate) workers: Option<usize>,
    /// Generated records per second, over all tenants.
    #[arg(long, env = "FLOWMART_DEMO_RATE", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) rate: u64,
    /// Number of generated tenants.
    #[arg(long, env = "FLOWMART_DEMO_TENANTS", default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) tenants: u32,
    /// Seed of the generator: the same seed generates the same records.
    #[arg(long, env = "FLOWMART_DEMO_SEED", default_value_t = 42)]
    pub(crate) seed: u64,
}

fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(workers) if (1..=1024).contains(&workers) => Ok(workers),
        _ => Err(format!("must be a whole number from 1 to 1024, got {text:?}")),
    }
}

/// Parses the command line; on a bad one, prints what is wrong and returns the exit status.
pub(crate) fn parse() -> Result<Command, ExitCode> {
    let parsed = Cli::try_parse().map(|cli| cli.command.unwrap_or(Command::Demo(cli.demo)));
    parsed.map_err(|error| match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            eprintln!("flowmart: bad configuration: {}", describe_bad_value(&error));
            ExitCode::from(EX_CONFIG)
        }
        _ => {
            let _ = error.print();
            ExitCode::from(EX_USAGE)
        }
    })
}

/// One line naming the setting — the flag, and its environment variable when that is where the
/// value came from — and what is wrong with it.
fn describe_bad_value(error: &clap::Error) -> String {
    let flag = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(flag)) => flag.clone(),
        _ => return error.to_string().lines().next().unwrap_or_default().to_string(),
    };
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.clone(),
        _ => String::new(),
    };
    let long = flag.split_whitespace().next().unwrap_or(&flag).trim_start_matches("--").to_string();
    let command = Cli::command();
    let env = command
        .get_arguments()
        .chain(command.get_subcommands().flat_map(|subcommand| subcommand.get_arguments()))
        .find(|argument| argument.get_long() == Some(long.as_str()))
        .and_then(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned());
    let source = match env {
        Some(name) if std::env::var(&name).is_ok_and(|set| set == value) => format!("{name} (--{long})"),
        _ => format!("--{long}"),
    };
    let reason = error.to_string();
    let reason = reason.lines().next().unwrap_or_default().trim_start_matches("error: ");
    format!("{source}: {reason}")
}
