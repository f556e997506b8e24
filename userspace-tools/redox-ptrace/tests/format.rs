//! Representative syscalls printed the way strace would: strings, flags, structs, errors,
//! truncation, and what happens without memory access.

#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use redox_ptrace::{
    decode::{decode, DecodeOptions, FinishedCall, PendingCall},
    mem::{FakeMemory, NoMemory, TraceeMemory},
};
use syscall::{
    data::{Map, Stat, TimeSpec},
    error::{EAGAIN, EBADF, ENOENT},
    flag::*,
    number::*,
    UPPER_FDTBL_TAG,
};

const O_CLOEXEC: usize = redox_ptrace::decode::flags::O_CLOEXEC;

fn err(errno: i32) -> usize {
    (-(errno as isize)) as usize
}

fn show(number: usize, args: [usize; 6], ret: usize, mem: &dyn TraceeMemory) -> String {
    decode(number, args, ret, mem, &DecodeOptions::default()).to_string()
}

/// Checks one line, printing both on mismatch.
fn check(number: usize, args: [usize; 6], ret: usize, mem: &dyn TraceeMemory, expected: &str) {
    assert_eq!(show(number, args, ret, mem), expected);
}

mod strings {
    use super::*;

    /// Verifies that a path argument is read from (pointer, length) and flags are symbolic.
    #[test]
    fn openat_into_prints_path_and_flags() {
        let mem = FakeMemory::new().with(0x1000, b"sys:uname");
        let args = [3, 0x1000, 9, O_RDONLY | O_CLOEXEC, 0, 4];
        check(
            SYS_OPENAT_INTO,
            args,
            4,
            &mem,
            r#"openat_into(3, "sys:uname", O_RDONLY|O_CLOEXEC, 0, 4) = 4"#,
        );
    }

    /// Verifies that read prints the bytes the kernel returned, at exit.
    #[test]
    fn read_prints_returned_bytes() {
        let mem = FakeMemory::new().with(0x2000, b"abcdefgh");
        check(
            SYS_READ,
            [3, 0x2000, 64, 0, 0, 0],
            3,
            &mem,
            r#"read(3, "abc", 64) = 3"#,
        );
    }

    /// Verifies that strings longer than -s are cut and end in `...`, with escapes.
    #[test]
    fn write_truncates_to_string_limit() {
        let mem = FakeMemory::new().with(0x3000, b"hello\nworld");
        let opts = DecodeOptions { string_limit: 6 };
        let line = decode(SYS_WRITE, [1, 0x3000, 11, 0, 0, 0], 11, &mem, &opts).to_string();
        assert_eq!(line, r#"write(1, "hello\n"..., 11) = 11"#);
    }

    /// Verifies that dup_into names the handle it asks for and prints upper-table handles.
    #[test]
    fn dup_into_prints_name_and_upper_fds() {
        let mem = FakeMemory::new().with(0x4000, b"new-context");
        let auth = UPPER_FDTBL_TAG | 9;
        let out = UPPER_FDTBL_TAG | 0x2000;
        check(
            SYS_DUP_INTO,
            [auth, 0x4000, 11, out, 0, 0],
            out,
            &mem,
            r#"dup_into(UPPER|9, "new-context", UPPER|8192) = UPPER|8192"#,
        );
    }
}

mod errors {
    use super::*;

    /// Verifies that a failed call prints -1, the errno name and its text.
    #[test]
    fn close_failure_names_errno() {
        check(
            SYS_CLOSE,
            [9, 0, 0, 0, 0, 0],
            err(EBADF),
            &NoMemory,
            "close(9) = -1 EBADF (Bad file number)",
        );
    }

    /// Verifies that a failed read shows its buffer as an address, not as data.
    #[test]
    fn failed_read_shows_buffer_address() {
        let mem = FakeMemory::new().with(0x2000, b"stale");
        check(
            SYS_READ,
            [3, 0x2000, 64, 0, 0, 0],
            err(EAGAIN),
            &mem,
            "read(3, 0x2000, 64) = -1 EAGAIN (Try again)",
        );
    }

