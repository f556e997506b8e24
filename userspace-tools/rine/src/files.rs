//! Opening, reading and writing what handles stand for: host files for the `file` scheme,
//! host streams and clocks for the small schemes.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt},
    path::Path,
};

use syscall::{Error, Result};

use crate::{handles::Handle, scheme};

/// A host I/O error as a Redox error: Redox's errno numbers are Linux's (both follow the
/// asm-generic table), so the number carries over.
pub fn from_io(e: std::io::Error) -> Error {
    Error::new(e.raw_os_error().unwrap_or(syscall::EIO))
}

/// Opens `reference` on scheme `name`'s root (`openat_into(root, reference, flags)`).
pub fn open_in_scheme(root: &Path, name: &str, reference: &str, flags: usize) -> Result<Handle> {
    match name {
        "file" => open_host(root, "", reference, flags),
        "debug" => Ok(Handle::Debug),
        "pipe" if reference.is_empty() => {
            let (read, write) = nix::unistd::pipe().map_err(|e| Error::new(e as i32))?;
            Ok(Handle::PipeRead {
                file: File::from(read),
                write_end: Some(File::from(write)),
            })
        }
        "null" => Ok(Handle::Null),
        "zero" => Ok(Handle::Zero),
        "rand" => Ok(Handle::Rand),
        "time" => {
            let clock = if reference.is_empty() {
                syscall::CLOCK_MONOTONIC
            } else {
                reference.parse().map_err(|_| Error::new(syscall::ENOENT))?
            };
            linux_clock(clock)?;
            Ok(Handle::Time(clock))
        }
        _ => Err(Error::new(syscall::ENODEV)),
    }
}

/// Opens a host file: `reference` relative to directory `dir` (both under `root`).
pub fn open_host(root: &Path, dir: &str, reference: &str, flags: usize) -> Result<Handle> {
    let normalized = scheme::normalize(dir, reference);
    let path = scheme::host_path(root, "", &normalized);
    let acc = flags & syscall::O_ACCMODE;
    let mut opts = OpenOptions::new();
    // O_STAT or no access mode at all: a handle for fstat/fpath only; open it readable.
    opts.read(acc & syscall::O_RDONLY != 0 || acc == 0)
        .write(acc & syscall::O_WRONLY != 0)
        .append(flags & syscall::O_APPEND != 0)
        .mode((flags & 0xFFFF) as u32);
    if flags & syscall::O_CREAT != 0 {
        if flags & syscall::O_EXCL != 0 {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
    }
    if flags & syscall::O_TRUNC != 0 {
        opts.truncate(true);
    }
    if flags & syscall::O_DIRECTORY != 0 {
        opts.custom_flags(libc::O_DIRECTORY);
    }
    let file = opts.open(&path).map_err(from_io)?;
    let dir = file.metadata().map_err(from_io)?.is_dir();
    Ok(Handle::Host {
        file,
        reference: Some(normalized),
        dir,
        flags,
    })
}

/// Redox clock ids to Linux's.
pub fn linux_clock(clock: usize) -> Result<libc::clockid_t> {
    match clock {
        syscall::CLOCK_REALTIME => Ok(libc::CLOCK_REALTIME),
        syscall::CLOCK_MONOTONIC => Ok(libc::CLOCK_MONOTONIC),
        _ => Err(Error::new(syscall::EINVAL)),
    }
}

/// The Redox `TimeSpec` bytes of a clock (16: `i64` seconds, `i32` nanoseconds, padding).
pub fn clock_bytes(clock: usize) -> Result<[u8; 16]> {
    let id = linux_clock(clock)?;
    let ts = nix::time::clock_gettime(nix::time::ClockId::from_raw(id))
        .map_err(|e| Error::new(e as i32))?;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&ts.tv_sec().to_le_bytes());
    out[8..12].copy_from_slice(&(ts.tv_nsec() as i32).to_le_bytes());
    Ok(out)
}

/// Copies as much of `from` as fits into `buf`; returns how much that was.
pub fn copy_prefix(buf: &mut [u8], from: &[u8]) -> usize {
    let n = buf.len().min(from.len());
    buf[..n].copy_from_slice(&from[..n]);
    n
}

