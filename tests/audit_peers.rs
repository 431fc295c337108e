//! Logs from other projects' test suites (laurel, go-libaudit, audit-userspace): other distros and
//! arches, quoting forwarders, EOE streams, reversed and type-sorted excerpts. Every EXECVE-bearing
//! event must come out as an exec with `argc` arguments; nothing may panic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use execwatch::source::audit::{Assembled, Assembler, AssemblerConfig, AuditExec};

const PEERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/peers");

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

struct Run {
    execs: Vec<AuditExec>,
    skipped: usize,
    line_errors: usize,
}

fn run(data: &[u8]) -> Run {
    let mut a = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    let mut line_errors = 0;
    let mut pos = 0u64;
    for line in data.split(|&b| b == b'\n') {
        if a.push_line(line, pos, &mut |x| out.push(x)).is_err() {
            line_errors += 1;
        }
        pos += line.len() as u64 + 1;
    }
    a.flush(&mut |x| out.push(x));
    assert_eq!(a.open_events(), 0);
    let mut execs = Vec::new();
    let mut skipped = 0;
    for item in out {
        match item {
            Assembled::Exec(e) => execs.push(*e),
            Assembled::Skipped { .. } => skipped += 1,
        }
    }
    Run {
        execs,
        skipped,
        line_errors,
    }
}

/// Independent count: the identities (node prefix + `audit(...)`) of EXECVE lines, with the argc
/// each one states.
fn execve_ids(data: &[u8]) -> BTreeMap<String, u64> {
    let text = String::from_utf8_lossy(data);
    let mut ids = BTreeMap::new();
    for line in text.lines() {
        let Some(at) = line.find("type=EXECVE msg=audit(") else {
            continue;
        };
        let node = line[..at]
            .trim()
            .strip_prefix("node=")
            .unwrap_or("")
            .to_string();
        let rest = &line[at + "type=EXECVE msg=audit(".len()..];
        let id = format!("{node}/{}", &rest[..rest.find(')').unwrap()]);
        if let Some(argc) = rest
            .split(' ')
            .find_map(|f| f.strip_prefix("argc="))
            .map(|n| n.parse::<u64>().unwrap())
        {
            ids.insert(id, argc);
        } else {
            ids.entry(id).or_insert(u64::MAX);
        }
    }
    ids
}

fn id_of(e: &AuditExec) -> String {
    format!(
        "{}/{}.{:03}:{}",
        e.id.node.as_deref().unwrap_or(""),
        e.id.sec,
        e.id.msec,
        e.id.serial
    )
}

#[test]
fn every_execve_event_in_every_peer_log_decodes() {
    let mut paths = Vec::new();
    files(Path::new(PEERS), &mut paths);
    paths.sort();
    assert!(paths.len() >= 29, "peer corpus missing: {}", paths.len());
    let mut total = 0;
    for path in &paths {
        let data = std::fs::read(path).unwrap();
        let expected = execve_ids(&data);
        let r = run(&data);
        let name = path.display();
        let got: BTreeSet<String> = r.execs.iter().map(id_of).collect();
        assert_eq!(got.len(), r.execs.len(), "{name}: an event came out twice");
        assert_eq!(
            got,
            expected.keys().cloned().collect::<BTreeSet<_>>(),
            "{name}"
        );
        assert_eq!(r.skipped, 0, "{name}: no failed or damaged exec expected");
        for e in &r.execs {
            assert_eq!(
                e.argv.len() as u64,
                expected[&id_of(e)],
                "{name} {}",
                id_of(e)
            );
        }
        total += r.execs.len();
    }
    // 56 EXECVE lines; the long laurel event spans 3 of them.
    assert_eq!(total, 54);
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(PEERS).join(rel)).unwrap()
}

