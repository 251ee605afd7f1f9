//! Disk quota (`--disk-quota`, volume `-o size=`): enforced with project quotas on a loop-mounted
//! ext4 filesystem made by the test, and refused clearly where the filesystem has none.

use std::path::{Path, PathBuf};
use std::process::Command;

use pouch_e2e::{Daemon, out};

#[test]
fn disk_quota_is_refused_clearly_without_project_quota() {
    let d = Daemon::start();
    d.load_busybox();
    let run_with =
        |quota: &str| out(&d.pouch(&["run", "--rm", "--disk-quota", quota, "busybox", "true"]));
    let (_, se, code) = run_with("10m");
    assert_eq!(code, Some(125), "{se}");
    assert!(
        se.contains("disk quota for /: disk quota needs project quotas"),
        "{se}"
    );
    let (_, se, code) = out(&d.pouch(&["volume", "create", "-o", "size=10m", "q1"]));
    assert_ne!(code, Some(0));
    assert!(se.contains("disk quota needs project quotas"), "{se}");
    let (_, se, code) = run_with("/nowhere=1m");
    assert_ne!(code, Some(0));
    assert!(se.contains("no local volume is mounted there"), "{se}");
    let (_, se, code) = run_with("lots");
    assert_ne!(code, Some(0));
    assert!(se.contains("--disk-quota"), "{se}");
    // Nothing was left behind.
    assert_eq!(d.pouch_ok(&["ps", "-aq"]), "");
    assert_eq!(d.pouch_ok(&["volume", "ls", "-q"]), "");
}

/// A loop-mounted ext4 with project quota on, removed on drop.
struct QuotaFs {
    dir: tempfile::TempDir,
    mnt: PathBuf,
}

impl Drop for QuotaFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        let _ = std::fs::remove_file(self.dir.path().join("fs.img"));
    }
}

fn quota_fs() -> Result<QuotaFs, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let img = dir.path().join("fs.img");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
    let run = |c: &mut Command| -> Result<(), String> {
        let o = c.output().map_err(|e| format!("{c:?}: {e}"))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{c:?}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
    };
    run(Command::new("truncate").arg("-s").arg("300M").arg(&img))?;
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-O", "quota,project"])
        .arg(&img))?;
    run(Command::new("mount")
        .arg("-o")
        .arg("loop,prjquota")
        .arg(&img)
        .arg(&mnt))?;
    Ok(QuotaFs { dir, mnt })
}

fn root_arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn disk_quota_limits_rootfs_and_volumes_on_a_prjquota_filesystem() {
    let fs = match quota_fs() {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!(
                "skipping: cannot mount an ext4 filesystem with project quota on this host \
                 (kernel without CONFIG_QUOTA?): {e}"
            );
            return;
        }
    };
    let root = fs.mnt.join("root");
    let d = Daemon::start_with(&["--root", &root_arg(&root)]).unwrap();
    d.load_busybox();
    let id = d.pouch_ok(&[
        "run",
        "-d",
        "--disk-quota",
        "10m",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = id.trim();
    assert!(
        !d.inspect(id)["Config"]["QuotaID"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    // df inside shows the limit.
    let size = d.pouch_ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "df -k / | tail -1 | awk '{print $2}'",
    ]);
    let kb: u64 = size.trim().parse().unwrap();
    assert!((9 * 1024..=11 * 1024).contains(&kb), "df size {kb} KiB");
    let write_20m = [
        "exec",
        id,
        "dd",
        "if=/dev/zero",
        "of=/big",
        "bs=1M",
        "count=20",
    ];
    let (_, se, code) = out(&d.pouch(&write_20m));
    assert_ne!(code, Some(0));
    assert!(se.contains("Disk quota exceeded"), "{se}");
    d.pouch_ok(&["exec", id, "rm", "-f", "/big"]);
    d.pouch_ok(&["update", "--disk-quota", "40m", id]);
    d.pouch_ok(&write_20m);
    d.pouch_ok(&["rm", "-f", id]);
    // A volume with its own size.
    d.pouch_ok(&["volume", "create", "-o", "size=5m", "small"]);
    let (_, se, code) = out(&d.pouch(&[
        "run",
        "--rm",
        "-v",
        "small:/s",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/s/f",
        "bs=1M",
        "count=10",
    ]));
    assert_ne!(code, Some(0));
    assert!(se.contains("Disk quota exceeded"), "{se}");
}
