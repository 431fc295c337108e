//! The exec event: one program started, in the shape of an Elastic Defend process event.
//!
//! Elastic's rules are written against Defend's documents (`event.action: "exec"`,
//! `process.command_line`, ...), so that is the shape we emit; see `ecs-exec-event.md` in the project's
//! shared material. The struct is typed (rules read it through [`KnownField`] without string lookups)
//! and serializes to the nested ECS JSON document.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use serde::Serialize;

use crate::event::document::{Document, FieldPath, Scalar, Values};
use crate::event::host::Host;
use crate::event::known_field::KnownField;

/// The ECS version our documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// Which source saw the exec (`event.provider`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// auditd's log.
    Auditd,
    /// The /proc watcher.
    Procfs,
}

impl Provider {
    /// The `event.provider` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Auditd => "auditd",
            Provider::Procfs => "procfs",
        }
    }
}

/// `agent.*`: who produced the document, so a SIEM can tell our events from Defend's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// `agent.type`: `execwatch`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `agent.version`: the crate version.
    pub version: String,
    /// `agent.id`: stable per host (derived from `host.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl Agent {
    /// This agent, on `host`.
    pub fn for_host(host: &Host) -> Agent {
        Agent {
            kind: "execwatch".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            id: host
                .id
                .as_deref()
                .map(|id| format!("{:016x}", fnv1a64(&[b"execwatch", id.as_bytes()]))),
        }
    }
}

/// The part of a process that children refer to as their parent.
///
/// Shared through `Arc` between an event and the process table, so a parent's argv is never copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessImage {
    /// `process.pid`; `None` only for audit excerpts that lost their SYSCALL record.
    pub pid: Option<u32>,
    /// `process.entity_id`: unique per process image on this host.
    pub entity_id: String,
    /// `process.executable`: resolved path, ` (deleted)` suffix kept.
    pub executable: Option<String>,
    /// `process.name`: file name of the executable.
    pub name: Option<String>,
    /// `process.args`: full argv including argv\[0\].
    pub args: Vec<String>,
    /// `process.command_line`: args joined by single spaces.
    pub command_line: String,
    /// `process.start`: when this image started (the exec time).
    pub start: Arc<str>,
}

impl ProcessImage {
    /// Fills `name` and `command_line` from `executable` and `args`, the way Defend derives them.
    pub fn derive_names(&mut self) {
        self.name = self
            .executable
            .as_deref()
            .map(file_name)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        // Sized once and filled. With `join`, and `rsplit` in `file_name`, this function cost 12.7
        // instead of 8.8 million instructions (callgrind, replay of 200,000 lines of the bench log).
        let len = self.args.iter().map(|a| a.len() + 1).sum::<usize>();
        let mut line = String::with_capacity(len.saturating_sub(1));
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            line.push_str(arg);
        }
        self.command_line = line;
    }
}

/// The file name of an executable path, without the kernel's ` (deleted)` marker.
///
/// A program that deleted itself is still named after its file, so `process.name == "evil"` matches.
pub fn file_name(path: &str) -> &str {
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    // From the end, where the last `/` is near: cheaper than `rsplit` (see `derive_names`).
    match path.bytes().rposition(|b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

/// A user or group: numeric id as a string (ECS keyword) and its name when known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `*.id`
    pub id: String,
    /// The same id as a number, for lookups.
    #[serde(skip)]
    pub id_number: u32,
    /// `*.name`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The credentials of the new process image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Effective user (`process.user`, and the top-level `user`).
    pub user: Option<Arc<Identity>>,
    /// Effective group (`process.group`, and the top-level `group`).
    pub group: Option<Arc<Identity>>,
    /// Real user.
    pub real_user: Option<Arc<Identity>>,
    /// Real group.
    pub real_group: Option<Arc<Identity>>,
    /// Saved user.
    pub saved_user: Option<Arc<Identity>>,
    /// Saved group.
    pub saved_group: Option<Arc<Identity>>,
}

/// `auditd.*`: context only auditd gives, for investigation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditdContext {
    /// `auditd.sequence`: the record serial.
    pub sequence: u64,
    /// `auditd.node`: the `node=` name, when the log has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `auditd.session`: login session id; absent when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `auditd.auid`: login user id; absent when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auid: Option<String>,
    /// `auditd.auid_name`: its name, from ENRICHED or the user database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auid_name: Option<String>,
    /// `auditd.syscall`: `execve` or `execveat` (or the number when the arch is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscall: Option<Cow<'static, str>>,
    /// `auditd.arch`: e.g. `x86_64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<Cow<'static, str>>,
    /// `auditd.key`: the audit rule key that recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `auditd.tty`: the controlling terminal, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    /// `auditd.subj`: the SELinux or AppArmor label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subj: Option<String>,
}

