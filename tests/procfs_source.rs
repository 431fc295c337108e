//! The /proc watcher against real processes: exact events for each, seeds, exits, and catch rates
//! of very short processes with and without the proc connector.
//!
//! The connector assertions are skipped (with a printed reason) where the connector cannot be
//! opened, unless `EXECWATCH_REQUIRE_E2E=1`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use execwatch::event::exec::ExecEvent;
use execwatch::event::host::Host;
use execwatch::source::procfs::{spawn, ProcMessage, ProcfsConfig, ProcfsStats};

/// The tests share the machine's processes and CPU: one at a time, so catch rates mean something.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn require_e2e() -> bool {
    std::env::var("EXECWATCH_REQUIRE_E2E").is_ok_and(|v| v == "1")
}

/// A running watcher whose messages are collected by a thread, so it never blocks.
struct Watch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    collector: Option<JoinHandle<Vec<ProcMessage>>>,
    stats: Arc<ProcfsStats>,
}

impl Watch {
    fn start(proc_connector: bool) -> Watch {
        let (tx, rx) = sync_channel(4096);
        let stop = Arc::new(AtomicBool::new(false));
        let config = ProcfsConfig {
            proc_connector,
            ..ProcfsConfig::default()
        };
        let (handle, stats) =
            spawn(config, Arc::new(Host::detect()), tx, Arc::clone(&stop)).expect("spawn");
        let collector = std::thread::spawn(move || rx.into_iter().collect::<Vec<_>>());
        let t0 = Instant::now();
        while !stats.seeded.load(Relaxed) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "seeding took too long"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Watch {
            stop,
            handle: Some(handle),
            collector: Some(collector),
            stats,
        }
    }

    fn connector(&self) -> bool {
        self.stats.connector_active.load(Relaxed)
    }

