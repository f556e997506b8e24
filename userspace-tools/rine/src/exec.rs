//! exec. relibc builds the new image itself (redox-rt `proc::fexec_impl`): `dup(addrspace,
//! "empty")` gives a new, empty address space; `write`s of `ADDRSPACE_OP_*` words map,
//! unmap and protect ranges in it; `fmap` of that handle at `offset` = an address in it
//! shows those pages in the caller's memory, where relibc copies the ELF segments, the
//! stack and argv/envp/auxv; `[space, sp, ip]` written to the thread's `current-addrspace`
//! says what to switch to, and closing that handle switches.
//!
//! rine keeps the new space as pages of its own (`NewSpace`). An `fmap` of it is a fresh
//! anonymous mapping in the program holding a copy of the pages (a window); its bytes go
//! back into the space when the program unmaps or remaps the window, and at the switch. The
//! switch replaces the program's memory in place: every mapping but rine's own (those the
//! process inherited from rine, `Child::host`) is unmapped and the space's pages mapped at
//! their addresses, through Linux calls injected at a `syscall` instruction of rine's own
//! code (the program's code is what goes away). The Linux process, its pid and its handle
//! table stay, as a Redox process's do across exec (`Process::exec_switch`).

use std::collections::BTreeMap;

use nix::{
    libc::{self, user_regs_struct},
    unistd::Pid,
};
use syscall::{Error, MapFlags, Result};

use crate::{
    handles::Handle,
    linux::{clean_regs, syscall_gadget, Child, PAGE, STACK_TOP},
    memory::{self, linux_prot},
};

/// The highest address a Linux x86_64 process can map below (4-level paging).
const LINUX_USER_TOP: u64 = 0x0000_7fff_ffff_f000;
/// The largest single mapping of a new space rine keeps (its pages are rine's memory).
const MAX_SPACE_MAP: u64 = 1 << 30;
/// Where rine puts mappings of the new space that ask for no address.
const ANYWHERE_BASE: u64 = 0x0000_1000_0000_0000;

/// An address space `fexec` is building.
#[derive(Debug, Default)]
pub struct NewSpace {
    /// Page address → (protection, bytes).
    pages: BTreeMap<u64, (MapFlags, Vec<u8>)>,
    /// Windows on it in the program: `(local address, space address, size)`.
    windows: Vec<(u64, u64, u64)>,
}

fn err(errno: i32) -> Error {
    Error::new(errno)
}

impl NewSpace {
    fn mmap(&mut self, addr: u64, len: u64, flags: MapFlags) -> Result<u64> {
        let len = len
            .checked_next_multiple_of(PAGE)
            .ok_or(err(syscall::EINVAL))?;
        if len == 0 || !addr.is_multiple_of(PAGE) {
            return Err(err(syscall::EINVAL));
        }
        // The pages live in rine's memory until the switch.
        if len > MAX_SPACE_MAP {
            return Err(err(syscall::ENOMEM));
        }
        let fixed = flags.intersects(MapFlags::MAP_FIXED | MapFlags::MAP_FIXED_NOREPLACE);
        let addr = if fixed {
            addr
        } else {
            // The first gap from a base far from rine's own mappings (and well below the
            // Redox stack, which Linux cannot place where Redox does).
            let mut at = ANYWHERE_BASE;
            while let Some((p, _)) = self.pages.range(at..at + len).next_back() {
                at = p + PAGE;
            }
            at
        };
        let range = addr..addr.checked_add(len).ok_or(err(syscall::EINVAL))?;
        if flags.contains(MapFlags::MAP_FIXED_NOREPLACE)
            && self.pages.range(range.clone()).next().is_some()
        {
            return Err(err(syscall::EEXIST));
        }
        let prot = flags & (MapFlags::PROT_READ | MapFlags::PROT_WRITE | MapFlags::PROT_EXEC);
        for page in range.step_by(PAGE as usize) {
            self.pages.insert(page, (prot, vec![0; PAGE as usize]));
        }
        Ok(addr)
    }