/// One exec, as an ECS process event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecEvent {
    /// `@timestamp`: when the exec happened.
    pub timestamp: Arc<str>,
    /// `event.ingested`: when the agent read it.
    pub ingested: Arc<str>,
    /// `event.provider`.
    pub provider: Provider,
    /// `host.*`, shared by every event.
    pub host: Arc<Host>,
    /// `agent.*`, shared by every event.
    pub agent: Arc<Agent>,
    /// The new process image.
    pub process: Arc<ProcessImage>,
    /// `process.parent.pid`: from the exec record itself, so known even when the parent is not.
    pub parent_pid: Option<u32>,
    /// The parent's image, from the process table, when the agent saw the parent's exec.
    pub parent: Option<Arc<ProcessImage>>,
    /// `process.working_directory`.
    pub working_directory: Option<String>,
    /// `process.title`: the kernel's `comm` (at most 15 bytes; a script's name for `#!` scripts).
    pub title: Option<String>,
    /// `process.interactive`: whether it has a controlling terminal.
    pub interactive: Option<bool>,
    /// Users and groups.
    pub credentials: Credentials,
    /// `auditd.*`, for audit-sourced events.
    pub auditd: Option<AuditdContext>,
}

static CATEGORY: LazyLock<Vec<String>> = LazyLock::new(|| vec!["process".to_string()]);
static TYPE: LazyLock<Vec<String>> = LazyLock::new(|| vec!["start".to_string()]);

/// FNV-1a over several byte strings, with a separator so `("ab","c")` and `("a","bc")` differ.
///
/// Used for ids that must be stable across restarts and hosts' agents (entity ids), where a keyed
/// hasher such as std's would change from run to run.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    fnv1a64_from(0xcbf2_9ce4_8422_2325, parts)
}

/// [`fnv1a64`] continued from the state `h` it had after earlier parts.
fn fnv1a64_from(mut h: u64, parts: &[&[u8]]) -> u64 {
    let mut add = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    // Each part is followed by 0xff. A plain loop instead of `chain(once(..))`: `entity_id` went
    // from 778 to 726 instructions per event (callgrind, 200,000 lines of the bench log).
    for part in parts {
        part.iter().for_each(|&b| add(b));
        add(0xff);
    }
    h
}

/// `process.entity_id` for the image started at `start_ms` by `pid` on `host_id`.
pub fn entity_id(host_id: Option<&str>, pid: Option<u32>, start_ms: u64) -> String {
    EntityIds::for_host(host_id).id(pid, start_ms)
}

/// [`entity_id`] for one host, its id hashed once instead of once per event.
///
/// Measured: an entity id went from 726 to 364 instructions per event (callgrind, 200,000 lines of
/// the bench log).
#[derive(Clone, Copy, Debug)]
pub struct EntityIds {
    /// The FNV-1a state after the host id.
    host: u64,
}

impl EntityIds {
    /// Entity ids for processes of the host `host_id`.
    pub fn for_host(host_id: Option<&str>) -> EntityIds {
        EntityIds {
            host: fnv1a64(&[host_id.unwrap_or_default().as_bytes()]),
        }
    }