/// Whether a `read` on a stream (pipe, inherited stdio, console) would wait for data now.
pub fn would_block(handle: &Handle) -> bool {
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let fd = match handle {
        Handle::PipeRead { file, .. }
        | Handle::Host {
            file,
            reference: None,
            ..
        } => file.as_fd(),
        Handle::Debug => stdin.as_fd(),
        _ => return false,
    };
    let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
    matches!(
        nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO),
        Ok(0)
    )
}

/// `read` on a handle into `buf`.
pub fn read(handle: &mut Handle, buf: &mut [u8], meta: &[u8]) -> Result<usize> {
    match handle {
        Handle::Host { dir: true, .. } => Err(Error::new(syscall::EISDIR)),
        Handle::Host { file, .. } | Handle::PipeRead { file, .. } => {
            file.read(buf).map_err(from_io)
        }
        Handle::Debug => std::io::stdin().read(buf).map_err(from_io),
        Handle::Null => Ok(0),
        Handle::Zero => {
            buf.fill(0);
            Ok(buf.len())
        }
        Handle::Rand => File::open("/dev/urandom")
            .and_then(|mut f| f.read(buf))
            .map_err(from_io),
        Handle::Time(clock) => {
            let bytes = clock_bytes(*clock)?;
            let n = copy_prefix(buf, &bytes);
            Ok(n)
        }
        Handle::FileTable { snapshot, pos } => {
            let rest = snapshot.get(*pos..).unwrap_or_default();
            let n = copy_prefix(buf, rest);
            *pos += n;
            Ok(n)
        }
        Handle::Proc => {
            let n = copy_prefix(buf, meta);
            Ok(n)
        }
        Handle::SchemeRoot(_)
        | Handle::Namespace
        | Handle::Thread(_)
        | Handle::RegsEnv(_)
        | Handle::AddrSpace
        | Handle::AddrSpaceSel(_)
        | Handle::FileTableSel
        | Handle::Start(_)
        | Handle::Status(_)
        | Handle::SigHandler
        | Handle::Fork(..)
        | Handle::NewSpace(_)
        | Handle::Stale => Err(Error::new(syscall::EBADF)),
    }
}

/// `write` of `buf` to a handle (`RegsEnv` is the caller's: it changes registers).
pub fn write(handle: &mut Handle, buf: &[u8]) -> Result<usize> {
    match handle {
        Handle::Host { dir: true, .. } => Err(Error::new(syscall::EISDIR)),
        Handle::Host { file, .. } => file.write(buf).map_err(from_io),
        Handle::Debug => {
            let mut err = std::io::stderr();
            err.write_all(buf).map_err(from_io)?;
            Ok(buf.len())
        }
        Handle::Null | Handle::Zero => Ok(buf.len()),
        // relibc registers its signal trampoline; rine delivers no signals.
        Handle::SigHandler => Ok(buf.len()),
        Handle::Rand
        | Handle::PipeRead { .. }
        | Handle::Time(_)
        | Handle::FileTable { .. }
        | Handle::Proc
        | Handle::SchemeRoot(_)
        | Handle::Namespace
        | Handle::Thread(_)
        | Handle::RegsEnv(_)
        | Handle::AddrSpace
        | Handle::AddrSpaceSel(_)
        | Handle::FileTableSel
        | Handle::Start(_)
        | Handle::Status(_)
        | Handle::Fork(..)
        | Handle::NewSpace(_)
        | Handle::Stale => Err(Error::new(syscall::EBADF)),
    }
}

pub fn lseek(handle: &mut Handle, offset: isize, whence: usize) -> Result<usize> {
    let Handle::Host { file, .. } = handle else {
        return Err(Error::new(syscall::ESPIPE));
    };
    let to = match whence {
        syscall::SEEK_SET => {
            SeekFrom::Start(u64::try_from(offset).map_err(|_| Error::new(syscall::EINVAL))?)
        }
        syscall::SEEK_CUR => SeekFrom::Current(offset as i64),
        syscall::SEEK_END => SeekFrom::End(offset as i64),
        _ => return Err(Error::new(syscall::EINVAL)),
    };
    file.seek(to).map(|p| p as usize).map_err(from_io)
}

