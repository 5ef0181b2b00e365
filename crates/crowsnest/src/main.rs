//! The `crowsnest` binary: command-line parsing, configuration and wiring. The logic lives in
//! the library crates; this crate only turns flags into calls and results into output and exit
//! codes.

mod agent;
mod bench;
mod cli;
mod config;
mod db;
mod registry;
mod scan;
mod server;
mod vm;
mod worker;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc instead of glibc's malloc: under `serve`'s many blocking threads, glibc's arenas
/// spent a third of a list request's CPU in `malloc_consolidate` and `_int_malloc` (perf
/// profile of DescribeImageInstances at 64 connections; figures in the README's load test).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let config = config::Config::load(&cli.global);
    let result = match cli.command {
        Command::Scan(args) => scan::run(&config, *args),
        Command::Db(command) => db::run(&config, command),
        Command::Bench(args) => bench::run(&config, args),
        Command::Serve(args) => server::serve(&config, args),
        Command::Worker(args) => worker::run(&config, args),
        Command::Tenants(command) => server::tenants(&config, command),
        Command::Keys(command) => server::keys(&config, command),
        Command::Dev(command) => server::dev(&config, command),
        Command::Registry(command) => registry::run(&config, command),
        Command::Vm(command) => vm::run(&config, command),
        Command::Agent(args) => agent::run(args),
    };
    match result {
        Ok(code) => code,
        // A reader that stopped early (`| head`) is not an error worth a message.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on, with the stable code first when there is one.
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// An error whose message starts with its stable code, once.
pub(crate) fn coded(code: &str, error: &dyn std::fmt::Display) -> anyhow::Error {
    let text = error.to_string();
    if text.starts_with(code) {
        anyhow::anyhow!(text)
    } else {
        anyhow::anyhow!("{code}: {text}")
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|json| json.io_error_kind() == Some(BrokenPipe))
    })
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CROWSNEST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
