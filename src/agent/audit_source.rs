//! The live audit source: follower + assembler + checkpoint, with positions that survive rotation.
//!
//! The assembler only knows opaque `u64` positions. Here a position is a file generation (a counter
//! that grows each time the follower moves to another file) in the high bits and the byte offset in the
//! low 40 bits, so positions keep growing across rotations and the oldest open event's first line can
//! be turned back into a `(device, inode, offset)` for the checkpoint.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use crate::source::audit::checkpoint::{Checkpoint, CheckpointStore, StoredId, MAX_CLOSED};
use crate::source::audit::follower::{FileId, FilePosition, Follower, Notice, StartAt};
use crate::source::audit::{Assembled, Assembler, AssemblerConfig, EventId};

/// Bits of a position that hold the byte offset (1 TiB per file).
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// How many file generations are remembered for decoding positions.
const GENERATIONS: usize = 16;

/// Counters of the audit source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditSourceStats {
    /// Lines read.
    pub lines: u64,
    /// Lines that were not audit records, or too long.
    pub bad_lines: u64,
    /// Rotations followed.
    pub rotations: u64,
    /// Truncations seen.
    pub truncations: u64,
}

/// Follows one audit log.
#[derive(Debug)]
pub struct AuditSource {
    path: std::path::PathBuf,
    follower: Follower,
    assembler: Assembler,
    store: CheckpointStore,
    generations: VecDeque<(u64, FileId)>,
    generation: u64,
    closed: VecDeque<(u64, EventId)>,
    saved: Option<Checkpoint>,
    stats: AuditSourceStats,
    /// When the source was opened, until it first caught up with the log's end (then `None`).
    catching_up_since: Option<std::time::Instant>,
}

impl AuditSource {
    /// Starts following `path`: from the checkpoint in `state_dir` when there is one, else at the first
    /// record younger than `since_ms`. A damaged checkpoint is reported and ignored.
    pub fn open(path: &Path, state_dir: &Path, since_ms: u64) -> AuditSource {
        let store = CheckpointStore::new(state_dir);
        // Events are built without PATH and PROCTITLE records.
        let mut assembler = Assembler::new(AssemblerConfig {
            keep_paths: false,
            ..AssemblerConfig::default()
        });
        let start = match store.load() {
            Ok(Some(cp)) => {
                tracing::info!(
                    inode = cp.position.file.ino,
                    offset = cp.position.offset,
                    "resuming audit.log from the checkpoint"
                );
                for id in &cp.closed {
                    assembler.mark_closed(&EventId::from(id));
                }
                StartAt::Position(cp.position)
            }
            Ok(None) => StartAt::Since(since_ms),
            Err(e) => {
                tracing::warn!("{e}; starting without it");
                StartAt::Since(since_ms)
            }
        };
        AuditSource {
            path: path.to_path_buf(),
            follower: Follower::new(path, start),
            assembler,
            store,
            generations: VecDeque::new(),
            generation: 0,
            closed: VecDeque::new(),
            saved: None,
            stats: AuditSourceStats::default(),
            catching_up_since: Some(std::time::Instant::now()),
        }
    }

    /// Whether everything written to the log so far has been read: `false` while a backlog (the first
    /// start's lookback, a checkpoint far behind) is read a slice per poll.
    pub fn caught_up(&self) -> bool {
        self.follower.caught_up()
    }

    /// Whether the log is open (it may not exist yet).
    pub fn is_open(&self) -> bool {
        self.follower.position().is_some()
    }

    /// Reads what is new; closed events are appended to `out`. Returns the bytes read.
    pub fn poll(&mut self, out: &mut Vec<Assembled>) -> io::Result<u64> {
        let Self {
            follower,
            assembler,
            generations,
            generation,
            closed,
            stats,
            ..
        } = self;
        let mut notices = Vec::new();
        let read = follower.poll(
            &mut |line, pos| {
                stats.lines += 1;
                let position = encode(generations, generation, pos);
                let before = out.len();
                if let Err(e) = assembler.push_line(line, position, &mut |a| out.push(a)) {
                    stats.bad_lines += 1;
                    tracing::debug!(offset = pos.offset, "skipped audit line: {e}");
                }
                for item in &out[before..] {
                    let id = match item {
                        Assembled::Exec(e) => &e.id,
                        Assembled::Skipped { id, .. } => id,
                    };
                    closed.push_back((position, id.clone()));
                }
                while closed.len() > MAX_CLOSED {
                    closed.pop_front();
                }
            },
            &mut |n| notices.push(n),
        )?;
        for notice in notices {
            match notice {
                Notice::Opened(id) => tracing::info!(
                    dev = id.dev,
                    inode = id.ino,
                    "following {}",
                    self.path.display()
                ),
                Notice::Rotated { from, to } => {
                    self.stats.rotations += 1;
                    tracing::info!(from = from.ino, to = to.ino, "audit log rotated");
                }
                Notice::Truncated(id) => {
                    self.stats.truncations += 1;
                    tracing::warn!(
                        inode = id.ino,
                        "audit log truncated; reading it from its start"
                    );
                }
                Notice::LineTooLong(n) => {
                    self.stats.bad_lines += 1;
                    tracing::warn!(bytes = n, "skipped an over-long audit line");
                }
                Notice::PartialLineAtRotation(id) => {
                    tracing::warn!(
                        inode = id.ino,
                        "audit log ended mid-line when it was rotated"
                    )
                }
            }
        }
        if let Some(since) = self.catching_up_since {
            if self.follower.caught_up() {
                // Said once: an admin (and the end-to-end tests) can tell when alerts are live.
                tracing::info!(
                    lines = self.stats.lines,
                    "caught up with {} in {:.1} s",
                    self.path.display(),
                    since.elapsed().as_secs_f64()
                );
                self.catching_up_since = None;
            }
        }
        Ok(read)
    }