/// The Redox `Stat` of a handle.
pub fn stat(handle: &Handle) -> Result<syscall::Stat> {
    let mut st = syscall::Stat::default();
    match handle {
        Handle::Host { file, .. } => {
            let m = file.metadata().map_err(from_io)?;
            st.st_dev = m.dev();
            st.st_ino = m.ino();
            // Redox's MODE_* type bits and permission bits are the POSIX ones Linux uses.
            st.st_mode = m.mode() as u16;
            st.st_nlink = m.nlink() as u32;
            st.st_uid = m.uid();
            st.st_gid = m.gid();
            st.st_size = m.size();
            st.st_blksize = m.blksize() as u32;
            st.st_blocks = m.blocks();
            st.st_mtime = m.mtime() as u64;
            st.st_mtime_nsec = m.mtime_nsec() as u32;
            st.st_atime = m.atime() as u64;
            st.st_atime_nsec = m.atime_nsec() as u32;
            st.st_ctime = m.ctime() as u64;
            st.st_ctime_nsec = m.ctime_nsec() as u32;
        }
        Handle::Debug | Handle::Null | Handle::Zero | Handle::Rand => {
            st.st_mode = syscall::MODE_CHR | 0o666;
        }
        Handle::PipeRead { .. } => st.st_mode = syscall::MODE_FIFO | 0o600,
        Handle::Time(_) | Handle::FileTable { .. } | Handle::Proc => {
            st.st_mode = syscall::MODE_FILE | 0o444;
        }
        Handle::SchemeRoot(_) | Handle::Namespace => st.st_mode = syscall::MODE_DIR | 0o755,
        Handle::Thread(_)
        | Handle::RegsEnv(_)
        | Handle::AddrSpace
        | Handle::AddrSpaceSel(_)
        | Handle::FileTableSel
        | Handle::Start(_)
        | Handle::Status(_)
        | Handle::SigHandler
        | Handle::Fork(..)
        | Handle::NewSpace(_)
        | Handle::Stale => {
            st.st_mode = syscall::MODE_FILE | 0o600;
        }
    }
    Ok(st)
}

/// `read2`/`write2` with an offset: `pread`/`pwrite` on host files, `ESPIPE` for streams.
pub fn pread(handle: &Handle, buf: &mut [u8], offset: u64) -> Result<usize> {
    match handle {
        Handle::Host {
            file, dir: false, ..
        } => file.read_at(buf, offset).map_err(from_io),
        _ => Err(Error::new(syscall::ESPIPE)),
    }
}

pub fn pwrite(handle: &Handle, buf: &[u8], offset: u64) -> Result<usize> {
    match handle {
        Handle::Host {
            file, dir: false, ..
        } => file.write_at(buf, offset).map_err(from_io),
        _ => Err(Error::new(syscall::ESPIPE)),
    }
}

