use super::*;

const SC: &str = "arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=2 ppid=10 pid=11 \
                  auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) \
                  ses=4294967295 comm=\"true\" exe=\"/usr/bin/true\" key=\"exec\"";

fn rec(ty: &str, ts: &str, serial: u64, body: &str) -> String {
    format!("type={ty} msg=audit({ts}:{serial}): {body}")
}

/// Feeds lines (positions = line numbers) and returns what came out, flush included when asked.
fn run_with(cfg: AssemblerConfig, lines: &[String], flush: bool) -> (Vec<Assembled>, Assembler) {
    let mut a = Assembler::new(cfg);
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        a.push_line(l.as_bytes(), i as u64, &mut |x| out.push(x))
            .unwrap();
    }
    if flush {
        a.flush(&mut |x| out.push(x));
    }
    (out, a)
}

fn run(lines: &[String]) -> Vec<Assembled> {
    run_with(AssemblerConfig::default(), lines, true).0
}

fn exec(item: &Assembled) -> &AuditExec {
    match item {
        Assembled::Exec(e) => e,
        other => panic!("expected Exec, got {other:?}"),
    }
}

fn argv(item: &Assembled) -> Vec<&[u8]> {
    exec(item).argv.iter().map(Vec::as_slice).collect()
}

fn skipped(item: &Assembled) -> (u64, SkipReason) {
    match item {
        Assembled::Skipped { id, reason } => (id.serial, *reason),
        other => panic!("expected Skipped, got {other:?}"),
    }
}

fn full_event(ts: &str, serial: u64, execve: &str) -> Vec<String> {
    vec![
        rec("SYSCALL", ts, serial, SC),
        rec("BPRM_FCAPS", ts, serial, "fver=0 fp=0"),
        rec("EXECVE", ts, serial, execve),
        rec("CWD", ts, serial, "cwd=\"/tmp\""),
        rec(
            "PATH",
            ts,
            serial,
            "item=1 name=\"/lib64/ld.so\" nametype=NORMAL",
        ),
        rec(
            "PATH",
            ts,
            serial,
            "item=0 name=\"/bin/true\" nametype=NORMAL",
        ),
        rec("PROCTITLE", ts, serial, "proctitle=2F62696E2F7472756500"),
    ]
}

#[test]
fn one_event_closes_on_proctitle_with_all_fields() {
    let mut a = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    let lines = full_event("100.005", 7, "argc=2 a0=\"/bin/true\" a1=CAFE");
    for (i, l) in lines.iter().enumerate() {
        a.push_line(l.as_bytes(), 1000 + i as u64, &mut |x| out.push(x))
            .unwrap();
        if i < lines.len() - 1 {
            assert!(out.is_empty());
            assert_eq!(a.oldest_open_position(), Some(1000));
        }
    }
    assert_eq!(out.len(), 1);
    assert_eq!(a.open_events(), 0);
    assert_eq!(a.oldest_open_position(), None);
    let e = exec(&out[0]);
    assert_eq!(
        e.id,
        EventId {
            node: None,
            sec: 100,
            msec: 5,
            serial: 7
        }
    );
    assert_eq!(argv(&out[0]), vec![&b"/bin/true"[..], &[0xCA, 0xFE]]);
    let sc = e.syscall.as_ref().unwrap();
    assert_eq!(sc.arch.as_deref(), Some("c000003e"));
    assert_eq!(sc.syscall, Some(59));
    assert_eq!(sc.success, Some(true));
    assert_eq!(sc.exit, Some(0));
    assert_eq!((sc.pid, sc.ppid), (Some(11), Some(10)));
    assert_eq!(sc.auid, Some(4_294_967_295));
    assert_eq!(sc.tty, None);
    assert_eq!(sc.comm.as_deref(), Some(&b"true"[..]));
    assert_eq!(sc.exe.as_deref(), Some(&b"/usr/bin/true"[..]));
    assert_eq!(sc.key.as_deref(), Some(&b"exec"[..]));
    assert_eq!(e.cwd.as_deref(), Some(&b"/tmp"[..]));
    assert_eq!(e.paths.len(), 2);
    assert_eq!(e.paths[0].item, Some(0));
    assert_eq!(e.paths[0].name.as_deref(), Some(&b"/bin/true"[..]));
    assert_eq!(e.paths[1].nametype.as_deref(), Some("NORMAL"));
    assert_eq!(e.proctitle.as_deref(), Some(&b"/bin/true\0"[..]));
    let st = a.stats();
    assert_eq!(st.records, 6);
    assert_eq!(st.ignored, 1); // BPRM_FCAPS
    assert_eq!(st.lines, 7);
}

