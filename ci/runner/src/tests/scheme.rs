//! Contexts blocked on a userspace scheme the runner serves: a page fault in memory a scheme
//! lent with `fmap` blocks the faulting context (`AwaitingMmap`) until the scheme answers its
//! `RequestMmap`, and the kernel (at 663e6641) cannot parse that answer, so nothing but a kill
//! ends the wait. Upstream panicked on the context-handle verbs that meet that state.

use core::{mem::size_of, ptr, slice};

use trace_core::TraceEvent;

use syscall::{
    flag::PtraceFlags,
    schemev2::{Cqe, CqeOpcode, Opcode, Sqe},
    ContextStatus, ContextVerb, GlobalSchemes, Map, MapFlags, NewFdParams, RwFlags, EAGAIN, EBUSY,
    O_RDWR, SYS_READ2,
};

use super::trace::{dup_trace, next_stop, resume, spawn_traced};
use crate::{
    child::{self, Child},
    harness::{Failure, Hex},
    sys::{self, Fd},
};

const EXIT: PtraceFlags = PtraceFlags::PTRACE_STOP_EXIT;

const PAGE: usize = 4096;
/// The number the runner's scheme gives its one file.
const FILE_NUMBER: usize = 1;

/// Maps one page of the child's first given fd (a file of the runner's scheme) private and
/// writable. The scheme lends its page copy-on-write, so the first write to it faults, and the
/// kernel asks the scheme for the page (`RequestMmap`) and blocks the child until it answers.
fn map_scheme_page() -> Option<usize> {
    let map = Map {
        offset: 0,
        size: PAGE,
        flags: MapFlags::PROT_READ | MapFlags::PROT_WRITE | MapFlags::MAP_PRIVATE,
        address: 0,
    };
    // SAFETY: a new mapping at an address the kernel picks aliases nothing of ours.
    unsafe { syscall::fmap(child::given(0), &map) }.ok()
}

/// Writes to the scheme's page ([`map_scheme_page`]).
fn write_to_scheme_page(_: usize) -> ! {
    if let Some(address) = map_scheme_page() {
        // SAFETY: the page was just mapped writable for us.
        unsafe { (address as *mut u8).write_volatile(1) };
    }
    child::exit()
}

/// Reads trace events from its second given fd into the scheme's page ([`map_scheme_page`]):
/// the kernel's copy faults, and the child blocks inside its `read` until the scheme answers.
fn read_events_into_scheme_page(_: usize) -> ! {
    if let Some(address) = map_scheme_page() {
        // SAFETY: the page was just mapped writable for us.
        let buf = unsafe { slice::from_raw_parts_mut(address as *mut u8, TraceEvent::SIZE) };
        let _ = syscall::read(child::given(1), buf);
    }
    child::exit()
}

/// A scheme served by the runner, a page it lends, and a forked child blocked in a page fault
/// on that page, waiting for the scheme's answer that never comes.
struct AwaitingMmap {
    child: Child,
    /// Dropped last: closing the socket removes the scheme.
    socket: Fd,
    page: usize,
}

impl AwaitingMmap {
    /// Serves the child's `fmap` (`MmapPrep`) with [`AwaitingMmap::page`], and returns once
    /// the child is hard-blocked (status `Other`) with its `RequestMmap` read from the socket.
    fn new() -> Result<Self, Failure> {
        Self::with(write_to_scheme_page, &[])
    }

    /// [`AwaitingMmap::new`] with another child, `entry`, which gets the scheme's file first
    /// and `give` after it, and must fault on the page it maps from that file.
    fn with(entry: fn(usize) -> !, give: &[&Fd]) -> Result<Self, Failure> {
        let socket = sys::dup(sys::scheme_creation_cap()?, "create-scheme")?;
        let params = NewFdParams {
            offset: 0,
            number: FILE_NUMBER,
            flags: O_RDWR,
            internal_flags: 0,
        };
        // SAFETY: NewFdParams is plain repr(C) data; the kernel reads exactly its size.
        let params = unsafe {
            slice::from_raw_parts(
                ptr::from_ref(&params).cast::<u8>(),
                size_of::<NewFdParams>(),
            )
        };
        let file = sys::dup_bytes(&socket, params)?;
        let page = sys::map_anonymous(PAGE)?;
        // SAFETY: our own fresh mapping; touched so that it has a frame to lend.
        unsafe { (page as *mut u8).write_volatile(0x5a) };
        let mut child = Child::forked(entry, 0)?;
        child.give(&file)?;
        for fd in give {
            child.give(*fd)?;
        }
        drop(file);
        let mut this = Self {
            child,
            socket,
            page,
        };
        this.child.start()?;

        // The child blocks (soft) in its fmap call once the MmapPrep request is queued.
        let status = this.child.wait_until(|s| s != ContextStatus::Runnable)?;
        check_eq!(status, ContextStatus::Blocked, "child status during fmap");
        let prep = this.receive()?;
        check_eq!(prep.opcode, Opcode::MmapPrep as u8, "first request");
        check_eq!(prep.args[0], FILE_NUMBER as u64, "MmapPrep file");
        this.respond(prep.tag, page as u64)?;

        // Its write then faults: RequestMmap is queued before the child hard-blocks, which the
        // status handle shows as Other (AwaitingMmap has no ContextStatus of its own).
        let status = this.child.wait_until(|s| s != ContextStatus::Runnable)?;
        check_eq!(status, ContextStatus::Other, "child status after its write");
        let request = this.receive()?;
        check_eq!(request.opcode, Opcode::RequestMmap as u8, "second request");
        check_eq!(request.args[0], FILE_NUMBER as u64, "RequestMmap file");
        check_eq!(
            this.child.status()?,
            ContextStatus::Other,
            "child status now"
        );
        Ok(this)
    }