    /// The entity id of the image started at `start_ms` by `pid`.
    pub fn id(&self, pid: Option<u32>, start_ms: u64) -> String {
        let hash = fnv1a64_from(
            self.host,
            &[&pid.unwrap_or(0).to_le_bytes(), &start_ms.to_le_bytes()],
        );
        // Digits into an array, then one string: pushed one by one, an id cost 364 instructions
        // instead of 283 (callgrind, replay of 200,000 lines of the bench log).
        let mut digits = [0u8; 16];
        for (i, d) in digits.iter_mut().enumerate() {
            *d = b"0123456789abcdef"[((hash >> ((15 - i) * 4)) & 0xf) as usize];
        }
        std::str::from_utf8(&digits).unwrap_or_default().to_string()
    }
}

fn opt_str(s: &Option<String>) -> Values<'_> {
    match s {
        Some(s) => Values::One(Scalar::Str(s)),
        None => Values::Missing,
    }
}

fn opt_cow<'a>(s: &'a Option<Cow<'static, str>>) -> Values<'a> {
    match s {
        Some(s) => Values::One(Scalar::Str(s)),
        None => Values::Missing,
    }
}

fn opt_int(n: Option<impl Into<i64>>) -> Values<'static> {
    match n {
        Some(n) => Values::One(Scalar::Int(n.into())),
        None => Values::Missing,
    }
}

fn id_of(i: &Option<Arc<Identity>>) -> Values<'_> {
    match i {
        Some(i) => Values::One(Scalar::Str(&i.id)),
        None => Values::Missing,
    }
}

fn name_of(i: &Option<Arc<Identity>>) -> Values<'_> {
    match i {
        Some(i) => match &i.name {
            Some(n) => Values::One(Scalar::Str(n)),
            None => Values::Missing,
        },
        None => Values::Missing,
    }
}

fn list(v: &[String]) -> Values<'_> {
    if v.is_empty() {
        Values::Missing
    } else {
        Values::Strs(v)
    }
}

fn count(v: &[String]) -> Values<'static> {
    if v.is_empty() {
        Values::Missing
    } else {
        Values::One(Scalar::Int(i64::try_from(v.len()).unwrap_or(i64::MAX)))
    }
}

fn text(s: &str) -> Values<'_> {
    if s.is_empty() {
        Values::Missing
    } else {
        Values::One(Scalar::Str(s))
    }
}

impl Document for ExecEvent {
    fn values(&self, field: &FieldPath) -> Values<'_> {
        let Some(known) = field.known() else {
            return Values::Missing;
        };
        self.known_values(known)
    }
}