#[test]
fn enriched_names_and_null_key() {
    let body = format!(
        "{}\x1dARCH=x86_64 SYSCALL=execve AUID=\"unset\" UID=\"root\" GID=\"root\" EUID=\"root\" \
         SUID=\"root\" FSUID=\"root\" EGID=\"root\" SGID=\"root\" FSGID=\"root\"",
        SC.replace("key=\"exec\"", "key=(null)")
            .replace("tty=(none)", "tty=pts1")
    );
    let lines = vec![
        rec("SYSCALL", "1.000", 1, &body),
        rec("EXECVE", "1.000", 1, "argc=1 a0=\"x\""),
        rec("PROCTITLE", "1.000", 1, "proctitle=78"),
    ];
    let out = run(&lines);
    assert_eq!(out.len(), 1);
    let sc = exec(&out[0]).syscall.clone().unwrap();
    assert_eq!(sc.key, None);
    assert_eq!(sc.tty.as_deref(), Some("pts1"));
    assert_eq!(sc.names.get("UID"), Some("root"));
    assert_eq!(sc.names.get("AUID"), Some("unset"));
    assert_eq!(sc.names.get("FSGID"), Some("root"));
    assert_eq!(sc.names.get("ARCH"), Some("x86_64"));
    assert_eq!(sc.names.get("SYSCALL"), Some("execve"));
}

#[test]
fn interleaved_events() {
    let a = full_event("1.000", 1, "argc=1 a0=\"one\"");
    let b = full_event("1.000", 2, "argc=2 a0=\"two\" a1=\"2\"");
    let mut lines = Vec::new();
    for (x, y) in a.iter().zip(b.iter()) {
        lines.push(y.clone());
        lines.push(x.clone());
    }
    let out = run(&lines);
    assert_eq!(out.len(), 2);
    // b's PROCTITLE comes first.
    assert_eq!(argv(&out[0]), vec![&b"two"[..], b"2"]);
    assert_eq!(argv(&out[1]), vec![&b"one"[..]]);
    assert_eq!(exec(&out[0]).paths.len(), 2);
}

#[test]
fn split_args_across_records_hex_and_text() {
    let lines = vec![
        rec("SYSCALL", "1.000", 1, SC),
        rec("EXECVE", "1.000", 1, "argc=4 a0=\"t\" a1_len=10 a1[0]=6161"),
        rec("EXECVE", "1.000", 1, " a1[1]=616162 a2_len=4 a2[0]=\"ab\""),
        rec("EXECVE", "1.000", 1, " a2[1]=\"cd\" a3=\"z\""),
        rec("PROCTITLE", "1.000", 1, "proctitle=74"),
    ];
    let out = run(&lines);
    assert_eq!(out.len(), 1);
    assert_eq!(argv(&out[0]), vec![&b"t"[..], b"aaaab", b"abcd", b"z"]);
}

#[test]
fn split_arg_last_and_closed_by_finish() {
    let lines = vec![
        rec("EXECVE", "1.000", 1, "argc=2 a0=\"t\" a1_len=8 a1[0]=4142"),
        rec("EXECVE", "1.000", 1, "a1[1]=4344"),
    ];
    let out = run(&lines);
    assert_eq!(argv(&out[0]), vec![&b"t"[..], b"ABCD"]);
    assert_eq!(exec(&out[0]).syscall, None);
}

