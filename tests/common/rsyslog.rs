//! A private rsyslogd for tests: its own configuration in a temporary directory, a unix socket there,
//! UDP and TCP inputs on free 127.0.0.1 ports, every message written byte for byte (`%rawmsg%`) to a
//! file and the fields rsyslog parsed to another. Killed (by pid) when dropped, even on a panic.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use execwatch::output::syslog::{Format, Payload, SyslogConfig, Transport};

pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
/// The longest any wait in this file may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Why a private rsyslogd cannot run here, if it cannot.
pub fn missing() -> Option<String> {
    if !Path::new(RSYSLOGD).exists() {
        Some(format!("{RSYSLOGD} is not installed"))
    } else if !nix::unistd::Uid::effective().is_root() {
        Some("not running as root".to_string())
    } else {
        None
    }
}

/// Whether to run; panics instead of skipping when EXECWATCH_REQUIRE_E2E=1.
pub fn can_run() -> bool {
    match missing() {
        None => true,
        Some(why) if std::env::var("EXECWATCH_REQUIRE_E2E").as_deref() == Ok("1") => {
            panic!("EXECWATCH_REQUIRE_E2E=1 but cannot run the rsyslog test: {why}")
        }
        Some(why) => {
            eprintln!("SKIPPED: syslog_rsyslog: {why}");
            false
        }
    }
}

/// A private rsyslogd, killed (and its directory removed) when dropped, even on a panic.
pub struct Rsyslog {
    pub dir: PathBuf,
    pub udp_port: u16,
    pub tcp_port: u16,
    child: Option<Child>,
}

impl Rsyslog {
    /// A configuration in a new temporary directory; not started.
    pub fn new(name: &str) -> Rsyslog {
        let dir =
            std::env::temp_dir().join(format!("execwatch-rsyslog-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("work")).unwrap();
        // Free ports: bound by the kernel's choice, released, then given to rsyslog.
        let tcp_port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let udp_port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.display();
        let conf = format!(
            r#"global(workDirectory="{d}/work" maxMessageSize="256k")
module(load="imuxsock" SysSock.Use="off")
module(load="imudp")
module(load="imtcp")
input(type="imuxsock" Socket="{d}/log.sock" CreatePath="on" RateLimit.Interval="0" UseSpecialParser="off" ParseHostname="on")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
input(type="imtcp" address="127.0.0.1" port="{tcp_port}")
template(name="raw" type="string" string="%inputname% %rawmsg%\n")
template(name="parsed" type="string" string="%inputname%\t%pri%\t%hostname%\t%app-name%\t%procid%\t%msgid%\t%structured-data%\t%msg%\n")
if $inputname == "rsyslogd" then {{
  action(type="omfile" file="{d}/internal.log")
  stop
}}
*.* action(type="omfile" file="{d}/raw.log" template="raw")
*.* action(type="omfile" file="{d}/parsed.log" template="parsed")
"#
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        Rsyslog {
            dir,
            udp_port,
            tcp_port,
            child: None,
        }
    }

    /// Starts rsyslogd in the foreground and waits until its unix socket and TCP port accept.
    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let sock = self.dir.join("log.sock");
        wait_for("rsyslogd to listen", || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("rsyslogd exited: {status}: {}", self.file("stderr.log"));
            }
            sock.exists() && TcpStream::connect(("127.0.0.1", self.tcp_port)).is_ok()
        });
    }

    /// SIGTERM and wait for the exit (SIGKILL after a few seconds).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The daemon's pid while it runs (for SIGSTOP/SIGCONT).
    pub fn pid(&self) -> Option<nix::unistd::Pid> {
        self.child
            .as_ref()
            .map(|c| nix::unistd::Pid::from_raw(c.id() as i32))
    }

    /// SIGKILL, as a crash: what it had not written yet is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Received messages: (input name, raw message), in arrival order.
    pub fn raw(&self) -> Vec<(String, String)> {
        self.file("raw.log")
            .lines()
            .map(|l| {
                let (input, msg) = l.split_once(' ').unwrap();
                (input.to_string(), msg.to_string())
            })
            .collect()
    }

    pub fn config(&self, transport: Transport, format: Format, payload: Payload) -> SyslogConfig {
        let address = match transport {
            Transport::Unix => self.dir.join("log.sock").display().to_string(),
            Transport::Udp => format!("127.0.0.1:{}", self.udp_port),
            Transport::Tcp => format!("127.0.0.1:{}", self.tcp_port),
        };
        SyslogConfig {
            transport,
            address,
            format,
            payload,
            ..SyslogConfig::default()
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("rsyslog files kept in {}", self.dir.display());
        }
    }
}

/// Polls `done` until it is true, failing after [`DEADLINE`].
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
