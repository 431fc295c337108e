//! Follows audit.log as auditd writes it: partial lines, rotation, truncation, a log not there yet.
//!
//! auditd rotates by renaming `audit.log` to `audit.log.1` and creating a new `audit.log`, with no
//! marker record; an event can straddle the two files. So the follower keeps its open descriptor, and
//! when the path names a new inode it first drains the old descriptor to its end, then switches. It polls
//! (a `stat` and a `read` per tick) rather than using inotify: that works on every file system and kernel,
//! and at auditd's write rates a 100 ms poll costs nothing measurable.
//!
//! Positions are `(device, inode, offset)`, the form a checkpoint stores: a restart resumes at the same
//! inode and offset, even when that file has since been rotated to `audit.log.1`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::source::audit::reader::MAX_LINE;

/// Opens an audit log for reading, refusing anything but a regular file.
///
/// A plain `File::open` of a FIFO blocks until a writer appears, so an
/// audit.log path replaced by a FIFO hung the agent before its signal loop (SIGTERM was never acted
/// on), and a device (`/dev/zero`) would be read forever. The open is non-blocking (which changes
/// nothing for a regular file's reads) and the opened file's type is checked, so a symlink to a FIFO or
/// device is refused too. Symlinks to regular files are followed: see docs/security.md.
pub fn open_log(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file; refused", path.display()),
        ));
    }
    Ok(file)
}

/// Identity of a file: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Where a line starts: the file and the byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilePosition {
    /// The file.
    pub file: FileId,
    /// Byte offset of the line's first byte.
    pub offset: u64,
}

/// Where to begin on start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// At the first line of the current file.
    Beginning,
    /// At the current end of the file: only what is written from now on.
    End,
    /// At the first record written at or after this time (milliseconds since the epoch): a first start
    /// looks back as far as the rules do, so an exec just before the start is still seen, even when
    /// auditd has rotated it into `audit.log.1` (or older) since.
    Since(u64),
    /// At a saved position. If that file is no longer `audit.log` but was rotated to `audit.log.1`, the
    /// rest of `audit.log.1` is read first; if it cannot be found, at the beginning of `audit.log`.
    Position(FilePosition),
}

/// Things the follower noticed, for the agent's log and counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Opened the log (for the first time, or after it appeared).
    Opened(FileId),
    /// The log was rotated; the old file was drained to its end.
    Rotated {
        /// The file left behind.
        from: FileId,
        /// The new file.
        to: FileId,
    },
    /// The file shrank under us (copytruncate or an admin's `> audit.log`): reading restarts at 0.
    Truncated(FileId),
    /// A line longer than the limit was skipped; its length.
    LineTooLong(u64),
    /// A file ended in the middle of a line when it was rotated away; the piece is handed out as a line.
    PartialLineAtRotation(FileId),
}

struct Open {
    file: File,
    id: FileId,
    /// Offset of the next byte to read.
    offset: u64,
}

/// Follows one audit log path.
pub struct Follower {
    path: PathBuf,
    current: Option<Open>,
    /// A line begun but not yet ended by `\n`, and the offset where it begins.
    partial: Vec<u8>,
    partial_start: u64,
    /// The current partial line is being skipped because it is too long.
    skipping: bool,
    buf: Vec<u8>,
    pending_start: Option<StartAt>,
    /// Reading a rotated file while `audit.log` does not exist: newer rotated files are read as soon
    /// as this one is done, without waiting for a new `audit.log`.
    behind: bool,
    /// Bytes one poll may still read (see [`READ_PER_POLL`]).
    left: u64,
    /// The last poll stopped at [`READ_PER_POLL`] before the end of the log.
    stopped_early: bool,
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const READ_CHUNK: usize = 256 * 1024;

/// The most one poll reads (it stops at the first chunk boundary past it). A first start's lookback or
/// a checkpoint far behind can leave hundreds of megabytes to read; read in one go, their events piled
/// up in memory and the agent neither wrote its stats, nor took /proc sightings, nor acted on SIGTERM
/// until the end. A megabyte is a few milliseconds of work.
pub const READ_PER_POLL: u64 = 1024 * 1024;

/// How many rotated generations (`audit.log.1` ..) are looked at: auditd's `num_logs` is at most 999,
/// but its default is 5 and a follower more than a few rotations behind has lost data anyway.
const MAX_ROTATED: u32 = 9;

impl Follower {
    /// A follower of `path`, starting as `start` says once the file can be opened.
    pub fn new(path: impl Into<PathBuf>, start: StartAt) -> Follower {
        Follower {
            path: path.into(),
            current: None,
            partial: Vec::new(),
            partial_start: 0,
            skipping: false,
            buf: vec![0; READ_CHUNK],
            pending_start: Some(start),
            behind: false,
            left: READ_PER_POLL,
            stopped_early: false,
        }
    }

