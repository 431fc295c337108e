//! From what /proc says about a process to an ECS exec event.
//!
//! The same conventions as [`crate::event::normalize`] for audit execs: bytes escaped with
//! [`escape_bytes`], ids as strings with names from the host's user database, RFC 3339 timestamps.
//! What /proc cannot tell is left absent, never guessed: without the `exe` link (another user's
//! process, read without `CAP_SYS_PTRACE`) there is no `process.executable` and no `process.name`,
//! even though argv\[0\] and `comm` are known (both are chosen by the process itself).

use std::sync::Arc;

use crate::event::bytes::{escape_bytes, escape_owned};
use crate::event::exec::{entity_id, Agent, Credentials, ExecEvent, ProcessImage, Provider};
use crate::event::host::Host;
use crate::event::time::{Millis, TimestampCache};
use crate::event::users::{IdKind, IdentityCache};
use crate::source::procfs::reader::ProcInfo;

/// Builds exec events from /proc reads, sharing identities and timestamps between them.
#[derive(Debug)]
pub struct ProcfsEventBuilder {
    host: Arc<Host>,
    agent: Arc<Agent>,
    ids: IdentityCache,
    times: TimestampCache,
    ingest_times: TimestampCache,
}

impl ProcfsEventBuilder {
    /// A builder for events of `host`.
    pub fn new(host: Arc<Host>) -> ProcfsEventBuilder {
        let agent = Arc::new(Agent::for_host(&host));
        ProcfsEventBuilder {
            host,
            agent,
            ids: IdentityCache::new(),
            times: TimestampCache::new(),
            ingest_times: TimestampCache::new(),
        }
    }

    /// The host events are built for.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The process image `info` shows, started at `start_ms` (the process start for a new process,
    /// the exec time for an exec in a running pid, so the two images get different entity ids).
    pub fn image(&mut self, info: &ProcInfo, start_ms: u64) -> ProcessImage {
        let mut image = ProcessImage {
            pid: Some(info.pid),
            entity_id: entity_id(self.host.id.as_deref(), Some(info.pid), start_ms),
            executable: info.exe.as_deref().map(|b| escape_bytes(b).into_owned()),
            args: info.args.iter().cloned().map(escape_owned).collect(),
            start: self.times.format(Millis(start_ms)),
            ..ProcessImage::default()
        };
        image.derive_names();
        image
    }

    /// The event for `image` (built by [`Self::image`] from `info`), seen at `timestamp_ms`, whose
    /// parent runs `parent` when the watcher knows it.
    pub fn event(
        &mut self,
        info: &ProcInfo,
        image: Arc<ProcessImage>,
        timestamp_ms: u64,
        parent: Option<Arc<ProcessImage>>,
    ) -> ExecEvent {
        let timestamp = self.times.format(Millis(timestamp_ms));
        let credentials = match info.ids {
            Some(ids) => {
                let mut id = |kind, n: u32| Some(self.ids.get(kind, n, None));
                Credentials {
                    user: id(IdKind::User, ids.uid[1]),
                    group: id(IdKind::Group, ids.gid[1]),
                    real_user: id(IdKind::User, ids.uid[0]),
                    real_group: id(IdKind::Group, ids.gid[0]),
                    saved_user: id(IdKind::User, ids.uid[2]),
                    saved_group: id(IdKind::Group, ids.gid[2]),
                }
            }
            None => Credentials::default(),
        };
        ExecEvent {
            timestamp,
            ingested: self.ingest_times.format(Millis::now()),
            provider: Provider::Procfs,
            host: Arc::clone(&self.host),
            agent: Arc::clone(&self.agent),
            process: image,
            // 0 is "no parent" (init, kthreadd), not a pid.
            parent_pid: Some(info.stat.ppid).filter(|&p| p != 0),
            parent,
            working_directory: info.cwd.as_deref().map(|b| escape_bytes(b).into_owned()),
            title: Some(escape_bytes(&info.stat.comm).into_owned()).filter(|t| !t.is_empty()),
            interactive: Some(info.stat.tty_nr != 0),
            credentials,
            auditd: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::procfs::reader::{Ids, Stat};

    #[test]
    fn proc_info_becomes_a_defend_shaped_event() {
        let host = Arc::new(Host {
            hostname: "h".into(),
            id: Some("m".into()),
            ..Host::default()
        });
        let mut b = ProcfsEventBuilder::new(host);
        let info = ProcInfo {
            pid: 77,
            stat: Stat {
                comm: b"py\xffthon".to_vec(),
                state: b'S',
                ppid: 1,
                tty_nr: 34816,
                flags: 0,
                start_ticks: 5,
            },
            start_ms: 1_795_802_798_773,
            exe: Some(b"/usr/bin/python3.11 (deleted)".to_vec()),
            args: vec![b"python3".to_vec(), b"-c".to_vec(), b"\xfe x".to_vec()],
            cmdline_truncated: false,
            cwd: Some(b"/tmp".to_vec()),
            ids: Some(Ids {
                uid: [1000, 0, 2, 3],
                gid: [100, 0, 4, 5],
            }),
            denied: 0,
        };
        let image = Arc::new(b.image(&info, info.start_ms));
        let e = b.event(&info, Arc::clone(&image), info.start_ms, None);
        assert_eq!(&*e.timestamp, "2026-11-27T18:06:38.773Z");
        assert_eq!(e.process.start, e.timestamp);
        assert_eq!(e.provider, Provider::Procfs);
        assert_eq!(e.process.name.as_deref(), Some("python3.11"));
        assert_eq!(e.process.command_line, r"python3 -c \xFE x");
        assert_eq!(
            e.process.entity_id,
            entity_id(Some("m"), Some(77), 1_795_802_798_773)
        );
        assert_eq!(e.title.as_deref(), Some(r"py\xFFthon"));
        assert_eq!(e.interactive, Some(true));
        assert_eq!(e.parent_pid, Some(1));
        let c = &e.credentials;
        assert_eq!(c.user.as_ref().unwrap().id, "0");
        assert_eq!(c.user.as_ref().unwrap().name.as_deref(), Some("root"));
        assert_eq!(c.real_user.as_ref().unwrap().id, "1000");
        assert_eq!(c.saved_user.as_ref().unwrap().id, "2");
        assert_eq!(c.real_group.as_ref().unwrap().id, "100");
        assert!(e.auditd.is_none());

        // Unreadable exe: no executable and no name, never guessed from argv.
        let bare = ProcInfo {
            exe: None,
            ids: None,
            cwd: None,
            ..info.clone()
        };
        let image = Arc::new(b.image(&bare, 1_795_802_799_000));
        let e = b.event(&bare, image, 1_795_802_799_000, None);
        assert_eq!(e.process.executable, None);
        assert_eq!(e.process.name, None);
        assert_eq!(e.process.args.len(), 3);
        assert_eq!(e.credentials, Credentials::default());
        assert_eq!(&*e.timestamp, "2026-11-27T18:06:39.000Z");
    }
}
