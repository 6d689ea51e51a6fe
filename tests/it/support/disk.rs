//! A small disk of the test's own: a tmpfs mounted on a temporary folder,
//! so a test can fill a disk to the last byte without touching the
//! machine's. Mounting needs root, or sudo without a password (as
//! scripts/test uses to install packages); without either the test fails
//! and says so.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size_kib: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        // Owned by whoever runs the test, as the folder is.
        let folder = std::fs::metadata(dir.path()).unwrap();
        let options = format!("size={size_kib}k,mode=0700,uid={},gid={}", folder.uid(), folder.gid());
        let out = as_root("mount")
            .args(["-t", "tmpfs", "-o", &options, "portcullis-test"])
            .arg(dir.path())
            .output()
            .expect("cannot run mount(8)");
        assert!(
            out.status.success(),
            "could not mount a {size_kib} KiB tmpfs for a disk-full test; this needs root or sudo without a password: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Take every byte that is left.
    pub fn fill(&self) {
        let mut file = std::fs::File::create(self.filler()).unwrap();
        let block = [0u8; 4096];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(err) if err.raw_os_error() == Some(28) => break, // ENOSPC
                Err(err) => panic!("filling the small disk: {err}"),
            }
        }
    }

    /// Give the space back.
    pub fn free(&self) {
        std::fs::remove_file(self.filler()).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily, so that a process still holding a file there cannot keep
        // the mount behind.
        let _ = as_root("umount").arg("-l").arg(self.path()).status();
    }
}

/// `program`, through `sudo -n` unless we are root.
fn as_root(program: &str) -> Command {
    if std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == 0) {
        return Command::new(program);
    }
    let mut sudo = Command::new("sudo");
    sudo.args(["-n", program]);
    sudo
}
