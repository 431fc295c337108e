//! The real edge-case corpus (auditd 3.0.9, ENRICHED): every event's outcome checked against
//! `edge-cases.md`, in file order and with the events' records interleaved.

use std::collections::BTreeMap;

use execwatch::source::audit::{
    Assembled, Assembler, AssemblerConfig, AuditExec, EventId, SkipReason,
};

const LOG: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/corpus/audit/edge-cases.log"
));

fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn assemble(lines: &[&[u8]], config: AssemblerConfig) -> Vec<Assembled> {
    let mut a = Assembler::new(config);
    let mut out = Vec::new();
    let mut pos = 0u64;
    for l in lines {
        a.push_line(l, pos, &mut |x| out.push(x))
            .unwrap_or_else(|e| panic!("line at {pos}: {e}"));
        pos += l.len() as u64 + 1;
    }
    a.flush(&mut |x| out.push(x));
    assert_eq!(a.open_events(), 0);
    out
}

fn s(x: &str) -> Vec<u8> {
    x.as_bytes().to_vec()
}

fn v(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| s(a)).collect()
}

/// The argv of every successful exec in the corpus, by serial, as edge-cases.md lists it.
fn expected_argv() -> BTreeMap<u64, Vec<Vec<u8>>> {
    let http = v(&["python3", "-m", "http.server", "0", "--bind", "127.0.0.1"]);
    let mut m = BTreeMap::new();
    m.insert(18556, v(&["/bin/true", "research-marker", "BEGIN"]));
    m.insert(18557, http.clone());
    m.insert(
        18591,
        v(&["sh", "-c", "python3 -m http.server 0 --bind 127.0.0.1"]),
    );
    m.insert(18592, http);
    m.insert(18612, v(&["/bin/echo", "hello world", "plain"]));
    m.insert(18613, v(&["/bin/echo", "say \"hi\"", "it's"]));
    m.insert(18614, v(&["/bin/echo", "line1\nline2"]));
    m.insert(18615, v(&["/bin/echo", "a\tb"]));
    m.insert(
        18616,
        vec![s("/bin/echo"), vec![0xFF, 0xFE, 0x80], s("café")],
    );
    m.insert(18617, v(&["/bin/echo", "", "x"]));
    m.insert(
        18618,
        v(&[
            "/bin/echo",
            "x\" a1=\"injected",
            "del\x7f",
            "=",
            "plain-ascii_~!#$%&'()*+,-./:;<=>?@[\\]^`{|}",
        ]),
    );
    m.insert(18620, vec![s("/bin/true"), vec![b'A'; 130_000]]);
    m.insert(
        18621,
        vec![s("/bin/true"), vec![b'B'; 5000], vec![b'C'; 5000]],
    );
    let mut de = vec![b'D'; 4999];
    de.push(b' ');
    de.extend_from_slice(&[b'E'; 5000]);
    m.insert(18622, vec![s("/bin/true"), de]);
    let mut many = vec![s("/bin/true")];
    many.extend((0..3000).map(|i| format!("arg{i:04}").into_bytes()));
    m.insert(18623, many);
    m.insert(
        18624,
        v(&[
            "/tmp/execwatch/del/evil-bash",
            "-c",
            "rm -f /tmp/execwatch/del/evil-bash; /bin/echo child-of-deleted; /nonexistent/cmd; /bin/sleep 0.1",
        ]),
    );
    m.insert(18625, v(&["rm", "-f", "/tmp/execwatch/del/evil-bash"]));
    m.insert(18626, v(&["/bin/echo", "child-of-deleted"]));
    m.insert(18628, v(&["/bin/sleep", "0.1"]));
    m.insert(
        18629,
        v(&[
            "python3",
            "-c",
            "import os;fd=os.open('/tmp/execwatch/del/echo-copy',os.O_RDONLY);os.set_inheritable(fd,True);\
             os.unlink('/tmp/execwatch/del/echo-copy');os.execv('/proc/self/fd/%d'%fd,['deleted-echo','hi'])",
        ]),
    );
    m.insert(18630, v(&["deleted-echo", "hi"]));
    m.insert(
        18641,
        v(&[
            "python3",
            "-c",
            "import os;fd=os.memfd_create('evil',0);os.write(fd,open('/usr/bin/echo','rb').read());\
             os.execve(fd,['memfd-echo','hi'],{})",
        ]),
    );
    m.insert(18642, v(&["memfd-echo", "hi"]));
    m.insert(
        18643,
        v(&["/bin/sh", "/tmp/execwatch/research-script.sh", "arg1"]),
    );
    m.insert(18644, v(&["/bin/echo", "from-script", "arg1"]));
    m.insert(
        18645,
        v(&[
            "/usr/bin/env",
            "python3",
            "/tmp/execwatch/research-script.py",
            "x",
        ]),
    );
    m.insert(
        18646,
        v(&["python3", "/tmp/execwatch/research-script.py", "x"]),
    );
    m.insert(
        18647,
        v(&["python3", "/tmp/execwatch/research-script.py", "x"]),
    );
    m.insert(18648, v(&["/tmp/execwatch/dir with space/my true", "z"]));
    m.insert(
        18650,
        vec![
            s("/bin/echo"),
            vec![b'x'; 60],
            vec![b'y'; 60],
            vec![b'z'; 60],
        ],
    );
    m.insert(18651, v(&["/bin/true", "research-marker", "END"]));
    m
}

