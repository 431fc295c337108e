//! `execwatch replay` and `execwatch rules check`, end to end: the real binary on real audit logs
//! recorded with auditd (see `tests/fixtures/record-seed-fixtures.sh`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_execwatch");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn shared(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(name)
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run execwatch");
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ndjson(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is one JSON object"))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// (process.name, process.args) of each document.
fn name_args(docs: &[Value]) -> Vec<(String, Vec<String>)> {
    docs.iter()
        .map(|d| {
            let args = d["process"]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string());
            (
                d["process"]["name"].as_str().unwrap().to_string(),
                args.collect(),
            )
        })
        .collect()
}

/// The recorded fixture's expectations: every exec, and whether the seed rule alerts on it.
fn expected(name: &str) -> Vec<(bool, String, Vec<String>)> {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let list: Vec<Value> = serde_json::from_str(&text).unwrap();
    list.iter()
        .map(|e| {
            let args = e["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect();
            (
                e["alert"].as_bool().unwrap(),
                e["process_name"].as_str().unwrap().to_string(),
                args,
            )
        })
        .collect()
}

fn expected_alerts(name: &str) -> Vec<(String, Vec<String>)> {
    expected(name)
        .into_iter()
        .filter(|(alert, ..)| *alert)
        .map(|(_, n, a)| (n, a))
        .collect()
}

#[test]
fn seed_rule_alerts_exactly_on_the_recorded_positives() {
    for (log, exp) in [
        ("audit/seed-rule.log", "audit/seed-rule.expected.json"),
        (
            "audit/seed-rule-raw.log",
            "audit/seed-rule-raw.expected.json",
        ),
    ] {
        let out = run(&["replay", fixture(log).to_str().unwrap()], None);
        assert!(out.status.success(), "{}", stderr(&out));
        let alerts = ndjson(&out);
        assert_eq!(alerts.len(), 9, "{log}");
        assert_eq!(name_args(&alerts), expected_alerts(exp), "{log}");
        for a in &alerts {
            assert_eq!(a["rule"]["name"], "Web Server Spawned via Python");
            assert_eq!(a["event"]["kind"], "alert");
            assert_eq!(a["event"]["severity"], 21);
            assert_eq!(a["event"]["risk_score"], 21);
            assert_eq!(
                a["threat"]["tactic"]["name"],
                serde_json::json!(["Execution"])
            );
        }
        let summary = stderr(&out);
        assert!(
            summary.contains("280 lines, 40 events, 9 alerts, 0 failed execs, 0 skipped"),
            "{summary}"
        );
    }
}

#[test]
fn events_mode_writes_every_exec_with_its_parent() {
    let out = run(
        &[
            "replay",
            "--emit",
            "events",
            fixture("audit/seed-rule.log").to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events = ndjson(&out);
    let all: Vec<(String, Vec<String>)> = expected("audit/seed-rule.expected.json")
        .into_iter()
        .map(|(_, n, a)| (n, a))
        .collect();
    assert_eq!(name_args(&events), all);
    for e in &events {
        assert_eq!(e["event"]["action"], "exec");
        assert_eq!(e["event"]["kind"], "event");
        assert_eq!(e["host"]["os"]["type"], "linux");
        assert_eq!(e["event"]["provider"], "auditd");
        assert_eq!(e["process"]["user"]["name"], "root");
        assert_eq!(
            e["process"]["args_count"],
            e["process"]["args"].as_array().unwrap().len()
        );
    }
    // P2: dash runs `sh -c 'python3 ...'` and forks python3: the child names dash as its parent.
    let child = events
        .iter()
        .position(|e| {
            e["process"]["name"] == "python3.11" && e["process"]["parent"]["name"] == "dash"
        })
        .expect("python3 child of sh -c");
    assert_eq!(events[child]["process"]["parent"]["args"][0], "sh");
    assert_eq!(
        events[child]["process"]["parent"]["pid"],
        events[child - 1]["process"]["pid"]
    );
}

#[test]
fn a_rotated_set_is_one_stream_even_when_an_event_straddles_files() {
    let data = std::fs::read(fixture("audit/seed-rule.log")).unwrap();
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let dir = tempdir("rotated");
    // Cut in the middle of events: line 3 is an EXECVE, line 100 is some record within an event.
    let parts = [&lines[..3], &lines[3..100], &lines[100..]];
    let mut names = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let path = dir.join(format!("audit.log.{}", 2 - i));
        std::fs::write(&path, part.concat()).unwrap();
        names.push(path.to_str().unwrap().to_string());
    }
    let mut args = vec!["replay"];
    args.extend(names.iter().map(String::as_str));
    let out = run(&args, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        name_args(&ndjson(&out)),
        expected_alerts("audit/seed-rule.expected.json")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stdin_is_read_with_dash() {
    let data = std::fs::read(fixture("audit/seed-rule.log")).unwrap();
    let out = run(&["replay", "-"], Some(&data));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ndjson(&out).len(), 9);
}

#[test]
fn ecs_input_is_evaluated_as_it_is() {
    let events = run(
        &[
            "replay",
            "--emit",
            "events",
            fixture("audit/seed-rule.log").to_str().unwrap(),
        ],
        None,
    );
    let out = run(&["replay", "--format", "ecs", "-"], Some(&events.stdout));
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = ndjson(&out);
    assert_eq!(
        name_args(&alerts),
        expected_alerts("audit/seed-rule.expected.json")
    );
    // Dotted keys work as well as nested ones, and each alert carries the input's fields.
    let dotted = concat!(
        r#"{"event.category":["process"],"event.type":["start"],"event.action":"exec","host.os.type":"linux","#,
        r#""process.name":"python3","process.args":["python3","-m","http.server"],"custom.field":"kept"}"#,
        "\n",
        r#"{"event":{"category":"process","type":"start","action":"exec"},"host":{"os":{"type":"linux"}},"#,
        r#""process":{"name":"python3","args":["python3","-m","HTTP.SERVER"]}}"#,
        "\n",
        "not json\n[1,2]\n"
    );
    let out = run(&["replay", "--format", "ecs", "-"], Some(dotted.as_bytes()));
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = ndjson(&out);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["custom.field"], "kept");
    assert_eq!(alerts[0]["rule"]["name"], "Web Server Spawned via Python");
    let summary = stderr(&out);
    assert!(
        summary.contains("4 lines, 2 events, 1 alerts, 0 failed execs, 2 skipped"),
        "{summary}"
    );
    assert!(summary.contains("invalid JSON: <stdin>:3"), "{summary}");
    assert!(
        summary.contains("not a JSON object: <stdin>:4"),
        "{summary}"
    );
}

#[test]
fn bad_input_is_counted_with_line_numbers_and_good_events_still_alert() {
    let data = std::fs::read(fixture("audit/seed-rule.log")).unwrap();
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let mut hostile = Vec::new();
    hostile.extend_from_slice(b"\x00\x01\xff binary junk \xfe\n");
    hostile.extend_from_slice(b"type=EXECVE msg=audit(1795805100.000:1): argc=2 a0=\"x\" a1=ZZ\n");
    hostile.extend_from_slice(b"type=SYSCALL msg=audit(garbage): arch=c000003e\n");
    hostile.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
    hostile.push(b'\n');
    let mut data = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        data.extend_from_slice(line);
        if i == 10 {
            data.extend_from_slice(&hostile);
        }
    }
    // A truncated event at the very end: a SYSCALL and half an EXECVE list, then end of input.
    data.extend_from_slice(
        b"type=SYSCALL msg=audit(1795805999.000:99999): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 uid=0 comm=\"x\" exe=\"/usr/bin/x\"\n",
    );
    data.extend_from_slice(b"type=EXECVE msg=audit(1795805999.000:99999): argc=3 a0=\"x\"\n");
    let dir = tempdir("hostile");
    let path = dir.join("audit.log");
    std::fs::write(&path, &data).unwrap();
    let out = run(&["replay", path.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        name_args(&ndjson(&out)),
        expected_alerts("audit/seed-rule.expected.json")
    );
    let summary = stderr(&out);
    let file = path.display().to_string();
    assert!(
        summary.contains(&format!("{file}:12")),
        "junk line reported with its number: {summary}"
    );
    assert!(
        summary.contains(&format!("{file}:14")),
        "bad timestamp reported: {summary}"
    );
    assert!(
        summary.contains(&format!("line too long: {file}:15 (10485760 bytes)")),
        "{summary}"
    );
    assert!(
        summary.contains("damaged argv"),
        "bad hex and the truncated event are damaged events: {summary}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rules_flag_loads_files_and_folders_and_rejects_bad_rules() {
    let upstream = shared("corpus/rules/execution_python_webserver_spawned.toml");
    let out = run(
        &[
            "replay",
            "--rules",
            upstream.to_str().unwrap(),
            fixture("audit/seed-rule.log").to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = ndjson(&out);
    // The newest upstream version: same matches here (no systemd parent), medium severity.
    assert_eq!(
        name_args(&alerts),
        expected_alerts("audit/seed-rule.expected.json")
    );
    assert_eq!(alerts[0]["kibana"]["alert"]["severity"], "medium");

    let dir = tempdir("badrule");
    std::fs::write(dir.join("bad.toml"), "[rule]\nname = \"Broken\"\nrule_id = \"b\"\ntype = \"eql\"\nseverity = \"low\"\nrisk_score = 1\nquery = '''\nprocess where process.name ==\n'''\n").unwrap();
    let out = run(
        &["replay", "--rules", dir.to_str().unwrap(), "-"],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml:9:1:") && err.contains("rule \"Broken\""),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rules_check_validates_every_file_of_a_folder() {
    let rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let out = run(&["rules", "check", rules_dir.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    assert!(stdout.starts_with("ok "), "{stdout}");
    assert!(
        stdout.contains("Web Server Spawned via Python (low 21)"),
        "{stdout}"
    );

    // All 198 Elastic Linux process rules, written out as detection-rules TOML files.
    let dir = tempdir("corpus");
    let corpus =
        std::fs::read_to_string(shared("corpus/rules/elastic-linux-process-rules.ndjson")).unwrap();
    let mut count = 0;
    for line in corpus.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        let toml = format!(
            "[rule]\nname = {}\nrule_id = {}\ntype = \"eql\"\nlanguage = \"eql\"\nseverity = {}\nrisk_score = {}\nquery = {}\n",
            r["name"], r["rule_id"], r["severity"], r["risk_score"], r["query"]
        );
        std::fs::write(dir.join(format!("{count:03}.toml")), toml).unwrap();
        count += 1;
    }
    assert_eq!(count, 198);
    std::fs::write(dir.join("zzz-broken.toml"), "[rule]\nname = \"Seq\"\nrule_id = \"s\"\ntype = \"eql\"\nseverity = \"low\"\nrisk_score = 1\nquery = \"sequence [process where true] [process where true]\"\n").unwrap();
    let out = run(&["rules", "check", dir.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        198,
        "{stdout}"
    );
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAILED")).collect();
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(
        failed[0].contains("zzz-broken.toml") && failed[0].contains("rule \"Seq\""),
        "{stdout}"
    );
    assert!(stderr(&out).contains("199 rule files, 198 ok, 1 failed"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn help_and_version() {
    let out = run(&["--version"], None);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("execwatch {}\n", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        &["--help"][..],
        &["replay", "--help"],
        &["rules", "check", "--help"],
    ] {
        let out = run(args, None);
        assert!(out.status.success());
        assert!(String::from_utf8(out.stdout)
            .unwrap()
            .contains("Usage: execwatch"));
    }
    let out = run(&["replay"], None);
    assert_eq!(out.status.code(), Some(2), "missing FILE is a usage error");
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("execwatch-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The newest upstream seed rule excludes a systemd parent: parents come from earlier execs.
#[test]
fn parent_fields_from_earlier_execs_let_the_upstream_rule_exclude_systemd() {
    let exec = |serial: u32, pid: u32, ppid: u32, exe: &str, args: &[&str]| {
        let h = format!("msg=audit(1795805100.{serial:03}:{serial}):");
        let argv: Vec<String> = args
            .iter()
            .enumerate()
            .map(|(i, a)| format!("a{i}=\"{a}\""))
            .collect();
        format!(
            "type=SYSCALL {h} arch=c000003e syscall=59 success=yes exit=0 ppid={ppid} pid={pid} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"x\" exe=\"{exe}\" key=\"exec\"\n\
             type=EXECVE {h} argc={} {}\ntype=CWD {h} cwd=\"/\"\ntype=PROCTITLE {h} proctitle=78\n",
            args.len(),
            argv.join(" ")
        )
    };
    let log = [
        exec(1, 1, 0, "/usr/lib/systemd/systemd", &["/sbin/init"]),
        exec(
            2,
            500,
            1,
            "/usr/bin/python3.11",
            &["python3", "-m", "http.server"],
        ),
        exec(3, 600, 1, "/usr/bin/bash", &["bash"]),
        exec(
            4,
            601,
            600,
            "/usr/bin/python3.11",
            &["python3", "-m", "http.server"],
        ),
    ]
    .concat();
    let upstream = shared("corpus/rules/execution_python_webserver_spawned.toml");
    let out = run(
        &["replay", "--rules", upstream.to_str().unwrap(), "-"],
        Some(log.as_bytes()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = ndjson(&out);
    assert_eq!(
        alerts.len(),
        1,
        "only the python3 whose parent is not systemd"
    );
    assert_eq!(alerts[0]["process"]["pid"], 601);
    assert_eq!(
        alerts[0]["process"]["parent"]["executable"],
        "/usr/bin/bash"
    );
    // The seed rule (version 1) has no such exclusion: both alert.
    let out = run(&["replay", "-"], Some(log.as_bytes()));
    assert_eq!(ndjson(&out).len(), 2);
}