    /// Verifies that a path lookup failure prints the path and ENOENT.
    #[test]
    fn unlinkat_enoent() {
        let mem = FakeMemory::new().with(0x1000, b"/srv/x");
        check(
            SYS_UNLINKAT,
            [3, 0x1000, 6, AT_REMOVEDIR, 0, 0],
            err(ENOENT),
            &mem,
            r#"unlinkat(3, "/srv/x", AT_REMOVEDIR) = -1 ENOENT (No such file or directory)"#,
        );
    }
}

mod structs {
    use super::*;

    /// Verifies that fmap prints the Map it is given and returns an address.
    #[test]
    fn fmap_prints_map() {
        let map = Map {
            offset: 0,
            size: 4096,
            flags: MapFlags::PROT_READ | MapFlags::PROT_WRITE | MapFlags::MAP_PRIVATE,
            address: 0,
        };
        let mem = FakeMemory::new().with_plain(0x5000, &map);
        check(SYS_FMAP, [usize::MAX, 0x5000, 32, 0, 0, 0], 0x7f00_0000, &mem, "fmap(-1, {offset=0x0, size=4096, flags=PROT_READ|PROT_WRITE|MAP_PRIVATE, address=0x0}, 32) = 0x7f000000");
    }

    /// Verifies that clock_gettime prints the TimeSpec the kernel filled, and nanosleep NULL.
    #[test]
    fn timespecs_in_and_out() {
        let ts = TimeSpec {
            tv_sec: 1,
            tv_nsec: 5,
        };
        let mem = FakeMemory::new().with_plain(0x6000, &ts);
        check(
            SYS_CLOCK_GETTIME,
            [CLOCK_MONOTONIC, 0x6000, 0, 0, 0, 0],
            0,
            &mem,
            "clock_gettime(CLOCK_MONOTONIC, {tv_sec=1, tv_nsec=5}) = 0",
        );
        check(
            SYS_NANOSLEEP,
            [0x6000, 0, 0, 0, 0, 0],
            0,
            &mem,
            "nanosleep({tv_sec=1, tv_nsec=5}, NULL) = 0",
        );
    }

    /// Verifies that fstat prints the mode and size of the Stat it filled.
    #[test]
    fn fstat_prints_stat() {
        let stat = Stat {
            st_mode: MODE_FILE | 0o644,
            st_size: 1234,
            ..Stat::default()
        };
        let mem = FakeMemory::new().with_plain(0x7000, &stat);
        check(
            SYS_FSTAT,
            [4, 0x7000, 128, 0, 0, 0],
            0,
            &mem,
            "fstat(4, {st_mode=MODE_FILE|0644, st_size=1234, ...}, 128) = 0",
        );
    }

    /// Verifies that a futex wait shows its timeout and a wake its count.
    #[test]
    fn futex_wait_and_wake() {
        let mem = FakeMemory::new().with_plain(
            0x8000,
            &TimeSpec {
                tv_sec: 0,
                tv_nsec: 100,
            },
        );
        check(
            SYS_FUTEX,
            [0x9000, FUTEX_WAIT, 1, 0x8000, 0, 0],
            0,
            &mem,
            "futex(0x9000, FUTEX_WAIT, 1, {tv_sec=0, tv_nsec=100}, NULL) = 0",
        );
        check(
            SYS_FUTEX,
            [0x9000, FUTEX_WAKE, 1, 0, 0, 0],
            1,
            &mem,
            "futex(0x9000, FUTEX_WAKE, 1, 0, NULL) = 1",
        );
    }
}

mod flags {
    use super::*;

    /// Verifies fcntl: the command by name, F_SETFL's argument as open flags, F_GETFL's result.
    #[test]
    fn fcntl_commands_and_results() {
        check(
            SYS_FCNTL,
            [3, F_SETFL, O_RDWR | O_NONBLOCK, 0, 0, 0],
            0,
            &NoMemory,
            "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
        );
        check(
            SYS_FCNTL,
            [3, F_GETFL, 0, 0, 0, 0],
            O_RDWR,
            &NoMemory,
            "fcntl(3, F_GETFL, 0) = 0x30000 (flags O_RDWR)",
        );
    }