/// The Redox `getdents` (`StdFsCallKind::Getdents`): entries from index `start` on, each a
/// packed `DirentHeader` (inode, next index, record length, kind) and the NUL-terminated
/// name, as many as fit in `len` bytes. Entries are sorted by name so that the index a
/// program passes back names the same entry the next time the directory is read.
pub fn getdents(handle: &Handle, len: usize, start: u64) -> Result<Vec<u8>> {
    let Handle::Host {
        reference: Some(_),
        dir: true,
        file,
        ..
    } = handle
    else {
        return Err(Error::new(syscall::ENOTDIR));
    };
    let dir = std::path::PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(file)
    ));
    let mut entries: Vec<(Vec<u8>, u64, u8)> = std::fs::read_dir(dir)
        .map_err(from_io)?
        .filter_map(|e| e.ok())
        .map(|e| {
            let kind = match e.file_type() {
                Ok(t) if t.is_dir() => 4,
                Ok(t) if t.is_file() => 8,
                Ok(t) if t.is_symlink() => 10,
                _ => 0,
            };
            let ino = std::os::unix::fs::DirEntryExt::ino(&e);
            (
                std::os::unix::ffi::OsStrExt::as_bytes(e.file_name().as_os_str()).to_vec(),
                ino,
                kind,
            )
        })
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for (index, (name, ino, kind)) in entries.iter().enumerate().skip(start as usize) {
        // inode u64, next_opaque_id u64, record_len u16, kind u8: 19 bytes, packed.
        let record_len = 19 + name.len() + 1;
        if out.len() + record_len > len {
            if out.is_empty() {
                // Not even one entry fits: the caller needs a bigger buffer.
                return Err(Error::new(syscall::EINVAL));
            }
            break;
        }
        out.extend(ino.to_le_bytes());
        out.extend((index as u64 + 1).to_le_bytes());
        out.extend((record_len as u16).to_le_bytes());
        out.push(*kind);
        out.extend_from_slice(name);
        out.push(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that the errnos rine passes through from Linux have the same numbers on Redox.
    #[test]
    fn errno_numbers_agree() {
        for (redox, linux) in [
            (syscall::ENOENT, libc::ENOENT),
            (syscall::EBADF, libc::EBADF),
            (syscall::EEXIST, libc::EEXIST),
            (syscall::ENOTDIR, libc::ENOTDIR),
            (syscall::EISDIR, libc::EISDIR),
            (syscall::EACCES, libc::EACCES),
            (syscall::ENOSYS, libc::ENOSYS),
            (syscall::ENOMEM, libc::ENOMEM),
            (syscall::EINVAL, libc::EINVAL),
            (syscall::ENOTEMPTY, libc::ENOTEMPTY),
        ] {
            assert_eq!(redox, linux);
        }
    }

    /// Verifies that a file created through the `file` scheme lands under the root and reads
    /// back, and that a missing one is ENOENT.
    #[test]
    fn open_host_creates_under_root() {
        let root = std::env::temp_dir().join(format!("rine-files-{}", std::process::id()));
        std::fs::create_dir_all(root.join("tmp")).expect("mkdir");
        let flags = syscall::O_WRONLY | syscall::O_CREAT | syscall::O_TRUNC | 0o644;
        let mut h = open_host(&root, "", "tmp/x", flags).expect("create");
        assert_eq!(write(&mut h, b"abc"), Ok(3));
        assert_eq!(std::fs::read(root.join("tmp/x")).expect("read"), b"abc");
        let mut h = open_host(&root, "tmp", "x", syscall::O_RDONLY).expect("open");
        let mut buf = [0u8; 8];
        assert_eq!(read(&mut h, &mut buf, &[]), Ok(3));
        assert_eq!(stat(&h).expect("stat").st_size, 3);
        assert_eq!(
            open_host(&root, "", "tmp/none", syscall::O_RDONLY)
                .map(|_| ())
                .map_err(|e| e.errno),
            Err(syscall::ENOENT)
        );
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    /// Verifies that getdents lists a directory in name order in Redox's dirent format and
    /// goes on from the index the last entry gave.
    #[test]
    fn getdents_lists_in_order_and_resumes() {
        let root = std::env::temp_dir().join(format!("rine-dents-{}", std::process::id()));
        std::fs::create_dir_all(root.join("d/sub")).expect("mkdir");
        std::fs::write(root.join("d/b"), b"").expect("file");
        let h = open_host(&root, "", "d", syscall::O_RDONLY | syscall::O_DIRECTORY).expect("open");
        let all = getdents(&h, 4096, 0).expect("getdents");
        let names: Vec<(&[u8], u8)> = syscall::dirent::DirentIter::new(&all)
            .map(|e| e.expect("entry"))
            .map(|(hdr, name)| (name, hdr.kind))
            .collect();
        assert_eq!(names, [(&b"b"[..], 8), (&b"sub"[..], 4)]);
        let rest = getdents(&h, 4096, 1).expect("getdents from 1");
        assert_eq!(syscall::dirent::DirentIter::new(&rest).count(), 1);
        assert_eq!(getdents(&h, 4096, 2).expect("end"), Vec::<u8>::new());
        assert_eq!(
            getdents(&h, 8, 0).map_err(|e| e.errno),
            Err(syscall::EINVAL)
        );
        std::fs::remove_dir_all(&root).expect("cleanup");
    }

    /// Verifies that a `/scheme/pipe` read end carries what its write end writes, and gives
    /// EOF once the write end (taken out by `dup "write"`) is closed.
    #[test]
    fn pipe_write_end_then_eof() {
        let mut read_end =
            open_in_scheme(Path::new("/"), "pipe", "", syscall::O_RDONLY).expect("pipe");
        let Handle::PipeRead { write_end, .. } = &mut read_end else {
            panic!("not a pipe")
        };
        let mut writer = Handle::Host {
            file: write_end.take().expect("write end"),
            reference: None,
            dir: false,
            flags: syscall::O_WRONLY,
        };
        assert_eq!(write(&mut writer, b"ping"), Ok(4));
        drop(writer);
        let mut buf = [0u8; 8];
        assert_eq!(read(&mut read_end, &mut buf, &[]), Ok(4));
        assert_eq!(&buf[..4], b"ping");
        assert_eq!(read(&mut read_end, &mut buf, &[]), Ok(0));
    }
}
