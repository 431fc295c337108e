//! The `execwatch` command line.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use execwatch::agent;
use execwatch::replay::{self, Emit, Format, Options, ReplayError};
use execwatch::rule::set::rule_files;
use execwatch::rule::{Rule, RuleSet};
use execwatch::source::audit::reader::Input;

/// mimalloc instead of glibc's malloc: an exec event makes a few dozen small allocations, and glibc's
/// malloc/free (with its fast-bin consolidation) were 15% of a replay's CPU. Measured: -9.5%
/// instructions and -17% to -22% CPU on the 1M-line seed-rule replay (callgrind; benches/replay.py).
/// Built with `no_thp`: on kernels with transparent huge pages in `madvise` mode, mimalloc's eagerly
/// committed arenas otherwise made the idle agent's RSS 24.7 MB instead of 11.6 MB (benches/agent.py).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Detects malicious process executions from auditd's log and /proc with Elastic EQL rules.
#[derive(Debug, Parser)]
#[command(name = "execwatch", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the agent in the foreground: follows audit.log and /proc, writes alerts to the JSON file
    /// and syslog.
    ///
    /// On a first start it reads back as far as the rules look (9 minutes for the built-in rule), so an
    /// exec just before the start is still seen; after that it resumes from its checkpoint. SIGHUP
    /// reloads the configuration and rules and re-opens the alert file; SIGTERM/SIGINT stop it. Log
    /// messages go to stderr (EXECWATCH_LOG=debug for more).
    Run(RunArgs),
    /// Shows the running agent's latest stats (from its state folder).
    Status(StatusArgs),
    /// Replays audit logs (or ECS NDJSON) through the rules and writes NDJSON alerts or events to stdout.
    ///
    /// Files are read in the order given as one stream, so a rotated set
    /// (audit.log.2 audit.log.1 audit.log) keeps events that straddle two files. A summary of lines,
    /// events, alerts and skipped input goes to stderr.
    Replay(ReplayArgs),
    /// Works with rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The configuration file. Without it, /etc/execwatch/execwatch.toml when it exists, else every
    /// default (built-in rules, /var/log/audit/audit.log, alerts to /var/log/execwatch/alerts.ndjson
    /// and /dev/log).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write the agent's pid to FILE (for init systems other than systemd); removed on exit.
    #[arg(long, value_name = "FILE")]
    pidfile: Option<PathBuf>,
    /// Also print each alert as one JSON line on stdout.
    #[arg(long)]
    stdout: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// The configuration file whose state folder holds the status (default as for `run`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the status file as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// A rule file or a folder of *.toml rule files (repeatable). Without it, the built-in rules.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// What to write: one alert per match, or every normalized event.
    #[arg(long, value_enum, default_value_t = EmitArg::Alerts)]
    emit: EmitArg,
    /// What the inputs hold: auditd's audit.log, or one ECS JSON document per line.
    #[arg(long, value_enum, default_value_t = FormatArg::Audit)]
    format: FormatArg,
    /// Input files, in stream order; `-` is stdin.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Validates rule files: one line per rule; exits non-zero if any fails.
    Check {
        /// Rule files or folders of *.toml rule files.
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum EmitArg {
    /// NDJSON alerts.
    Alerts,
    /// Every normalized ECS event.
    Events,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    /// auditd's audit.log (RAW or ENRICHED).
    Audit,
    /// NDJSON ECS documents (dotted or nested keys).
    Ecs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run_agent(args),
        Command::Status(args) => show_status(args),
        Command::Replay(args) => run_replay(args),
        Command::Rules {
            command: RulesCommand::Check { paths },
        } => check_rules(&paths),
    }
}

fn load_rules(paths: &[PathBuf]) -> Result<RuleSet, ExitCode> {
    let rules = if paths.is_empty() {
        RuleSet::builtin()
    } else {
        RuleSet::load(paths)
    };
    rules.map_err(|e| {
        eprintln!("execwatch: {e}");
        ExitCode::from(2)
    })
}