    /// Verifies fevent's flags in and out, and mprotect's MapFlags.
    #[test]
    fn event_and_map_flags() {
        check(
            SYS_FEVENT,
            [3, 1, 0, 0, 0, 0],
            1,
            &NoMemory,
            "fevent(3, EVENT_READ) = EVENT_READ",
        );
        let prot = (MapFlags::PROT_READ | MapFlags::PROT_EXEC).bits();
        check(
            SYS_MPROTECT,
            [0x1000, 4096, prot, 0, 0, 0],
            0,
            &NoMemory,
            "mprotect(0x1000, 4096, PROT_READ|PROT_EXEC) = 0",
        );
    }

    /// Verifies SYS_CALL passing a handle: payload as handles, flags, metadata words.
    #[test]
    fn call_passing_a_handle() {
        let mem = FakeMemory::new()
            .with_plain(0xa000, &7usize)
            .with_plain(0xb000, &0x2000u64);
        let flags = (CallFlags::WRITE | CallFlags::FD | CallFlags::FD_CLONE).bits() | 1;
        check(
            SYS_CALL,
            [5, 0xa000, 8, flags, 0xb000, 0],
            0,
            &mem,
            "call(5, [7], 8, WRITE|FD|FD_CLONE, [0x2000]) = 0",
        );
    }

    /// Verifies a SYS_CALL that reads a reply: payload shown at exit.
    #[test]
    fn call_reading_a_reply() {
        let mem = FakeMemory::new()
            .with(0xa000, b"reply")
            .with_plain(0xb000, &4u64);
        let flags = (CallFlags::READ | CallFlags::STD_FS).bits() | 1;
        check(
            SYS_CALL,
            [6, 0xa000, 5, flags, 0xb000, 0],
            5,
            &mem,
            r#"call(6, "reply", 5, READ|STD_FS, [0x4]) = 5"#,
        );
    }
}

mod partial {
    use super::*;

    /// Verifies that without memory access pointers print as addresses.
    #[test]
    fn no_memory_prints_addresses() {
        check(
            SYS_OPENAT_INTO,
            [3, 0x1000, 9, O_RDONLY, 0, 4],
            4,
            &NoMemory,
            "openat_into(3, 0x1000, O_RDONLY, 0, 4) = 4",
        );
    }

    /// Verifies that unknown numbers print in hex with all six arguments.
    #[test]
    fn unknown_syscall_prints_raw_words() {
        check(
            0x1234,
            [1, 2, 3, 4, 5, 6],
            0,
            &NoMemory,
            "syscall_0x1234(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = 0x0",
        );
    }

    /// Verifies the line for an exit whose entry was not seen, and for a call that never returned.
    #[test]
    fn resumed_and_unfinished_calls() {
        assert_eq!(
            FinishedCall::resumed(SYS_READ, 3).to_string(),
            "<... read resumed>) = 3"
        );
        let pending = PendingCall::enter(
            SYS_READ,
            [3, 0x1000, 64, 0, 0, 0],
            &NoMemory,
            &DecodeOptions::default(),
        );
        assert_eq!(pending.entry_text(), "read(3, 0x1000, 64");
        assert_eq!(pending.unfinished().to_string(), "read(3, 0x1000, 64) = ?");
    }

    /// Verifies that input buffers are captured at entry, before the kernel changes memory.
    #[test]
    fn inputs_are_read_at_entry() {
        let before = FakeMemory::new().with(0x1000, b"old");
        let after = FakeMemory::new().with(0x1000, b"new");
        let opts = DecodeOptions::default();
        let pending = PendingCall::enter(SYS_WRITE, [1, 0x1000, 3, 0, 0, 0], &before, &opts);
        assert_eq!(
            pending.finish(3, &after, &opts).to_string(),
            r#"write(1, "old", 3) = 3"#
        );
    }
}
