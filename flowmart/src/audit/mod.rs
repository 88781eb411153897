//! `flowmart audit verify|export` (`CONTRACT.md` §6) and the audit record of the configuration a
//! process starts with. The chain itself — canonical JSON, hashing, checking — is
//! `flowmart_api::audit`'s.

mod configuration;
mod csv_row;
mod export;
mod verify;

use std::process::ExitCode;

pub(crate) use configuration::configuration_at_start;

use crate::cli::{AuditArgs, AuditCommand};

/// Exit status when the command could not do its work (unreachable database, no audit log, an
/// unwritable output): 2, apart from 1, which `verify` keeps for a broken chain.
const COULD_NOT_RUN: u8 = 2;

/// Runs `flowmart audit …`; reports on stderr and returns the exit status.
pub(crate) fn run(args: AuditArgs) -> ExitCode {
    let database_url = match crate::migrate_database_url(args.database_url) {
        Ok(url) => url,
        Err(problem) => return crate::cli::report(&[problem]),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("flowmart: cannot start tokio: {error}");
            return ExitCode::from(COULD_NOT_RUN);
        }
    };
    let outcome = match args.command {
        AuditCommand::Verify => runtime.block_on(verify::verify(&database_url)),
        AuditCommand::Export(export) => {
            runtime.block_on(export::export(&database_url, &export)).map(|()| ExitCode::SUCCESS)
        }
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("flowmart: {error:#}");
        ExitCode::from(COULD_NOT_RUN)
    })
}
