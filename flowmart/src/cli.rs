//! The command line (`CONTRACT.md` §6): every flag also read from its `FLOWMART_*` variable;
//! flags win over the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::ConfigProblem;

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
    /// Runs the pipeline against Kafka: reads the input topics (Avro through the Schema
    /// Registry), serves the API, publishes reorder alert changes and dead letters. Settings come
    /// from the pipeline file, then the environment, then these flags.
    Run(RunArgs),
    /// Checks a pipeline file, with the environment, as `run` would read it, and names every
    /// problem at once, one line each naming the setting (file key or environment variable):
    /// unknown keys, values of the wrong type, bad addresses, broken rules, unreadable secret or
    /// certificate files, librdkafka properties it does not take. Exit status 78 (EX_CONFIG) if
    /// there is any, 0 if none. Connects to nothing.
    Validate(ValidateArgs),
    /// Applies the database migrations (idempotent) to `DATABASE_URL` / `--database-url`.
    Migrate(MigrateArgs),
    /// Writes the built-in generator's workload to the input topics (Avro in the Confluent wire
    /// format, schemas registered), at a target rate or flat out, with a progress bar.
    Produce(ProduceArgs),
    /// The audit log (README "Audit log"): verify its hash chain, or export a tenant's lineage
    /// and audit records.
    Audit(AuditArgs),
}

/// `flowmart audit …`.
#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// The database, postgres://… (or DATABASE_URL_FILE: a file holding it).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub(crate) database_url: Option<String>,
    #[command(subcommand)]
    pub(crate) command: AuditCommand,
}

/// What to do with the audit log.
#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// Walks the whole chain in seq order: exit 0 when intact (printing the record count and the
    /// last hash), 1 naming the first broken seq and why (a changed field, a deleted record,
    /// records reordered), 2 when the log cannot be read.
    Verify,
    /// Writes a tenant's lineage rows (stock_history, settlement_history, by applied day) and
    /// audit records between two UTC dates, inclusive, streamed from the database. Each line
    /// says which kind of record it is.
    Export(ExportArgs),
}

/// Settings of `flowmart audit export`.
#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The tenant whose records to export.
    #[arg(long)]
    pub(crate) tenant: String,
    /// The first UTC date, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) from: String,
    /// The last UTC date, YYYY-MM-DD (inclusive).
    #[arg(long)]
    pub(crate) to: String,
    /// JSON lines (one object per record, `record` naming its kind) or CSV (one header; the
    /// first column names the kind).
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub(crate) format: ExportFormat,
    /// Where to write it [default: stdout].
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
}

/// The export's format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header.
    Csv,
}

/// Settings of `flowmart run` (each also in the pipeline file and the environment).
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The pipeline file (TOML); see flowmart/flowmart.toml.
    #[arg(long, env = "FLOWMART_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Kafka bootstrap servers [kafka.brokers, FLOWMART_BROKERS].
    #[arg(long)]
    pub(crate) brokers: Option<String>,
    /// Schema Registry URL [kafka.schema_registry_url, FLOWMART_SCHEMA_REGISTRY_URL].
    #[arg(long)]
    pub(crate) schema_registry: Option<String>,
    /// API listen address [api.listen, FLOWMART_LISTEN].
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// Timely worker threads [runtime.workers, FLOWMART_WORKERS].
    #[arg(long)]
    pub(crate) workers: Option<String>,
    /// Where partitions without stored progress start: earliest, latest or an RFC 3339 time
    /// [kafka.start, FLOWMART_START].
    #[arg(long)]
    pub(crate) start: Option<String>,
    /// Results database, postgres://… [postgres.database_url, DATABASE_URL].
    #[arg(long)]
    pub(crate) database_url: Option<String>,
    /// Processes forming one timely cluster [cluster.processes, FLOWMART_PROCESSES].
    #[arg(long)]
    pub(crate) processes: Option<String>,
    /// This process's index in the cluster, from 0 [cluster.process_index, FLOWMART_PROCESS_INDEX].
    #[arg(long)]
    pub(crate) process_index: Option<String>,
    /// The peers file: line i is process i's `<timely host:port> <api url>` [cluster.peers,
    /// FLOWMART_PEERS].
    #[arg(long)]
    pub(crate) peers: Option<String>,
}

/// Settings of `flowmart migrate`.
#[derive(Args, Debug)]
pub(crate) struct MigrateArgs {
    /// The database, postgres://… (or DATABASE_URL_FILE: a file holding it).
    #[arg(long, env = "DATABASE_URL")]
    pub(crate) database_url: Option<String>,
}

impl RunArgs {
    /// The flags given, as configuration keys (they win over the file and the environment).
    pub(crate) fn flags(&self) -> Vec<(&'static str, String)> {
        [
            ("kafka.brokers", &self.brokers),
            ("kafka.schema_registry_url", &self.schema_registry),
            ("api.listen", &self.listen),
            ("runtime.workers", &self.workers),
            ("kafka.start", &self.start),
            ("postgres.database_url", &self.database_url),
            ("cluster.processes", &self.processes),
            ("cluster.process_index", &self.process_index),
            ("cluster.peers", &self.peers),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.clone().map(|value| (key, value)))
        .collect()
    }
}

/// Settings of `flowmart validate`.
#[derive(Args, Debug)]
pub(crate) struct ValidateArgs {
    /// The pipeline file to check.
    pub(crate) file: PathBuf,
}

/// Settings of `flowmart produce`.
#[derive(Args, Debug)]
pub(crate) struct ProduceArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "FLOWMART_BROKERS")]
    pub(crate) brokers: String,
    /// Schema Registry URL.
    #[arg(long, env = "FLOWMART_SCHEMA_REGISTRY_URL")]
    pub(crate) schema_registry: String,
    /// Records to write, over all topics.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) records: u64,
    /// Records per second; flat out when not given.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) rate: Option<u64>,
    /// Create missing input topics with this many partitions.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) create_topics: Option<u32>,
    /// Generator partitions (a tenant's records stay on one; each goes to partition p mod the topic's).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(crate) partitions: u32,
    /// Number of generated tenants.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) tenants: u32,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
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
    /// Seconds of pipeline time that event ids, orders after their last change and resolved
    /// alerts are kept, all three [default: the `[retention]` defaults, 7, 90 and 1 days]. A
    /// short one brings memory to its steady state within minutes (flowmart/benches/steady_memory.rs).
    #[arg(long, env = "FLOWMART_DEMO_RETENTION_SECONDS", value_parser = clap::value_parser!(u64).range(1..=3_153_600_000))]
    pub(crate) retention_seconds: Option<u64>,
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

/// Prints each configuration problem on its own line; the exit status for bad configuration.
pub(crate) fn report(problems: &[ConfigProblem]) -> ExitCode {
    for problem in problems {
        eprintln!("flowmart: bad configuration: {problem}");
    }
    ExitCode::from(EX_CONFIG)
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
