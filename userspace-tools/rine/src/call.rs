//! `SYS_CALL` on the handles rine stands in: procmgr's process and thread calls, the file
//! table's `Resize`, and the `STD_FS` calls on host files.

use libredox::protocol::{ProcCall, ThreadCall, WaitFlags};
use syscall::CallFlags;

use crate::{
    abi::{CallError, Waitpid},
    files,
    handles::{ForkPart, Handle},
    memory,
    process::Process,
};

/// What a `SYS_CALL` comes to.
pub enum CallResult {
    Value(usize),
    Exit(u64),
    Wait(Waitpid),
}

/// `SYS_CALL(fd, payload, len, flags | metadata_len, metadata)` in process `p`.
pub fn call(
    p: &mut Process,
    fd: usize,
    payload: usize,
    len: usize,
    flags: usize,
    meta: usize,
) -> std::result::Result<CallResult, CallError> {
    let meta_len = flags & 0xFF;
    let flags = CallFlags::from_bits_truncate(flags & !0xFF);
    let raw = memory::read(&p.child, meta, meta_len * 8)?;
    let meta: Vec<u64> = raw
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
        .collect();
    let verb = meta.first().copied().unwrap_or(u64::MAX);
    let value = match p.table.get_mut(fd)? {
        Handle::Proc => match ProcCall::try_from_raw(verb as usize) {
            Some(ProcCall::Exit) => {
                return Ok(CallResult::Exit(meta.get(1).copied().unwrap_or(0)));
            }
            // Signal state lives with procmgr on Redox; rine delivers no signals.
            Some(ProcCall::SyncSigPctl) => 0,
            Some(ProcCall::Getppid) => p.parent as usize,
            Some(ProcCall::Waitpid) if len >= 8 => {
                return Ok(CallResult::Wait(Waitpid {
                    pid: meta.get(1).copied().unwrap_or(0) as u32,
                    flags: WaitFlags::from_bits_truncate(meta.get(2).copied().unwrap_or(0) as usize),
                    status: payload,
                }));
            }
            // exec's new name and its end of setpgid: nothing rine shows or checks.
            Some(ProcCall::Rename | ProcCall::DisableSetpgid) => 0,
            _ => return Err(CallError::Unsupported),
        },
        Handle::Fork(_, ForkPart::Proc)
            if ProcCall::try_from_raw(verb as usize) == Some(ProcCall::SyncSigPctl) =>
        {
            0
        }
        Handle::Fork(_, ForkPart::Thread)
            if ThreadCall::try_from_raw(verb as usize) == Some(ThreadCall::SyncSigTctl) =>
        {
            0
        }
        // The child's table sent into itself at `meta[0]` (fork_inner's last step).
        Handle::Fork(id, ForkPart::FileTable) if flags.contains(CallFlags::FD) => {
            let id = *id;
            p.forks.send_table(id, verb as usize)?
        }
        Handle::Thread(_) => match ThreadCall::try_from_raw(verb as usize) {
            Some(ThreadCall::SyncSigTctl) => 0,
            _ => return Err(CallError::Unsupported),
        },
        // Resize: rine's table has no fixed size.
        Handle::FileTable { .. } if verb as u8 == syscall::FileTableVerb::Resize as u8 => 0,
        // exec closes its close-on-exec handles: the payload lists their numbers.
        Handle::FileTable { .. } if verb as u8 == syscall::FileTableVerb::Close as u8 => {
            let list = memory::read(&p.child, payload, len)?;
            for fd in list.chunks_exact(8) {
                let fd = u64::from_le_bytes(fd.try_into().expect("8 bytes")) as usize;
                let _ = p.table.remove(fd);
            }
            0
        }
        h @ Handle::Host { .. } if flags.contains(CallFlags::STD_FS) => {
            match syscall::StdFsCallKind::try_from_raw(verb as u8) {
                Some(syscall::StdFsCallKind::Fstat) => {
                    let st = files::stat(h)?;
                    let bytes: &[u8] = &st;
                    let n = len.min(bytes.len());
                    let bytes = bytes[..n].to_vec();
                    memory::write(&p.child, payload, &bytes)?;
                    0
                }
                Some(syscall::StdFsCallKind::Getdents) => {
                    let start = meta.get(1).copied().unwrap_or(0);
                    let bytes = files::getdents(h, len, start)?;
                    memory::write(&p.child, payload, &bytes)?;
                    bytes.len()
                }
                Some(syscall::StdFsCallKind::Fchmod) => match h {
                    Handle::Host { file, .. } => {
                        let mode = meta.get(1).copied().unwrap_or(0) as u32 & 0o7777;
                        let perms = std::os::unix::fs::PermissionsExt::from_mode(mode);
                        file.set_permissions(perms)
                            .map(|_| 0)
                            .map_err(files::from_io)?
                    }
                    _ => 0,
                },
                Some(syscall::StdFsCallKind::Fsync) => match h {
                    Handle::Host { file, .. } => {
                        file.sync_all().map(|_| 0).map_err(files::from_io)?
                    }
                    _ => 0,
                },
                Some(syscall::StdFsCallKind::Ftruncate) => match h {
                    Handle::Host { file, .. } => file
                        .set_len(meta.get(1).copied().unwrap_or(0))
                        .map(|_| 0)
                        .map_err(files::from_io)?,
                    _ => 0,
                },
                _ => return Err(CallError::Unsupported),
            }
        }
        _ => return Err(CallError::Unsupported),
    };
    Ok(CallResult::Value(value))
}
