//! The agent on a file log that a test writes, for the hostile-input, fault and load tests: the seed
//! fixture and its expectations, record times moved into the rules' lookback, a scratch folder and an
//! agent child process that are cleaned up when dropped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_execwatch");

/// A rule that alerts on every exec carrying the marker argument.
pub const MARKER_RULE: &str = r#"[rule]
name = "execwatch test marker"
rule_id = "00000000-0000-4000-8000-00000000e2e0"
type = "eql"
language = "eql"
severity = "low"
risk_score = 1
max_signals = 100000
query = 'process where process.args == "execwatch-e2e-marker"'
"#;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The seed fixture's lines (with their newlines).
pub fn seed_lines() -> Vec<Vec<u8>> {
    std::fs::read(fixture("audit/seed-rule.log"))
        .unwrap()
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// An alert as the tests compare it: (process.name, process.args).
pub type NameArgs = (String, Vec<String>);

/// (process.name, process.args) of the seed fixture's expected alerts, in order.
pub fn seed_expected() -> Vec<NameArgs> {
    let list: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture("audit/seed-rule.expected.json")).unwrap(),
    )
    .unwrap();
    list.iter()
        .filter(|e| e["alert"] == true)
        .map(|e| {
            let args = e["args"].as_array().unwrap().iter();
            (
                e["process_name"].as_str().unwrap().to_string(),
                args.map(|a| a.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect()
}

/// Adds `by` seconds to every `msg=audit(SECONDS.` in `data`; bytes are kept as they are (the
/// hostile material is not UTF-8), and a timestamp that is not 10 digits is left alone.
pub fn shift_times(data: &[u8], by: i64) -> Vec<u8> {
    const TAG: &[u8] = b"msg=audit(";
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some(i) = memchr::memmem::find(rest, TAG) {
        let start = i + TAG.len();
        out.extend_from_slice(&rest[..start]);
        rest = &rest[start..];
        if rest.len() > 10 && rest[..10].iter().all(u8::is_ascii_digit) && rest[10] == b'.' {
            let secs: i64 = std::str::from_utf8(&rest[..10]).unwrap().parse().unwrap();
            out.extend_from_slice((secs + by).to_string().as_bytes());
            rest = &rest[10..];
        }
    }
    out.extend_from_slice(rest);
    out
}

/// The shift that moves the seed fixture's first record to a minute ago.
pub fn seed_shift() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now - 60 - 1_795_805_224
}

pub fn append(path: &Path, data: &[u8]) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(data)
        .unwrap();
}

/// The complete lines of an NDJSON file. A line not yet ended by `\n` is being written by the agent
/// right now (a reader can see part of a `write` to a regular file): it is left for the next read.
pub fn read_ndjson(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one alert per line: {e}: {l:.200}"))
        })
        .collect()
}

