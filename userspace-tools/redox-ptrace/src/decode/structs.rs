//! Structures passed by pointer, printed strace-style: `{offset=0, size=4096, ...}`.

use core::fmt::{self, Write};

use syscall::data::{Map, Stat, TimeSpec};

use super::flags;

/// `{offset=0, size=4096, flags=PROT_READ|MAP_PRIVATE, address=0x7f0000}`.
pub fn write_map(f: &mut dyn Write, map: &Map) -> fmt::Result {
    write!(f, "{{offset={:#x}, size={}, flags=", map.offset, map.size)?;
    flags::write_map_flags(f, map.flags.bits())?;
    write!(f, ", address={:#x}}}", map.address)
}

/// `{tv_sec=1, tv_nsec=500000}`.
pub fn write_timespec(f: &mut dyn Write, ts: &TimeSpec) -> fmt::Result {
    write!(f, "{{tv_sec={}, tv_nsec={}}}", ts.tv_sec, ts.tv_nsec)
}

/// The fields strace shows by default: `{st_mode=MODE_FILE|0644, st_size=1234, ...}`.
pub fn write_stat(f: &mut dyn Write, stat: &Stat) -> fmt::Result {
    f.write_str("{st_mode=")?;
    flags::write_mode(f, stat.st_mode)?;
    write!(f, ", st_size={}, ...}}", stat.st_size)
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use syscall::flag::MapFlags;

    use super::*;

    /// Verifies the Map, TimeSpec and Stat layouts.
    #[test]
    fn structs_print_named_fields() {
        let mut s = String::new();
        let map = Map {
            offset: 0,
            size: 4096,
            flags: MapFlags::PROT_READ | MapFlags::MAP_PRIVATE,
            address: 0x1000,
        };
        write_map(&mut s, &map).expect("String");
        assert_eq!(
            s,
            "{offset=0x0, size=4096, flags=PROT_READ|MAP_PRIVATE, address=0x1000}"
        );

        s.clear();
        write_timespec(
            &mut s,
            &TimeSpec {
                tv_sec: 1,
                tv_nsec: 5,
            },
        )
        .expect("String");
        assert_eq!(s, "{tv_sec=1, tv_nsec=5}");

        s.clear();
        let stat = Stat {
            st_mode: syscall::flag::MODE_DIR | 0o755,
            st_size: 42,
            ..Stat::default()
        };
        write_stat(&mut s, &stat).expect("String");
        assert_eq!(s, "{st_mode=MODE_DIR|0755, st_size=42, ...}");
    }
}