    /// Closes every open event (shutdown): their records will not be read again.
    pub fn flush(&mut self, out: &mut Vec<Assembled>) {
        let end = self
            .follower
            .position()
            .map(|p| encode(&mut self.generations, &mut self.generation, p));
        let before = out.len();
        self.assembler.flush(&mut |a| out.push(a));
        for item in &out[before..] {
            let id = match item {
                Assembled::Exec(e) => &e.id,
                Assembled::Skipped { id, .. } => id,
            };
            self.closed.push_back((end.unwrap_or(u64::MAX), id.clone()));
        }
    }

    /// The checkpoint for what has been handed out so far: every event before its position is closed.
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        let read_to = self.follower.position()?;
        let gen = self.generations.back().map_or(self.generation, |(g, _)| *g);
        let mut resume = (gen << OFFSET_BITS) | (read_to.offset & OFFSET_MASK);
        if let Some(oldest) = self.assembler.oldest_open_position() {
            resume = resume.min(oldest);
        }
        let position = self.decode(resume).unwrap_or(read_to);
        let closed = self
            .closed
            .iter()
            .filter(|(p, _)| *p >= resume)
            .map(|(_, id)| StoredId::from(id))
            .collect();
        Some(Checkpoint {
            version: 1,
            path: self.path.clone(),
            position,
            closed,
        })
    }

    /// Saves the checkpoint if it changed. Call only once every alert of every event handed out so far
    /// has been written.
    pub fn save_checkpoint(&mut self) -> io::Result<bool> {
        let Some(cp) = self.checkpoint() else {
            return Ok(false);
        };
        if self.saved.as_ref() == Some(&cp) {
            return Ok(false);
        }
        self.store.save(&cp)?;
        self.saved = Some(cp);
        Ok(true)
    }

    /// Counters so far.
    pub fn stats(&self) -> AuditSourceStats {
        self.stats
    }

    /// Events open in the assembler.
    pub fn open_events(&self) -> usize {
        self.assembler.open_events()
    }

    /// The assembler's counters.
    pub fn assembler_stats(&self) -> crate::source::audit::AssemblerStats {
        self.assembler.stats()
    }

    fn decode(&self, position: u64) -> Option<FilePosition> {
        let gen = position >> OFFSET_BITS;
        let file = self
            .generations
            .iter()
            .find(|(g, _)| *g == gen)
            .map(|(_, f)| *f)?;
        Some(FilePosition {
            file,
            offset: position & OFFSET_MASK,
        })
    }
}

fn encode(
    generations: &mut VecDeque<(u64, FileId)>,
    generation: &mut u64,
    pos: FilePosition,
) -> u64 {
    if generations.back().map(|(_, f)| *f) != Some(pos.file) {
        *generation += 1;
        generations.push_back((*generation, pos.file));
        while generations.len() > GENERATIONS {
            generations.pop_front();
        }
    }
    (*generation << OFFSET_BITS) | (pos.offset & OFFSET_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("execwatch-asrc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn event(serial: u64, pid: u32) -> Vec<String> {
        let h = format!("msg=audit(1700000000.{:03}:{serial}):", serial % 1000);
        vec![
            format!("type=SYSCALL {h} arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={pid} uid=0 comm=\"x\" exe=\"/bin/x\""),
            format!("type=EXECVE {h} argc=2 a0=\"x\" a1=\"{serial}\""),
            format!("type=CWD {h} cwd=\"/\""),
            format!("type=PROCTITLE {h} proctitle=78"),
        ]
    }

    fn serials(items: &[Assembled]) -> Vec<u64> {
        items
            .iter()
            .filter_map(|a| match a {
                Assembled::Exec(e) => Some(e.id.serial),
                Assembled::Skipped { .. } => None,
            })
            .collect()
    }

    #[test]
    fn restart_from_a_checkpoint_neither_repeats_nor_loses_interleaved_events() {
        let d = dir("restart");
        let log = d.join("audit.log");
        let state = d.join("state");
        let (a, b, c) = (event(1, 10), event(2, 11), event(3, 12));
        // Event 1 opens, event 2 comes whole in between, event 1 is still open at the checkpoint.
        let first = [
            a[0].clone(),
            a[1].clone(),
            b[0].clone(),
            b[1].clone(),
            b[2].clone(),
            b[3].clone(),
        ];
        append(&log, &(first.join("\n") + "\n"));
        let mut src = AuditSource::open(&log, &state, 0);
        let mut out = Vec::new();
        src.poll(&mut out).unwrap();
        assert_eq!(serials(&out), [2]);
        assert!(src.save_checkpoint().unwrap());
        let cp = src.checkpoint().unwrap();
        assert_eq!(
            cp.position.offset, 0,
            "event 1 is open: resume at its first line"
        );
        assert_eq!(cp.closed.len(), 1);
        drop(src);
        // The rest arrives after a restart, across a rotation.
        append(&log, &(a[2..].join("\n") + "\n"));
        std::fs::rename(&log, d.join("audit.log.1")).unwrap();
        append(&log, &(c.join("\n") + "\n"));
        let mut src = AuditSource::open(&log, &state, 0);
        let mut out = Vec::new();
        src.poll(&mut out).unwrap();
        assert_eq!(
            serials(&out),
            [1, 3],
            "event 2 is not repeated, 1 and 3 are not lost"
        );
        src.save_checkpoint().unwrap();
        let cp = src.checkpoint().unwrap();
        assert_eq!(cp.position.offset, std::fs::metadata(&log).unwrap().len());
        drop(src);
        let mut src = AuditSource::open(&log, &state, 0);
        let mut out = Vec::new();
        src.poll(&mut out).unwrap();
        assert!(out.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
