//! Output files: atomic replacement of regular files, write-through to devices and FIFOs.
//!
//! What `--out PATH` (and every other file stampede writes) does, by what `PATH` is:
//!
//! | `PATH` is | write |
//! |---|---|
//! | missing or a regular file | a fresh temporary file next to it (`NAME.<pid>.tmp`, created exclusively so a planted file or link at that name is never followed), fsynced, renamed over `PATH`, then the directory fsynced. A reader never sees a partial file passed off as whole; a replaced file keeps its permission bits. |
//! | a character device or a FIFO (`/dev/null`, `/dev/stdout`, `mkfifo`) | written through in place, like a shell redirect: the node is never replaced. An error (e.g. `ENOSPC` from `/dev/full`) is reported. |
//! | a symbolic link | **followed** (up to 40 hops, relative targets resolved against the link's directory); the rule above is applied to the final target, so the link stays a link and its target is replaced or written through. A dangling link creates its target, as a shell redirect does. |
//! | a directory, a block device, a socket | refused with an error naming the path: writing a trace over a disk is never what was meant. |
//!
//! On any failure (the producer fails, the disk fills, fsync or rename fails) the temporary file is removed:
//! a failed command leaves neither a partial output nor a `.tmp` leftover. Only a process killed outright
//! (SIGKILL, power loss) can leave a `NAME.<pid>.tmp` behind, never under the final name.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Writes `bytes` to `path` (see the module docs for what each kind of `path` gets).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Streams into `path` through `f` (see the module docs for what each kind of `path` gets).
pub fn write_atomic_with(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let (target, kind) = resolve(path)?;
    match kind {
        Kind::Missing | Kind::Regular => replace(&target, f),
        Kind::WriteThrough => write_through(&target, f),
    }
}

/// What the final target of an output path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    Regular,
    WriteThrough,
}

/// Follows symlinks to the final target and classifies it (module docs).
fn resolve(path: &Path) -> Result<(PathBuf, Kind)> {
    let mut cur = path.to_path_buf();
    for _ in 0..40 {
        let md = match fs::symlink_metadata(&cur) {
            Ok(md) => md,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((cur, Kind::Missing)),
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", cur.display())),
        };
        let ft = md.file_type();
        if ft.is_symlink() {
            let to =
                fs::read_link(&cur).with_context(|| format!("reading link {}", cur.display()))?;
            cur = match cur.parent() {
                Some(dir) if to.is_relative() => dir.join(to),
                _ => to,
            };
            continue;
        }
        let via = if cur == path {
            String::new()
        } else {
            format!(" (the target of the link {})", path.display())
        };
        return if ft.is_file() {
            Ok((cur, Kind::Regular))
        } else if ft.is_char_device() || ft.is_fifo() {
            Ok((cur, Kind::WriteThrough))
        } else if ft.is_dir() {
            bail!(
                "cannot write to {}{via}: it is a directory (give a file name)",
                cur.display()
            )
        } else if ft.is_block_device() {
            bail!(
                "refusing to write to {}{via}: it is a block device",
                cur.display()
            )
        } else {
            bail!(
                "refusing to write to {}{via}: not a regular file, character device or FIFO",
                cur.display()
            )
        };
    }
    bail!(
        "cannot write to {}: more than 40 levels of symbolic links",
        path.display()
    )
}

/// Removes the temporary file on drop unless disarmed.
struct TmpGuard(Option<PathBuf>);

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Creates a fresh temporary file next to `path` (exclusive create: never follows or truncates an existing
/// file or link planted at that name).
fn create_tmp(path: &Path) -> Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let pid = std::process::id();
    let mut last = None;
    for n in 0..100u32 {
        let mut tmp_name = name.to_os_string();
        if n == 0 {
            tmp_name.push(format!(".{pid}.tmp"));
        } else {
            tmp_name.push(format!(".{pid}-{n}.tmp"));
        }
        let tmp = path.with_file_name(tmp_name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(tmp),
            Err(e) => return Err(e).with_context(|| format!("creating {}", tmp.display())),
        }
    }
    bail!(
        "creating a temporary file next to {}: {} and 99 others already exist",
        path.display(),
        last.map(|p| p.display().to_string()).unwrap_or_default()
    )
}