    /// Lets the last poll notice exits, stops the watcher, and returns everything it said. Without
    /// the connector, exits are noticed by a listing, which runs at least once a second.
    fn finish(mut self) -> Vec<ProcMessage> {
        std::thread::sleep(Duration::from_millis(1300));
        self.stop.store(true, Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("watcher thread");
        }
        self.collector
            .take()
            .map(|c| c.join().expect("collector"))
            .unwrap_or_default()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

fn canonical(path: &str) -> String {
    std::fs::canonicalize(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Live `Exec` events of `pid`, in order.
fn execs_of(messages: &[ProcMessage], pid: u32) -> Vec<&ExecEvent> {
    messages
        .iter()
        .filter_map(|m| match m {
            ProcMessage::Exec { event, seed: false } if event.process.pid == Some(pid) => {
                Some(&**event)
            }
            _ => None,
        })
        .collect()
}

fn exited(messages: &[ProcMessage], pid: u32) -> usize {
    messages
        .iter()
        .filter(|m| matches!(m, ProcMessage::Exited { pid: p } if *p == pid))
        .count()
}

/// The one live Exec of `pid` running `args`; fails unless there is exactly one.
fn the_exec<'a>(messages: &'a [ProcMessage], pid: u32, args: &[&str]) -> &'a ExecEvent {
    let matching: Vec<_> = execs_of(messages, pid)
        .into_iter()
        .filter(|e| e.process.args == args)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "exactly one exec of {args:?} in pid {pid}, got {:#?}",
        execs_of(messages, pid)
            .iter()
            .map(|e| &e.process.args)
            .collect::<Vec<_>>()
    );
    matching[0]
}

#[test]
fn real_processes_are_reported_exactly_once() {
    let _guard = serial();
    let watch = Watch::start(true);
    let connector = watch.connector();
    if !connector {
        assert!(
            !require_e2e(),
            "EXECWATCH_REQUIRE_E2E=1 but the proc connector could not be opened"
        );
        println!("proc connector unavailable: checking only processes a 100 ms poll can see");
    }
    let me = std::process::id();
    let euid = nix::unistd::geteuid().as_raw().to_string();

    // sh -c 'exec /bin/true marker' lives about a millisecond: reading it after the connector's
    // exec event is a race the watcher usually but not always wins (see the catch rates), so it
    // runs first, alone, and up to 5 times until caught; a lost race leaves no event, never a wrong
    // one.
    let mut true_pids = Vec::new();
    for _ in 0..if connector { 5 } else { 1 } {
        let lost_before = watch.stats.exec_race_lost.load(Relaxed);
        let mut child = Command::new("/bin/sh")
            .args(["-c", "exec /bin/true execwatch-marker"])
            .spawn()
            .unwrap();
        true_pids.push(child.id());
        assert!(child.wait().unwrap().success());
        std::thread::sleep(Duration::from_millis(20));
        if watch.stats.exec_race_lost.load(Relaxed) == lost_before {
            break;
        }
    }
    let mut sleeper = Command::new("/bin/sleep").arg("2").spawn().unwrap();
    let py_code = "import time; time.sleep(0.6)";
    let mut python = Command::new("/usr/bin/python3")
        .args(["-c", py_code, "execwatch marker \u{e9}"])
        .spawn()
        .ok();
    let mut exec_sleep = Command::new("/bin/sh")
        .args(["-c", "exec sleep 1"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pids = [
        sleeper.id(),
        0,
        exec_sleep.id(),
        python.as_ref().map_or(0, |p| p.id()),
    ];
    for status in [
        sleeper.wait(),
        exec_sleep.wait(),
        python.as_mut().map_or_else(
            || Ok(std::os::unix::process::ExitStatusExt::from_raw(0)),
            |p| p.wait(),
        ),
    ] {
        assert!(status.unwrap().success());
    }
    let stats = Arc::clone(&watch.stats);
    let messages = watch.finish();

    // Seeds: running processes, this test among them, none alerting.
    let my_seed = messages.iter().find_map(|m| match m {
        ProcMessage::Exec { event, seed: true } if event.process.pid == Some(me) => Some(event),
        _ => None,
    });
    let my_seed = my_seed.expect("the test process is seeded");
    assert_eq!(
        my_seed.process.executable.as_deref(),
        std::env::current_exe()
            .ok()
            .as_deref()
            .and_then(Path::to_str)
    );
    assert!(
        execs_of(&messages, me).is_empty(),
        "no live exec of the test itself"
    );

    // /bin/sleep 2: one exec, exact argv, parent the test.
    let e = the_exec(&messages, pids[0], &["/bin/sleep", "2"]);
    assert_eq!(
        e.process.executable.as_deref(),
        Some(&*canonical("/bin/sleep"))
    );
    assert_eq!(e.process.name.as_deref(), Some("sleep"));
    assert_eq!(e.parent_pid, Some(me));
    assert_eq!(
        e.parent.as_ref().and_then(|p| p.executable.clone()),
        my_seed.process.executable
    );
    assert_eq!(
        e.credentials.user.as_ref().map(|u| u.id.clone()),
        Some(euid.clone())
    );
    assert_eq!(e.process.command_line, "/bin/sleep 2");
    assert_eq!(e.title.as_deref(), Some("sleep"));
    assert_eq!(exited(&messages, pids[0]), 1);

    // sh -c 'exec sleep 1': the pid ends up running sleep, reported once, its parent the test.
    let e = the_exec(&messages, pids[2], &["sleep", "1"]);
    assert_eq!(
        e.process.executable.as_deref(),
        Some(&*canonical("/bin/sleep"))
    );
    assert_eq!(e.parent_pid, Some(me));
    assert_eq!(
        e.credentials.user.as_ref().map(|u| u.id.clone()),
        Some(euid.clone())
    );
    let sh_images = execs_of(&messages, pids[2])
        .iter()
        .filter(|e| e.process.args == ["/bin/sh", "-c", "exec sleep 1"])
        .count();
    assert!(sh_images <= 1, "the shell image at most once");
    assert_eq!(exited(&messages, pids[2]), 1);

    // python3 with a distinctive, non-ASCII argv.
    if pids[3] != 0 {
        let e = the_exec(
            &messages,
            pids[3],
            &["/usr/bin/python3", "-c", py_code, "execwatch marker \u{e9}"],
        );
        assert_eq!(
            e.process.executable.as_deref(),
            Some(&*canonical("/usr/bin/python3"))
        );
        assert_eq!(e.parent_pid, Some(me));
        assert_eq!(exited(&messages, pids[3]), 1);
    } else {
        println!("no /usr/bin/python3: python case skipped");
    }

    // sh -c 'exec /bin/true marker': lives about a millisecond; only the connector catches it.
    let true_argv = ["/bin/true", "execwatch-marker"];
    let caught: Vec<u32> = true_pids
        .iter()
        .copied()
        .filter(|&pid| {
            execs_of(&messages, pid)
                .iter()
                .any(|e| e.process.args == true_argv)
        })
        .collect();
    println!(
        "sh -c 'exec /bin/true marker': caught {} of {} tries",
        caught.len(),
        true_pids.len()
    );
    // Catching a 1 ms process is a race with the kernel reaping it: on a loaded machine all five
    // tries can lose it (the 10 ms catch-rate check below is the firm one). What is caught must be
    // exact; what is not caught is only reported.
    if let (true, Some(&pid)) = (connector, caught.first()) {
        let e = the_exec(&messages, pid, &true_argv);
        assert_eq!(
            e.process.executable.as_deref(),
            Some(&*canonical("/bin/true"))
        );
        assert_eq!(e.parent_pid, Some(me));
        assert_eq!(
            e.credentials.user.as_ref().map(|u| u.id.clone()),
            Some(euid)
        );
        assert_eq!(exited(&messages, pid), 1);
    }
    for &pid in &true_pids {
        let images = execs_of(&messages, pid);
        assert!(
            images.len() <= 2,
            "sh and true at most once each: {images:#?}"
        );
        assert!(images.iter().all(|e| e.process.args == true_argv
            || e.process.args == ["/bin/sh", "-c", "exec /bin/true execwatch-marker"]));
    }
    println!(
        "execs {} (in place {}), seeds {}, exited {}, connector events {}, lost races {}",
        stats.execs.load(Relaxed),
        stats.exec_in_place.load(Relaxed),
        stats.seeds.load(Relaxed),
        stats.exited.load(Relaxed),
        stats.connector_events.load(Relaxed),
        stats.exec_race_lost.load(Relaxed),
    );
}

/// Runs `n` processes of `program args` one after another; returns how many the watcher reported
/// (an Exec of that exact argv in that pid).
fn catch_rate(connector: bool, n: usize, program: &str, args: &[&str]) -> (usize, bool) {
    let watch = Watch::start(connector);
    let active = watch.connector();
    let mut pids = Vec::with_capacity(n);
    for _ in 0..n {
        let mut child = Command::new(program).args(args).spawn().unwrap();
        pids.push(child.id());
        child.wait().unwrap();
    }
    let messages = watch.finish();
    let mut argv = vec![program];
    argv.extend_from_slice(args);
    let mut seen: HashMap<u32, usize> = HashMap::new();
    for m in &messages {
        if let ProcMessage::Exec { event, seed: false } = m {
            if event.process.args == argv {
                *seen.entry(event.process.pid.unwrap_or(0)).or_default() += 1;
            }
        }
    }
    for pid in &pids {
        assert!(
            seen.get(pid).copied().unwrap_or(0) <= 1,
            "pid {pid} reported twice"
        );
    }
    (pids.iter().filter(|p| seen.contains_key(p)).count(), active)
}

#[test]
fn catch_rates_of_short_processes() {
    let _guard = serial();
    let (mut ten_ms, active) = catch_rate(true, 100, "/bin/sleep", &["0.01"]);
    if active && ten_ms < 100 {
        // On a shared virtual machine the host can stall the watcher thread for more than 10 ms now
        // and then (CI saw 99/100 once in many runs); a miss must happen again to fail the test, so a
        // watcher that really misses processes still fails.
        println!("10 ms: {ten_ms}/100 with the connector; running the round again");
        ten_ms = catch_rate(true, 100, "/bin/sleep", &["0.01"]).0;
    }
    let (one_ms, _) = catch_rate(true, 100, "/bin/true", &[]);
    let (ten_ms_poll, _) = catch_rate(false, 100, "/bin/sleep", &["0.01"]);
    let (one_ms_poll, _) = catch_rate(false, 100, "/bin/true", &[]);
    println!(
        "catch rates, with the proc connector{}: 10 ms {ten_ms}/100, 1 ms {one_ms}/100; \
         polling alone (100 ms): 10 ms {ten_ms_poll}/100, 1 ms {one_ms_poll}/100",
        if active {
            ""
        } else {
            " (UNAVAILABLE: polling)"
        }
    );
    if active {
        assert_eq!(
            ten_ms, 100,
            "every 10 ms process is seen with the connector"
        );
    } else {
        assert!(
            !require_e2e(),
            "EXECWATCH_REQUIRE_E2E=1 but the proc connector could not be opened"
        );
        println!("proc connector unavailable: the 10 ms catch-rate assertion is skipped");
    }
}