pub fn name_args(alerts: &[Value]) -> Vec<NameArgs> {
    alerts
        .iter()
        .map(|a| {
            let args = a["process"]["args"].as_array().unwrap().iter();
            (
                a["process"]["name"].as_str().unwrap().to_string(),
                args.map(|x| x.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect()
}

/// How long an agent following the host's audit.log may take to read its backlog on start-up. The
/// debug build reads about 100,000 lines a second; the deadline is for a hung agent, not a slow one.
pub const CATCH_UP_DEADLINE: Duration = Duration::from_secs(300);

/// The last 40 lines of an agent's log, for a failure message.
pub fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Polls `done` every 20 ms; false when `deadline` passed first.
pub fn wait_until(deadline: Duration, mut done: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while !done() {
        if t.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// A scratch folder, removed when dropped (kept, and named, when the test failed).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("execwatch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("rules")).unwrap();
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("rules/execution_python_webserver_spawned.toml"),
            d.join("rules/seed.toml"),
        )
        .unwrap();
        std::fs::write(d.join("rules/marker.toml"), MARKER_RULE).unwrap();
        Scratch(d)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What an agent configuration may vary.
pub struct AgentConfig {
    pub audit_log: PathBuf,
    pub alerts: PathBuf,
    /// `None`: syslog off; else a TCP `host:port`.
    pub syslog_tcp: Option<String>,
    pub procfs: bool,
}

impl AgentConfig {
    pub fn file_log(dir: &Path) -> AgentConfig {
        AgentConfig {
            audit_log: dir.join("audit.log"),
            alerts: dir.join("alerts.ndjson"),
            syslog_tcp: None,
            procfs: false,
        }
    }

    pub fn write(&self, dir: &Path) -> PathBuf {
        let syslog = match &self.syslog_tcp {
            Some(a) => format!("[outputs.syslog]\ntransport = \"tcp\"\naddress = \"{a}\"\n"),
            None => "[outputs.syslog]\nenabled = false\n".into(),
        };
        let text = format!(
            "[rules]\npaths = [\"{d}/rules\"]\n[sources.audit]\npath = \"{log}\"\npoll_interval_ms = 10\n\
             [sources.procfs]\nenabled = {procfs}\n[outputs.json]\npath = \"{alerts}\"\n{syslog}\
             [state]\ndir = \"{d}/state\"\n[health]\nstats_interval_s = 1\n",
            d = dir.display(),
            log = self.audit_log.display(),
            alerts = self.alerts.display(),
            procfs = self.procfs,
        );
        let path = dir.join("execwatch.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// The agent as a child process, its log in `DIR/agent.log`; SIGKILLed if still running when dropped.
pub struct Agent {
    pub child: Child,
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl Agent {
    /// Starts the agent with `DIR/execwatch.toml` (written by [`AgentConfig::write`]); the log is appended
    /// to, so several runs in one folder keep one log.
    pub fn spawn(dir: &Path) -> Agent {
        let config = dir.join("execwatch.toml");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agent.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .env("EXECWATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Agent {
            child,
            dir: dir.to_path_buf(),
            config,
        }
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.join("agent.log")).unwrap_or_default())
            .into_owned()
    }

    /// Waits for the agent to say it runs.
    pub fn wait_running(&self) {
        assert!(
            wait_until(Duration::from_secs(20), || self
                .log()
                .contains(" running rules=")),
            "the agent did not start: {}",
            self.log()
        );
    }

    /// Waits for the agent to have read the audit log's backlog: a first start reads back as far as
    /// the rules look (9 minutes), which on a host that just ran an exec storm is a few hundred
    /// thousand records, and alerts about new execs come after them.
    pub fn wait_caught_up(&self) {
        assert!(
            wait_until(CATCH_UP_DEADLINE, || self.log().contains("caught up with ")),
            "the agent did not catch up with the audit log in {CATCH_UP_DEADLINE:?}: {}",
            log_tail(&self.log())
        );
    }

    /// The counters of the status file the agent writes every second.
    pub fn counters(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("state/status.json")).unwrap_or_default();
        serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)["counters"].clone()
    }

    /// Waits until a status counter reaches `at_least`; returns the counters.
    pub fn wait_counter(&self, name: &str, at_least: u64) -> Value {
        let ok = wait_until(Duration::from_secs(30), || {
            self.counters()[name].as_u64().unwrap_or(0) >= at_least
        });
        let c = self.counters();
        assert!(ok, "{name} never reached {at_least}: {c}\n{}", self.log());
        c
    }

    /// SIGTERM; asserts a clean exit within `within`. Returns the agent's log.
    pub fn stop_within(mut self, within: Duration) -> String {
        nix::sys::signal::kill(self.pid(), nix::sys::signal::Signal::SIGTERM).unwrap();
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = self.log();
                assert!(status.success(), "agent exit {status}: {log}");
                return log;
            }
            assert!(
                t.elapsed() < within,
                "the agent did not stop within {within:?} of SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether root-only parts of a test can run: skips with the reason, or fails when
/// `EXECWATCH_REQUIRE_E2E=1`.
pub fn require(test: &str, missing: Option<String>) -> bool {
    match missing {
        None => true,
        Some(why) if std::env::var("EXECWATCH_REQUIRE_E2E").as_deref() == Ok("1") => {
            panic!("EXECWATCH_REQUIRE_E2E=1 but {test} cannot run: {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED: {test}: {why}");
            false
        }
    }
}