#[test]
fn multi_record_argc_and_empty_args() {
    let lines = vec![
        rec("SYSCALL", "1.000", 1, SC),
        rec("EXECVE", "1.000", 1, "argc=4 a0=\"/bin/echo\" a1=\"\""),
        rec("EXECVE", "1.000", 1, "a2=\"x\" a3=\"\""),
        rec("PROCTITLE", "1.000", 1, "proctitle=78"),
    ];
    let out = run(&lines);
    assert_eq!(argv(&out[0]), vec![&b"/bin/echo"[..], b"", b"x", b""]);
}

#[test]
fn eoe_closes_and_late_record_is_not_resurrected() {
    let lines = [
        rec("SYSCALL", "1.000", 1, SC),
        rec("EXECVE", "1.000", 1, "argc=1 a0=\"x\""),
        rec("EOE", "1.000", 1, ""),
        rec("EXECVE", "1.000", 1, "argc=1 a0=\"x\""),
        rec("PROCTITLE", "1.000", 1, "proctitle=78"),
    ];
    let mut a = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        a.push_line(l.as_bytes(), i as u64, &mut |x| out.push(x))
            .unwrap();
        if i == 2 {
            assert_eq!(out.len(), 1);
        }
    }
    a.flush(&mut |x| out.push(x));
    assert_eq!(out.len(), 1);
    assert_eq!(argv(&out[0]), vec![&b"x"[..]]);
    assert_eq!(a.stats().late, 2);
}

