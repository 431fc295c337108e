//! Facts about the host the agent runs on, read once at start-up and shared by every event.

use serde::Serialize;

/// `host.*` fields (ECS), as Elastic Defend fills them.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Host {
    /// `host.hostname`: the kernel's host name.
    pub hostname: String,
    /// `host.name`: the same name; Elastic's rules and UI key hosts on it.
    pub name: String,
    /// `host.id`: `/etc/machine-id`, stable across reboots and renames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `host.architecture`: `uname -m`.
    pub architecture: String,
    /// `host.os.*`.
    pub os: HostOs,
}

/// `host.os.*` fields.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct HostOs {
    /// `host.os.type`: always `linux`; every Linux rule filters on it.
    #[serde(rename = "type")]
    pub kind: String,
    /// `host.os.family`: `ID_LIKE` or `ID` from os-release (e.g. `debian`, `rhel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// `host.os.name`: `NAME` from os-release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `host.os.version`: `VERSION_ID` from os-release.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `host.os.kernel`: `uname -r`.
    pub kernel: String,
}

impl Host {
    /// Reads the running host. Anything unreadable is left out rather than guessed.
    pub fn detect() -> Host {
        let uts = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uts.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| field(|u| u.nodename()));
        let id = std::fs::read_to_string("/etc/machine-id")
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let os_release = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .unwrap_or_default();
        let os = parse_os_release(&os_release, field(|u| u.release()));
        Host {
            name: hostname.clone(),
            hostname,
            id,
            architecture: field(|u| u.machine()),
            os,
        }
    }
}

/// Builds `host.os` from the text of os-release(5) and the kernel release.
fn parse_os_release(text: &str, kernel: String) -> HostOs {
    let get = |key: &str| {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(key)?.strip_prefix('=')?;
            let value = value.trim().trim_matches('"').trim_matches('\'');
            (!value.is_empty()).then(|| value.to_string())
        })
    };
    let family = get("ID_LIKE")
        .map(|like| {
            like.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .or_else(|| get("ID"));
    HostOs {
        kind: "linux".into(),
        family,
        name: get("NAME"),
        version: get("VERSION_ID"),
        kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let text = "PRETTY_NAME=\"Rocky Linux 8.9\"\nNAME=\"Rocky Linux\"\nVERSION_ID=\"8.9\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n";
        let os = parse_os_release(text, "4.18.0".into());
        assert_eq!(os.kind, "linux");
        assert_eq!(os.family.as_deref(), Some("rhel"));
        assert_eq!(os.name.as_deref(), Some("Rocky Linux"));
        assert_eq!(os.version.as_deref(), Some("8.9"));
        assert_eq!(os.kernel, "4.18.0");
        let debian = parse_os_release(
            "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n",
            "6.1".into(),
        );
        assert_eq!(debian.family.as_deref(), Some("debian"));
    }

    #[test]
    fn detect_reads_this_host() {
        let host = Host::detect();
        assert_eq!(host.os.kind, "linux");
        assert!(!host.hostname.is_empty());
        assert!(!host.os.kernel.is_empty());
    }
}
