//! A small ATF-like test framework.
//!
//! Tests are `fn() -> Result<(), Failure>` registered once, in `tests::ALL`, under an
//! `area::scenario` name. The runner prints one line per test, `ok <name>`,
//! `FAIL <name> <file>:<line> <message>` or `skip <name>: <reason>` (a test that cannot run on
//! this machine, see [`skip!`]), then exactly `<N> passed, <N> failed` on a line of its own
//! (skipped tests count in neither), and ends QEMU: with a power-off (exit status 0) when all passed, else through the
//! debug-exit device (exit status 2 × failed + 1). `ci/qemu-test.sh` reads those lines from
//! the serial log and checks the exit status against them.
//!
//! Failures carry the source location of the failing check, or of the `?` that propagated a
//! syscall error. A panic in a test is reported the same way, ends the run (the runner cannot
//! unwind), and still prints the summary.

use alloc::string::String;
use core::{
    fmt,
    panic::Location,
    panic::PanicInfo,
    ptr::null_mut,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering},
};

use crate::{child, sys};

/// One registered test.
pub struct Test {
    pub name: &'static str,
    pub run: fn() -> Result<(), Failure>,
}

/// Why a test failed, and where; or, when `skipped`, why it could not run here.
#[derive(Debug)]
pub struct Failure {
    pub file: &'static str,
    pub line: u32,
    pub message: String,
    pub skipped: bool,
}

impl Failure {
    /// A failure at the caller's location.
    #[track_caller]
    pub fn new(message: String) -> Self {
        let location = Location::caller();
        Self {
            file: location.file(),
            line: location.line(),
            message,
            skipped: false,
        }
    }

    /// Not a failure: the test cannot run on this machine, for `reason`.
    #[track_caller]
    pub fn skip(reason: String) -> Self {
        Self {
            skipped: true,
            ..Self::new(reason)
        }
    }
}

impl From<sys::Error> for Failure {
    /// A syscall error propagated with `?`: located at the `?`.
    #[track_caller]
    fn from(error: sys::Error) -> Self {
        Self::new(alloc::format!("unexpected error: {}", Errno(error)))
    }
}

impl From<redox_ptrace::Error> for Failure {
    /// A tracing-library error propagated with `?`: it names the request and the tracee.
    #[track_caller]
    fn from(error: redox_ptrace::Error) -> Self {
        Self::new(alloc::format!("tracing library: {}", error))
    }
}

/// Displays an error as its number and text, e.g. `errno 22 (Invalid argument)`.
pub struct Errno(pub sys::Error);

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "errno {} ({})", self.0.errno, self.0)
    }
}

/// An integer that `check_eq!` shows in hex, for registers and addresses:
/// `check_eq!(Hex(regs.r12), Hex(MAGIC))`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex(pub usize);

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// Registers tests: `tests![area::scenario, …]` gives a `&[Test]` named after the paths.
macro_rules! tests {
    ($($area:ident :: $scenario:ident),* $(,)?) => {
        &[$($crate::harness::Test {
            name: concat!(stringify!($area), "::", stringify!($scenario)),
            run: $area::$scenario,
        }),*]
    };
}

/// Fails the test with a formatted message.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::harness::Failure::new(alloc::format!($($arg)*)))
    };
}

/// Ends the test as skipped (neither passed nor failed), with a formatted reason.
macro_rules! skip {
    ($($arg:tt)*) => {
        return Err($crate::harness::Failure::skip(alloc::format!($($arg)*)))
    };
}

/// Fails the test unless `actual == expected`, printing both. An optional format string and
/// arguments say what was compared.
macro_rules! check_eq {
    ($actual:expr, $expected:expr $(,)?) => {
        check_eq!($actual, $expected, "{}", stringify!($actual))
    };
    ($actual:expr, $expected:expr, $($what:tt)+) => {
        match (&$actual, &$expected) {
            (actual, expected) => {
                if *actual != *expected {
                    fail!(
                        "{}: got {:?}, expected {:?}",
                        format_args!($($what)+),
                        actual,
                        expected
                    );
                }
            }
        }
    };
}

/// Fails the test unless `result` is the error `errno`.
macro_rules! check_errno {
    ($result:expr, $errno:expr $(,)?) => {
        match $result {
            Err(error) if error.errno == $errno => {}
            Err(error) => fail!(
                "{}: got {}, expected {}",
                stringify!($result),
                $crate::harness::Errno(error),
                $crate::harness::Errno($crate::sys::Error::new($errno))
            ),
            Ok(value) => fail!(
                "{}: got Ok({:?}), expected {}",
                stringify!($result),
                value,
                $crate::harness::Errno($crate::sys::Error::new($errno))
            ),
        }
    };
}

static CURRENT: AtomicPtr<Test> = AtomicPtr::new(null_mut());
static TOTAL: AtomicUsize = AtomicUsize::new(0);
static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);
static SKIPPED: AtomicUsize = AtomicUsize::new(0);
static PANICKING: AtomicBool = AtomicBool::new(false);

/// Runs every test in order, prints the summary and powers off.
pub fn run(tests: &'static [Test]) -> ! {
    TOTAL.store(tests.len(), Ordering::Relaxed);
    println!("# redox-ptrace-tests: {} tests", tests.len());
    for test in tests {
        CURRENT.store((test as *const Test).cast_mut(), Ordering::Relaxed);
        match (test.run)() {
            Ok(()) => {
                PASSED.fetch_add(1, Ordering::Relaxed);
                println!("ok {}", test.name);
            }
            Err(skip) if skip.skipped => {
                SKIPPED.fetch_add(1, Ordering::Relaxed);
                println!("skip {}: {}", test.name, skip.message);
            }
            Err(failure) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                println!(
                    "FAIL {} {}:{} {}",
                    test.name, failure.file, failure.line, failure.message
                );
            }
        }
    }
    CURRENT.store(null_mut(), Ordering::Relaxed);
    finish()
}

fn finish() -> ! {
    let passed = PASSED.load(Ordering::Relaxed);
    let failed = FAILED.load(Ordering::Relaxed);
    let skipped = SKIPPED.load(Ordering::Relaxed);
    let not_run = TOTAL
        .load(Ordering::Relaxed)
        .saturating_sub(passed + failed + skipped);
    if not_run > 0 {
        println!("# not run: {not_run}");
    }
    if skipped > 0 {
        println!("# skipped: {skipped}");
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        // QEMU's exit status then says it too; without the device, power off as usual.
        let _ = sys::debug_exit(failed.min(127) as u8);
    }
    sys::power_off()
}

fn stack_pointer() -> usize {
    let rsp: usize;
    // SAFETY: reads a register, nothing else.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack)) };
    rsp
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    if !crate::on_runner_stack(stack_pointer()) {
        // A child's code panicked: it cannot fail the test itself, the runner will see it
        // through whatever the child did not do.
        println!("# child panicked at {file}:{line}: {}", info.message());
        child::exit();
    }
    if PANICKING.swap(true, Ordering::Relaxed) {
        sys::power_off();
    }
    // SAFETY: CURRENT is null or points into the 'static test list.
    let name = unsafe { CURRENT.load(Ordering::Relaxed).as_ref() }.map_or("(none)", |t| t.name);
    FAILED.fetch_add(1, Ordering::Relaxed);
    println!("FAIL {name} {file}:{line} panicked: {}", info.message());
    finish()
}
