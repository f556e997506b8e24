//! The transport: a 16550 UART (QEMU's COM2, forwarded to a host TCP port) driven by polling
//! with port I/O. The image has no serial driver, so gdbserver drives the UART itself.

use gdbstub::conn::{Connection, ConnectionExt};

/// COM2's I/O base: COM1 carries the kernel log and the programs' output.
pub const COM2: u16 = 0x2f8;

const DATA: u16 = 0;
const INT_ENABLE: u16 = 1;
const FIFO_CTRL: u16 = 2;
const LINE_STATUS: u16 = 5;
const DATA_READY: u8 = 1;
const THR_EMPTY: u8 = 1 << 5;

pub struct Uart {
    base: u16,
    /// A byte `peek` took from the UART that `read` has not handed out yet.
    peeked: Option<u8>,
}

impl Uart {
    /// Gets port I/O for this process and takes the UART over. The kernel's interrupt
    /// handler reads COM2 on receive interrupts; those are turned off so that every byte
    /// reaches us.
    pub fn open(base: u16) -> Result<Self, String> {
        grant_port_io()?;
        let uart = Self { base, peeked: None };
        // SAFETY: port I/O on the UART registers only, granted above.
        unsafe {
            uart.out(INT_ENABLE, 0);
            // FIFOs on and cleared, receive trigger level 14: QEMU moves at most "trigger
            // level minus queued" bytes from its socket into the FIFO per main-loop pass, so
            // with the default (1) a packet from gdb would arrive one byte per pass.
            uart.out(FIFO_CTRL, 0xc7);
        }
        Ok(uart)
    }

    /// # Safety
    /// Port I/O must be granted and `base` a UART.
    unsafe fn out(&self, reg: u16, value: u8) {
        unsafe {
            core::arch::asm!("out dx, al", in("dx") self.base + reg, in("al") value,
                options(nomem, nostack, preserves_flags));
        }
    }

    /// # Safety
    /// As for `out`.
    unsafe fn inb(&self, reg: u16) -> u8 {
        let value: u8;
        unsafe {
            core::arch::asm!("in al, dx", out("al") value, in("dx") self.base + reg,
                options(nomem, nostack, preserves_flags));
        }
        value
    }

    fn try_read(&mut self) -> Option<u8> {
        if let Some(byte) = self.peeked.take() {
            return Some(byte);
        }
        // SAFETY: see open().
        unsafe { (self.inb(LINE_STATUS) & DATA_READY != 0).then(|| self.inb(DATA)) }
    }
}

impl Connection for Uart {
    type Error = std::convert::Infallible;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        // SAFETY: see open().
        unsafe {
            while self.inb(LINE_STATUS) & THR_EMPTY == 0 {
                core::hint::spin_loop();
            }
            self.out(DATA, byte);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl ConnectionExt for Uart {
    fn read(&mut self) -> Result<u8, Self::Error> {
        loop {
            if let Some(byte) = self.try_read() {
                return Ok(byte);
            }
            // Nothing to do until gdb sends something. Each port access takes QEMU's global
            // lock, which its main loop needs to move bytes from the socket in: wait a little
            // between polls instead of hammering the port.
            for _ in 0..2000 {
                core::hint::spin_loop();
            }
            std::thread::yield_now();
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        if self.peeked.is_none() {
            self.peeked = self.try_read();
        }
        Ok(self.peeked)
    }
}

/// Asks the kernel for port I/O (`Iopl` on a kernel context handle of our own thread; the
/// kernel grants it to the calling thread, and gdbserver has only one).
#[cfg(target_os = "redox")]
fn grant_port_io() -> Result<(), String> {
    use syscall::flag::{CallFlags, ProcSchemeVerb};
    unsafe extern "C" {
        /// relibc (libredox ABI): this thread's procmgr thread handle.
        fn redox_cur_thrfd_v0() -> usize;
    }
    // SAFETY: relibc keeps this handle open for the life of the thread.
    let thread = unsafe { redox_cur_thrfd_v0() };
    // procmgr forwards the dup to the kernel; only the kernel's `open_via_dup` handle kind
    // takes verbs such as Iopl (base's drivers ask the same way).
    let ctx = redox_ptrace::raw::dup_into(
        thread,
        b"open_via_dup",
        redox_ptrace::fd::default_allocator(),
    )
    .map_err(|e| format!("no context handle: {e}"))?;
    syscall::call_wo(
        ctx.raw(),
        &[],
        CallFlags::empty(),
        &[ProcSchemeVerb::Iopl as u64],
    )
    .map(drop)
    .map_err(|e| format!("the kernel refused port I/O: {e}"))
}

#[cfg(not(target_os = "redox"))]
fn grant_port_io() -> Result<(), String> {
    Err("the UART transport needs Redox".to_string())
}
