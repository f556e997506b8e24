//! The program's handle table. Redox programs pick their own handle numbers (`openat_into`,
//! `dup_into` take the slot), so the table is a map from the number the program chose to
//! what rine keeps behind it.

use std::{collections::BTreeMap, fs::File};

use syscall::UPPER_FDTBL_TAG;

/// What a Redox handle stands for on Linux.
#[derive(Debug)]
pub enum Handle {
    /// A host file or directory of the `file` scheme, or an inherited stdio stream
    /// (`reference` is `None`). `reference` is the path under the root, without a leading `/`.
    Host {
        file: File,
        reference: Option<String>,
        dir: bool,
        flags: usize,
    },
    /// What the namespace hands out for `/scheme/NAME`: opening a reference on it opens
    /// something of that scheme.
    SchemeRoot(String),
    /// `/scheme/debug`: the console, here the host's stderr (reads come from stdin).
    Debug,
    /// The read end of a `/scheme/pipe` pipe (a Linux pipe), holding the write end until
    /// `dup(read, "write")` takes it, so that closing the write handle gives readers EOF.
    PipeRead {
        file: File,
        write_end: Option<File>,
    },
    /// `/scheme/null` and `/scheme/zero`.
    Null,
    Zero,
    /// `/scheme/rand`: random bytes.
    Rand,
    /// `/scheme/time/CLOCK`: reading gives that clock's `TimeSpec`.
    Time(usize),
    /// The namespace handle (`AT_REDOX_NS_FD`): resolves absolute paths to scheme roots.
    Namespace,
    /// The file-table handle (`AT_REDOX_FILETABLE_FD`): after `dup2(fd, fd, "refresh")`, reads
    /// list the numbers of the open handles as little-endian `u64`s.
    FileTable {
        snapshot: Vec<u8>,
        pos: usize,
    },
    /// The process handle (`AT_REDOX_PROC_FD`): procmgr's `SYS_CALL`s, `read` gives `ProcMeta`.
    Proc,
    /// A thread handle (`AT_REDOX_THR_FD` for the first thread, `dup(proc, "new-thread")`
    /// for others), by rine's thread number: `dup`s to `regs/env`, `sighandler`,
    /// `filetable`, and for a new thread `current-addrspace`, `current-filetable`, `start`.
    Thread(usize),
    /// `regs/env` of a thread: fs and gs base, which relibc writes to set up TLS.
    RegsEnv(usize),
    /// `addrspace` of a thread: the one address space rine's program has.
    AddrSpace,
    /// `current-addrspace` of a new thread: writing `[addrspace, sp, ip]` says where it starts.
    AddrSpaceSel(usize),
    /// `current-filetable` of a new thread: all threads share the one table.
    FileTableSel,
    /// `start` of a new thread: a write starts it.
    Start(usize),
    /// `status` of a thread: writing `[usize::MAX, stack, size]` ends it and frees its stack.
    Status(usize),
    /// `sighandler` of the thread: relibc registers its signal trampoline here. rine delivers
    /// no signals, so the registration is kept nowhere.
    SigHandler,
    /// A handle relibc holds while it forks, to the child being made (see `fork.rs`): by
    /// rine's fork number and which part of the child it is.
    Fork(usize, ForkPart),
    /// `dup(addrspace, "empty")`: the address space `fexec` builds the new image in (see
    /// `exec.rs`), by rine's number for it.
    NewSpace(usize),
    /// In a forked child, a handle the parent had to its own process or threads: the child
    /// closes these (redox-rt `child_hook`), so every other use is `EBADF`.
    Stale,
}

/// Which part of a child being forked a `Handle::Fork` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkPart {
    /// The child's process handle: `read` gives its `ProcMeta`.
    Proc,
    /// Its only thread (`thread-0`).
    Thread,
    /// The copy of the caller's address space (`exclusive`).
    AddrSpace,
    /// The thread's `current-addrspace`: where it starts.
    AddrSpaceSel,
    /// The thread's `regs/env`: its fs and gs base.
    RegsEnv,
    /// The child's handle table (`copy`).
    FileTable,
    /// The thread's `start`.
    Start,
}

impl Handle {
    /// A second handle to the same thing (Redox `dup` with an empty name). Host files share
    /// their file description, and so their offset, as on Redox.
    pub fn duplicate(&self) -> std::io::Result<Self> {
        Ok(match self {
            Self::Host {
                file,
                reference,
                dir,
                flags,
            } => Self::Host {
                file: file.try_clone()?,
                reference: reference.clone(),
                dir: *dir,
                flags: *flags,
            },
            Self::SchemeRoot(name) => Self::SchemeRoot(name.clone()),
            Self::PipeRead { file, .. } => Self::PipeRead {
                file: file.try_clone()?,
                write_end: None,
            },
            Self::Debug => Self::Debug,
            Self::Null => Self::Null,
            Self::Zero => Self::Zero,
            Self::Rand => Self::Rand,
            Self::Time(clock) => Self::Time(*clock),
            Self::Namespace => Self::Namespace,
            Self::FileTable { .. } => Self::FileTable {
                snapshot: Vec::new(),
                pos: 0,
            },
            Self::Proc => Self::Proc,
            Self::Thread(t) => Self::Thread(*t),
            Self::RegsEnv(t) => Self::RegsEnv(*t),
            Self::AddrSpace => Self::AddrSpace,
            Self::AddrSpaceSel(t) => Self::AddrSpaceSel(*t),
            Self::FileTableSel => Self::FileTableSel,
            Self::Start(t) => Self::Start(*t),
            Self::Status(t) => Self::Status(*t),
            Self::SigHandler => Self::SigHandler,
            Self::Fork(id, part) => Self::Fork(*id, *part),
            Self::NewSpace(id) => Self::NewSpace(*id),
            Self::Stale => Self::Stale,
        })
    }

