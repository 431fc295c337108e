//! Where the audit.log follower resumes after a restart, saved atomically in the state folder.
//!
//! A checkpoint is a file position `(device, inode, offset)` before which every event has been
//! processed and its alerts written, plus the identities of the events closed at or after that
//! position (events interleave, so some of them have records after it). On restart the follower resumes
//! at the position and the assembler treats those identities as already closed, so nothing is read
//! twice into an alert and nothing is skipped.
//!
//! The file is written to a temporary name, synced, and renamed over the old one, then the folder is
//! synced: a crash at any moment leaves either the old or the new checkpoint, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::exec::EventId;
use super::follower::FilePosition;

/// The checkpoint file's name in the state folder.
pub const FILE_NAME: &str = "audit.checkpoint.json";

/// At most this many closed identities are kept (the assembler remembers as many).
pub const MAX_CLOSED: usize = 4096;

/// An event identity as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredId {
    /// `node=`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Seconds.
    pub sec: u64,
    /// Milliseconds.
    pub msec: u32,
    /// Serial.
    pub serial: u64,
}

impl From<&EventId> for StoredId {
    fn from(id: &EventId) -> StoredId {
        StoredId {
            node: id.node.as_deref().map(str::to_string),
            sec: id.sec,
            msec: id.msec,
            serial: id.serial,
        }
    }
}

impl From<&StoredId> for EventId {
    fn from(id: &StoredId) -> EventId {
        EventId {
            node: id.node.as_deref().map(Into::into),
            sec: id.sec,
            msec: id.msec,
            serial: id.serial,
        }
    }
}

/// What is saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version, for future changes.
    pub version: u32,
    /// The log that was followed (informational: a changed path still resumes by inode).
    pub path: PathBuf,
    /// Resume here.
    pub position: FilePosition,
    /// Events already closed that have records at or after `position`.
    #[serde(default)]
    pub closed: Vec<StoredId>,
}

/// Reads and writes the checkpoint of one state folder.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    /// The store in `state_dir` (created mode 0700 on first save when missing).
    pub fn new(state_dir: &Path) -> CheckpointStore {
        CheckpointStore {
            path: state_dir.join(FILE_NAME),
        }
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved checkpoint; `Ok(None)` when there is none yet. A damaged file is an error naming it,
    /// so the caller can say so and start without it.
    pub fn load(&self) -> io::Result<Option<Checkpoint>> {
        let text = match fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", self.path.display()),
                ))
            }
        };
        serde_json::from_slice(&text).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: damaged checkpoint: {e}", self.path.display()),
            )
        })
    }

    /// Saves `checkpoint` atomically and durably.
    pub fn save(&self, checkpoint: &Checkpoint) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&tmp)?;
        serde_json::to_writer(&mut file, checkpoint)?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        File::open(dir)?.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::audit::follower::FileId;

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = std::env::temp_dir().join(format!("execwatch-ckpt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = CheckpointStore::new(&dir.join("state"));
        assert_eq!(store.load().unwrap(), None);
        let id = EventId {
            node: Some("n1".into()),
            sec: 5,
            msec: 7,
            serial: 9,
        };
        let c = Checkpoint {
            version: 1,
            path: "/var/log/audit/audit.log".into(),
            position: FilePosition {
                file: FileId { dev: 1, ino: 2 },
                offset: 3,
            },
            closed: vec![StoredId::from(&id)],
        };
        store.save(&c).unwrap();
        store.save(&c).unwrap();
        assert_eq!(store.load().unwrap(), Some(c.clone()));
        assert_eq!(EventId::from(&c.closed[0]), id);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(store.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(store.path(), "{ torn").unwrap();
        let e = store.load().unwrap_err();
        assert!(e.to_string().contains("damaged checkpoint"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
