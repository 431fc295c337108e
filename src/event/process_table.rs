//! What the agent knows about running processes, so children can name their parents.
//!
//! Every exec the agent sees is remembered by pid; a later exec whose parent pid is known gets the
//! parent's executable, name, args and command line. Rules such as the newest Elastic version of the
//! seed rule (`not process.parent.executable == "/usr/lib/systemd/systemd"`) depend on it.
//!
//! The table is bounded in entries and in bytes: past either limit the least recently inserted pid is
//! forgotten, so neither a fork storm nor execs with megabytes of arguments can grow memory without
//! limit. (A replay of a log built from huge-argument execs reached 530 MB before the byte bound.)

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::event::exec::ProcessImage;

/// Default capacity: well above the process count of a busy host (`pid_max` defaults to 32,768 on
/// small hosts and 4,194,304 on large ones, but live processes number in the thousands).
pub const DEFAULT_CAPACITY: usize = 65_536;

/// Default byte budget for the remembered images (their args and paths).
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// The order queue is never compacted below this many entries (a compaction of a tiny table would
/// run at nearly every insert).
const MIN_ORDER: usize = 1024;

/// Roughly what an image costs in memory: its strings plus fixed overhead.
fn image_bytes(image: &ProcessImage) -> usize {
    let strings: usize = image.args.iter().map(|a| a.len() + 24).sum::<usize>()
        + image.executable.as_ref().map_or(0, String::len)
        + image.name.as_ref().map_or(0, String::len)
        + image.command_line.len()
        + image.entity_id.len();
    strings + std::mem::size_of::<ProcessImage>() + 64
}

/// A hasher for pids, which come from the kernel rather than from someone choosing collisions. Each
/// exec looks up its parent and inserts itself: with SipHash, `insert` took twice as many
/// instructions, and replay 45 more per line (callgrind, 200,000 lines of the bench log).
///
/// The low bits, which pick the bucket, are the pid itself: the kernel hands out pids in increasing
/// order, so processes started one after the other sit in neighbouring buckets, and inserting the
/// newest and forgetting the oldest touch a few cache lines instead of one each. The top seven bits,
/// which the table compares before the keys, are mixed. Measured: `insert` went from 7.1% to 4.2% of
/// the replay's cycles (perf, the 1,000,000-line bench log).
#[derive(Default)]
struct PidHasher(u64);

impl Hasher for PidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u32(u32::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        let mixed = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = (mixed & (0x7f << 57)) | u64::from(n);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// pid -> the newest image seen for it.
///
/// Generations are `u32`, wrapping: an order entry is compared with the live generation of its pid,
/// and the queue is compacted long before 2^32 inserts could make a stale entry look live again.
/// Half the size of `u64` ones: 8 bytes less per map slot and per queue entry, about 0.4 MB for the
/// 15,000 processes known under 1,000 execs/s with 10,000 running (32,768 slots, ~30,000 entries).
#[derive(Debug)]
pub struct ProcessTable {
    by_pid: HashMap<u32, (u32, Arc<ProcessImage>), BuildHasherDefault<PidHasher>>,
    order: VecDeque<(u32, u32)>,
    next_generation: u32,
    capacity: usize,
    bytes: usize,
    max_bytes: usize,
    forgotten: u64,
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable::with_capacity(DEFAULT_CAPACITY)
    }
}

impl ProcessTable {
    /// A table that remembers at most `capacity` processes (at least one).
    pub fn with_capacity(capacity: usize) -> ProcessTable {
        ProcessTable::with_limits(capacity, DEFAULT_MAX_BYTES)
    }

    /// A table that remembers at most `capacity` processes and about `max_bytes` of their data.
    pub fn with_limits(capacity: usize, max_bytes: usize) -> ProcessTable {
        ProcessTable {
            by_pid: HashMap::default(),
            order: VecDeque::new(),
            next_generation: 0,
            capacity: capacity.max(1),
            bytes: 0,
            max_bytes,
            forgotten: 0,
        }
    }