    /// The Redox path `fpath` reports.
    pub fn path(&self) -> Option<String> {
        Some(match self {
            Self::Host {
                reference: Some(r), ..
            } => format!("/scheme/file/{r}"),
            Self::Host {
                reference: None, ..
            }
            | Self::Debug => "/scheme/debug".to_string(),
            Self::SchemeRoot(name) => format!("/scheme/{name}"),
            Self::PipeRead { .. } => "/scheme/pipe".to_string(),
            Self::Null => "/scheme/null".to_string(),
            Self::Zero => "/scheme/zero".to_string(),
            Self::Rand => "/scheme/rand".to_string(),
            Self::Time(clock) => format!("/scheme/time/{clock}"),
            Self::Namespace
            | Self::FileTable { .. }
            | Self::Proc
            | Self::Thread(_)
            | Self::RegsEnv(_)
            | Self::AddrSpace
            | Self::AddrSpaceSel(_)
            | Self::FileTableSel
            | Self::Start(_)
            | Self::Status(_)
            | Self::SigHandler
            | Self::Fork(..)
            | Self::NewSpace(_)
            | Self::Stale => return None,
        })
    }
}

/// The handles the program starts with, at the numbers a Redox `fexec` gives them (as seen
/// in a trace of the same program in QEMU): stdio at 0..3, the rest in the upper table.
pub mod initial {
    use super::UPPER_FDTBL_TAG;
    pub const FILETABLE: usize = UPPER_FDTBL_TAG;
    pub const PROC: usize = UPPER_FDTBL_TAG | 2;
    pub const THREAD: usize = UPPER_FDTBL_TAG | 3;
    pub const NAMESPACE: usize = UPPER_FDTBL_TAG | 13;
    pub const CWD: usize = UPPER_FDTBL_TAG | 14;
}

/// Handle number → handle.
#[derive(Debug, Default)]
pub struct Table {
    map: BTreeMap<usize, Handle>,
}

impl Table {
    pub fn get(&self, fd: usize) -> syscall::Result<&Handle> {
        self.map.get(&fd).ok_or(syscall::Error::new(syscall::EBADF))
    }

    pub fn get_mut(&mut self, fd: usize) -> syscall::Result<&mut Handle> {
        self.map
            .get_mut(&fd)
            .ok_or(syscall::Error::new(syscall::EBADF))
    }

    /// Puts `handle` at `fd`, which must be free (`openat_into`, `dup_into`).
    pub fn insert_new(&mut self, fd: usize, handle: Handle) -> syscall::Result<usize> {
        if self.map.contains_key(&fd) {
            return Err(syscall::Error::new(syscall::EEXIST));
        }
        self.map.insert(fd, handle);
        Ok(fd)
    }

    /// Puts `handle` at `fd`, closing what was there (`dup2`).
    pub fn replace(&mut self, fd: usize, handle: Handle) -> usize {
        self.map.insert(fd, handle);
        fd
    }

    pub fn remove(&mut self, fd: usize) -> syscall::Result<Handle> {
        self.map
            .remove(&fd)
            .ok_or(syscall::Error::new(syscall::EBADF))
    }

    /// The lowest free number at or above `min` in the same half of the table (`F_DUPFD`).
    pub fn lowest_free(&self, min: usize) -> usize {
        let mut n = min;
        while self.map.contains_key(&n) {
            n += 1;
        }
        n
    }

    pub fn iter(&self) -> impl Iterator<Item = (&usize, &Handle)> {
        self.map.iter()
    }

    /// The open numbers as the file-table handle lists them.
    pub fn listing(&self) -> Vec<u8> {
        self.map
            .keys()
            .flat_map(|k| (*k as u64).to_le_bytes())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that `openat_into`/`dup_into` refuse a taken slot and `dup2` replaces it.
    #[test]
    fn insert_new_refuses_taken_slot() {
        let mut t = Table::default();
        assert_eq!(t.insert_new(3, Handle::Null), Ok(3));
        assert_eq!(
            t.insert_new(3, Handle::Zero).map_err(|e| e.errno),
            Err(syscall::EEXIST)
        );
        assert_eq!(t.replace(3, Handle::Zero), 3);
        assert!(matches!(t.get(3), Ok(Handle::Zero)));
        assert!(t.remove(3).is_ok());
        assert_eq!(
            t.get(3).map(|_| ()).map_err(|e| e.errno),
            Err(syscall::EBADF)
        );
    }

    /// Verifies that the file-table listing holds every open number, upper ones included.
    #[test]
    fn listing_has_every_number() {
        let mut t = Table::default();
        t.replace(1, Handle::Null);
        t.replace(initial::PROC, Handle::Proc);
        let mut want = 1u64.to_le_bytes().to_vec();
        want.extend((initial::PROC as u64).to_le_bytes());
        assert_eq!(t.listing(), want);
        assert_eq!(t.lowest_free(1), 2);
    }
}