    /// Reads one request; it must be queued already (the read blocks otherwise).
    fn receive(&self) -> Result<Sqe, Failure> {
        let mut sqe = Sqe::default();
        let read = sys::read(&self.socket, &mut sqe)?;
        check_eq!(read, size_of::<Sqe>(), "request size");
        Ok(sqe)
    }

    /// Reads one request if one is queued.
    fn try_receive(&self) -> Result<Option<Sqe>, Failure> {
        let mut sqe = Sqe::default();
        // SAFETY: the kernel writes at most size_of::<Sqe>() bytes into `sqe`.
        let read = unsafe {
            syscall::syscall5(
                SYS_READ2,
                self.socket.raw(),
                ptr::from_mut(&mut sqe) as usize,
                size_of::<Sqe>(),
                0,
                RwFlags::NONBLOCK.bits() as usize,
            )
        };
        match read {
            Ok(n) if n == size_of::<Sqe>() => Ok(Some(sqe)),
            Ok(n) => fail!("request size: got {n}"),
            Err(error) if error.errno == EAGAIN => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    fn respond(&self, tag: u32, result: u64) -> Result<(), Failure> {
        let cqe = Cqe {
            flags: CqeOpcode::RespondRegular as u8,
            extra_raw: [0; 3],
            tag,
            result,
        };
        check_eq!(
            sys::write(&self.socket, &cqe)?,
            size_of::<Cqe>(),
            "response size"
        );
        Ok(())
    }

    /// Kills the child and waits until it has left its address space, so that the lent page
    /// can go.
    fn end(mut self) -> Result<(), Failure> {
        self.child.kill()?;
        // Its exit unmaps the lent page, which asks the scheme (Munmap) and waits for it. Serve
        // that from the start: on another CPU the child gets there, blocked again, before a
        // status read could show the kill.
        let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
        while !self.child.confirm_exited() {
            if let Some(request) = self.try_receive()?
                && request.opcode == Opcode::Munmap as u8
            {
                self.respond(request.tag, 0)?;
            }
            if sys::monotonic()? > deadline {
                fail!(
                    "killed child at {:?} never exited, status {:?}",
                    Hex(self.page),
                    self.child.status()
                );
            }
            sys::yield_now();
        }
        let status = self.child.status()?;
        if !matches!(
            status,
            ContextStatus::ForceKilled | ContextStatus::UnhandledExcp
        ) {
            fail!("killed child: got {:?}", status);
        }
        drop(self.child);
        drop(self.socket);
        // SAFETY: the only other user of the page, the child, is dead.
        unsafe { sys::unmap(self.page, PAGE) }?;
        Ok(())
    }
}

/// Verifies that the privileged Stop verb on a context blocked awaiting a scheme's mmap answer
/// is EBUSY (upstream: `todo!()`, a kernel panic) and leaves the context waiting.
pub fn stop_awaiting_mmap_is_ebusy() -> Result<(), Failure> {
    let mut blocked = AwaitingMmap::new()?;
    let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
    let status = blocked
        .child
        .open(&alloc::format!("auth-{proc_root}-status"))?;
    check_errno!(
        sys::write_usizes(&status, &[ContextVerb::Stop as usize]),
        EBUSY
    );
    check_eq!(
        blocked.child.status()?,
        ContextStatus::Other,
        "status after Stop"
    );
    drop(status);
    blocked.end()
}

/// Verifies that force-killing a context blocked awaiting a scheme's mmap answer ends it
/// (upstream woke it into a page-fault `todo!()`, a kernel panic).
pub fn kill_awaiting_mmap_ends_it() -> Result<(), Failure> {
    AwaitingMmap::new()?.end()
}

/// Verifies that a `read` of trace events into a page a scheme lends holds no lock while the
/// kernel waits for the scheme: with that reader blocked in its copy, the tracer reads the
/// event the reader did not get, resumes the tracee, and the reader is killed in its wait.
/// (The copy used to run under the session lock: the next use of the session spun forever
/// with interrupts off.)
pub fn event_read_into_scheme_page_blocks_no_other_use() -> Result<(), Failure> {
    let (mut tracee, trace, _output) = spawn_traced(child::exit_at_once, dup_trace)?;
    resume(&trace, EXIT)?;
    tracee.start()?;
    check_eq!(
        tracee.wait_until(|s| s != ContextStatus::Runnable)?,
        ContextStatus::Blocked,
        "tracee at its exit stop"
    );
    let blocked = AwaitingMmap::with(read_events_into_scheme_page, &[&trace])?;
    check_eq!(
        next_stop(&trace)?.flag(),
        EXIT,
        "the event the blocked read did not take"
    );
    resume(&trace, EXIT)?;
    check_eq!(tracee.wait_exit()?, ContextStatus::Dead);
    blocked.end()
}
