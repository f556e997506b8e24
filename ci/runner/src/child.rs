//! Child contexts that run a function of the runner, like threads.
//!
//! `Child::new(entry, arg)` makes a context through `kernel.proc` (`new-context`) that shares
//! the runner's address space, runs `entry(arg)` on a stack of its own, and has a file table of
//! its own holding only:
//!
//! | slot | fd |
//! |---|---|
//! | [`SELF_FD`] | the child's own `status` handle, for [`exit`] |
//! | [`crate::log::LOG_FD`] | `debug:`, so `println!` works |
//! | [`given`]`(0)`, `given(1)`, … | what the runner passes with [`Child::give`], in order |
//!
//! The child does not run until [`Child::start`], so a tracer can attach first. Child code
//! must end with [`exit`] and must not allocate if it may be killed (see `alloc.rs`).
//!
//! The steps follow the kernel's proc scheme. The switch to our address space written to
//! `current-addrspace` happens only when that handle is closed, so `new` closes it (and checks
//! what close returns) before anything can start the child. Fds reach the child's table
//! through its `filetable` handle, one `SYS_CALL` fd transfer each.

use core::{mem::size_of, time::Duration};

use syscall::{ContextStatus, ContextVerb, GlobalSchemes, ETIMEDOUT};

use crate::{
    log::LOG_FD,
    sys::{self, AsFd, Error, Fd, Result},
};

/// Slot of the child's own `status` handle in its table.
pub const SELF_FD: usize = 0;
const FIRST_GIVEN_FD: usize = 2;
const STACK_SIZE: usize = 64 * 1024;
/// How long [`Child::wait_exit`] and [`Child::wait_status`] wait.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a dropped child may take to end by itself before it is killed.
const DROP_GRACE: Duration = Duration::from_millis(200);

/// Slot of the `n`th fd given with [`Child::give`], as the child sees it.
pub const fn given(n: usize) -> usize {
    FIRST_GIVEN_FD + n
}

/// Ends the calling child: a context ends itself by force-killing itself through its own
/// `status` handle.
pub fn exit() -> ! {
    let _ = sys::write_usizes(SELF_FD, &[ContextVerb::ForceKill as usize]);
    // Only reached if the kernel refused; a fault ends the context too.
    loop {
        // SAFETY: ud2 raises #UD, which kills a context without a signal handler.
        unsafe { core::arch::asm!("ud2", options(nomem, nostack, noreturn)) };
    }
}

/// Ends the calling child however often the exit is refused or skipped: a tracee whose tracer
/// may skip its syscalls (sysemu) asks again until it runs.
pub fn kill_self() -> ! {
    loop {
        let _ = sys::write_usizes(SELF_FD, &[ContextVerb::ForceKill as usize]);
    }
}

/// Entry stub: the child starts here with `rsp` at the two words `[entry, arg]`.
/// Its FPU/SSE state is all zeros, i.e. every SSE exception unmasked, so load the defaults
/// (MXCSR 0x1F80, FCW 0x37F) before any Rust code runs.
#[unsafe(naked)]
extern "C" fn child_start() -> ! {
    core::arch::naked_asm!(
        "ldmxcsr [rip + {mxcsr}]",
        "fldcw [rip + {fcw}]",
        "pop rdi",
        "pop rsi",
        "xor ebp, ebp",
        "call {main}",
        "ud2",
        mxcsr = sym DEFAULT_MXCSR,
        fcw = sym DEFAULT_FCW,
        main = sym child_main,
    )
}

static DEFAULT_MXCSR: u32 = 0x1F80;
static DEFAULT_FCW: u16 = 0x037F;

// Called only by child_start, which passes the fn pointer as the plain word it wrote.
#[allow(improper_ctypes_definitions)]
extern "C" fn child_main(entry: fn(usize) -> !, arg: usize) -> ! {
    entry(arg)
}

/// An entry that only exits. Never started children are redirected here when dropped, so that
/// they end cleanly.
pub fn exit_at_once(_: usize) -> ! {
    exit()
}

/// An entry that never ends by itself: it yields in a loop until killed.
pub fn yield_forever(_: usize) -> ! {
    loop {
        sys::yield_now();
    }
}