impl ExecEvent {
    /// The values of one of our own fields. Must agree with what [`Serialize`] writes: a test checks
    /// every field against the JSON document.
    pub fn known_values(&self, field: KnownField) -> Values<'_> {
        use KnownField as F;
        let p = &*self.process;
        let parent = self.parent.as_deref();
        let auditd = self.auditd.as_ref();
        let c = &self.credentials;
        match field {
            F::Timestamp => text(&self.timestamp),
            F::EventKind => Values::One(Scalar::Str("event")),
            F::EventCategory => Values::Strs(&CATEGORY),
            F::EventType => Values::Strs(&TYPE),
            F::EventAction => Values::One(Scalar::Str("exec")),
            F::EventOutcome => Values::One(Scalar::Str("success")),
            F::EventProvider => Values::One(Scalar::Str(self.provider.as_str())),
            F::EventIngested => text(&self.ingested),
            F::HostOsType => text(&self.host.os.kind),
            F::HostOsFamily => opt_str(&self.host.os.family),
            F::HostOsName => opt_str(&self.host.os.name),
            F::HostOsVersion => opt_str(&self.host.os.version),
            F::HostOsKernel => text(&self.host.os.kernel),
            F::HostHostname => text(&self.host.hostname),
            F::HostName => text(&self.host.name),
            F::HostId => opt_str(&self.host.id),
            F::HostArchitecture => text(&self.host.architecture),
            F::ProcessPid => opt_int(p.pid),
            F::ProcessEntityId => text(&p.entity_id),
            F::ProcessExecutable => opt_str(&p.executable),
            F::ProcessName => opt_str(&p.name),
            F::ProcessArgs => list(&p.args),
            F::ProcessArgsCount => count(&p.args),
            F::ProcessCommandLine => text(&p.command_line),
            F::ProcessWorkingDirectory => opt_str(&self.working_directory),
            F::ProcessStart => text(&p.start),
            F::ProcessTitle => opt_str(&self.title),
            F::ProcessInteractive => match self.interactive {
                Some(b) => Values::One(Scalar::Bool(b)),
                None => Values::Missing,
            },
            F::ProcessUserId | F::UserId => id_of(&c.user),
            F::ProcessUserName | F::UserName => name_of(&c.user),
            F::ProcessGroupId | F::GroupId => id_of(&c.group),
            F::ProcessGroupName | F::GroupName => name_of(&c.group),
            F::ProcessRealUserId => id_of(&c.real_user),
            F::ProcessRealUserName => name_of(&c.real_user),
            F::ProcessRealGroupId => id_of(&c.real_group),
            F::ProcessRealGroupName => name_of(&c.real_group),
            F::ProcessSavedUserId => id_of(&c.saved_user),
            F::ProcessSavedUserName => name_of(&c.saved_user),
            F::ProcessSavedGroupId => id_of(&c.saved_group),
            F::ProcessSavedGroupName => name_of(&c.saved_group),
            F::ProcessParentPid => opt_int(self.parent_pid),
            F::ProcessParentEntityId => parent.map_or(Values::Missing, |p| text(&p.entity_id)),
            F::ProcessParentExecutable => {
                parent.map_or(Values::Missing, |p| opt_str(&p.executable))
            }
            F::ProcessParentName => parent.map_or(Values::Missing, |p| opt_str(&p.name)),
            F::ProcessParentArgs => parent.map_or(Values::Missing, |p| list(&p.args)),
            F::ProcessParentArgsCount => parent.map_or(Values::Missing, |p| count(&p.args)),
            F::ProcessParentCommandLine => {
                parent.map_or(Values::Missing, |p| text(&p.command_line))
            }
            F::ProcessParentStart => parent.map_or(Values::Missing, |p| text(&p.start)),
            F::AuditdSequence => auditd.map_or(Values::Missing, |a| {
                Values::One(Scalar::Int(i64::try_from(a.sequence).unwrap_or(i64::MAX)))
            }),
            F::AuditdSession => auditd.map_or(Values::Missing, |a| opt_str(&a.session)),
            F::AuditdAuid => auditd.map_or(Values::Missing, |a| opt_str(&a.auid)),
            F::AuditdSyscall => auditd.map_or(Values::Missing, |a| opt_cow(&a.syscall)),
            F::AuditdKey => auditd.map_or(Values::Missing, |a| opt_str(&a.key)),
            F::AuditdNode => auditd.map_or(Values::Missing, |a| opt_str(&a.node)),
            F::AuditdAuidName => auditd.map_or(Values::Missing, |a| opt_str(&a.auid_name)),
            F::AuditdArch => auditd.map_or(Values::Missing, |a| opt_cow(&a.arch)),
            F::AuditdTty => auditd.map_or(Values::Missing, |a| opt_str(&a.tty)),
            F::AuditdSubj => auditd.map_or(Values::Missing, |a| opt_str(&a.subj)),
            F::AgentType => text(&self.agent.kind),
            F::AgentVersion => text(&self.agent.version),
            F::AgentId => opt_str(&self.agent.id),
            F::EcsVersion => Values::One(Scalar::Str(ECS_VERSION)),
        }
    }
}

fn none_if_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

#[derive(Serialize)]
struct EventView<'a> {
    #[serde(rename = "@timestamp")]
    timestamp: &'a str,
    event: EventFields<'a>,
    host: &'a Host,
    process: ProcessView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auditd: Option<&'a AuditdContext>,
    agent: &'a Agent,
    ecs: EcsFields,
}