    fn pages_in(&self, addr: u64, len: u64) -> impl Iterator<Item = u64> + '_ {
        self.pages
            .range(addr..addr.saturating_add(len))
            .map(|(p, _)| *p)
    }

    /// The space's bytes at `addr..addr + len` (zero where nothing is mapped).
    fn bytes(&self, addr: u64, len: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(len as usize);
        for page in (addr..addr + len).step_by(PAGE as usize) {
            match self.pages.get(&page) {
                Some((_, b)) => out.extend_from_slice(b),
                None => out.extend(std::iter::repeat_n(0, PAGE as usize)),
            }
        }
        out
    }

    fn store(&mut self, addr: u64, bytes: &[u8]) {
        for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
            if let Some((_, page)) = self.pages.get_mut(&(addr + i as u64 * PAGE)) {
                page[..chunk.len()].copy_from_slice(chunk);
            }
        }
    }

    /// Runs of pages with one protection: `(address, protection, bytes)`.
    fn runs(&self) -> Vec<(u64, MapFlags, Vec<u8>)> {
        let mut runs: Vec<(u64, MapFlags, Vec<u8>)> = Vec::new();
        for (&page, (prot, bytes)) in &self.pages {
            match runs.last_mut() {
                Some((start, p, b)) if *p == *prot && *start + b.len() as u64 == page => {
                    b.extend_from_slice(bytes)
                }
                _ => runs.push((page, *prot, bytes.clone())),
            }
        }
        runs
    }
}

/// A process's exec in progress: the address spaces `fexec` builds, and the one it chose.
#[derive(Debug, Default)]
pub struct Exec {
    /// By rine's number for them (`Handle::NewSpace`).
    spaces: Vec<NewSpace>,
    /// exec's `[space, sp, ip]` written to `current-addrspace`: `(space number, ip, sp)`,
    /// carried out when that handle is closed.
    pending: Option<(usize, u64, u64)>,
}

impl Exec {
    /// `dup(addrspace, "empty")`.
    pub fn new_space(&mut self) -> Handle {
        self.spaces.push(NewSpace::default());
        Handle::NewSpace(self.spaces.len() - 1)
    }

    /// `[space, sp, ip]` written to `current-addrspace`: the switch to make at its close.
    pub fn choose(&mut self, id: usize, ip: u64, sp: u64) {
        self.pending = Some((id, ip, sp));
    }

    /// The switch chosen, if any, once: `(space number, ip, sp)`.
    pub fn take_chosen(&mut self) -> Option<(usize, u64, u64)> {
        self.pending.take()
    }

    /// `ADDRSPACE_OP_*` written to a new space.
    pub fn space_write(&mut self, id: usize, bytes: &[u8]) -> Result<usize> {
        let w: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let space = self.spaces.get_mut(id).ok_or(err(syscall::EBADF))?;
        match w.as_slice() {
            [op, fd, _offset, addr, len, flags] if *op as usize == syscall::ADDRSPACE_OP_MMAP => {
                // Only anonymous memory: fexec maps nothing else unless it loads through an
                // interpreter, which static programs have none of.
                if *fd != u64::MAX {
                    return Err(err(syscall::EOPNOTSUPP));
                }
                space
                    .mmap(*addr, *len, MapFlags::from_bits_truncate(*flags as usize))
                    .map(|a| a as usize)
            }
            [op, addr, len] if *op as usize == syscall::ADDRSPACE_OP_MUNMAP => {
                let pages: Vec<u64> = space.pages_in(*addr, *len).collect();
                for p in pages {
                    space.pages.remove(&p);
                }
                Ok(0)
            }
            [op, addr, len, flags] if *op as usize == syscall::ADDRSPACE_OP_MPROTECT => {
                let prot = MapFlags::from_bits_truncate(*flags as usize);
                let pages: Vec<u64> = space.pages_in(*addr, *len).collect();
                for p in pages {
                    if let Some((pr, _)) = space.pages.get_mut(&p) {
                        *pr = prot;
                    }
                }
                Ok(0)
            }
            _ => Err(err(syscall::EINVAL)),
        }
    }

