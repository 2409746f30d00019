//! The systemd units say what the contract and the README promise, and `systemd-analyze
//! verify` accepts them where it can run.

mod common;
use std::path::Path;
use std::process::Command;

const UNITS: [&str; 2] = ["systemd/pulsewatch.service", "systemd/pulsewatch-user.service"];

fn read(unit: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(unit)).unwrap()
}

/// The `Key=value` settings, comments left out.
fn settings(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('[')).collect()
}

#[test]
fn units_keep_the_contract_and_what_a_liveness_checker_needs() {
    for unit in UNITS {
        let text = read(unit);
        let s = settings(&text);
        for want in [
            "Type=notify",
            "NotifyAccess=main",
            "WatchdogSec=30",
            "Restart=on-failure",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "RuntimeDirectory=pulsewatch",
        ] {
            assert!(s.contains(&want), "{unit}: missing {want}");
        }
        assert!(s.iter().any(|l| l.starts_with("ExecStart=") && l.ends_with("pulsewatch run")), "{unit}");
        for banned in
            ["ProtectProc=invisible", "ProcSubset=pid", "PrivateTmp=yes", "ProtectHome=yes", "ProtectHome=tmpfs"]
        {
            assert!(!s.contains(&banned), "{unit}: {banned} hides what pulsewatch must see");
        }
    }
    let system = read(UNITS[0]);
    assert!(settings(&system).contains(&"StateDirectory=pulsewatch"));
    assert!(settings(&system).contains(&"ProtectHome=read-only"));
    let user = read(UNITS[1]);
    assert!(!settings(&user).iter().any(|l| l.starts_with("ProtectHome=")), "user state lives under home");
    assert!(user.contains("loginctl enable-linger"));
}

#[test]
fn systemd_analyze_verify_is_clean() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze not installed: skipping verify");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("xdg-runtime");
    std::fs::create_dir(&runtime).unwrap();
    for unit in UNITS {
        // verify checks that ExecStart= exists: point it at the binary under test.
        let text = read(unit)
            .replace("/usr/local/bin/pulsewatch", common::bin())
            .replace("%h/.local/bin/pulsewatch", common::bin());
        let path = dir.path().join(Path::new(unit).file_name().unwrap());
        std::fs::write(&path, text).unwrap();
        let mut cmd = Command::new("systemd-analyze");
        if unit.contains("-user") {
            cmd.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
        }
        let out = cmd.arg("verify").arg(&path).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && said.trim().is_empty(), "{unit}: {said}");
    }
}
