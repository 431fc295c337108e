//! The `execwatch` command line.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use execwatch::agent::{self, AgentOptions};
use execwatch::event::time::Millis;
use execwatch::replay::{self, Emit, Format, Options, ReplayError};
use execwatch::rule::set::rule_files;
use execwatch::rule::{Rule, RuleSet};
use execwatch::source::audit::follower::StartAt;
use execwatch::source::audit::reader::Input;

/// Detects malicious process executions from auditd's log and /proc with Elastic EQL rules.
#[derive(Debug, Parser)]
#[command(name = "execwatch", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the agent in the foreground: follows audit.log and prints alerts as NDJSON to stdout.
    ///
    /// On start it reads back as far as the rules look (9 minutes for the built-in rule), so an exec
    /// just before the start is still seen. Stops on SIGINT or SIGTERM. Log messages go to stderr
    /// (set EXECWATCH_LOG=debug for more).
    Run(RunArgs),
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
    /// A rule file or a folder of *.toml rule files (repeatable). Without it, the built-in rules.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// The audit log to follow.
    #[arg(long, value_name = "PATH", default_value = agent::DEFAULT_AUDIT_LOG)]
    audit_log: PathBuf,
    /// Start at the end of the log instead of looking back as far as the rules do.
    #[arg(long)]
    from_end: bool,
    /// How often to look for new lines when the log is idle, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    poll_interval_ms: u64,
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

fn run_agent(args: RunArgs) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EXECWATCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .init();
    let rules = match load_rules(&args.rules) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("execwatch: cannot handle signal {signal}: {e}");
            return ExitCode::from(1);
        }
    }
    let start = if args.from_end {
        StartAt::End
    } else {
        let lookback = u64::try_from(rules.lookback().as_millis()).unwrap_or(u64::MAX);
        StartAt::Since(Millis::now().0.saturating_sub(lookback))
    };
    let options = AgentOptions {
        audit_log: args.audit_log,
        start,
        poll_interval: Duration::from_millis(args.poll_interval_ms.max(1)),
    };
    tracing::info!(
        rules = rules.len(),
        log = %options.audit_log.display(),
        lookback_s = rules.lookback().as_secs(),
        "execwatch {} started",
        env!("CARGO_PKG_VERSION")
    );
    let stdout = io::stdout();
    let mut out = io::LineWriter::new(stdout.lock());
    match agent::run(&options, &rules, &mut out, &stop) {
        Ok(stats) => {
            tracing::info!(
                lines = stats.lines,
                events = stats.events,
                alerts = stats.alerts,
                bad_lines = stats.bad_lines,
                bad_events = stats.bad_events,
                "execwatch stopped"
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
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