    /// `fmap` of a new space by thread `tid` of `child`: a window on its pages at
    /// `map.offset`.
    pub fn window(
        &mut self,
        child: &Child,
        tid: Pid,
        id: usize,
        map: &syscall::Map,
        regs: &user_regs_struct,
    ) -> Result<usize> {
        let size = (map.size as u64).next_multiple_of(PAGE);
        let remote = map.offset as u64;
        let space = self.spaces.get(id).ok_or(err(syscall::EBADF))?;
        // A window shows pages the space has: every one of them must be mapped there.
        remote.checked_add(size).ok_or(err(syscall::EINVAL))?;
        if size == 0
            || !remote.is_multiple_of(PAGE)
            || space.pages_in(remote, size).count() as u64 != size / PAGE
        {
            return Err(err(syscall::EFAULT));
        }
        // A remap of a window (MmapGuard::remap) first hands the old pages back.
        if map.flags.contains(MapFlags::MAP_FIXED) {
            self.flush_window(child, map.address as u64);
        }
        let anon = syscall::Map {
            offset: 0,
            size: size as usize,
            flags: map.flags,
            address: map.address,
        };
        let local = memory::fmap(child, tid, regs, None, &anon)?;
        let bytes = self.spaces[id].bytes(remote, size);
        memory::write(child, local, &bytes)?;
        let local = local as u64;
        self.spaces[id].windows.push((local, remote, size));
        Ok(local as usize)
    }

    /// Copies the bytes of the window at `local` in `child` (if it is one) back into its
    /// space and forgets it.
    pub fn flush_window(&mut self, child: &Child, local: u64) {
        for s in 0..self.spaces.len() {
            if let Some(i) = self.spaces[s].windows.iter().position(|w| w.0 == local) {
                let (local, remote, size) = self.spaces[s].windows.remove(i);
                let mut bytes = vec![0; size as usize];
                if child.read_exact(local, &mut bytes).is_ok() {
                    self.spaces[s].store(remote, &bytes);
                }
                return;
            }
        }
    }

    /// The switch, in thread `tid` of `child`: its memory becomes new space `id`; it goes
    /// on at `ip` on `sp`. Returns the registers it resumes with.
    pub fn switch(
        &mut self,
        child: &Child,
        tid: Pid,
        (id, ip, sp): (usize, u64, u64),
        regs: &user_regs_struct,
    ) -> std::result::Result<user_regs_struct, String> {
        let windows: Vec<u64> = self.spaces[id].windows.iter().map(|w| w.0).collect();
        for w in windows {
            self.flush_window(child, w);
        }
        let space = std::mem::take(&mut self.spaces[id]);
        let host = &child.host;
        let overlaps_host = |a: u64, b: u64| host.iter().any(|&(s, e)| a < e && s < b);
        // Where each run goes. Linux cannot map Redox's stack top (1 << 47), so a run that
        // Linux or rine's own mappings cannot hold is moved, which is only sound for the
        // stack: fexec puts no pointers to the stack on it.
        let mut placed = Vec::new();
        let mut delta_sp = 0i64;
        for (addr, prot, bytes) in space.runs() {
            let end = addr + bytes.len() as u64;
            let at = if end <= LINUX_USER_TOP && !overlaps_host(addr, end) {
                addr
            } else if addr < sp && sp <= end {
                let at = STACK_TOP - bytes.len() as u64;
                delta_sp = at as i64 - addr as i64;
                at
            } else {
                return Err(format!(
                    "the new image needs {addr:#x}..{end:#x}, which Linux or rine holds"
                ));
            };
            placed.push((at, prot, bytes));
        }
        let maps = child.mappings().map_err(|e| e.to_string())?;
        let gadget = syscall_gadget().ok_or("no syscall instruction in rine")?;
        let mut at_gadget = *regs;
        at_gadget.rip = gadget + 2;
        let inject = |nr: i64, args: [u64; 6]| -> std::result::Result<(), String> {
            match child.linux_syscall(tid, &at_gadget, nr, args) {
                Ok(r) if r >= 0 => Ok(()),
                Ok(r) => Err(format!("Linux call {nr} {args:x?}: errno {}", -r)),
                Err(e) => Err(e.to_string()),
            }
        };
        for (start, end) in maps {
            if !overlaps_host(start, end) {
                inject(libc::SYS_munmap, [start, end - start, 0, 0, 0, 0])?;
            }
        }
        for (at, prot, bytes) in &placed {
            let flags =
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE) as u64;
            let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
            inject(
                libc::SYS_mmap,
                [*at, bytes.len() as u64, rw, flags, u64::MAX, 0],
            )?;
            child
                .write_all(*at, bytes)
                .map_err(|e| format!("writing the new image: {e}"))?;
            inject(
                libc::SYS_mprotect,
                [*at, bytes.len() as u64, linux_prot(*prot), 0, 0, 0],
            )?;
        }
        self.spaces.clear();
        let mut out = clean_regs(regs);
        out.rip = ip;
        out.rsp = (sp as i64 + delta_sp) as u64;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: MapFlags = MapFlags::PROT_READ.union(MapFlags::PROT_WRITE);