/// Decodes what a `status` handle reads.
fn decode_status(raw: usize) -> ContextStatus {
    use ContextStatus::*;
    [
        Runnable,
        Blocked,
        NotYetStarted,
        Dead,
        ForceKilled,
        Stopped,
        UnhandledExcp,
    ]
    .into_iter()
    .find(|status| *status as usize == raw)
    .unwrap_or(Other)
}

fn is_gone(status: ContextStatus) -> bool {
    matches!(
        status,
        ContextStatus::Dead | ContextStatus::ForceKilled | ContextStatus::UnhandledExcp
    )
}

/// A child context, see the module docs.
pub struct Child {
    /// The `new-context` handle.
    context: Fd,
    status: Fd,
    /// The child's file table.
    filetable: Fd,
    stack: usize,
    given: usize,
    started: bool,
    /// The last status read that said the child is gone, if any.
    ended: Option<ContextStatus>,
    /// Runs in a copy of the runner's address space, see [`Child::forked`].
    forked: bool,
    /// Seen to have exited for good (see [`Child::confirm_exited`]).
    exited: bool,
}

impl Child {
    /// Makes a child that will run `entry(arg)` once started.
    pub fn new(entry: fn(usize) -> !, arg: usize) -> Result<Self> {
        Self::spawn(entry, arg, false)
    }

    /// Makes a child like [`Child::new`], but in a copy-on-write copy of the runner's address
    /// space, as after a fork: its memory starts as the runner's, and what either side writes
    /// stays on that side. Results come back through fds, or the `mem` handle.
    pub fn forked(entry: fn(usize) -> !, arg: usize) -> Result<Self> {
        Self::spawn(entry, arg, true)
    }

    fn spawn(entry: fn(usize) -> !, arg: usize, forked: bool) -> Result<Self> {
        let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
        let context = sys::dup(proc_root, "new-context")?;
        let stack = sys::map_anonymous(STACK_SIZE)?;
        let child = Self {
            status: sys::dup(&context, "status")?,
            filetable: sys::dup(&context, "filetable")?,
            context,
            stack,
            given: 0,
            started: false,
            ended: None,
            forked,
            exited: false,
        };
        let sp = child.set_entry(entry, arg);

        // Run in our address space (or a copy), from child_start with sp at [entry, arg].
        let me = sys::dup(proc_root, "cur-context")?;
        let our_space = sys::dup(&me, "addrspace")?;
        // Copied after set_entry, so that the copy has the entry words on its stack.
        let space = if forked {
            sys::dup(&our_space, "exclusive")?
        } else {
            our_space
        };
        let switch = child.open("current-addrspace")?;
        let ip = child_start as extern "C" fn() -> ! as usize;
        sys::write_usizes(&switch, &[space.raw(), sp, ip])?;
        switch.close()?;

        // The child's table is new and empty; fill the fixed slots.
        let own_status = child.open("status")?;
        sys::send_fd(&child.filetable, &own_status, SELF_FD)?;
        sys::send_fd(&child.filetable, LOG_FD, LOG_FD)?;
        Ok(child)
    }

    /// Writes `[entry, arg]` at the top of the child's stack; returns the initial `rsp`.
    fn set_entry(&self, entry: fn(usize) -> !, arg: usize) -> usize {
        let sp = self.stack + STACK_SIZE - 2 * size_of::<usize>();
        let words = sp as *mut usize;
        // SAFETY: the two words are the top of our mapping, which the child has not touched
        // (it has not started).
        unsafe {
            words.write_volatile(entry as usize);
            words.add(1).write_volatile(arg);
        }
        sp
    }

    /// The child's context handle (from `new-context`); handles like `regs/int` are opened
    /// relative to it.
    pub fn context_fd(&self) -> usize {
        self.context.raw()
    }

    /// Opens the child's handle `name` (`regs/int`, `trace`, …).
    pub fn open(&self, name: &str) -> Result<Fd> {
        sys::dup(&self.context, name)
    }

    /// Copies `fd` into the child's table at the next [`given`] slot, and returns that slot.
    pub fn give(&mut self, fd: impl AsFd) -> Result<usize> {
        let slot = given(self.given);
        sys::send_fd(&self.filetable, fd, slot)?;
        self.given += 1;
        Ok(slot)
    }

