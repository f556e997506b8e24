//! The runner's output: lines on `debug:`, which the kernel copies to the serial port.
//!
//! The runner opens `debug:` at [`LOG_FD`] and gives each child the same slot, so `println!`
//! works unchanged in child code. A line is formatted on the stack (no allocation, no lock)
//! and written with one syscall, so lines from the runner, children and the kernel interleave
//! only at line boundaries while they fit [`LINE_MAX`].

use core::fmt::{self, Write};

use syscall::{GlobalSchemes, O_WRONLY};

use crate::sys;

/// Slot of the `debug:` fd, in the runner's table and in every child's.
pub const LOG_FD: usize = 1;
const LINE_MAX: usize = 512;

/// Opens `debug:` at [`LOG_FD`].
pub fn init() -> sys::Result<()> {
    sys::openat_at(
        sys::scheme_root(GlobalSchemes::Debug)?,
        "",
        O_WRONLY,
        LOG_FD,
    )
}

/// Collects output and writes it to [`LOG_FD`] when full or dropped.
struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Line {
    fn flush(&mut self) {
        if let Some(bytes) = self.buf.get(..self.len) {
            let _ = sys::write(LOG_FD, bytes);
        }
        self.len = 0;
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if self.len == LINE_MAX {
                self.flush();
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = byte;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        self.flush();
    }
}

#[doc(hidden)]
pub fn print(args: fmt::Arguments) {
    let mut line = Line {
        buf: [0; LINE_MAX],
        len: 0,
    };
    let _ = line.write_fmt(args);
}

/// `println!` to the serial log.
macro_rules! println {
    () => {
        $crate::log::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::log::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}