    /// Verifies that fexec's reservation (`MAP_FIXED_NOREPLACE`) refuses a second one over
    /// it, that its segments (`MAP_FIXED`) replace pages of it, and that runs split where
    /// the protection changes.
    #[test]
    fn exec_space_fixed_maps_replace_and_runs_split() {
        let mut s = NewSpace::default();
        let nr = MapFlags::MAP_FIXED_NOREPLACE;
        assert_eq!(s.mmap(0x20_0000, 3 * PAGE, nr), Ok(0x20_0000));
        assert_eq!(
            s.mmap(0x20_1000, PAGE, nr | RW).map_err(|e| e.errno),
            Err(syscall::EEXIST)
        );
        assert_eq!(
            s.mmap(0x20_1000, PAGE, MapFlags::MAP_FIXED | RW),
            Ok(0x20_1000)
        );
        s.store(0x20_1000, b"segment");
        let runs = s.runs();
        let shape: Vec<(u64, MapFlags, usize)> =
            runs.iter().map(|(a, p, b)| (*a, *p, b.len())).collect();
        assert_eq!(
            shape,
            [
                (0x20_0000, MapFlags::empty(), PAGE as usize),
                (0x20_1000, RW, PAGE as usize),
                (0x20_2000, MapFlags::empty(), PAGE as usize),
            ]
        );
        assert_eq!(&runs[1].2[..7], b"segment");
    }

    /// Verifies that a mapping with no address lands at rine's base, not right above the
    /// Redox stack at 1 << 47 (which would make it one run with the stack, moved with it).
    #[test]
    fn exec_space_anywhere_stays_below_the_stack() {
        let mut s = NewSpace::default();
        let stack = (1u64 << 47) - (1 << 20);
        assert_eq!(
            s.mmap(stack, 1 << 20, MapFlags::MAP_FIXED_NOREPLACE | RW),
            Ok(stack)
        );
        assert_eq!(s.mmap(0, 2 * PAGE, RW), Ok(ANYWHERE_BASE));
        assert_eq!(s.mmap(0, PAGE, RW), Ok(ANYWHERE_BASE + 2 * PAGE));
    }

    /// Verifies that bytes stored through a window come back, and unmapped pages read as
    /// zero.
    #[test]
    fn exec_space_bytes_round_trip() {
        let mut s = NewSpace::default();
        s.mmap(0x1000, PAGE, MapFlags::MAP_FIXED | RW).expect("map");
        s.store(0x1000, &[7; 16]);
        let b = s.bytes(0x1000, 2 * PAGE);
        assert_eq!(&b[..16], &[7; 16]);
        assert!(b[16..].iter().all(|&x| x == 0));
    }
}
