//! Filesystems a fault scenario can break under the daemon's own files (mounted as root,
//! skipped elsewhere): a tiny tmpfs to fill or cover read-only, an ext4 image that goes
//! read-only under open descriptors, and the stalling workers these scenarios watch.

use super::invariants::{assert_parses_if_present, check_event_log, path_of};
use super::{Sandbox, touch_mtime, worker_toml};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn ok(cmd: &mut Command) -> bool {
    cmd.stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// A tiny tmpfs mounted over `dir`, unmounted on drop.
pub struct Mount(PathBuf);

impl Mount {
    /// `None` (with a skip message) where mounting is not allowed.
    pub fn tmpfs(dir: &Path) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        if !ok(Command::new("mount").args(["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs"]).arg(dir)) {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Mount(dir.to_path_buf()))
    }

    /// Fills the filesystem up to the last byte.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = [b'#'; 4096];
        while f.write(&block).is_ok_and(|n| n > 0) {}
        let one = [b'#'; 1];
        while f.write(&one).is_ok_and(|n| n > 0) {}
    }

    pub fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }

    /// A read-only bind mount over the tmpfs (a plain `remount,ro` is refused with EBUSY
    /// while the daemon holds a file there open for writing): new files and renames fail
    /// with EROFS, descriptors opened before still write.
    pub fn read_only(&self) {
        for args in [&["--bind"][..], &["-o", "remount,bind,ro"]] {
            let ok = Command::new("mount").args(args).arg(&self.0).arg(&self.0).status();
            assert!(ok.unwrap().success(), "mount {args:?}");
        }
    }

    pub fn writable(&self) {
        assert!(Command::new("umount").arg(&self.0).status().unwrap().success());
    }
}

impl Drop for Mount {
    /// A test that failed between `read_only` and `writable` leaves the bind mount on top of
    /// the tmpfs: both come off, or the tmpfs would outlive the test under /tmp.
    fn drop(&mut self) {
        for _ in 0..2 {
            if !ok(Command::new("umount").arg("-l").arg(&self.0)) {
                break;
            }
        }
    }
}

/// A small ext4 image loop-mounted over `dir` with `errors=remount-ro`: `fail` makes the
/// kernel turn it read-only the way a disk error does, so even writes through descriptors
/// opened before fail with EROFS, which no remount of a filesystem with open files can do.
pub struct Ext4 {
    dir: PathBuf,
    image: PathBuf,
}

impl Ext4 {
    /// `None` (with a skip message) without root, loop devices or mkfs.ext4.
    pub fn new(dir: &Path, image: &Path) -> Option<Ext4> {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::File::create(image).unwrap().set_len(16 << 20).unwrap();
        let fs = Ext4 { dir: dir.to_path_buf(), image: image.to_path_buf() };
        if !ok(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(image)) || !fs.mount() {
            eprintln!("SKIPPED: cannot make and loop-mount an ext4 image here (needs root and loop devices)");
            return None;
        }
        Some(fs)
    }

    fn mount(&self) -> bool {
        ok(Command::new("mount").args(["-o", "loop,errors=remount-ro"]).arg(&self.image).arg(&self.dir))
    }

    /// The loop device the image is mounted from (`loop3`), from the mount table.
    fn device(&self) -> String {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = table
            .lines()
            .rfind(|l| l.split(' ').nth(4) == Some(self.dir.to_str().unwrap()))
            .expect("the image is mounted");
        let source = line.split(" - ").nth(1).and_then(|r| r.split(' ').nth(1)).unwrap();
        source.trim_start_matches("/dev/").to_string()
    }

    /// What is written so far is made durable, then the kernel is told of an error: the
    /// journal aborts and the filesystem is read-only from then on, for every descriptor.
    pub fn fail(&self) {
        assert!(Command::new("sync").arg("-f").arg(&self.dir).status().unwrap().success());
        let trigger = format!("/sys/fs/ext4/{}/trigger_fs_error", self.device());
        std::fs::write(&trigger, "pulsewatch fault test\n").unwrap_or_else(|e| panic!("{trigger}: {e}"));
    }

    /// What an operator does after such an error: mount the image again, writable. It goes
    /// over the dead mount rather than after an unmount, so the path never shows the empty
    /// directory below for a moment (the daemon would create its log there, then lose sight
    /// of it under the new mount).
    pub fn mount_again(&self) {
        // `mount -o loop` would reuse the dead filesystem's loop device (and superblock): a
        // loop device of its own, detached lazily (it goes when unmounted).
        let out = Command::new("losetup").args(["--find", "--show"]).arg(&self.image).output().unwrap();
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        let dev = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let mounted = ok(Command::new("mount").args(["-o", "errors=remount-ro", &dev]).arg(&self.dir));
        assert!(ok(Command::new("losetup").args(["-d", &dev])));
        assert!(mounted, "mount {dev} again");
    }
}

impl Drop for Ext4 {
    fn drop(&mut self) {
        for _ in 0..3 {
            if !ok(Command::new("umount").arg("-l").arg(&self.dir)) {
                break;
            }
        }
    }
}

/// `n` config workers `w0…` whose logs are fresh, with thresholds in hours: only `stall_all`
/// moves them.
pub fn workers(sb: &Sandbox, n: usize) -> String {
    let mut rest = "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\n\n".to_string();
    for i in 0..n {
        let log = sb.write(&format!("logs/w{i}.log"), "x\n");
        rest.push_str(&worker_toml(&format!("w{i}"), &log, "", ""));
    }
    rest
}

/// Ages every log so each worker goes alive → stalled once.
pub fn stall_all(sb: &Sandbox, n: usize) {
    for i in 0..n {
        touch_mtime(&sb.path(&format!("logs/w{i}.log")), "3 hours ago");
    }
}

/// The count of fault `key` in the status document (0 while there is none).
pub fn fault(sb: &Sandbox, key: &str) -> u64 {
    sb.status().and_then(|s| s["daemon"]["faults"][key].as_u64()).unwrap_or(0)
}

/// Each worker went alive → stalled exactly once.
pub fn stalled_once(events: &[Value], n: usize) {
    for i in 0..n {
        assert_eq!(path_of(events, &format!("w{i}")), ["alive", "stalled"], "w{i}");
    }
}

/// The running daemon's files parse and the event log at `elog` (outside the sandbox's state
/// dir) keeps its promises.
pub fn check_running_log(sb: &Sandbox, elog: &Path) -> Vec<Value> {
    assert_parses_if_present(&sb.status_file());
    assert_parses_if_present(&sb.state_dir().join("state.json"));
    check_event_log(elog)
}