    /// Whether the last poll read to the end of the log: `false` while a backlog (a lookback, a
    /// checkpoint far behind, files rotated while we were stopped) is still being read, or before the
    /// log could be opened.
    pub fn caught_up(&self) -> bool {
        self.current.is_some() && !self.stopped_early
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The position after the last complete line handed out: where a restart would resume.
    pub fn position(&self) -> Option<FilePosition> {
        let open = self.current.as_ref()?;
        let offset = if self.partial.is_empty() && !self.skipping {
            open.offset
        } else {
            self.partial_start
        };
        Some(FilePosition {
            file: open.id,
            offset,
        })
    }

    /// Reads what is available now, up to about [`READ_PER_POLL`] bytes, and hands out each complete
    /// line with its position. Returns how many bytes were read; [`Follower::caught_up`] tells whether
    /// more is waiting. A missing log is not an error: it is opened once it exists.
    pub fn poll(
        &mut self,
        each: &mut dyn FnMut(&[u8], FilePosition),
        notice: &mut dyn FnMut(Notice),
    ) -> io::Result<u64> {
        self.left = READ_PER_POLL;
        self.stopped_early = false;
        if self.current.is_none() && !self.open_current(notice)? {
            return Ok(0);
        }
        let mut total = self.drain(each, notice)?;
        // Rotation or truncation is checked after reaching the end, so nothing written to the old file
        // before the rename is missed. A poll that stopped at its read limit returns at once, and the
        // next one goes on from the same file and state.
        while let Some(open) = self.current.as_ref() {
            if self.stopped_early {
                break;
            }
            let (open_id, open_offset) = (open.id, open.offset);
            let on_disk = match std::fs::metadata(&self.path) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            let size_now = open.file.metadata()?.len();
            match on_disk {
                None if self.behind => {
                    // Started in a rotated file with no `audit.log` yet: go on to the newer rotated
                    // files, and stay on the newest (its end may still be read when `audit.log` shows).
                    for newer in self.rotated_since(open_id) {
                        total += self.drain(each, notice)?;
                        if self.stopped_early {
                            return Ok(total);
                        }
                        self.flush_partial_at_rotation(each, notice);
                        self.current = Some(newer);
                    }
                    total += self.drain(each, notice)?;
                    self.behind = self.stopped_early;
                    break;
                }
                Some(meta) if FileId::of(&meta) != open_id => {
                    // Rotated. Drain what was written to the old file since our last read, then switch.
                    self.behind = false;
                    total += self.drain(each, notice)?;
                    if self.stopped_early {
                        break;
                    }
                    let from = open_id;
                    self.flush_partial_at_rotation(each, notice);
                    // Several rotations since the last poll: read the files in between, oldest first.
                    for missed in self.rotated_since(from) {
                        self.current = Some(missed);
                        total += self.drain(each, notice)?;
                        if self.stopped_early {
                            return Ok(total);
                        }
                        self.flush_partial_at_rotation(each, notice);
                    }
                    let file = open_log(&self.path)?;
                    let to = FileId::of(&file.metadata()?);
                    self.current = Some(Open {
                        file,
                        id: to,
                        offset: 0,
                    });
                    notice(Notice::Rotated { from, to });
                    total += self.drain(each, notice)?;
                }
                _ if size_now < open_offset => {
                    let id = open_id;
                    if let Some(open) = self.current.as_mut() {
                        open.offset = 0;
                        open.file.seek(SeekFrom::Start(0))?;
                    }
                    self.partial.clear();
                    self.skipping = false;
                    notice(Notice::Truncated(id));
                    total += self.drain(each, notice)?;
                }
                _ => break,
            }
        }
        Ok(total)
    }

    /// Opens the path for the first time (or after it appeared), honouring the start position.
    fn open_current(&mut self, notice: &mut dyn FnMut(Notice)) -> io::Result<bool> {
        let file = match open_log(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The log was rotated away and auditd has not written a new one yet: what is left of
                // the checkpointed file, or the lookback's records, may wait in the rotated files.
                let older = match self.pending_start {
                    Some(StartAt::Since(millis)) => self.oldest_rotated_since(millis)?,
                    Some(StartAt::Position(pos)) => self.find_rotated(pos),
                    _ => None,
                };
                if let Some(older) = older {
                    self.pending_start = None;
                    self.start_in(older, notice);
                    return Ok(true);
                }
                // Whatever the log holds once it appears was written after we started: read it all.
                if matches!(self.pending_start, Some(StartAt::End | StartAt::Since(_))) {
                    self.pending_start = Some(StartAt::Beginning);
                }
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let id = FileId::of(&meta);
        let start = self.pending_start.take().unwrap_or(StartAt::Beginning);
        let mut open = Open {
            file,
            id,
            offset: 0,
        };
        match start {
            StartAt::Beginning => {}
            StartAt::End => open.offset = meta.len(),
            StartAt::Since(millis) => {
                open.offset = offset_since(&mut open.file, millis)?.0;
                // The whole log is within the lookback: so may be the end of the files rotated before
                // it. auditd rotates by size, so a busy host's last minutes can span several files.
                if open.offset == 0 {
                    if let Some(older) = self.oldest_rotated_since(millis)? {
                        self.start_in(older, notice);
                        return Ok(true);
                    }
                }
            }
            StartAt::Position(pos) if pos.file == id && pos.offset <= meta.len() => {
                open.offset = pos.offset
            }
            StartAt::Position(pos) => {
                // The checkpointed file was rotated: finish it first if it is still around.
                if let Some(old) = self.find_rotated(pos) {
                    self.current = Some(old);
                    notice(Notice::Opened(pos.file));
                    return Ok(true);
                }
            }
        }
        open.file.seek(SeekFrom::Start(open.offset))?;
        self.partial_start = open.offset;
        self.current = Some(open);
        notice(Notice::Opened(id));
        Ok(true)
    }

    /// `audit.log.N`, opened, with its identity.
    fn rotated_file(&self, n: u32) -> Option<(File, FileId, u64)> {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        let file = open_log(&PathBuf::from(name)).ok()?;
        let meta = file.metadata().ok()?;
        Some((file, FileId::of(&meta), meta.len()))
    }

    /// Begins reading in a rotated file; the next polls go on through the newer ones to `audit.log`,
    /// as after a rotation.
    fn start_in(&mut self, older: Open, notice: &mut dyn FnMut(Notice)) {
        self.behind = true;
        self.partial_start = older.offset;
        notice(Notice::Opened(older.id));
        self.current = Some(older);
    }

    /// The oldest of `audit.log.1` .. `audit.log.9` holding a record at or after `millis`, opened at
    /// the first such record; `None` when no rotated file has one. Older files are looked at only while
    /// every record of the newer one is young enough.
    fn oldest_rotated_since(&self, millis: u64) -> io::Result<Option<Open>> {
        let mut oldest = None;
        for n in 1..=MAX_ROTATED {
            let Some((mut file, id, _)) = self.rotated_file(n) else {
                break;
            };
            let (offset, young) = offset_since(&mut file, millis)?;
            if !young {
                break;
            }
            oldest = Some(Open { file, id, offset });
            if offset > 0 {
                break;
            }
        }
        Ok(oldest)
    }

    /// `audit.log.1` .. `audit.log.9` holding the checkpointed inode, opened at the saved offset.
    fn find_rotated(&self, pos: FilePosition) -> Option<Open> {
        (1..=MAX_ROTATED).find_map(|n| {
            let (mut file, id, len) = self.rotated_file(n)?;
            if id != pos.file || pos.offset > len {
                return None;
            }
            file.seek(SeekFrom::Start(pos.offset)).ok()?;
            Some(Open {
                file,
                id,
                offset: pos.offset,
            })
        })
    }

    /// The files rotated after `from` and before the current `audit.log`, oldest first: when `from` is
    /// now `audit.log.N`, those are `audit.log.N-1` down to `audit.log.1`. Empty when `from` cannot be
    /// found (deleted by auditd's `num_logs`): then there is no telling which files are newer.
    fn rotated_since(&self, from: FileId) -> Vec<Open> {
        let Some(n) =
            (1..=MAX_ROTATED).find(|&n| self.rotated_file(n).is_some_and(|(_, id, _)| id == from))
        else {
            return Vec::new();
        };
        (1..n)
            .rev()
            .filter_map(|m| self.rotated_file(m))
            .map(|(file, id, _)| Open {
                file,
                id,
                offset: 0,
            })
            .collect()
    }

    /// Reads the open file to its current end, handing out complete lines.
    fn drain(
        &mut self,
        each: &mut dyn FnMut(&[u8], FilePosition),
        notice: &mut dyn FnMut(Notice),
    ) -> io::Result<u64> {
        let mut total = 0u64;
        loop {
            let Some(open) = self.current.as_mut() else {
                return Ok(total);
            };
            if self.left == 0 {
                self.stopped_early = true;
                return Ok(total);
            }
            let n = match open.file.read(&mut self.buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk_start = open.offset;
            open.offset += n as u64;
            total += n as u64;
            self.left = self.left.saturating_sub(n as u64);
            let id = open.id;
            let chunk = &self.buf[..n];
            let mut consumed = 0usize;
            while let Some(nl) = memchr::memchr(b'\n', &chunk[consumed..]) {
                let piece = &chunk[consumed..consumed + nl];
                let line_start = if self.partial.is_empty() && !self.skipping {
                    chunk_start + consumed as u64
                } else {
                    self.partial_start
                };
                let pos = FilePosition {
                    file: id,
                    offset: line_start,
                };
                if self.skipping {
                    let length = chunk_start + (consumed + nl) as u64 - self.partial_start;
                    notice(Notice::LineTooLong(length));
                    self.skipping = false;
                } else if self.partial.is_empty() && piece.len() > MAX_LINE {
                    notice(Notice::LineTooLong(piece.len() as u64));
                } else if self.partial.is_empty() {
                    each(piece, pos);
                } else if self.partial.len() + piece.len() > MAX_LINE {
                    notice(Notice::LineTooLong(
                        (self.partial.len() + piece.len()) as u64,
                    ));
                } else {
                    self.partial.extend_from_slice(piece);
                    each(&self.partial, pos);
                }
                self.partial.clear();
                consumed += nl + 1;
                self.partial_start = chunk_start + consumed as u64;
            }
            let rest = &chunk[consumed..];
            if !rest.is_empty() && !self.skipping {
                if self.partial.is_empty() {
                    self.partial_start = chunk_start + consumed as u64;
                }
                if self.partial.len() + rest.len() > MAX_LINE {
                    self.partial.clear();
                    self.skipping = true;
                } else {
                    self.partial.extend_from_slice(rest);
                }
            }
        }
    }

    fn flush_partial_at_rotation(
        &mut self,
        each: &mut dyn FnMut(&[u8], FilePosition),
        notice: &mut dyn FnMut(Notice),
    ) {
        let Some(open) = self.current.as_ref() else {
            return;
        };
        if self.skipping {
            notice(Notice::LineTooLong(open.offset - self.partial_start));
        } else if !self.partial.is_empty() {
            notice(Notice::PartialLineAtRotation(open.id));
            each(
                &self.partial,
                FilePosition {
                    file: open.id,
                    offset: self.partial_start,
                },
            );
        }
        self.partial.clear();
        self.skipping = false;
        self.partial_start = 0;
    }
}

/// The offset of the first line whose record time is at or after `millis`, and `true`; or the end of
/// the file's complete lines and `false` when no record is that young. Lines without a readable time
/// (junk) are passed over; the file is read once, front to back.
fn offset_since(file: &mut File, millis: u64) -> io::Result<(u64, bool)> {
    use std::io::BufRead;
    let mut reader = io::BufReader::with_capacity(READ_CHUNK, &mut *file);
    let mut offset = 0u64;
    let mut line = Vec::new();
    let mut young = false;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || !line.ends_with(b"\n") {
            break;
        }
        if record_millis(&line).is_some_and(|t| t >= millis) {
            young = true;
            break;
        }
        offset += n as u64;
    }
    drop(reader);
    file.seek(SeekFrom::Start(offset))?;
    Ok((offset, young))
}

/// The time of an audit record line, from `msg=audit(SEC.MSEC:`.
fn record_millis(line: &[u8]) -> Option<u64> {
    let start = memchr::memmem::find(line, b"msg=audit(")? + 10;
    let rest = &line[start..];
    let dot = memchr::memchr(b'.', rest)?;
    let sec: u64 = std::str::from_utf8(&rest[..dot]).ok()?.parse().ok()?;
    let msec: u64 = std::str::from_utf8(rest.get(dot + 1..dot + 4)?)
        .ok()?
        .parse()
        .ok()?;
    sec.checked_mul(1000)?.checked_add(msec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir(name: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("execwatch-follow-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    #[test]
    fn open_log_refuses_a_fifo_without_blocking_and_follows_a_symlink_to_a_file() {
        let d = dir("openlog");
        let fifo = d.0.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // A plain open would block here until a writer came.
        let e = open_log(&fifo).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(
            open_log(Path::new("/dev/zero")).is_err(),
            "devices are refused"
        );
        let file = d.0.join("file");
        std::fs::write(&file, "x\n").unwrap();
        let link = d.0.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(
            open_log(&link).is_ok(),
            "a symlink to a regular file is followed"
        );
    }

    fn poll(f: &mut Follower) -> (Vec<String>, Vec<Notice>) {
        let mut lines = Vec::new();
        let mut notices = Vec::new();
        f.poll(
            &mut |l, _| lines.push(String::from_utf8_lossy(l).into_owned()),
            &mut |n| notices.push(n),
        )
        .unwrap();
        (lines, notices)
    }

    fn append(path: &Path, data: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(data.as_bytes())
            .unwrap();
    }

    #[test]
    fn waits_for_the_log_and_keeps_partial_lines() {
        let d = dir("partial");
        let log = d.0.join("audit.log");
        let mut f = Follower::new(&log, StartAt::Beginning);
        assert_eq!(poll(&mut f).0, Vec::<String>::new());
        append(&log, "one\ntw");
        assert_eq!(poll(&mut f).0, ["one"]);
        assert_eq!(
            f.position().unwrap().offset,
            4,
            "a restart resumes at the partial line"
        );
        append(&log, "o\nthree\n");
        assert_eq!(poll(&mut f).0, ["two", "three"]);
        assert_eq!(f.position().unwrap().offset, 14);
    }

    #[test]
    fn rotation_drains_the_old_file_first_even_several_times() {
        let d = dir("rotate");
        let log = d.0.join("audit.log");
        append(&log, "a1\n");
        let mut f = Follower::new(&log, StartAt::Beginning);
        assert_eq!(poll(&mut f).0, ["a1"]);
        // Written after our last read, then rotated twice before we look again.
        append(&log, "a2\n");
        std::fs::rename(&log, d.0.join("audit.log.1")).unwrap();
        append(&log, "b1\n");
        let (lines, notices) = poll(&mut f);
        assert_eq!(lines, ["a2", "b1"]);
        assert!(
            matches!(notices[..], [Notice::Rotated { .. }]),
            "{notices:?}"
        );
        std::fs::rename(d.0.join("audit.log.1"), d.0.join("audit.log.2")).unwrap();
        std::fs::rename(&log, d.0.join("audit.log.1")).unwrap();
        append(&log, "c1\n");
        std::fs::rename(d.0.join("audit.log.1"), d.0.join("audit.log.2")).unwrap();
        std::fs::rename(&log, d.0.join("audit.log.1")).unwrap();
        append(&log, "d1\n");
        // c1's file was created and rotated away between two polls: it is found as audit.log.1, between
        // the file we had open (now audit.log.2) and the newest.
        let (lines, notices) = poll(&mut f);
        assert_eq!(lines, ["c1", "d1"]);
        assert_eq!(notices.len(), 1, "{notices:?}");
    }

    /// Polls until caught up; returns every line and how many polls it took.
    fn poll_to_end(f: &mut Follower) -> (Vec<String>, usize) {
        let mut lines = Vec::new();
        let mut polls = 0;
        loop {
            polls += 1;
            lines.extend(poll(f).0);
            if f.caught_up() {
                return (lines, polls);
            }
            assert!(polls < 1000, "never caught up");
        }
    }

    /// Lines `prefix-0` .. of 100 bytes each, `bytes` in all.
    fn numbered(prefix: &str, bytes: u64) -> (String, Vec<String>) {
        let lines: Vec<String> = (0..bytes / 100)
            .map(|i| format!("{prefix}-{i:0>w$}", w = 99 - prefix.len() - 1))
            .collect();
        let text = lines.iter().map(|l| format!("{l}\n")).collect();
        (text, lines)
    }

    #[test]
    fn a_backlog_is_read_a_slice_per_poll_in_order_across_rotations() {
        let d = dir("slices");
        let log = d.0.join("audit.log");
        let (old, old_lines) = numbered("old", 3 * READ_PER_POLL);
        append(&log, &old);
        let mut f = Follower::new(&log, StartAt::Beginning);
        assert!(!f.caught_up(), "not caught up before the first poll");
        let (first, _) = poll(&mut f);
        assert!(!first.is_empty() && first.len() < old_lines.len());
        assert!(!f.caught_up());
        // Rotated twice while the backlog is still being read: the rest of the old file, then the one
        // rotated in between, then the new log.
        std::fs::rename(&log, d.0.join("audit.log.1")).unwrap();
        let (mid, mid_lines) = numbered("mid", 2 * READ_PER_POLL);
        append(&log, &mid);
        std::fs::rename(d.0.join("audit.log.1"), d.0.join("audit.log.2")).unwrap();
        std::fs::rename(&log, d.0.join("audit.log.1")).unwrap();
        append(&log, "new\n");
        let (rest, polls) = poll_to_end(&mut f);
        assert!(polls >= 4, "{polls} polls for 4 MiB left");
        let mut all = first;
        all.extend(rest);
        let mut expected = old_lines;
        expected.extend(mid_lines);
        expected.push("new".into());
        assert_eq!(all.len(), expected.len());
        assert!(all == expected, "every line once, in order");
        assert_eq!(f.position().unwrap().offset, 4);
    }

    #[test]
    fn a_lookback_in_rotated_files_is_read_a_slice_per_poll_while_the_log_is_missing() {
        let d = dir("slices-missing");
        let log = d.0.join("audit.log");
        let (old, mut expected) = numbered("type=X msg=audit(1000.000:1):", 2 * READ_PER_POLL);
        let (newer, newer_lines) = numbered("type=X msg=audit(2000.000:2):", 2 * READ_PER_POLL);
        std::fs::write(d.0.join("audit.log.2"), old).unwrap();
        std::fs::write(d.0.join("audit.log.1"), newer).unwrap();
        expected.extend(newer_lines);
        let mut f = Follower::new(&log, StartAt::Since(0));
        let (mut all, polls) = poll_to_end(&mut f);
        assert!(polls >= 4, "{polls} polls for 4 MiB");
        assert!(all == expected, "both rotated files, oldest first, once");
        append(&log, "new\n");
        all = poll_to_end(&mut f).0;
        assert_eq!(all, ["new"]);
    }

    #[test]
    fn a_log_created_after_the_start_is_read_from_its_beginning() {
        let d = dir("created");
        let log = d.0.join("audit.log");
        let mut f = Follower::new(&log, StartAt::End);
        assert!(poll(&mut f).0.is_empty());
        append(&log, "first\n");
        assert_eq!(poll(&mut f).0, ["first"]);
    }

    #[test]
    fn truncation_restarts_at_zero() {
        let d = dir("truncate");
        let log = d.0.join("audit.log");
        append(&log, "first line\nsecond\n");
        let mut f = Follower::new(&log, StartAt::Beginning);
        assert_eq!(poll(&mut f).0.len(), 2);
        std::fs::File::create(&log).unwrap();
        append(&log, "new\n");
        let (lines, notices) = poll(&mut f);
        assert_eq!(lines, ["new"]);
        assert!(matches!(notices[..], [Notice::Truncated(_)]));
    }

    #[test]
    fn resumes_from_a_position_even_after_rotation() {
        let d = dir("resume");
        let log = d.0.join("audit.log");
        append(&log, "l1\nl2\n");
        let mut f = Follower::new(&log, StartAt::Beginning);
        let mut positions = Vec::new();
        f.poll(&mut |_, p| positions.push(p), &mut |_| {}).unwrap();
        let after_l1 = FilePosition {
            file: positions[0].file,
            offset: positions[1].offset,
        };
        let mut g = Follower::new(&log, StartAt::Position(after_l1));
        assert_eq!(poll(&mut g).0, ["l2"]);
        append(&log, "l3\n");
        std::fs::rename(&log, d.0.join("audit.log.1")).unwrap();
        append(&log, "m1\n");
        let mut h = Follower::new(&log, StartAt::Position(after_l1));
        assert_eq!(poll(&mut h).0, ["l2", "l3", "m1"]);
        let mut end = Follower::new(&log, StartAt::End);
        assert_eq!(poll(&mut end).0, Vec::<String>::new());
        append(&log, "m2\n");
        assert_eq!(poll(&mut end).0, ["m2"]);
    }

    #[test]
    fn lookback_starts_at_the_first_record_young_enough() {
        let d = dir("since");
        let log = d.0.join("audit.log");
        append(
            &log,
            "type=A msg=audit(100.000:1): x\njunk\ntype=A msg=audit(159.999:2): x\n",
        );
        append(
            &log,
            "type=A msg=audit(160.000:3): x\ntype=A msg=audit(161.500:4): x\n",
        );
        let mut f = Follower::new(&log, StartAt::Since(160_000));
        let (lines, _) = poll(&mut f);
        assert_eq!(
            lines,
            [
                "type=A msg=audit(160.000:3): x",
                "type=A msg=audit(161.500:4): x"
            ]
        );
        let mut none = Follower::new(&log, StartAt::Since(999_000));
        assert!(poll(&mut none).0.is_empty());
        assert_eq!(
            record_millis(b"node=n type=SYSCALL msg=audit(1795802798.773:18556): a"),
            Some(1_795_802_798_773)
        );
        assert_eq!(record_millis(b"msg=audit(x.1:2)"), None);
    }

    #[test]
    fn lookback_reaches_into_rotated_files_oldest_first() {
        let d = dir("since-rotated");
        let log = d.0.join("audit.log");
        let rec = |t: &str| format!("type=A msg=audit({t}:1): x\n");
        std::fs::write(d.0.join("audit.log.3"), rec("100.000") + &rec("150.000")).unwrap();
        std::fs::write(d.0.join("audit.log.2"), rec("159.000") + &rec("161.000")).unwrap();
        std::fs::write(d.0.join("audit.log.1"), rec("162.000")).unwrap();
        append(&log, &rec("163.000"));
        let mut f = Follower::new(&log, StartAt::Since(160_000));
        let (lines, _) = poll(&mut f);
        assert_eq!(
            lines,
            [
                "type=A msg=audit(161.000:1): x",
                "type=A msg=audit(162.000:1): x",
                "type=A msg=audit(163.000:1): x"
            ]
        );
        append(&log, &rec("164.000"));
        assert_eq!(poll(&mut f).0, ["type=A msg=audit(164.000:1): x"]);
        // A log whose first record is old enough: the rotated files are not read.
        let mut g = Follower::new(&log, StartAt::Since(163_500));
        assert_eq!(poll(&mut g).0, ["type=A msg=audit(164.000:1): x"]);
        // No audit.log (auditd rotated it and has not written since): the rotated files are read,
        // then the new log once it appears.
        std::fs::rename(&log, d.0.join("audit.log.0")).unwrap();
        let mut h = Follower::new(&log, StartAt::Since(161_500));
        assert_eq!(poll(&mut h).0, ["type=A msg=audit(162.000:1): x"]);
        append(&log, &rec("165.000"));
        assert_eq!(poll(&mut h).0, ["type=A msg=audit(165.000:1): x"]);
        // A checkpoint in a file rotated away before a restart, with no new log yet: the rest of it
        // is read at once, then the new log once it appears.
        let at = FilePosition {
            file: FileId::of(&std::fs::metadata(d.0.join("audit.log.2")).unwrap()),
            offset: rec("159.000").len() as u64,
        };
        std::fs::remove_file(&log).unwrap();
        let mut r = Follower::new(&log, StartAt::Position(at));
        assert_eq!(
            poll(&mut r).0,
            [
                "type=A msg=audit(161.000:1): x",
                "type=A msg=audit(162.000:1): x"
            ]
        );
        append(&log, &rec("166.000"));
        assert_eq!(poll(&mut r).0, ["type=A msg=audit(166.000:1): x"]);
        // Nothing young enough anywhere: nothing is read, and the log is read from its beginning once
        // it appears.
        std::fs::remove_file(&log).unwrap();
        let mut e = Follower::new(&log, StartAt::Since(999_000));
        assert!(poll(&mut e).0.is_empty());
        append(&log, &rec("167.000"));
        assert_eq!(poll(&mut e).0, ["type=A msg=audit(167.000:1): x"]);
    }

    #[test]
    fn overlong_lines_are_skipped_and_reported() {
        let d = dir("long");
        let log = d.0.join("audit.log");
        let big = "x".repeat(MAX_LINE * 3);
        append(&log, &format!("ok\n{big}\nafter\n"));
        let mut f = Follower::new(&log, StartAt::Beginning);
        let (lines, notices) = poll(&mut f);
        assert_eq!(lines, ["ok", "after"]);
        assert_eq!(notices[1..], [Notice::LineTooLong((MAX_LINE * 3) as u64)]);
    }
}
