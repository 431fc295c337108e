//! The NDJSON alert file: one alert per line, appended.
//!
//! The agent runs as root and writes into a log folder, so the file is opened carefully: never through
//! a symlink (`O_NOFOLLOW`), only if it is a regular file (a planted FIFO or device is refused, and
//! opening one cannot block: `O_NONBLOCK` until checked), created mode 0640. Each alert is one `write`
//! of a whole line to an `O_APPEND` descriptor, so lines are never interleaved or cut by another
//! writer, and a reader never sees half an alert after a crash of ours. `reopen` (on SIGHUP) follows a
//! logrotate rename.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of a new alert file: the owner writes, its group (e.g. `adm`) reads.
pub const FILE_MODE: u32 = 0o640;

/// Mode of the alert folder when the agent has to create it.
pub const DIR_MODE: u32 = 0o750;

/// An open alert file.
#[derive(Debug)]
pub struct JsonFile {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
    written: u64,
}

impl JsonFile {
    /// Opens (or creates) the alert file, creating its folder with [`DIR_MODE`] if missing.
    pub fn open(path: &Path) -> io::Result<JsonFile> {
        let file = open_safely(path)?;
        Ok(JsonFile {
            path: path.to_path_buf(),
            file,
            buf: Vec::with_capacity(4096),
            written: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one alert (its JSON, one line without the newline) as one line, in a single `write`.
    pub fn write(&mut self, alert: &[u8]) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(alert);
        self.buf.push(b'\n');
        // Disk full: a write that only partly fits returns a short count, and the rest then
        // fails with ENOSPC; `write_all` left that half line in the file, and the next alert written
        // once space was freed was glued to it, one unparsable line for two alerts. So count what went
        // out and, on failure, cut the file back to where this line began.
        let mut done = 0;
        while done < self.buf.len() {
            match self.file.write(&self.buf[done..]) {
                Ok(0) => {
                    self.discard_partial(done);
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.discard_partial(done);
                    return Err(e);
                }
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Removes the `done` bytes of a line whose write failed part way (the file is only appended to
    /// by this agent, so they are its last bytes).
    fn discard_partial(&mut self, done: usize) {
        if done == 0 {
            return;
        }
        if let Ok(meta) = self.file.metadata() {
            let _ = self.file.set_len(meta.len().saturating_sub(done as u64));
        }
    }

    /// Makes what was written durable (before a checkpoint says it was written).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Opens the path again (after logrotate moved the file away).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = open_safely(&self.path)?;
        Ok(())
    }

    /// Alerts written since start.
    pub fn written(&self) -> u64 {
        self.written
    }
}

fn open_safely(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir)?;
            // Explicit, whatever the umask.
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))?;
        }
    }
    let flags = nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC;
    // Created by us: set the mode explicitly, so a strict umask (the unit's 0077) does not hide alerts
    // from the file's group. An existing file keeps the mode its owner gave it (tightened below).
    let created = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(flags)
        .open(path);
    let file = match created {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
            .append(true)
            .custom_flags(flags)
            .open(path),
        Err(e) => Err(e),
    };
    let file = file.map_err(|e| {
        if e.raw_os_error() == Some(nix::libc::ELOOP) {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: is a symlink; refusing to follow it", path.display()),
            )
        } else if e.raw_os_error() == Some(nix::libc::ENXIO) {
            // O_NONBLOCK write-open of a FIFO nobody reads.
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: is a FIFO; refusing to write alerts to it",
                    path.display()
                ),
            )
        } else {
            io::Error::new(e.kind(), format!("{}: {e}", path.display()))
        }
    })?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a regular file"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: is {what}; refusing to write alerts to it",
                path.display()
            ),
        ));
    }
    // Writes to a regular file never block; the flag only mattered for opening.
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_APPEND),
    )
    .map_err(io::Error::from)?;
    if meta.permissions().mode() & 0o007 != 0 {
        // A file left world-accessible by someone else: tighten it, alerts name users and commands.
        file.set_permissions(std::fs::Permissions::from_mode(
            meta.permissions().mode() & 0o770,
        ))?;
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("execwatch-json-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn appends_lines_creates_folder_and_file_with_tight_modes() {
        let d = dir("create");
        let path = d.join("sub/alerts.ndjson");
        let mut f = JsonFile::open(&path).unwrap();
        f.write(br#"{"a":"x\ny"}"#).unwrap();
        f.write(br#"{"b":2}"#).unwrap();
        f.sync().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":\"x\\ny\"}\n{\"b\":2}\n"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            FILE_MODE
        );
        assert_eq!(
            std::fs::metadata(d.join("sub"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            DIR_MODE
        );
        assert_eq!(f.written(), 2);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reopen_follows_a_rotation() {
        let d = dir("reopen");
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("alerts.ndjson");
        let mut f = JsonFile::open(&path).unwrap();
        f.write(b"1").unwrap();
        std::fs::rename(&path, d.join("alerts.ndjson.1")).unwrap();
        f.write(b"2").unwrap();
        f.reopen().unwrap();
        f.write(b"3").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("alerts.ndjson.1")).unwrap(),
            "1\n2\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "3\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn refuses_symlinks_fifos_and_folders() {
        let d = dir("hostile");
        std::fs::create_dir_all(&d).unwrap();
        let target = d.join("target");
        std::fs::write(&target, "").unwrap();
        let link = d.join("link.ndjson");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = JsonFile::open(&link).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        assert_eq!(std::fs::read(&target).unwrap(), b"");
        let fifo = d.join("fifo.ndjson");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = JsonFile::open(&fifo).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = JsonFile::open(&d).unwrap_err();
        assert!(!e.to_string().is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_strict_umask_does_not_change_the_mode_of_a_new_file() {
        let d = dir("umask");
        let path = d.join("alerts.ndjson");
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
        let result = JsonFile::open(&path);
        nix::sys::stat::umask(old);
        result.unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            FILE_MODE
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn world_readable_files_are_tightened() {
        let d = dir("mode");
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("alerts.ndjson");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        JsonFile::open(&path).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o660
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
