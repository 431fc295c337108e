//! The syslog output: each alert as one RFC 5424 (or RFC 3164) message, over the local unix socket,
//! UDP, or TCP with RFC 6587 octet counting.
//!
//! The `syslog` crate's transport was not enough (see docs/design.md): its TCP has no framing, nothing
//! reconnects after a daemon restart, and UDP to a stopped daemon loses messages silently. Here:
//!
//! - [`SyslogOutput::send`] formats the alert on the caller's thread and puts it in a bounded queue. It
//!   never waits on the network: when the queue is full the alert is dropped and counted, and the
//!   drops are logged at most once every 10 seconds.
//! - One sender thread delivers the queue in order. A message leaves the queue only once it has been
//!   handed to the daemon's socket. While the daemon is unreachable the thread reconnects with
//!   exponential backoff (100 ms doubling to 30 s, back to 100 ms after a delivery), and the messages
//!   wait.
//! - TCP frames each message as `LEN SP MSG`, so nothing in a message can split it. Before each write
//!   the connection is checked for a close by the daemon, so a stopped daemon does not swallow the
//!   next message. When a write fails (possibly half done, which breaks the framing of that
//!   connection), the whole message is sent again on the new connection: a daemon that kept the
//!   partial frame may log a truncated copy, and a daemon that took the message just before the
//!   connection broke logs it twice. Messages are never lost while they fit the queue, except what
//!   the daemon itself loses when it is killed with unread data in its socket buffer: plain syslog
//!   has no acknowledgements.
//! - UDP sockets are connected, so a stopped local daemon shows as ECONNREFUSED: the datagram is kept
//!   and retried; reconnection probes with an empty datagram (which daemons ignore) before sending
//!   real ones. For a remote daemon the refusal arrives late, and one datagram per outage can be lost.
//! - Unix: datagram sockets (journald's and rsyslog's `/dev/log`), one message per datagram; a stream
//!   socket at the path is written NUL-terminated records, as glibc's syslog(3) does.
//!   A message larger than a datagram can be is counted in `undeliverable` and dropped.
//!
//! Formatting decisions (PRI mapping, structured data, no BOM, UTC in RFC 3164, CEF fields) are
//! documented in [`format`](mod@format).

pub mod format;
mod queue;
mod transport;

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

pub use format::format_message;

use crate::event::time::Millis;
use queue::Shared;
use transport::Destination;

/// How alerts reach the syslog daemon.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// The local daemon's unix socket (`/dev/log`): no network, and the daemon knows it is local.
    #[default]
    Unix,
    /// UDP datagrams: what every receiver accepts, but unacknowledged.
    Udp,
    /// TCP with octet-counted framing (RFC 6587): ordered, reconnects, no message splitting.
    Tcp,
}

/// The message header format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 5424: full timestamp with zone, structured data with the rule fields.
    #[default]
    Rfc5424,
    /// RFC 3164 (BSD syslog), for receivers that only parse the old format.
    Rfc3164,
}

/// What the MSG part carries.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Payload {
    /// The whole alert as one-line JSON: lossless, for SIEMs that parse JSON.
    #[default]
    Json,
    /// ArcSight CEF, for SIEMs that expect it (a subset of the alert's fields).
    Cef,
}

/// The syslog facility, which receivers route on. The numeric codes are RFC 5424 §6.2.1's.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Facility {
    /// Kernel messages (0).
    Kern,
    /// User-level messages (1).
    User,
    /// Mail system (2).
    Mail,
    /// System daemons (3).
    Daemon,
    /// The default: detections are security messages, which is what auth is routed as.
    #[default]
    Auth,
    /// Messages of the syslog daemon itself (5).
    Syslog,
    /// Line printer subsystem (6).
    Lpr,
    /// Network news subsystem (7).
    News,
    /// UUCP subsystem (8).
    Uucp,
    /// Clock daemon (9).
    Cron,
    /// Security/authorization messages kept private (10).
    Authpriv,
    /// FTP daemon (11).
    Ftp,
    /// Local use 0 (16), free for sites to route as they like.
    Local0,
    /// Local use 1 (17), free for sites to route as they like.
    Local1,
    /// Local use 2 (18), free for sites to route as they like.
    Local2,
    /// Local use 3 (19), free for sites to route as they like.
    Local3,
    /// Local use 4 (20), free for sites to route as they like.
    Local4,
    /// Local use 5 (21), free for sites to route as they like.
    Local5,
    /// Local use 6 (22), free for sites to route as they like.
    Local6,
    /// Local use 7 (23), free for sites to route as they like.
    Local7,
}

