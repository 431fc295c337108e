//! CPU cost of the /proc watcher's polls, with 2,000 and 10,000 processes on the host, idle and
//! under a paced load of 1,000 execs per second.
//!
//! - `listing`: one full listing of /proc ([`Poller::list_all`]).
//! - `idle_poll`: [`Poller::poll`] on an idle host: it skips the listing while no pid has been
//!   allocated since the last one, and lists at least once a second, so a poll costs a few µs most of
//!   the time and a listing once a second (the median is the skipped poll; on a host where other
//!   processes start it lists more often).
//! - `listing_under_1000_execs_per_s`: a full listing while execs run (every poll lists then).
//!
//! `cargo bench --bench procfs_poll` (Linux; more processes than `pid_max` or the user's process
//! limit allow are not started, and the run says so). The processes are tiny static programs that
//! wait in `pause()`, started before and killed after each group (they also die with the benchmark,
//! through `PR_SET_PDEATHSIG`). The time reported is the polling thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), not wall time, so other work on a shared machine does not inflate it;
//! the load's own CPU is not counted. `scan` is the kernel's `getdents64` of /proc alone, the floor
//! any listing pays.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use execwatch::event::Host;
use execwatch::source::procfs::sys::{thread_cpu_ns, PidDir};
use execwatch::source::procfs::{Poller, PollerConfig, ProcfsStats};

/// Waits forever in `pause()`; asks the kernel to kill it when its parent dies. No C library.
const PAUSE_C: &str = r#"
void _start(void) {
    __asm__ volatile("mov $157, %%eax\n mov $1, %%edi\n mov $9, %%esi\n syscall"
                     ::: "rax", "rdi", "rsi", "rcx", "r11", "memory");
    for (;;)
        __asm__ volatile("mov $34, %%eax\n syscall" ::: "rax", "rcx", "r11", "memory");
}
"#;

/// Exits 0 at once (the load's exec: only the kernel's exec is paid, no dynamic loader).
const EXIT0_C: &str = r#"
void _start(void) {
    __asm__ volatile("mov $60, %eax\n xor %edi, %edi\n syscall");
    for (;;) {}
}
"#;

/// Builds a static, libc-free program, or `None` where it cannot be built (not x86-64, no cc).
fn build(dir: &Path, name: &str, source: &str) -> Option<PathBuf> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, source).ok()?;
    let ok = Command::new("cc")
        .args(["-static", "-nostdlib", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(bin)
}

/// Processes started for the benchmark, killed and reaped when dropped.
struct Sleepers(Vec<Child>);

impl Sleepers {
    /// Starts processes until the host runs about `total` (never fewer than none).
    fn fill_to(&mut self, total: usize, pause: Option<&Path>) {
        let now = count_processes();
        for _ in now..total {
            let mut cmd = match pause {
                Some(p) => Command::new(p),
                None => {
                    let mut c = Command::new("sleep");
                    c.arg("3600");
                    c
                }
            };
            match cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(c) => self.0.push(c),
                Err(e) => {
                    eprintln!("stopped at {} processes: {e}", count_processes());
                    break;
                }
            }
        }
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn count_processes() -> usize {
    let mut n = 0;
    let _ = PidDir::default().scan(Path::new("/proc"), |_| n += 1);
    n
}

/// Execs `exit0` at `per_second` from two threads until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl Load {
    fn start(program: PathBuf, per_second: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let workers = 2;
        let period = Duration::from_secs(1) * workers / u32::try_from(per_second).unwrap_or(1);
        let threads = (0..workers)
            .map(|_| {
                let (stop, done, program) = (stop.clone(), done.clone(), program.clone());
                std::thread::spawn(move || {
                    let mut next = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        let ok = Command::new(&program)
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status()
                            .is_ok();
                        done.fetch_add(u64::from(ok), Ordering::Relaxed);
                        next += period;
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        } else if now - next > Duration::from_millis(100) {
                            next = now; // fell behind: do not burst to catch up
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            done,
            threads,
            started: Instant::now(),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let rate = self.done.load(Ordering::Relaxed) as f64 / self.started.elapsed().as_secs_f64();
        eprintln!("load: {rate:.0} execs/s");
    }
}

/// A seeded poller of the real /proc, as the watcher runs it with the proc connector.
fn poller() -> Poller {
    let mut p = Poller::new(
        PollerConfig::system(),
        Arc::new(Host::default()),
        Arc::new(ProcfsStats::default()),
    );
    p.set_connector(true);
    let mut out = Vec::new();
    p.seed(&mut out).expect("list /proc");
    p
}

/// Thread CPU time of `iters` full polls.
fn poll_cpu(p: &mut Poller, iters: u64, full: bool) -> Duration {
    let mut out = Vec::new();
    let mut total = 0;
    for _ in 0..iters {
        let t = thread_cpu_ns();
        if full {
            p.list_all(&mut out).expect("list /proc");
        } else {
            p.poll(&mut out).expect("list /proc");
        }
        total += thread_cpu_ns() - t;
        black_box(&out);
        out.clear();
    }
    Duration::from_nanos(total)
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("execwatch-procfs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let pause = build(&dir, "pause", PAUSE_C);
    let exit0 = build(&dir, "exit0", EXIT0_C);
    if pause.is_none() {
        eprintln!("the static pause helper could not be built: using `sleep`");
    }
    let mut sleepers = Sleepers(Vec::new());
    for total in [2_000, 10_000] {
        sleepers.fill_to(total, pause.as_deref());
        eprintln!("{} processes on the host", count_processes());
        let mut group = c.benchmark_group(format!("procfs/{total}"));
        group.sample_size(50);
        group.bench_function("scan", |b| {
            let mut d = PidDir::default();
            b.iter_custom(|iters| {
                let t = thread_cpu_ns();
                for _ in 0..iters {
                    let mut n = 0u32;
                    d.scan(Path::new("/proc"), |_| n += 1).expect("list /proc");
                    black_box(n);
                }
                Duration::from_nanos(thread_cpu_ns() - t)
            })
        });
        let mut p = poller();
        group.bench_function("listing", |b| {
            b.iter_custom(|iters| poll_cpu(&mut p, iters, true))
        });
        group.bench_function("idle_poll", |b| {
            b.iter_custom(|iters| poll_cpu(&mut p, iters, false))
        });
        match &exit0 {
            Some(program) => {
                let load = Load::start(program.clone(), 1_000);
                std::thread::sleep(Duration::from_millis(500));
                group.bench_function("listing_under_1000_execs_per_s", |b| {
                    b.iter_custom(|iters| poll_cpu(&mut p, iters, true))
                });
                drop(load);
            }
            None => eprintln!("no static exit helper: the loaded poll is not measured"),
        }
        group.finish();
    }
    drop(sleepers);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
