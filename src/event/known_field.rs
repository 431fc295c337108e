//! The fields the agent's own [`ExecEvent`](crate::event::ExecEvent) carries, as an enum.
//!
//! A query's field names are resolved to these once, at compile time, so evaluating a rule against an
//! event is a `match`, not a string lookup. A name not listed here is simply missing from our events.

macro_rules! known_fields {
    ($($variant:ident = $name:literal,)*) => {
        /// A field of [`ExecEvent`](crate::event::ExecEvent), named by its ECS dotted name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum KnownField {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl KnownField {
            /// Every known field, in declaration order.
            pub const ALL: &'static [KnownField] = &[$(KnownField::$variant,)*];

            /// The field with this ECS dotted name, if the agent's events carry it.
            pub fn from_name(name: &str) -> Option<KnownField> {
                match name {
                    $($name => Some(KnownField::$variant),)*
                    _ => None,
                }
            }

            /// The ECS dotted name.
            pub fn name(self) -> &'static str {
                match self {
                    $(KnownField::$variant => $name,)*
                }
            }
        }
    };
}

known_fields! {
    Timestamp = "@timestamp",
    EventKind = "event.kind",
    EventCategory = "event.category",
    EventType = "event.type",
    EventAction = "event.action",
    EventOutcome = "event.outcome",
    EventProvider = "event.provider",
    EventIngested = "event.ingested",
    HostOsType = "host.os.type",
    HostOsFamily = "host.os.family",
    HostOsName = "host.os.name",
    HostOsVersion = "host.os.version",
    HostOsKernel = "host.os.kernel",
    HostHostname = "host.hostname",
    HostName = "host.name",
    HostId = "host.id",
    HostArchitecture = "host.architecture",
    ProcessPid = "process.pid",
    ProcessEntityId = "process.entity_id",
    ProcessExecutable = "process.executable",
    ProcessName = "process.name",
    ProcessArgs = "process.args",
    ProcessArgsCount = "process.args_count",
    ProcessCommandLine = "process.command_line",
    ProcessWorkingDirectory = "process.working_directory",
    ProcessStart = "process.start",
    ProcessTitle = "process.title",
    ProcessInteractive = "process.interactive",
    ProcessUserId = "process.user.id",
    ProcessUserName = "process.user.name",
    ProcessGroupId = "process.group.id",
    ProcessGroupName = "process.group.name",
    ProcessRealUserId = "process.real_user.id",
    ProcessRealUserName = "process.real_user.name",
    ProcessRealGroupId = "process.real_group.id",
    ProcessRealGroupName = "process.real_group.name",
    ProcessSavedUserId = "process.saved_user.id",
    ProcessSavedUserName = "process.saved_user.name",
    ProcessSavedGroupId = "process.saved_group.id",
    ProcessSavedGroupName = "process.saved_group.name",
    ProcessParentPid = "process.parent.pid",
    ProcessParentEntityId = "process.parent.entity_id",
    ProcessParentExecutable = "process.parent.executable",
    ProcessParentName = "process.parent.name",
    ProcessParentArgs = "process.parent.args",
    ProcessParentArgsCount = "process.parent.args_count",
    ProcessParentCommandLine = "process.parent.command_line",
    ProcessParentStart = "process.parent.start",
    UserId = "user.id",
    UserName = "user.name",
    GroupId = "group.id",
    GroupName = "group.name",
    AuditdSequence = "auditd.sequence",
    AuditdSession = "auditd.session",
    AuditdAuid = "auditd.auid",
    AuditdSyscall = "auditd.syscall",
    AuditdKey = "auditd.key",
    AuditdNode = "auditd.node",
    AuditdAuidName = "auditd.auid_name",
    AuditdArch = "auditd.arch",
    AuditdTty = "auditd.tty",
    AuditdSubj = "auditd.subj",
    AgentType = "agent.type",
    AgentVersion = "agent.version",
    AgentId = "agent.id",
    EcsVersion = "ecs.version",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in KnownField::ALL {
            assert_eq!(KnownField::from_name(f.name()), Some(*f));
        }
        assert_eq!(KnownField::from_name("process.env_vars"), None);
    }
}