impl Facility {
    /// Every facility, in code order, so tests and tools can enumerate them.
    pub const ALL: [Facility; 20] = [
        Facility::Kern,
        Facility::User,
        Facility::Mail,
        Facility::Daemon,
        Facility::Auth,
        Facility::Syslog,
        Facility::Lpr,
        Facility::News,
        Facility::Uucp,
        Facility::Cron,
        Facility::Authpriv,
        Facility::Ftp,
        Facility::Local0,
        Facility::Local1,
        Facility::Local2,
        Facility::Local3,
        Facility::Local4,
        Facility::Local5,
        Facility::Local6,
        Facility::Local7,
    ];

    /// The RFC 5424 numeric code (kern 0 ... ftp 11, local0 16 ... local7 23), which goes into PRI.
    pub fn code(self) -> u8 {
        match self {
            Facility::Kern => 0,
            Facility::User => 1,
            Facility::Mail => 2,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Syslog => 5,
            Facility::Lpr => 6,
            Facility::News => 7,
            Facility::Uucp => 8,
            Facility::Cron => 9,
            Facility::Authpriv => 10,
            Facility::Ftp => 11,
            Facility::Local0 => 16,
            Facility::Local1 => 17,
            Facility::Local2 => 18,
            Facility::Local3 => 19,
            Facility::Local4 => 20,
            Facility::Local5 => 21,
            Facility::Local6 => 22,
            Facility::Local7 => 23,
        }
    }
}

/// The `[syslog]` configuration table. Every key is optional; unknown keys are errors, so a typo does
/// not silently fall back to a default.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(from = "RawConfig")]
pub struct SyslogConfig {
    /// Whether alerts go to syslog at all (default true).
    pub enabled: bool,
    /// `unix` (default), `udp` or `tcp`.
    pub transport: Transport,
    /// A socket path for unix (default `/dev/log`), `host:port` for udp and tcp (default
    /// `127.0.0.1:514`), IPv6 as `[::1]:514`.
    pub address: String,
    /// `rfc5424` (default) or `rfc3164`.
    pub format: Format,
    /// `json` (default) or `cef`.
    pub payload: Payload,
    /// Default `auth`.
    pub facility: Facility,
    /// APP-NAME (RFC 5424) or TAG (RFC 3164), default `execwatch`: what receivers filter on.
    pub app_name: String,
    /// How many messages may wait while the daemon is unreachable (default 10000); more are dropped.
    pub queue_capacity: usize,
}

impl Default for SyslogConfig {
    fn default() -> SyslogConfig {
        SyslogConfig::from(RawConfig::default())
    }
}

/// The table as written, before the address defaults by transport.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    enabled: bool,
    transport: Transport,
    address: Option<String>,
    format: Format,
    payload: Payload,
    facility: Facility,
    app_name: String,
    queue_capacity: usize,
}

impl Default for RawConfig {
    fn default() -> RawConfig {
        RawConfig {
            enabled: true,
            transport: Transport::Unix,
            address: None,
            format: Format::Rfc5424,
            payload: Payload::Json,
            facility: Facility::Auth,
            app_name: "execwatch".to_string(),
            queue_capacity: 10_000,
        }
    }
}

impl From<RawConfig> for SyslogConfig {
    fn from(raw: RawConfig) -> SyslogConfig {
        let address = raw.address.unwrap_or_else(|| {
            match raw.transport {
                Transport::Unix => "/dev/log",
                Transport::Udp | Transport::Tcp => "127.0.0.1:514",
            }
            .to_string()
        });
        SyslogConfig {
            enabled: raw.enabled,
            transport: raw.transport,
            address,
            format: raw.format,
            payload: raw.payload,
            facility: raw.facility,
            app_name: raw.app_name,
            queue_capacity: raw.queue_capacity,
        }
    }
}