#[derive(Serialize)]
struct EventFields<'a> {
    kind: &'static str,
    category: &'a [String],
    #[serde(rename = "type")]
    kind_of: &'a [String],
    action: &'static str,
    outcome: &'static str,
    provider: Provider,
    ingested: &'a str,
}

#[derive(Serialize)]
struct EcsFields {
    version: &'static str,
}

#[derive(Serialize)]
struct ProcessView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(flatten)]
    image: ImageView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_directory: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interactive: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_user: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    real_group: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    saved_user: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    saved_group: Option<&'a Identity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<ParentView<'a>>,
}

#[derive(Serialize)]
struct ParentView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    image: Option<ImageView<'a>>,
}

#[derive(Serialize)]
struct ImageView<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executable: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    args: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    args_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_line: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<&'a str>,
}

impl<'a> ImageView<'a> {
    fn of(p: &'a ProcessImage) -> ImageView<'a> {
        ImageView {
            entity_id: none_if_empty(&p.entity_id),
            executable: p.executable.as_deref(),
            name: p.name.as_deref(),
            args: &p.args,
            args_count: (!p.args.is_empty()).then_some(p.args.len()),
            command_line: none_if_empty(&p.command_line),
            start: none_if_empty(&p.start),
        }
    }
}

impl Serialize for ExecEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let c = &self.credentials;
        let parent = (self.parent_pid.is_some() || self.parent.is_some()).then(|| ParentView {
            pid: self.parent_pid,
            image: self.parent.as_deref().map(ImageView::of),
        });
        EventView {
            timestamp: &self.timestamp,
            event: EventFields {
                kind: "event",
                category: &CATEGORY,
                kind_of: &TYPE,
                action: "exec",
                outcome: "success",
                provider: self.provider,
                ingested: &self.ingested,
            },
            host: &self.host,
            process: ProcessView {
                pid: self.process.pid,
                image: ImageView::of(&self.process),
                working_directory: self.working_directory.as_deref(),
                title: self.title.as_deref(),
                interactive: self.interactive,
                user: c.user.as_deref(),
                group: c.group.as_deref(),
                real_user: c.real_user.as_deref(),
                real_group: c.real_group.as_deref(),
                saved_user: c.saved_user.as_deref(),
                saved_group: c.saved_group.as_deref(),
                parent,
            },
            user: c.user.as_deref(),
            group: c.group.as_deref(),
            auditd: self.auditd.as_ref(),
            agent: &self.agent,
            ecs: EcsFields {
                version: ECS_VERSION,
            },
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::document::Scalar;

    /// A fully populated event, for tests across the crate.
    pub(crate) fn sample_event() -> ExecEvent {
        let host = Host {
            hostname: "web-01".into(),
            name: "web-01".into(),
            id: Some("0123456789abcdef".into()),
            architecture: "x86_64".into(),
            os: crate::event::host::HostOs {
                kind: "linux".into(),
                family: Some("debian".into()),
                name: Some("Debian GNU/Linux".into()),
                version: Some("12".into()),
                kernel: "6.1.0".into(),
            },
        };
        let agent = Agent::for_host(&host);
        let mut image = ProcessImage {
            pid: Some(42),
            entity_id: "e42".into(),
            executable: Some("/usr/bin/python3.11".into()),
            args: vec!["python3".into(), "-m".into(), "http.server".into()],
            start: "2026-11-27T18:06:38.773Z".into(),
            ..ProcessImage::default()
        };
        image.derive_names();
        let mut parent = ProcessImage {
            pid: Some(7),
            entity_id: "e7".into(),
            executable: Some("/usr/bin/bash".into()),
            args: vec!["bash".into()],
            start: "2026-11-27T18:00:00.000Z".into(),
            ..ProcessImage::default()
        };
        parent.derive_names();
        let root = || {
            Some(Arc::new(Identity {
                id: "0".into(),
                id_number: 0,
                name: Some("root".into()),
            }))
        };
        ExecEvent {
            timestamp: "2026-11-27T18:06:38.773Z".into(),
            ingested: "2026-11-27T18:06:39.000Z".into(),
            provider: Provider::Auditd,
            host: Arc::new(host),
            agent: Arc::new(agent),
            process: Arc::new(image),
            parent_pid: Some(7),
            parent: Some(Arc::new(parent)),
            working_directory: Some("/tmp".into()),
            title: Some("python3".into()),
            interactive: Some(true),
            credentials: Credentials {
                user: root(),
                group: root(),
                real_user: root(),
                real_group: root(),
                saved_user: root(),
                saved_group: root(),
            },
            auditd: Some(AuditdContext {
                sequence: 18557,
                node: Some("node1".into()),
                session: Some("3".into()),
                auid: Some("1000".into()),
                auid_name: Some("alice".into()),
                syscall: Some("execve".into()),
                arch: Some("x86_64".into()),
                key: Some("exec".into()),
                tty: Some("pts0".into()),
                subj: None,
            }),
        }
    }

    #[test]
    fn every_known_field_agrees_with_the_json_document() {
        let mut events = vec![sample_event()];
        let mut sparse = sample_event();
        sparse.parent = None;
        sparse.auditd = None;
        sparse.credentials = Credentials::default();
        sparse.working_directory = None;
        sparse.interactive = None;
        events.push(sparse);
        for event in &events {
            let json = serde_json::to_value(event).unwrap();
            for field in KnownField::ALL {
                let path = FieldPath::new(field.name());
                let from_struct: Vec<Scalar<'_>> = event.values(&path).iter().collect();
                let from_json: Vec<Scalar<'_>> = json.values(&path).iter().collect();
                assert_eq!(from_struct, from_json, "{}", field.name());
            }
        }
    }

    #[test]
    fn serializes_the_defend_shape() {
        let json = serde_json::to_value(sample_event()).unwrap();
        assert_eq!(json["event"]["action"], "exec");
        assert_eq!(json["event"]["type"], serde_json::json!(["start"]));
        assert_eq!(json["event"]["category"], serde_json::json!(["process"]));
        assert_eq!(json["process"]["name"], "python3.11");
        assert_eq!(json["process"]["command_line"], "python3 -m http.server");
        assert_eq!(json["process"]["args_count"], 3);
        assert_eq!(json["process"]["parent"]["name"], "bash");
        assert_eq!(json["process"]["parent"]["pid"], 7);
        assert_eq!(json["user"]["name"], "root");
        assert_eq!(json["host"]["os"]["type"], "linux");
        assert_eq!(json["auditd"]["sequence"], 18557);
    }

    #[test]
    fn deleted_executables_keep_their_file_name() {
        assert_eq!(file_name("/tmp/x/evil-bash (deleted)"), "evil-bash");
        assert_eq!(file_name("/memfd:evil (deleted)"), "memfd:evil");
        assert_eq!(file_name("/usr/bin/python3.11"), "python3.11");
        assert_eq!(file_name("python3"), "python3");
    }

    #[test]
    fn entity_ids_differ_by_host_pid_and_start() {
        let a = entity_id(Some("h"), Some(1), 5);
        assert_eq!(a.len(), 16);
        assert_ne!(a, entity_id(Some("h"), Some(1), 6));
        assert_ne!(a, entity_id(Some("h"), Some(2), 5));
        assert_ne!(a, entity_id(Some("g"), Some(1), 5));
        assert_eq!(a, entity_id(Some("h"), Some(1), 5));
        // The host's hash taken once gives what hashing all three parts at once gave.
        let whole = fnv1a64(&[b"h", &1u32.to_le_bytes(), &5u64.to_le_bytes()]);
        assert_eq!(a, format!("{whole:016x}"));
        assert_eq!(
            entity_id(None, None, 7),
            format!("{:016x}", fnv1a64(&[b"", &[0; 4], &7u64.to_le_bytes()]))
        );
    }
}