    /// Records that `image` now runs as its pid (an exec replaces what the pid ran before).
    pub fn insert(&mut self, image: Arc<ProcessImage>) {
        let Some(pid) = image.pid else { return };
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        self.bytes += image_bytes(&image);
        if let Some((_, old)) = self.by_pid.insert(pid, (generation, image)) {
            self.bytes = self.bytes.saturating_sub(image_bytes(&old));
        }
        self.order.push_back((pid, generation));
        while self.by_pid.len() > self.capacity
            || (self.bytes > self.max_bytes && self.by_pid.len() > 1)
        {
            self.evict_oldest();
        }
        // Stale order entries (pids re-inserted or removed since) are dropped lazily, once they are
        // as many as the live ones: the queue stays within about twice the table, and a compaction
        // pays for the inserts since the last one. (Bounded by the capacity alone, the queue of an
        // agent under 1,000 execs/s grows to 131,072 entries, 2 MB and up to 4 MB of capacity,
        // whatever the number of live processes. With this, the `u32` generations and the same
        // compaction in `Dedup`, the agent's RSS under that load with 10,000 extra processes went
        // from 20.8 MB to 19.2 to 19.7 MB, benches/agent.py.)
        let bound = self.by_pid.len().max(MIN_ORDER).saturating_mul(2);
        if self.order.len() > bound.min(self.capacity.saturating_mul(2)) {
            let by_pid = &self.by_pid;
            self.order
                .retain(|(pid, generation)| by_pid.get(pid).is_some_and(|(g, _)| g == generation));
            self.order.shrink_to(bound);
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((pid, generation)) = self.order.pop_front() {
            if self.by_pid.get(&pid).is_some_and(|(g, _)| *g == generation) {
                if let Some((_, old)) = self.by_pid.remove(&pid) {
                    self.bytes = self.bytes.saturating_sub(image_bytes(&old));
                }
                self.forgotten += 1;
                return;
            }
        }
    }

    /// The image `pid` runs, if known.
    pub fn get(&self, pid: u32) -> Option<&Arc<ProcessImage>> {
        self.by_pid.get(&pid).map(|(_, image)| image)
    }

    /// Forgets `pid` (it exited).
    pub fn remove(&mut self, pid: u32) {
        if let Some((_, old)) = self.by_pid.remove(&pid) {
            self.bytes = self.bytes.saturating_sub(image_bytes(&old));
        }
    }

    /// About how many bytes the remembered images take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many processes are remembered.
    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    /// How many processes were forgotten for lack of room.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(pid: u32, exe: &str) -> Arc<ProcessImage> {
        Arc::new(ProcessImage {
            pid: Some(pid),
            executable: Some(exe.into()),
            ..ProcessImage::default()
        })
    }

    #[test]
    fn newest_exec_wins_and_capacity_is_kept() {
        let mut t = ProcessTable::with_capacity(2);
        t.insert(image(1, "/a"));
        t.insert(image(2, "/b"));
        t.insert(image(1, "/c"));
        assert_eq!(t.get(1).unwrap().executable.as_deref(), Some("/c"));
        t.insert(image(3, "/d"));
        assert_eq!(t.len(), 2);
        assert!(t.get(2).is_none(), "pid 2 was the least recently inserted");
        assert_eq!(t.forgotten(), 1);
        for pid in 10..10_000 {
            t.insert(image(pid, "/x"));
        }
        assert_eq!(t.len(), 2);
        assert!(t.order.len() <= 4);
    }

    #[test]
    fn order_queue_follows_the_live_entries() {
        let mut t = ProcessTable::with_capacity(65_536);
        for pid in 1..=200_000 {
            t.insert(image(pid, "/x"));
            t.remove(pid);
        }
        assert!(t.is_empty());
        assert!(t.order.len() <= 2 * MIN_ORDER + 1, "{}", t.order.len());
        assert!(
            t.order.capacity() <= 4 * MIN_ORDER,
            "{}",
            t.order.capacity()
        );
        for pid in 1..=10_000 {
            t.insert(image(pid, "/x"));
        }
        for pid in 1..=10_000 {
            t.insert(image(pid, "/y"));
        }
        assert_eq!(t.len(), 10_000);
        assert!(t.order.len() <= 20_001, "{}", t.order.len());
        assert_eq!(t.get(1).unwrap().executable.as_deref(), Some("/y"));
    }

    #[test]
    fn byte_budget_forgets_the_oldest_and_keeps_the_newest() {
        let mut t = ProcessTable::with_limits(1000, 1_000_000);
        let huge = |pid| {
            Arc::new(ProcessImage {
                pid: Some(pid),
                args: vec!["A".repeat(300_000)],
                ..ProcessImage::default()
            })
        };
        for pid in 1..=10 {
            t.insert(huge(pid));
        }
        assert_eq!(t.len(), 3, "three 300 kB images fit in 1 MB");
        assert!(t.get(10).is_some() && t.get(7).is_none());
        assert!(t.bytes() <= 1_000_000);
        t.remove(10);
        t.remove(9);
        t.remove(8);
        assert_eq!((t.len(), t.bytes()), (0, 0));
        let mut one = ProcessTable::with_limits(10, 10);
        one.insert(huge(1));
        assert_eq!(
            one.len(),
            1,
            "the newest image is kept even when alone over budget"
        );
    }
}
