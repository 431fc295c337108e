//! The packages, end to end: `make deb` builds the .deb, lintian finds no error in it, `dpkg -i`
//! installs it on this machine (files, modes, conffiles, folders, the unit), the installed agent
//! alerts on a real audit log, and `dpkg -r` then `dpkg -P` leave nothing behind. `make rpm` builds
//! the .rpm, checked with `rpm -qp` (files, modes, config flags, scriptlets, dependencies).
//!
//! Skipped with the reason when not root or when dpkg (rpm, lintian) is missing, unless
//! `EXECWATCH_REQUIRE_E2E=1` (set by CI), which turns a missing prerequisite into a failure. A guard
//! purges the package even when a check fails.

mod common;

use common::filelog::{seed_shift, shift_times};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const SEED_RULE: &str = "execution_python_webserver_spawned.toml";

/// `make deb` and `make rpm` share the binary they build: one at a time.
static BUILD: Mutex<()> = Mutex::new(());

fn required() -> bool {
    std::env::var("EXECWATCH_REQUIRE_E2E").as_deref() == Ok("1")
}

/// Whether to go on: skips with a message, or fails when `EXECWATCH_REQUIRE_E2E=1`.
fn can_run(test: &str, why: Option<String>) -> bool {
    match why {
        None => true,
        Some(why) if required() => panic!("EXECWATCH_REQUIRE_E2E=1 but {test} cannot run: {why}"),
        Some(why) => {
            eprintln!("SKIPPED: {test}: {why}");
            false
        }
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    eprintln!(
        "$ {program} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds a package with the Makefile (`make deb` or `make rpm`) and returns its path.
fn make(target: &str, file: &str) -> PathBuf {
    let _lock = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new("make")
        .arg(target)
        .arg(format!("CARGO={cargo}"))
        .current_dir(ROOT)
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make {target} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("make {target}: {:.1?}", started.elapsed());
    let path = Path::new(ROOT).join("target/pkg").join(file);
    assert!(
        path.is_file(),
        "make {target} did not build {}",
        path.display()
    );
    path
}

fn mode(path: &str) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .permissions()
        .mode()
        & 0o7777
}

fn exists(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Purges the package when dropped, so that a failed check leaves nothing installed.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["-P", "execwatch"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Removes a folder when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn expected_alerts() -> usize {
    let list: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(ROOT).join("tests/fixtures/audit/seed-rule.expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    list.iter().filter(|e| e["alert"] == true).count()
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Every file the .deb installs, with its mode.
const DEB_FILES: &[(&str, u32)] = &[
    ("/usr/bin/execwatch", 0o755),
    ("/lib/systemd/system/execwatch.service", 0o644),
    ("/etc/execwatch/execwatch.toml", 0o644),
    (
        "/etc/execwatch/rules.d/execution_python_webserver_spawned.toml",
        0o644,
    ),
    ("/etc/audit/rules.d/execwatch.rules", 0o640),
    ("/etc/logrotate.d/execwatch", 0o644),
    ("/usr/share/man/man8/execwatch.8.gz", 0o644),
    ("/usr/share/doc/execwatch/copyright", 0o644),
    ("/usr/share/doc/execwatch/changelog.Debian.gz", 0o644),
    ("/usr/share/doc/execwatch/changelog.gz", 0o644),
    ("/usr/share/doc/execwatch/README.md", 0o644),
    ("/usr/share/doc/execwatch/NOTICE", 0o644),
    ("/usr/share/doc/execwatch/LICENSE", 0o644),
];

const CONFFILES: &[&str] = &[
    "/etc/execwatch/execwatch.toml",
    "/etc/execwatch/rules.d/execution_python_webserver_spawned.toml",
    "/etc/audit/rules.d/execwatch.rules",
    "/etc/logrotate.d/execwatch",
];

/// What must be gone after `dpkg -P`.
const PURGED: &[&str] = &[
    "/usr/bin/execwatch",
    "/lib/systemd/system/execwatch.service",
    "/etc/execwatch",
    "/etc/audit/rules.d/execwatch.rules",
    "/etc/logrotate.d/execwatch",
    "/usr/share/doc/execwatch",
    "/usr/share/man/man8/execwatch.8.gz",
    "/var/lib/execwatch",
    "/var/log/execwatch",
    "/etc/systemd/system/multi-user.target.wants/execwatch.service",
    "/var/lib/systemd/deb-systemd-helper-enabled/execwatch.service.dsh-also",
    "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/execwatch.service",
];

#[test]
fn deb_builds_installs_alerts_and_purges_cleanly() {
    let why = if !nix::unistd::Uid::effective().is_root() {
        Some("not running as root".to_string())
    } else {
        ["dpkg", "dpkg-query", "make", "lintian"]
            .iter()
            .find(|t| !have(t))
            .map(|t| format!("{t} is not installed"))
    };
    if !can_run("deb_builds_installs_alerts_and_purges_cleanly", why) {
        return;
    }
    let started = Instant::now();
    let deb = make("deb", &format!("execwatch_{VERSION}-1_amd64.deb"));
    let deb = deb.to_str().unwrap();

    // lintian: no errors (warnings are listed in the output).
    let out = run("lintian", &["--info", "--no-tag-display-limit", deb]);
    let report = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("E:")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));

    // The package's relations: the static binary needs nothing; auditd only recommended.
    let fields = run_ok(
        "dpkg-deb",
        &[
            "--show",
            "--showformat=${Depends}|${Recommends}|${Version}",
            deb,
        ],
    );
    let fields: Vec<&str> = fields.split('|').collect();
    assert!(!fields[0].contains("auditd"), "Depends: {}", fields[0]);
    assert!(fields[1].contains("auditd"), "Recommends: {}", fields[1]);
    assert_eq!(fields[2], format!("{VERSION}-1"));

    let _purge = Purge;
    let _ = run("dpkg", &["-P", "execwatch"]);
    let installed = run_ok("dpkg", &["-i", deb]);
    assert!(
        installed.contains("execwatch: "),
        "postinst says what it did about auditd and systemd"
    );

    // Files, modes, owners, contents.
    for (path, want) in DEB_FILES {
        assert_eq!(mode(path), *want, "mode of {path}");
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "owner of {path}");
    }
    assert_eq!(
        std::fs::read(DEB_FILES[2].0).unwrap(),
        std::fs::read(Path::new(ROOT).join("packaging/execwatch.toml")).unwrap()
    );
    assert_eq!(
        std::fs::read(DEB_FILES[3].0).unwrap(),
        std::fs::read(Path::new(ROOT).join("rules").join(SEED_RULE)).unwrap()
    );
    let audit_rules = std::fs::read_to_string("/etc/audit/rules.d/execwatch.rules").unwrap();
    for arch in ["b64", "b32"] {
        assert!(
            audit_rules.contains(&format!(
                "-a always,exit -F arch={arch} -S execve,execveat -k execwatch"
            )),
            "{arch} rule"
        );
    }
    assert_eq!(mode("/var/lib/execwatch"), 0o700);
    assert_eq!(mode("/var/log/execwatch"), 0o750);

    // Conffiles.
    let conffiles = run_ok("dpkg-query", &["-W", "-f=${Conffiles}\n", "execwatch"]);
    for path in CONFFILES {
        assert!(
            conffiles
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{path} "))),
            "{path} is not a conffile:\n{conffiles}"
        );
    }

    // The installed binary: static, its version, the installed rules.
    let ldd = run("ldd", &["/usr/bin/execwatch"]);
    let ldd = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(
        ldd.contains("not a dynamic executable") || ldd.contains("statically linked"),
        "the packaged binary is static: {ldd}"
    );
    assert_eq!(
        run_ok("/usr/bin/execwatch", &["--version"]).trim(),
        format!("execwatch {VERSION}")
    );
    let check = run_ok(
        "/usr/bin/execwatch",
        &["rules", "check", "/etc/execwatch/rules.d"],
    );
    assert!(check.starts_with("ok "), "{check}");
    let fixture = Path::new(ROOT).join("tests/fixtures/audit/seed-rule.log");
    let replayed = run_ok(
        "/usr/bin/execwatch",
        &[
            "replay",
            "--rules",
            "/etc/execwatch/rules.d",
            fixture.to_str().unwrap(),
        ],
    );
    assert_eq!(replayed.lines().count(), expected_alerts());

    // The unit as installed.
    if have("systemd-analyze") {
        run_ok(
            "systemd-analyze",
            &["verify", "/lib/systemd/system/execwatch.service"],
        );
        let out = run(
            "systemd-analyze",
            &[
                "security",
                "--offline=yes",
                "/lib/systemd/system/execwatch.service",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let score: f64 = text
            .lines()
            .find_map(|l| l.split("execwatch.service: ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
        assert!(score < 3.0, "exposure level {score}");
    } else {
        assert!(!required(), "systemd-analyze is not installed");
        eprintln!("systemd-analyze is not installed: the unit is not verified");
    }
    if have("logrotate") {
        run_ok("logrotate", &["--debug", "/etc/logrotate.d/execwatch"]);
    }

    // The installed agent on a real audit log, writing to the packaged state and log folders.
    let tmp = TempDir(std::env::temp_dir().join(format!("execwatch-pkg-{}", std::process::id())));
    std::fs::create_dir_all(&tmp.0).unwrap();
    let log = tmp.0.join("audit.log");
    std::fs::write(
        &log,
        shift_times(
            &std::fs::read(Path::new(ROOT).join("tests/fixtures/audit/seed-rule.log")).unwrap(),
            seed_shift(),
        ),
    )
    .unwrap();
    let config = tmp.0.join("execwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[rules]\npaths = [\"/etc/execwatch/rules.d\"]\n[sources.audit]\npath = \"{}\"\n\
             [sources.procfs]\nenabled = false\n[outputs.syslog]\nenabled = false\n",
            log.display()
        ),
    )
    .unwrap();
    let alerts = Path::new("/var/log/execwatch/alerts.ndjson");
    let agent = Command::new("/usr/bin/execwatch")
        .args(["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while lines(alerts) < expected_alerts() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = agent.wait_with_output().unwrap();
    eprintln!("agent: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "agent exit: {}", out.status);
    assert_eq!(lines(alerts), expected_alerts(), "alerts written");
    let text = std::fs::read_to_string(alerts).unwrap();
    assert!(text.contains("Web Server Spawned via Python"));
    assert_eq!(
        mode(alerts.to_str().unwrap()) & 0o007,
        0,
        "alerts are not world-readable"
    );
    assert!(Path::new("/var/lib/execwatch/status.json").is_file());
    let status = run(
        "/usr/bin/execwatch",
        &["status", "--config", config.to_str().unwrap()],
    );
    assert_eq!(status.status.code(), Some(3), "status of a stopped agent");

    // Remove: the program goes, configuration, state and alerts stay.
    run_ok("dpkg", &["-r", "execwatch"]);
    for path in [
        "/usr/bin/execwatch",
        "/lib/systemd/system/execwatch.service",
    ] {
        assert!(!exists(path), "{path} left after dpkg -r");
    }
    for path in CONFFILES {
        assert!(exists(path), "{path} gone after dpkg -r");
    }
    assert!(alerts.exists(), "alerts kept after dpkg -r");
    let state = run_ok("dpkg-query", &["-W", "-f=${Status}", "execwatch"]);
    assert_eq!(state, "deinstall ok config-files");

    // Purge: nothing left.
    run_ok("dpkg", &["-P", "execwatch"]);
    for path in PURGED {
        assert!(!exists(path), "{path} left after dpkg -P");
    }
    let known = run("dpkg-query", &["-W", "-f=${Status}", "execwatch"]);
    assert!(
        !known.status.success() || String::from_utf8_lossy(&known.stdout).contains("not-installed"),
        "execwatch still known to dpkg"
    );
    eprintln!("deb test: {:.1?}", started.elapsed());
}

#[test]
fn rpm_builds_with_files_config_flags_scriptlets_and_dependencies() {
    let why = ["rpm", "make"]
        .iter()
        .find(|t| !have(t))
        .map(|t| format!("{t} is not installed"));
    if !can_run(
        "rpm_builds_with_files_config_flags_scriptlets_and_dependencies",
        why,
    ) {
        return;
    }
    let rpm = make("rpm", &format!("execwatch-{VERSION}-1.x86_64.rpm"));
    let rpm = rpm.to_str().unwrap();
    let query = |args: &[&str]| {
        let mut all = vec!["-qp"];
        all.extend_from_slice(args);
        all.push(rpm);
        run_ok("rpm", &all)
    };

    assert_eq!(
        query(&["--qf", "%{NAME} %{VERSION} %{RELEASE}"]),
        format!("execwatch {VERSION} 1")
    );

    // Files with their modes and flags (c = config, n = noreplace, d = doc).
    let files = query(&[
        "--qf",
        "[%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES}\n]",
    ]);
    let entry = |path: &str| {
        files
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} is not in the rpm:\n{files}"))
            .to_string()
    };
    for (path, perms, flags) in [
        ("/usr/bin/execwatch", "-rwxr-xr-x", ""),
        (
            "/usr/lib/systemd/system/execwatch.service",
            "-rw-r--r--",
            "",
        ),
        ("/etc/execwatch/execwatch.toml", "-rw-r--r--", "cn"),
        (
            "/etc/execwatch/rules.d/execution_python_webserver_spawned.toml",
            "-rw-r--r--",
            "cn",
        ),
        ("/etc/audit/rules.d/execwatch.rules", "-rw-r-----", "cn"),
        ("/etc/logrotate.d/execwatch", "-rw-r--r--", "cn"),
        ("/usr/share/man/man8/execwatch.8.gz", "-rw-r--r--", "d"),
        ("/usr/share/doc/execwatch/README.md", "-rw-r--r--", "d"),
        ("/usr/share/doc/execwatch/NOTICE", "-rw-r--r--", "d"),
        ("/usr/share/doc/execwatch/LICENSE", "-rw-r--r--", "d"),
        ("/usr/share/doc/execwatch/CHANGELOG.md", "-rw-r--r--", "d"),
    ] {
        let line = entry(path);
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some(perms), "{line}");
        let got_flags = if line.split_whitespace().count() == 3 {
            parts.next().unwrap()
        } else {
            ""
        };
        assert_eq!(got_flags, flags, "{line}");
    }
    let configs = query(&["--configfiles"]);
    assert_eq!(configs.lines().count(), 4, "config files:\n{configs}");

    // Scriptlets: folders, audit rules, systemd only where it runs.
    let scripts = query(&["--scripts"]);
    for needle in [
        "postinstall scriptlet",
        "preuninstall scriptlet",
        "postuninstall scriptlet",
        "chmod 0700 /var/lib/execwatch",
        "chmod 0750 /var/log/execwatch",
        "augenrules --load",
        "[ -d /run/systemd/system ]",
        "systemctl start execwatch.service",
        "disable --now execwatch.service",
    ] {
        assert!(
            scripts.contains(needle),
            "{needle:?} not in scriptlets:\n{scripts}"
        );
    }

    // Dependencies: a static binary needs no library; audit is a weak dependency.
    let requires = query(&["--requires"]);
    assert!(
        !requires.contains("libc.so") && !requires.contains("audit"),
        "requires:\n{requires}"
    );
    assert!(query(&["--recommends"]).contains("audit"));
}