fn failed_serials() -> Vec<u64> {
    let mut f: Vec<u64> = (18577..=18590).collect();
    f.extend([18619, 18627, 18649]);
    f
}

/// Splits the outcomes into execs by serial and skips; asserts no serial appears twice.
fn split(out: Vec<Assembled>) -> (BTreeMap<u64, AuditExec>, BTreeMap<u64, SkipReason>) {
    let mut execs = BTreeMap::new();
    let mut skips = BTreeMap::new();
    for item in out {
        match item {
            Assembled::Exec(e) => {
                let serial = e.id.serial;
                assert!(!skips.contains_key(&serial));
                assert!(execs.insert(serial, *e).is_none(), "serial {serial} twice");
            }
            Assembled::Skipped { id, reason } => {
                assert!(!execs.contains_key(&id.serial));
                assert!(skips.insert(id.serial, reason).is_none(), "{id:?} twice");
            }
        }
    }
    (execs, skips)
}

#[test]
fn every_event_decodes_as_documented() {
    let lines = lines(LOG);
    assert_eq!(lines.len(), 330);
    let (execs, skips) = split(assemble(&lines, AssemblerConfig::default()));
    let expected = expected_argv();
    assert_eq!(expected.len(), 31);
    assert_eq!(execs.len(), 31);
    for (serial, argv) in &expected {
        let e = execs
            .get(serial)
            .unwrap_or_else(|| panic!("no exec for {serial}"));
        assert_eq!(&e.argv, argv, "argv of {serial}");
    }
    let failed = failed_serials();
    assert_eq!(skips.len(), 17);
    for serial in &failed {
        assert_eq!(skips.get(serial), Some(&SkipReason::FailedExec), "{serial}");
    }
}

#[test]
fn syscall_fields() {
    let (execs, _) = split(assemble(&lines(LOG), AssemblerConfig::default()));

    let e = &execs[&18648];
    assert_eq!(
        e.id,
        EventId {
            node: None,
            sec: 1_795_802_802,
            msec: 105,
            serial: 18648
        }
    );
    let sc = e.syscall.as_ref().unwrap();
    assert_eq!((sc.pid, sc.ppid), (Some(17477), Some(17382)));
    assert_eq!(sc.comm.as_deref(), Some(&b"my true"[..]));
    assert_eq!(
        sc.exe.as_deref(),
        Some(&b"/tmp/execwatch/dir with space/my true"[..])
    );
    assert_eq!(sc.key.as_deref(), Some(&b"exec"[..]));
    assert_eq!(sc.tty, None);
    assert_eq!(sc.auid, Some(4_294_967_295));
    assert_eq!(sc.ses, Some(4_294_967_295));
    assert_eq!(
        e.cwd.as_deref(),
        Some(&b"/tmp/execwatch/dir with space"[..])
    );
    assert_eq!(e.paths.len(), 2);
    assert_eq!(
        e.paths[0].name.as_deref(),
        Some(&b"/tmp/execwatch/dir with space/my true"[..])
    );

    // Unlinked binary run through /proc/self/fd: exe is hex of "... (deleted)".
    let sc = execs[&18630].syscall.as_ref().unwrap();
    assert_eq!(sc.comm.as_deref(), Some(&b"3"[..]));
    assert_eq!(
        sc.exe.as_deref(),
        Some(&b"/tmp/execwatch/del/echo-copy (deleted)"[..])
    );
    assert_eq!(
        execs[&18630].paths[0].name.as_deref(),
        Some(&b"/proc/self/fd/3"[..])
    );

    // The memfd exec is execveat (322) under its own audit key.
    let sc = execs[&18642].syscall.as_ref().unwrap();
    assert_eq!(sc.syscall, Some(322));
    assert_eq!(sc.key.as_deref(), Some(&b"research_execveat"[..]));
    assert_eq!(sc.comm.as_deref(), Some(&b"memfd:evil"[..]));
    assert_eq!(sc.exe.as_deref(), Some(&b"/memfd:evil (deleted)"[..]));
    assert_eq!(sc.names.get("SYSCALL"), Some("execveat"));
    // Its parent python (18641) is a plain execve.
    assert_eq!(execs[&18641].syscall.as_ref().unwrap().syscall, Some(59));

    // ENRICHED names.
    let sc = execs[&18556].syscall.as_ref().unwrap();
    assert_eq!(sc.success, Some(true));
    assert_eq!(sc.exit, Some(0));
    assert_eq!(sc.uid, Some(0));
    assert_eq!(sc.names.get("UID"), Some("root"));
    assert_eq!(sc.names.get("AUID"), Some("unset"));
    assert_eq!(sc.names.get("EGID"), Some("root"));
    assert_eq!(sc.names.get("ARCH"), Some("x86_64"));
    assert_eq!(sc.names.get("SYSCALL"), Some("execve"));
    assert_eq!(sc.arch.as_deref(), Some("c000003e"));

    // `#!` script: three PATH records in item order; stale PROCTITLE kept as is, not used for argv.
    let e = &execs[&18643];
    let items: Vec<_> = e.paths.iter().map(|p| p.item).collect();
    assert_eq!(items, vec![Some(0), Some(1), Some(2)]);
    assert_eq!(
        e.syscall.as_ref().unwrap().comm.as_deref(),
        Some(&b"research-script"[..])
    );
    // PROCTITLE cut at 128 bytes.
    assert_eq!(execs[&18650].proctitle.as_ref().unwrap().len(), 128);
    assert!(execs[&18591]
        .proctitle
        .as_ref()
        .unwrap()
        .starts_with(b"/root/.pyenv/versions/3.11.7/bin/python3\0gen_corpus.py"));
}

