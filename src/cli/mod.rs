//! The command line: argument parsing, logging set-up and dispatch to the subcommands.

mod events;
mod oneshot;
mod status;
mod table;

use crate::config::{self, Config, ConfigError};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "pulsewatch",
    version,
    about = "Tells whether each AI agent on this host is alive, quiet, stalled or orphaned",
    long_about = "Tells, passively and at once, whether each AI agent on this host is alive, quiet, \
stalled or orphaned, by watching its session log's mtime and its process.\n\n\
Config lookup: -c FILE, $PULSEWATCH_CONFIG, $XDG_CONFIG_HOME/pulsewatch/pulsewatch.toml, \
/etc/pulsewatch/pulsewatch.toml, then the embedded default (`pulsewatch config default`)."
)]
pub struct Cli {
    /// Config file (overrides the lookup order)
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace); RUST_LOG overrides
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Format of the daemon's own log on stderr
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon in the foreground (exit 0 on SIGTERM/SIGINT, 2 bad config, 1 fatal error)
    Run,
    /// Discover, probe and classify once; print a table (exit 0, 2 bad config)
    Once {
        /// Print the status document (JSON) instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show the running daemon's status from its status file (exit 1 when missing or stale)
    Status {
        /// Print the status document (JSON)
        #[arg(long)]
        json: bool,
        /// Refresh every second until interrupted
        #[arg(long)]
        watch: bool,
    },
    /// Nagios plugin: probe now, print one line with perfdata (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)
    Check {
        /// Report quiet workers as WARNING (exit 1)
        #[arg(long)]
        warn_quiet: bool,
        /// Only these workers (all when none given)
        #[arg(value_name = "WORKER")]
        workers: Vec<String>,
    },
    /// Validate the config or print the embedded default
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Read the event log
    Events {
        /// Keep printing new events as they are appended
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only events of this worker
        #[arg(long, value_name = "ID")]
        worker: Option<String>,
        /// Print the raw ndjson lines
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Validate, print the resolved settings and the workers discovered now (exit 0, 2)
    Check,
    /// Print the embedded default config
    Default,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match &cli.command {
        Command::Config { action: ConfigAction::Default } => {
            print!("{}", config::DEFAULT_CONFIG);
            ExitCode::SUCCESS
        }
        Command::Config { action: ConfigAction::Check } => with_config(&cli, 2, oneshot::config_check),
        Command::Run => with_config(&cli, 2, |cfg| match crate::daemon::run(cfg, cli.config.clone()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("pulsewatch: {e}");
                ExitCode::from(1)
            }
        }),
        Command::Once { json } => with_config(&cli, 2, |cfg| oneshot::once(cfg, *json)),
        Command::Check { warn_quiet, workers } => with_config(&cli, 3, |cfg| oneshot::check(cfg, *warn_quiet, workers)),
        Command::Status { json, watch } => with_config(&cli, 1, |cfg| status::status(&cfg, *json, *watch)),
        Command::Events { follow, worker, json } => {
            with_config(&cli, 2, |cfg| events::events(&cfg, *follow, worker.as_deref(), *json))
        }
    }
}

/// Loads the config or exits with `bad_config_code` and a message naming file, line and key.
fn with_config(cli: &Cli, bad_config_code: u8, f: impl FnOnce(Config) -> ExitCode) -> ExitCode {
    match config::load(cli.config.as_deref()) {
        Ok(cfg) => f(cfg),
        Err(e) => {
            report_config_error(&e, bad_config_code);
            ExitCode::from(bad_config_code)
        }
    }
}

fn report_config_error(e: &ConfigError, code: u8) {
    if code == 3 {
        println!("PULSEWATCH UNKNOWN - bad config: {e}");
    } else {
        eprintln!("pulsewatch: bad config: {e}");
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("pulsewatch={level},warn")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