fn replace(path: &Path, f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
    let (tmp, file) = create_tmp(path)?;
    let mut guard = TmpGuard(Some(tmp.clone()));
    if let Ok(md) = fs::metadata(path) {
        // Keep the replaced file's permission bits (best effort: a failure only leaves the default mode).
        let _ = file.set_permissions(md.permissions());
    }
    let mut w = BufWriter::with_capacity(1 << 20, file);
    f(&mut w).with_context(|| format!("writing {}", tmp.display()))?;
    let file = w
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("flushing {}", tmp.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    drop(file);
    fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    guard.0 = None;
    // Make the rename durable; a directory that cannot be opened or synced (some filesystems) is not an error.
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_through(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    f(&mut w).with_context(|| format!("writing {}", path.display()))?;
    w.into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn regular_file_is_replaced_atomically_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        write_atomic(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn dev_null_stays_a_character_device() {
        let p = Path::new("/dev/null");
        write_atomic(p, b"discarded").unwrap();
        write_atomic_with(p, |w| w.write_all(&[b'x'; 3 << 20])).unwrap();
        assert!(fs::symlink_metadata(p)
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn dev_full_gives_an_error_and_stays_a_device() {
        let p = Path::new("/dev/full");
        if !p.exists() {
            panic!("/dev/full is missing on this machine");
        }
        let err = write_atomic(p, &[b'x'; 1 << 17]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("/dev/full"), "{msg}");
        assert!(fs::symlink_metadata(p)
            .unwrap()
            .file_type()
            .is_char_device());
        assert!(!Path::new("/dev/full.tmp").exists());
    }

    #[test]
    fn fifo_is_written_through() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe\n").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe\n");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn symlinks_are_followed_and_stay_links() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("runs")).unwrap();
        let target = d.path().join("runs/a.json");
        fs::write(&target, b"old").unwrap();
        let link = d.path().join("latest.json");
        std::os::unix::fs::symlink("runs/a.json", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        // A dangling link creates its target; a link to /dev/null writes through.
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink("runs/b.json", &dangling).unwrap();
        write_atomic(&dangling, b"b").unwrap();
        assert_eq!(fs::read(d.path().join("runs/b.json")).unwrap(), b"b");
        let null = d.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
        write_atomic(&null, b"x").unwrap();
        assert!(fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        // A loop is an error, not a hang.
        let a = d.path().join("loop_a");
        let b = d.path().join("loop_b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let msg = format!("{:#}", write_atomic(&a, b"x").unwrap_err());
        assert!(msg.contains("levels of symbolic links"), "{msg}");
        assert!(leftovers(d.path()).is_empty());
        assert!(leftovers(&d.path().join("runs")).is_empty());
    }

    #[test]
    fn a_failing_write_leaves_the_old_file_and_no_tmp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.html");
        fs::write(&p, b"previous").unwrap();
        // A producer that fails half-way, as a full disk does.
        let err = write_atomic_with(&p, |w| {
            w.write_all(&[b'x'; 4 << 20])?;
            Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("disk full"));
        assert_eq!(fs::read(&p).unwrap(), b"previous");
        assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
    }

    #[test]
    fn a_failing_rename_leaves_no_tmp() {
        // The target is replaced by a non-empty directory between classification and rename: rename fails.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        let err = replace(&p, |w| {
            fs::create_dir(d.path().join("out")).unwrap();
            fs::write(d.path().join("out/keep"), b"k").unwrap();
            w.write_all(b"data")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("renaming"), "{err:#}");
        assert!(leftovers(d.path()).is_empty(), "{:?}", leftovers(d.path()));
    }

    #[test]
    fn a_planted_tmp_link_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let p = d.path().join("out.json");
        let planted = d
            .path()
            .join(format!("out.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomic(&p, b"data").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(&p).unwrap(), b"data");
        fs::remove_file(planted).unwrap();
    }

    #[test]
    fn directories_and_block_devices_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let msg = format!("{:#}", write_atomic(d.path(), b"x").unwrap_err());
        assert!(msg.contains("is a directory"), "{msg}");
        // A block device node of our own (loop device numbers): refused before anything is opened.
        let blk = d.path().join("blk");
        let st = std::process::Command::new("mknod")
            .arg(&blk)
            .args(["b", "7", "0"])
            .status()
            .unwrap();
        assert!(st.success(), "mknod failed (the test needs CAP_MKNOD)");
        let msg = format!("{:#}", write_atomic(&blk, b"x").unwrap_err());
        assert!(msg.contains("block device"), "{msg}");
        assert!(fs::symlink_metadata(&blk)
            .unwrap()
            .file_type()
            .is_block_device());
    }
}