/// Groups the log's lines by event, keeping each event's record order and the events' first-seen order.
fn events(lines: &[&'static [u8]]) -> Vec<Vec<&'static [u8]>> {
    let mut order: Vec<Vec<u8>> = Vec::new();
    let mut by_id: BTreeMap<Vec<u8>, Vec<&[u8]>> = BTreeMap::new();
    for l in lines {
        let start = l.windows(10).position(|w| w == b"msg=audit(").unwrap();
        let end = start + l[start..].iter().position(|&b| b == b')').unwrap();
        let id = l[start..end].to_vec();
        if !by_id.contains_key(&id) {
            order.push(id.clone());
        }
        by_id.entry(id).or_default().push(l);
    }
    order
        .into_iter()
        .map(|id| by_id.remove(&id).unwrap())
        .collect()
}

/// A small deterministic generator, so a failing interleaving can be reproduced.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Interleaves the records of up to `window` consecutive events at random.
fn interleave(
    events: &[Vec<&'static [u8]>],
    window: usize,
    rng: &mut XorShift,
) -> Vec<&'static [u8]> {
    let mut pending = events.iter().map(|e| e.iter().copied());
    let mut active: Vec<_> = Vec::new();
    let mut out = Vec::new();
    loop {
        while active.len() < window {
            match pending.next() {
                Some(e) => active.push(e),
                None => break,
            }
        }
        if active.is_empty() {
            return out;
        }
        let i = rng.below(active.len());
        match active[i].next() {
            Some(l) => out.push(l),
            None => {
                let _ = active.remove(i);
            }
        }
    }
}

fn sorted(out: Vec<Assembled>) -> Vec<Assembled> {
    let mut out = out;
    out.sort_by(|a, b| {
        let id = |x: &Assembled| match x {
            Assembled::Exec(e) => e.id.clone(),
            Assembled::Skipped { id, .. } => id.clone(),
        };
        id(a).cmp(&id(b))
    });
    out
}

#[test]
fn interleaved_records_give_the_same_events() {
    let lines = lines(LOG);
    let evs = events(&lines);
    assert_eq!(evs.len(), 48);
    // Events far apart in time get interleaved too, so age must not close them here.
    let patient = AssemblerConfig {
        max_age_ms: 3_600_000,
        max_open: 16_384,
        ..AssemblerConfig::default()
    };
    let reference = sorted(assemble(&lines, AssemblerConfig::default()));
    assert_eq!(reference.len(), 48);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for window in [2, 3, 5, 48] {
        for _ in 0..3 {
            let shuffled = interleave(&evs, window, &mut rng);
            assert_eq!(shuffled.len(), lines.len());
            assert_ne!(shuffled, lines, "window {window} did not interleave");
            assert_eq!(
                sorted(assemble(&shuffled, patient)),
                reference,
                "window {window}"
            );
        }
    }
}

#[test]
fn crlf_and_node_prefix_give_the_same_argv() {
    let lines = lines(LOG);
    let owned: Vec<Vec<u8>> = lines
        .iter()
        .map(|l| [b"node=host1 ".as_slice(), l, b"\r"].concat())
        .collect();
    let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let (execs, skips) = split(assemble(&refs, AssemblerConfig::default()));
    assert_eq!(execs.len(), 31);
    assert_eq!(skips.len(), 17);
    for (serial, argv) in expected_argv() {
        assert_eq!(execs[&serial].argv, argv);
        assert_eq!(execs[&serial].id.node.as_deref(), Some("host1"));
    }
}
