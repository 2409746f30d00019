//! The command line: argument parsing, logging set-up and dispatch to the subcommands.

mod attach;
mod detach;
mod events;
mod oneshot;
mod status;
mod table;

use crate::config::{self, Config, ConfigError, TmuxServer};
use clap::{Args, Parser, Subcommand, ValueEnum};
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
    /// Run the daemon in the foreground; SIGHUP reloads the config, systemd is notified when
    /// NOTIFY_SOCKET is set (exit 0 on SIGTERM/SIGINT, 2 bad config, 1 fatal error)
    Run,
    /// Discover, probe and classify once; print a table (exit 0, 2 bad config)
    Once {
        /// Print the status document (JSON) instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show the running daemon's status from its status file (exit 1 when missing or stale, 2 bad config)
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
    /// tmux: pipe pane TARGET into a log (pipe-pane -o) and register it as a worker (exit 0, 1)
    Attach {
        #[command(flatten)]
        server: ServerArgs,
        /// The pane: any target tmux accepts (session, session:window.pane, %id, …)
        target: String,
        /// Worker id (default: the session name, other characters mapped to _)
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Log file (default: <state dir>/logs/<id>.log)
        #[arg(long, value_name = "PATH")]
        log: Option<PathBuf>,
    },
    /// tmux: stop an attached pane's pipe (if it is still ours) and unregister it (exit 0, 1)
    Detach {
        #[command(flatten)]
        server: ServerArgs,
        /// The worker id given or chosen at attach
        id: String,
    },
}

/// Which tmux server, as tmux itself is told: -L or -S, else $TMUX, else the default.
#[derive(Args, Debug)]
pub struct ServerArgs {
    /// tmux socket name (as `tmux -L NAME`)
    #[arg(short = 'L', value_name = "NAME", conflicts_with = "socket")]
    name: Option<String>,
    /// tmux socket path (as `tmux -S PATH`)
    #[arg(short = 'S', value_name = "PATH")]
    socket: Option<PathBuf>,
}

impl ServerArgs {
    fn server(&self) -> Option<TmuxServer> {
        match (&self.name, &self.socket) {
            (Some(n), _) => Some(TmuxServer::Name(n.clone())),
            (None, Some(p)) => Some(TmuxServer::Socket(p.clone())),
            (None, None) => None,
        }
    }
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
    if !matches!(cli.command, Command::Run) {
        die_quietly_on_sigpipe();
    }
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
        Command::Status { json, watch } => with_config(&cli, 2, |cfg| status::status(&cfg, *json, *watch)),
        Command::Events { follow, worker, json } => {
            with_config(&cli, 2, |cfg| events::events(&cfg, *follow, worker.as_deref(), *json))
        }
        Command::Attach { server, target, id, log } => with_config(&cli, 1, |cfg| {
            let server = server.server().unwrap_or(TmuxServer::Default);
            attach::attach(&cfg, server, target, id.as_deref(), log.as_deref())
        }),
        Command::Detach { server, id } => with_config(&cli, 1, |cfg| detach::detach(&cfg, server.server(), id)),
    }
}

/// `pulsewatch events | head` must end quietly, as Unix tools do; Rust ignores SIGPIPE, so
/// print! would panic on the closed pipe instead. The daemon keeps it ignored: a hook that
/// closes its standard input early must not kill it.
fn die_quietly_on_sigpipe() {
    // SAFETY: runs first thing on the main thread, before any other thread exists, and only
    // restores the default disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints a command's outcome: the message on stdout (exit 0) or the error on stderr (exit 1).
fn outcome(command: &str, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pulsewatch {command}: {e}");
            ExitCode::from(1)
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