impl SyslogConfig {
    /// Checks what serde cannot: the address for the transport, the app-name, the capacity.
    fn validate(&self) -> Result<Destination, String> {
        let dest = Destination::parse(self.transport, &self.address)?;
        let max = match self.format {
            Format::Rfc5424 => 48,
            Format::Rfc3164 => 32,
        };
        if self.app_name.is_empty()
            || self.app_name.len() > max
            || !self
                .app_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            return Err(format!(
                "syslog.app_name: {:?} must be 1 to {max} letters, digits or -_./ for this format",
                self.app_name
            ));
        }
        if self.queue_capacity == 0 {
            return Err("syslog.queue_capacity: must be at least 1".to_string());
        }
        Ok(dest)
    }
}

/// Counters, for the agent's status and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyslogStats {
    /// Messages handed to the daemon's socket.
    pub sent: u64,
    /// Alerts dropped because the queue was full.
    pub dropped: u64,
    /// Messages waiting now (including the one being sent).
    pub queued: usize,
    /// Connections made after the first one (each recovery from a failure counts once).
    pub reconnects: u64,
    /// Failed sends (each failed attempt counts; the message is retried unless undeliverable).
    pub send_errors: u64,
    /// Failed connection attempts while the daemon was unreachable.
    pub connect_errors: u64,
    /// Messages given up because no connection could ever carry them (larger than a datagram).
    pub undeliverable: u64,
}

/// A running syslog output: the queue and its sender thread.
#[derive(Debug)]
pub struct SyslogOutput {
    config: SyslogConfig,
    hostname: String,
    pid: u32,
    /// None when the output is disabled.
    shared: Option<Arc<Shared>>,
    done: Option<mpsc::Receiver<()>>,
}

impl SyslogOutput {
    /// Validates the config (errors name the key, e.g. `syslog.address`) and starts the sender thread.
    ///
    /// It does not connect here: a daemon that starts after the agent must not stop the agent, and
    /// alerts wait in the queue until it is up. A disabled config gives an output that ignores alerts.
    pub fn start(config: SyslogConfig) -> Result<SyslogOutput, String> {
        let dest = config.validate()?;
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut output = SyslogOutput {
            hostname,
            pid: std::process::id(),
            shared: None,
            done: None,
            config,
        };
        if !output.config.enabled {
            return Ok(output);
        }
        let shared = Arc::new(Shared::new(output.config.queue_capacity));
        let (done_tx, done_rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("syslog-sender".to_string())
            .spawn(move || {
                queue::run(thread_shared, dest);
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("syslog: cannot start the sender thread: {e}"))?;
        output.shared = Some(shared);
        output.done = Some(done_rx);
        Ok(output)
    }

    /// Formats the alert and queues it. Never blocks on the daemon: when the queue is full the alert is
    /// dropped and counted, so a dead syslog cannot stall detection.
    pub fn send(&self, alert: &Value) {
        if let Some(shared) = &self.shared {
            let msg = format_message(&self.config, alert, &self.hostname, self.pid, Millis::now());
            shared.push(msg);
        }
    }

    /// Counters, read without stopping the sender.
    pub fn stats(&self) -> SyslogStats {
        let Some(s) = &self.shared else {
            return SyslogStats::default();
        };
        SyslogStats {
            sent: s.sent.load(Ordering::Relaxed),
            dropped: s.dropped.load(Ordering::Relaxed),
            queued: s.lock().queue.len(),
            reconnects: s.reconnects.load(Ordering::Relaxed),
            send_errors: s.send_errors.load(Ordering::Relaxed),
            connect_errors: s.connect_errors.load(Ordering::Relaxed),
            undeliverable: s.undeliverable.load(Ordering::Relaxed),
        }
    }

    /// Stops the sender after it has tried to deliver what is queued, waiting at most `timeout` (a
    /// daemon that is down keeps being retried until then). Returns how many messages were left
    /// undelivered, so the agent can report them on exit.
    pub fn shutdown(mut self, timeout: Duration) -> usize {
        let Some(shared) = self.shared.take() else {
            return 0;
        };
        let deadline = Instant::now() + timeout;
        shared.lock().deadline = Some(deadline);
        shared.wake.notify_all();
        if let Some(done) = self.done.take() {
            // A sender blocked in a write gets up to its I/O timeout; it is not waited for past the
            // deadline (it stops by itself once the write returns).
            let _ = done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        let left = shared.lock().queue.len();
        left
    }
}

impl Drop for SyslogOutput {
    /// Dropping without [`SyslogOutput::shutdown`] stops the sender at once, without delivering.
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.lock().deadline = Some(Instant::now());
            shared.wake.notify_all();
        }
    }
}

#[cfg(test)]
mod tests;