    /// Copies `fd` into the child's table at `slot` (for fds code expects at a fixed number,
    /// such as a scheme root).
    pub fn give_as(&mut self, fd: impl AsFd, slot: usize) -> Result<()> {
        sys::send_fd(&self.filetable, fd, slot)
    }

    /// Lets the child run.
    pub fn start(&mut self) -> Result<()> {
        let start = self.open("start")?;
        sys::write(&start, &[0])?;
        self.started = true;
        start.close()
    }

    /// Records that the child was started through a `start` handle given to someone else,
    /// so that [`Drop`] waits for it instead of starting it.
    pub fn started_by_another(&mut self) {
        self.started = true;
    }

    /// The child's status now.
    pub fn status(&mut self) -> Result<ContextStatus> {
        let mut bytes = [0; 4 * size_of::<usize>()];
        sys::read(&self.status, &mut bytes)?;
        let mut word = [0; size_of::<usize>()];
        word.copy_from_slice(&bytes[..size_of::<usize>()]);
        let status = decode_status(usize::from_ne_bytes(word));
        if is_gone(status) {
            self.ended = Some(status);
        }
        Ok(status)
    }

    /// Polls the status until `done` holds for it; `ETIMEDOUT` after [`WAIT_TIMEOUT`].
    pub fn wait_until(&mut self, done: impl Fn(ContextStatus) -> bool) -> Result<ContextStatus> {
        self.wait_for(&done, WAIT_TIMEOUT)
    }

    fn wait_for(
        &mut self,
        done: &dyn Fn(ContextStatus) -> bool,
        timeout: Duration,
    ) -> Result<ContextStatus> {
        let deadline = sys::monotonic()? + timeout;
        loop {
            let status = self.status()?;
            if done(status) {
                return Ok(status);
            }
            if sys::monotonic()? > deadline {
                return Err(Error::new(ETIMEDOUT));
            }
            sys::yield_now();
        }
    }

    /// Waits until the status is `wanted`.
    pub fn wait_status(&mut self, wanted: ContextStatus) -> Result<ContextStatus> {
        self.wait_until(|status| status == wanted)
    }

    /// Waits until the child is gone: `Dead` (it exited), `ForceKilled` or `UnhandledExcp`.
    pub fn wait_exit(&mut self) -> Result<ContextStatus> {
        self.wait_until(is_gone)
    }

    /// Whether the child has exited for good, not only been marked killed (`ForceKilled` shows
    /// at once): a trace attach is `ESRCH` only once its context is dead, after it last used
    /// its stack. Then [`Drop`] unmaps the stack of a killed child too.
    pub fn confirm_exited(&mut self) -> bool {
        match self.open("trace") {
            Err(error) if error.errno == syscall::ESRCH => self.exited = true,
            // Attached after all (not dead yet): dropping the handle detaches again.
            _ => {}
        }
        self.exited
    }

    /// Force-kills the child. It dies at its next syscall return or timer tick.
    pub fn kill(&mut self) -> Result<()> {
        sys::write_usizes(&self.status, &[ContextVerb::ForceKill as usize]).map(drop)
    }
}

impl Drop for Child {
    /// Leaves no child behind: an unstarted child is started into [`exit`]; one still running
    /// after [`DROP_GRACE`] is killed. The stack is unmapped only once the child surely stopped
    /// using it, i.e. after it exited by itself: `ForceKilled` already shows while a killed
    /// child still runs, so a killed child's stack is leaked.
    fn drop(&mut self) {
        // A forked child's stack is its own copy, beyond set_entry's reach: left unstarted, it
        // never runs.
        if !self.started && !self.forked {
            self.set_entry(exit_at_once, 0);
            let _ = self.start();
        }
        if !self.started {
            return;
        }
        if self.ended.is_none() && self.wait_for(&is_gone, DROP_GRACE).is_err() {
            let _ = self.kill();
            let _ = self.wait_exit();
        }
        if self.ended == Some(ContextStatus::Dead) || self.exited {
            // SAFETY: a dead child runs no more code.
            let _ = unsafe { sys::unmap(self.stack, STACK_SIZE) };
        }
    }
}