#[test]
fn laurel_long_split_argument() {
    let r = run(&read("laurel/record-execve-long.txt"));
    assert_eq!(r.execs.len(), 1);
    let e = &r.execs[0];
    let mut arg = vec![b'b'];
    arg.extend([b'a'; 3730]);
    arg.extend(b"cd");
    arg.extend([b'a'; 3744]);
    arg.extend(b"ef");
    arg.extend([b'a'; 712]);
    arg.push(b'g');
    assert_eq!(arg.len(), 8192);
    assert_eq!(e.argv, vec![b"/bin/echo".to_vec(), arg]);
    assert_eq!(e.syscall.as_ref().unwrap().pid, Some(8832));
    assert_eq!(e.cwd.as_deref(), Some(&b"/tmp"[..]));
}

#[test]
fn laurel_aarch64_reversed_records() {
    let r = run(&read("laurel/fork-sleep-exec.txt"));
    assert_eq!(r.execs.len(), 2);
    let parent = &r.execs[0];
    assert_eq!(parent.id.serial, 6_104_005);
    assert_eq!(
        parent.argv,
        vec![b"/home/user/bin/uncaring-parent".to_vec()]
    );
    let sc = parent.syscall.as_ref().unwrap();
    assert_eq!(
        (sc.arch.as_deref(), sc.syscall),
        (Some("c00000b7"), Some(221))
    );
    assert_eq!(parent.paths.len(), 3);
    assert_eq!(parent.paths[0].item, Some(0));
    assert_eq!(parent.cwd.as_deref(), Some(&b"/home/user"[..]));
    // execve("/bin/true", NULL, NULL): the kernel logs one empty argument.
    let child = &r.execs[1];
    assert_eq!(child.id.serial, 6_104_008);
    assert_eq!(child.argv, vec![Vec::<u8>::new()]);
    assert_eq!(child.syscall.as_ref().unwrap().ppid, Some(1));
    // Comment and blank lines: comments are line errors, blank lines are not.
    assert_eq!(r.line_errors, 14);
}

#[test]
fn golibaudit_execve_without_syscall_and_type_sorted() {
    let r = run(&read("golibaudit/audit-rhel7.log"));
    let e = r.execs.iter().find(|e| e.id.serial == 479).unwrap();
    assert_eq!(e.syscall, None);
    assert_eq!(
        e.argv,
        [
            "auditctl",
            "-a",
            "exit,always",
            "-F",
            "arch=b32",
            "-S",
            "execve"
        ]
        .map(|s| s.as_bytes().to_vec())
        .to_vec()
    );
    // Its PATH record comes four lines later, after records of events years newer.
    assert_eq!(e.paths.len(), 1);
    assert_eq!(e.paths[0].name.as_deref(), Some(&b"/sbin/auditctl"[..]));
    let jq = r.execs.iter().find(|e| e.id.serial == 1_075_898).unwrap();
    assert_eq!(jq.argv[0], b"jq");
    assert!(jq.argv[2].starts_with(b"{\n        \"dev\": \"08:01\""));
    // `type=UNKNOWN[1329] msg=?` is the one line that cannot be parsed.
    assert_eq!(r.line_errors, 1);
}

#[test]
fn quoting_forwarder_and_audituserspace() {
    let r = run(&read("laurel/record-weblogic.txt"));
    assert_eq!(r.execs.len(), 1);
    let sc = r.execs[0].syscall.as_ref().unwrap();
    assert_eq!(sc.success, Some(true));
    assert_eq!(sc.tty, None);
    assert_eq!(r.execs[0].argv.len(), 14);
    assert_eq!(r.execs[0].argv[0], b"/usr/java/jdk1.8.0_151/bin/java");

    let r = run(&read("audituserspace/test4.log"));
    assert_eq!(r.execs.len(), 2);
    assert_eq!(r.execs[0].argv.len(), 48);
    assert_eq!(
        r.execs[0].argv[..3],
        [
            b"/bin/sh".to_vec(),
            b"-efu".to_vec(),
            b"/usr/bin/ld".to_vec()
        ]
    );
    assert_eq!(r.execs[1].argv.len(), 216);
    assert_eq!(r.execs[1].argv[0], b"/usr/bin/m4");
    let sc = r.execs[0].syscall.as_ref().unwrap();
    assert_eq!(sc.key, None);
    assert_eq!(sc.tty.as_deref(), Some("pts2"));
    assert_eq!(sc.exe.as_deref(), Some(&b"/bin/sh4"[..]));
}