/// The configuration file to use: the one named, else the packaged default when it exists.
fn config_path(named: Option<PathBuf>) -> Option<PathBuf> {
    named.or_else(|| {
        let default = PathBuf::from(execwatch::config::DEFAULT_CONFIG);
        default.exists().then_some(default)
    })
}

fn run_agent(args: RunArgs) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXECWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: under systemd, stderr goes to the journal as plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal())
        .with_writer(io::stderr)
        .init();
    let config_path = config_path(args.config);
    let config = match agent::load_config(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("execwatch: {e}");
            return ExitCode::from(2);
        }
    };
    let signals = agent::Signals::default();
    for (signal, flag) in [
        (signal_hook::consts::SIGINT, &signals.stop),
        (signal_hook::consts::SIGTERM, &signals.stop),
        (signal_hook::consts::SIGHUP, &signals.reload),
    ] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(flag)) {
            eprintln!("execwatch: cannot handle signal {signal}: {e}");
            return ExitCode::from(1);
        }
    }
    if let Some(pidfile) = &args.pidfile {
        if let Err(e) = std::fs::write(pidfile, format!("{}\n", std::process::id())) {
            eprintln!("execwatch: {}: {e}", pidfile.display());
            return ExitCode::from(1);
        }
    }
    let options = agent::RunOptions {
        config_path,
        stdout: args.stdout,
    };
    let result = agent::run(config, options, &signals);
    if let Some(pidfile) = &args.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("execwatch: {e}");
            ExitCode::from(2)
        }
    }
}

fn show_status(args: StatusArgs) -> ExitCode {
    let config = match agent::load_config(config_path(args.config).as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("execwatch: {e}");
            return ExitCode::from(2);
        }
    };
    let status = match agent::health::read_status(&config.state.dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("execwatch: no status: {e} (is the agent running?)");
            return ExitCode::from(3);
        }
    };
    let alive = agent::health::process_alive(status.pid);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&status).unwrap_or_default()
        );
    } else {
        let state = if alive { "running" } else { "not running" };
        println!("execwatch {} (pid {}): {state}", status.version, status.pid);
        println!(
            "started {}, updated {}, {} rules",
            status.started, status.updated, status.rules
        );
        for (k, v) in &status.counters {
            println!("  {k:<22} {v}");
        }
        for w in &status.warnings {
            println!("  warning: {w}");
        }
    }
    if alive {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

fn run_replay(args: ReplayArgs) -> ExitCode {
    let rules = match load_rules(&args.rules) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let options = Options {
        format: match args.format {
            FormatArg::Audit => Format::Audit,
            FormatArg::Ecs => Format::Ecs,
        },
        emit: match args.emit {
            EmitArg::Alerts => Emit::Alerts,
            EmitArg::Events => Emit::Events,
        },
    };
    let inputs: Vec<Input> = args.files.iter().map(|f| Input::from_arg(f)).collect();
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    match replay::replay(&inputs, &rules, options, &mut out) {
        Ok(summary) => {
            eprintln!("execwatch replay: {summary}");
            ExitCode::SUCCESS
        }
        Err(ReplayError::Input {
            input,
            error,
            summary,
        }) => {
            eprintln!("execwatch replay: {summary}");
            eprintln!("execwatch: {input}: {error}");
            ExitCode::from(1)
        }
        Err(ReplayError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("execwatch: {e}");
            ExitCode::from(1)
        }
    }
}

fn check_rules(paths: &[PathBuf]) -> ExitCode {
    let files = match rule_files(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("execwatch: {e}");
            return ExitCode::from(1);
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0usize;
    for file in &files {
        let line = match Rule::from_file(file) {
            Ok(rule) => format!(
                "ok      {}: {} ({} {})",
                file.display(),
                rule.name,
                rule.severity.as_str(),
                rule.risk_score
            ),
            Err(e) => {
                failed += 1;
                format!("FAILED  {e}")
            }
        };
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    let summary = format!(
        "{} rule files, {} ok, {} failed",
        files.len(),
        files.len() - failed,
        failed
    );
    if files.is_empty() {
        eprintln!("execwatch: no rule files (*.toml) found");
        return ExitCode::from(1);
    }
    eprintln!("{summary}");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