#[test]
fn age_close_uses_stream_time() {
    let mut a = Assembler::new(AssemblerConfig {
        max_age_ms: 2000,
        max_open: 100,
        ..AssemblerConfig::default()
    });
    let mut out = Vec::new();
    let push = |a: &mut Assembler, l: String, out: &mut Vec<Assembled>| {
        a.push_line(l.as_bytes(), 0, &mut |x| out.push(x)).unwrap();
    };
    push(&mut a, rec("SYSCALL", "10.000", 1, SC), &mut out);
    push(
        &mut a,
        rec("EXECVE", "10.000", 1, "argc=1 a0=\"x\""),
        &mut out,
    );
    // Exactly 2000 ms later: not older than max_age yet.
    push(&mut a, rec("USER_START", "12.000", 5, "pid=1"), &mut out);
    assert!(out.is_empty());
    assert_eq!(a.open_events(), 1);
    push(&mut a, rec("USER_START", "12.001", 6, "pid=1"), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(argv(&out[0]), vec![&b"x"[..]]);
    assert_eq!(a.stats().aged, 1);
    assert_eq!(a.open_events(), 0);
}

#[test]
fn late_arriving_old_event_gets_full_age() {
    // Type-sorted excerpts put an old event's records after newer ones; it must still assemble.
    let lines = vec![
        rec("USER_START", "50.000", 9, "pid=1"),
        rec("EXECVE", "10.000", 1, "argc=1 a0=\"x\""),
        rec("PATH", "10.000", 1, "item=0 name=\"/x\""),
    ];
    let out = run(&lines);
    assert_eq!(out.len(), 1);
    assert_eq!(exec(&out[0]).paths.len(), 1);
}

#[test]
fn flush_closes_everything() {
    let lines = vec![
        rec("SYSCALL", "1.000", 1, SC),
        rec("EXECVE", "1.000", 1, "argc=1 a0=\"x\""),
        rec("SYSCALL", "1.000", 2, SC),
    ];
    let (out, a) = run_with(AssemblerConfig::default(), &lines, false);
    assert!(out.is_empty());
    assert_eq!(a.open_events(), 2);
    assert_eq!(a.oldest_open_position(), Some(0));
    let out = run(&lines);
    assert_eq!(out.len(), 2);
    assert_eq!(argv(&out[0]), vec![&b"x"[..]]);
    // An exec SYSCALL whose EXECVE never came: the argv is missing.
    assert_eq!(skipped(&out[1]), (2, SkipReason::DamagedArgv));
}

#[test]
fn failed_exec_is_skipped_once() {
    let failed = SC.replace("success=yes exit=0", "success=no exit=-2");
    let lines = vec![
        rec("SYSCALL", "1.000", 1, &failed),
        rec("CWD", "1.000", 1, "cwd=\"/tmp\""),
        rec("PATH", "1.000", 1, "item=0 name=\"/nope\" nametype=UNKNOWN"),
        rec("PROCTITLE", "1.000", 1, "proctitle=78"),
    ];
    let (out, a) = run_with(AssemblerConfig::default(), &lines, true);
    assert_eq!(out.len(), 1);
    assert_eq!(skipped(&out[0]), (1, SkipReason::FailedExec));
    assert_eq!(a.open_events(), 0);
}

#[test]
fn argc_mismatch_is_damaged() {
    for execve in [
        "argc=3 a0=\"x\" a1=\"y\"",
        "argc=1 a0=\"x\" a1=\"y\"",
        "a0=\"x\"",
        "argc=1 a1=\"x\"",
        "argc=2 a1=\"y\" a0=\"x\"",
        "argc=x a0=\"x\"",
    ] {
        let mut lines = full_event("1.000", 1, execve);
        lines.extend(full_event("1.000", 2, "argc=1 a0=\"good\""));
        let out = run(&lines);
        assert_eq!(out.len(), 2, "{execve}");
        assert_eq!(skipped(&out[0]), (1, SkipReason::DamagedArgv), "{execve}");
        assert_eq!(argv(&out[1]), vec![&b"good"[..]]);
    }
}

#[test]
fn wrong_split_len_or_pieces_is_damaged() {
    for execve in [
        "argc=2 a0=\"t\" a1_len=6 a1[0]=6161", // hex: 2 bytes, len says 3
        "argc=2 a0=\"t\" a1_len=2 a1[0]=6161", // hex longer than len
        "argc=2 a0=\"t\" a1_len=5 a1[0]=\"ab\"", // text shorter
        "argc=2 a0=\"t\" a1_len=4 a1[0]=\"ab\" a1[2]=\"cd\"", // missing piece
        "argc=2 a0=\"t\" a1_len=4 a1[0]=\"ab\" a1[1]=6364", // mixed encodings
        "argc=2 a0=\"t\" a1_len=4",            // no piece
        "argc=2 a0=\"t\" a1_len=3 a1[0]=616",  // odd hex
        "argc=2 a0=\"t\" a1[0]=6161",          // piece without len
        "argc=2 a0=\"t\" a1_len=99999999999999999 a1[0]=61",
        "argc=2 a0=\"t\" a1=ZZ", // bad hex
        "argc=2 a0=\"t\" a1=(null)",
        "argc=2 a0=\"t\" a1=",
        "argc=2 a0=\"t\" a1=\"open",
        "argc=2 a0=\"t\" a1x=\"y\"",
        "argc=2 a0=\"t\" a1[0]]=\"y\"",
    ] {
        let lines = full_event("1.000", 1, execve);
        let out = run(&lines);
        assert_eq!(out.len(), 1, "{execve}");
        assert_eq!(skipped(&out[0]), (1, SkipReason::DamagedArgv), "{execve}");
    }
}

#[test]
fn duplicate_execve_is_damaged() {
    let mut lines = full_event("1.000", 1, "argc=2 a0=\"x\" a1=\"y\"");
    lines.insert(3, lines[2].clone());
    let out = run(&lines);
    assert_eq!(out.len(), 1);
    assert_eq!(skipped(&out[0]), (1, SkipReason::DamagedArgv));
    // A duplicated continuation record too.
    let lines = vec![
        rec("EXECVE", "1.000", 2, "argc=3 a0=\"x\""),
        rec("EXECVE", "1.000", 2, "a1=\"y\""),
        rec("EXECVE", "1.000", 2, "a1=\"y\""),
        rec("EXECVE", "1.000", 2, "a2=\"z\""),
    ];
    assert_eq!(skipped(&run(&lines)[0]), (2, SkipReason::DamagedArgv));
}

#[test]
fn eviction_closes_oldest() {
    let cfg = AssemblerConfig {
        max_age_ms: 10_000,
        max_open: 2,
        ..AssemblerConfig::default()
    };
    let lines = vec![
        rec("SYSCALL", "1.000", 1, SC),
        rec("EXECVE", "1.000", 1, "argc=1 a0=\"complete\""),
        rec("SYSCALL", "1.000", 2, SC),
        rec("EXECVE", "1.000", 2, "argc=2 a0=\"half\""),
        rec("SYSCALL", "1.000", 3, SC),
        rec("SYSCALL", "1.000", 4, SC),
    ];
    let (out, a) = run_with(cfg, &lines, false);
    assert_eq!(out.len(), 2);
    assert_eq!(argv(&out[0]), vec![&b"complete"[..]]);
    assert_eq!(skipped(&out[1]), (2, SkipReason::Evicted));
    assert_eq!(a.stats().evicted, 2);
    assert_eq!(a.open_events(), 2);
    assert_eq!(a.oldest_open_position(), Some(4));
}

#[test]
fn execveat_and_other_arches() {
    let cases = [
        ("c000003e", 322),
        ("40000003", 11),
        ("40000003", 358),
        ("C00000B7", 221),
        ("c00000b7", 281),
    ];
    for (arch, nr) in cases {
        let sc = SC.replace(
            "arch=c000003e syscall=59",
            &format!("arch={arch} syscall={nr}"),
        );
        let lines = vec![
            rec("SYSCALL", "1.000", 1, &sc),
            rec("EXECVE", "1.000", 1, "argc=1 a0=\"x\""),
            rec("PROCTITLE", "1.000", 1, "proctitle=78"),
        ];
        let out = run(&lines);
        assert_eq!(out.len(), 1, "{arch} {nr}");
        assert_eq!(exec(&out[0]).syscall.as_ref().unwrap().syscall, Some(nr));
    }
    // A failed execveat is a failed exec.
    let sc = SC.replace("syscall=59 success=yes", "syscall=322 success=no");
    let out = run(&[rec("SYSCALL", "1.000", 1, &sc)]);
    assert_eq!(skipped(&out[0]), (1, SkipReason::FailedExec));
    // ENRICHED name alone is enough on an unknown arch.
    let sc = format!(
        "{}\x1dARCH=mips SYSCALL=execve",
        SC.replace("c000003e", "deadbeef")
            .replace("success=yes", "success=no")
    );
    let out = run(&[rec("SYSCALL", "1.000", 1, &sc)]);
    assert_eq!(skipped(&out[0]), (1, SkipReason::FailedExec));
}

#[test]
fn unknown_arch_needs_execve() {
    let sc = SC.replace("c000003e", "80000016");
    let lines = vec![
        rec("SYSCALL", "1.000", 1, &sc),
        rec("PROCTITLE", "1.000", 1, "proctitle=78"),
        rec("SYSCALL", "1.000", 2, &sc),
        rec("EXECVE", "1.000", 2, "argc=1 a0=\"x\""),
        rec("PROCTITLE", "1.000", 2, "proctitle=78"),
    ];
    let (out, a) = run_with(AssemblerConfig::default(), &lines, true);
    assert_eq!(out.len(), 1);
    assert_eq!(exec(&out[0]).id.serial, 2);
    assert_eq!(a.open_events(), 0);
}

#[test]
fn non_exec_events_keep_nothing() {
    let open = SC.replace("syscall=59", "syscall=257");
    let mut lines = Vec::new();
    for serial in 1..=100 {
        lines.push(rec("SYSCALL", "1.000", serial, &open));
        lines.push(rec("CWD", "1.000", serial, "cwd=\"/\""));
        lines.push(rec("PATH", "1.000", serial, "item=0 name=\"/etc/passwd\""));
    }
    let (out, a) = run_with(AssemblerConfig::default(), &lines, false);
    assert!(out.is_empty());
    assert_eq!(a.open_events(), 0);
    assert_eq!(a.stats().ignored, 300);
    assert_eq!(a.stats().records, 0);
    // By enriched name on an unknown arch too.
    let sc = format!(
        "{}\x1dARCH=s390x SYSCALL=openat",
        SC.replace("c000003e", "80000016")
    );
    let (out, a) = run_with(
        AssemblerConfig::default(),
        &[
            rec("SYSCALL", "1.000", 1, &sc),
            rec("PATH", "1.000", 1, "item=0"),
        ],
        true,
    );
    assert!(out.is_empty());
    assert_eq!(a.stats().ignored, 2);
}

#[test]
fn reversed_records_still_assemble() {
    let sc = SC.replace("arch=c000003e syscall=59", "arch=c00000b7 syscall=221");
    let lines = vec![
        rec("PATH", "1.000", 1, "item=1 name=\"/lib/ld.so\""),
        rec("PATH", "1.000", 1, "item=0 name=\"/bin/true\""),
        rec("CWD", "1.000", 1, "cwd=\"/home\""),
        rec("EXECVE", "1.000", 1, "argc=1 a0=\"\""),
        rec("SYSCALL", "1.000", 1, &sc),
        // Reversed non-exec event: dropped when its SYSCALL shows up.
        rec("PATH", "1.000", 2, "item=0 name=\"/x\""),
        rec(
            "SYSCALL",
            "1.000",
            2,
            &sc.replace("syscall=221", "syscall=220"),
        ),
        rec("PATH", "1.000", 2, "item=1 name=\"/y\""),
    ];
    let (out, a) = run_with(AssemblerConfig::default(), &lines, false);
    assert!(out.is_empty());
    assert_eq!(a.open_events(), 1);
    let out = run(&lines);
    assert_eq!(out.len(), 1);
    let e = exec(&out[0]);
    assert_eq!(e.argv, vec![Vec::<u8>::new()]);
    assert_eq!(e.paths[0].name.as_deref(), Some(&b"/bin/true"[..]));
    assert_eq!(e.cwd.as_deref(), Some(&b"/home"[..]));
    assert_eq!(e.syscall.as_ref().unwrap().pid, Some(11));
}

#[test]
fn records_without_syscall_or_execve_are_abandoned() {
    let lines = vec![
        rec("PATH", "1.000", 1, "item=0 name=\"/x\""),
        rec("PROCTITLE", "1.000", 1, "proctitle=78"),
    ];
    let (out, a) = run_with(AssemblerConfig::default(), &lines, false);
    assert!(out.is_empty());
    assert_eq!(a.open_events(), 1);
    let (out, a) = run_with(AssemblerConfig::default(), &lines, true);
    assert!(out.is_empty());
    assert_eq!(a.stats().abandoned, 1);
}

#[test]
fn node_is_part_of_identity() {
    let mut lines = Vec::new();
    for node in ["a", "b"] {
        lines.push(format!(
            "node={node} {}",
            rec("EXECVE", "1.000", 1, &format!("argc=1 a0=\"{node}\""))
        ));
    }
    lines.push(rec("EXECVE", "1.000", 1, "argc=1 a0=\"none\""));
    let out = run(&lines);
    assert_eq!(out.len(), 3);
    assert_eq!(exec(&out[0]).id.node.as_deref(), Some("a"));
    assert_eq!(argv(&out[1]), vec![&b"b"[..]]);
    assert_eq!(exec(&out[2]).id.node, None);
}

#[test]
fn quoting_forwarder() {
    let sc = SC
        .replace("success=yes", "success=\"yes\"")
        .replace("tty=(none)", "tty=\"(none)\"")
        .replace("pid=11", "pid=\"11\"");
    let lines = vec![
        rec("SYSCALL", "1.000", 1, &sc),
        rec("EXECVE", "1.000", 1, "argc=1 a0=\"x\""),
        rec("EOE", "1.000", 1, ""),
    ];
    let out = run(&lines);
    let s = exec(&out[0]).syscall.clone().unwrap();
    assert_eq!((s.success, s.tty, s.pid), (Some(true), None, Some(11)));
}

#[test]
fn line_errors_and_junk_never_panic() {
    let mut a = Assembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    {
        let mut sink = |x| out.push(x);
        assert_eq!(
            a.push_line(b"# comment", 0, &mut sink).unwrap_err().kind,
            "no type="
        );
        assert!(a.push_line(b"", 0, &mut sink).is_ok());
        let junk: Vec<Vec<u8>> = vec![
        b"\x00\x01\xff type= msg=audit(".to_vec(),
        b"type=EXECVE msg=audit(1.000:1): argc=4294967295 a999999999[0]=41".to_vec(),
        b"type=EXECVE msg=audit(1.000:2): argc=18446744073709551615 a0_len=18446744073709551615"
            .to_vec(),
        b"type=EXECVE msg=audit(1.000:3): argc=99999999999999999999999 a0=\xff\xfe".to_vec(),
        b"type=EXECVE msg=audit(1.000:4): argc=1 a0=\"\x00\"".to_vec(),
        b"type=SYSCALL msg=audit(1.000:5): arch=\xff\xff syscall=-1 \x1d\x1d\x1d".to_vec(),
        b"type=PATH msg=audit(1.000:5): item=\"\" name=\"".to_vec(),
        b"type=EXECVE msg=audit(18446744073709551615.999:18446744073709551615): argc=1 a0=\"x\""
            .to_vec(),
        [
            b"type=EXECVE msg=audit(2.000:6): argc=1 a0=".to_vec(),
            vec![b'A'; 10 << 20],
        ]
        .concat(),
        [
            b"type=EXECVE msg=audit(2.000:7): ".to_vec(),
            vec![b'='; 1 << 20],
        ]
        .concat(),
    ];
        for l in &junk {
            let _ = a.push_line(l, 0, &mut sink);
        }
        a.flush(&mut sink);
    }
    // Serial 4 is a well-formed event with a NUL inside quotes (verbatim text), serial 18446744073709551615
    // is well formed; 6 has 10 MiB of hex (5 MiB decoded, under the cap).
    let serials: Vec<u64> = out
        .iter()
        .filter_map(|x| match x {
            Assembled::Exec(e) => Some(e.id.serial),
            _ => None,
        })
        .collect();
    assert_eq!(serials, vec![4, u64::MAX, 6]);
    assert!(out.iter().all(|x| !matches!(
        x,
        Assembled::Skipped {
            reason: SkipReason::FailedExec,
            ..
        }
    )));
}

#[test]
fn mutated_corpus_lines_never_panic() {
    let mut templates: Vec<String> =
        full_event("5.123", 9, "argc=3 a0=\"x\" a1_len=8 a1[0]=41424344");
    templates.push(rec("EXECVE", "5.123", 9, " a1[1]=45464748 a2=\"\""));
    templates.push(rec(
        "SYSCALL",
        "5.123",
        10,
        &format!("{SC}\x1dARCH=x86_64 SYSCALL=execve UID=\"root\""),
    ));
    templates.push(format!("node=n {}", rec("EOE", "5.123", 9, "")));
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b" =\"'()[]_:.0123456789aAfFxX\x1d\x00\xff\r\n-";
    let cfg = AssemblerConfig {
        max_age_ms: 5,
        max_open: 8,
        ..AssemblerConfig::default()
    };
    let mut a = Assembler::new(cfg);
    let mut count = 0u64;
    for i in 0..20_000u64 {
        let t = &templates[(next() % templates.len() as u64) as usize];
        let mut line = t.as_bytes().to_vec();
        for _ in 0..(next() % 4) {
            if line.is_empty() {
                break;
            }
            let at = (next() % line.len() as u64) as usize;
            match next() % 4 {
                0 => line[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                1 => line.truncate(at),
                2 => {
                    line.remove(at);
                }
                _ => line.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
            }
        }
        let _ = a.push_line(&line, i, &mut |_| count += 1);
        assert!(a.open_events() <= 8);
    }
    a.flush(&mut |_| count += 1);
    assert_eq!(a.open_events(), 0);
    assert_eq!(a.oldest_open_position(), None);
    assert!(count > 0);
}

#[test]
fn path_names_are_counted_alike_kept_or_not() {
    let bodies = [
        "item=0 name=\"/bin/true\" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL",
        "item=0 name=\"/bin/true\" nametype=NORMAL name=ZZ",
        "item=0 name=\"/bin/true\" item=x nametype=NORMAL name=ZZ",
        "item=0 name=\"/bin/true\" item=1 nametype=NORMAL name=ZZ",
        "item=0 name=ZZ nametype=NORMAL name=\"x\" name=QQ",
        "item=0 name=(null) nametype=NORMAL name=Q",
        "item=0 name=\"/bin/true\" mode=1 item=2 name=ABC nametype=NORMAL",
        "name=ABC item=0",
    ];
    for body in bodies {
        let lines = vec![
            rec("SYSCALL", "1.000", 1, SC),
            rec("EXECVE", "1.000", 1, "argc=1 a0=\"true\""),
            rec("PATH", "1.000", 1, body),
        ];
        let bad = |keep_paths| {
            let cfg = AssemblerConfig {
                keep_paths,
                ..AssemblerConfig::default()
            };
            run_with(cfg, &lines, true).1.stats().bad_values
        };
        assert_eq!(bad(true), bad(false), "{body}");
    }
}

/// The remembered last event must be forgotten when it closes, and events interleaved record by
/// record, evicted or receiving late records must come out as with a lookup on every line.
#[test]
fn remembered_last_event_follows_closes_and_interleaving() {
    let (a, b) = (
        full_event("1.000", 1, "argc=1 a0=\"a\""),
        full_event("1.000", 2, "argc=1 a0=\"b\""),
    );
    let mut lines: Vec<String> = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| [x, y])
        .cloned()
        .collect();
    // Late records of both closed events, then a third event reusing a freed place.
    lines.push(a[2].clone());
    lines.push(b[3].clone());
    lines.extend(full_event("1.001", 3, "argc=1 a0=\"c\""));
    let (out, asm) = run_with(AssemblerConfig::default(), &lines, true);
    assert_eq!(out.len(), 3);
    assert_eq!(argv(&out[0]), [b"a"]);
    assert_eq!(argv(&out[1]), [b"b"]);
    assert_eq!(argv(&out[2]), [b"c"]);
    assert_eq!(asm.stats().late, 2);
    assert_eq!(asm.open_events(), 0);

    // With one open event at most, each new event evicts the other, whose next record is late.
    let cfg = AssemblerConfig {
        max_open: 1,
        ..AssemblerConfig::default()
    };
    let lines = vec![
        rec("SYSCALL", "2.000", 5, SC),
        rec("SYSCALL", "2.000", 6, SC),
        rec("EXECVE", "2.000", 5, "argc=1 a0=\"x\""),
        rec("EXECVE", "2.000", 6, "argc=1 a0=\"y\""),
    ];
    let (out, asm) = run_with(cfg, &lines, true);
    assert_eq!(skipped(&out[0]), (5, SkipReason::Evicted));
    assert_eq!(argv(&out[1]), [b"y"]);
    assert_eq!(asm.stats().late, 1);
}

#[test]
fn record_types_are_told_apart_by_length_and_name() {
    for (name, kind) in [
        ("SYSCALL", Some(Kind::Syscall)),
        ("EXECVE", Some(Kind::Execve)),
        ("CWD", Some(Kind::Cwd)),
        ("PATH", Some(Kind::Path)),
        ("PROCTITLE", Some(Kind::Proctitle)),
        ("EOE", Some(Kind::Eoe)),
        ("EOF", None),
        ("PATHS", None),
        ("SYSCALLS", None),
        ("syscall", None),
        ("BPRM_FCAPS", None),
        ("", None),
    ] {
        assert_eq!(kind_of(name.as_bytes()), kind, "{name}");
    }
}
