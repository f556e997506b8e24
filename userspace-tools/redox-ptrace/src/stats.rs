//! Per-syscall counts and times: the `strace -c` table.
//!
//! Times are what the tracer measured between a call's entry and exit stops (wall clock, so
//! they include the time the tracee was stopped for the tracer), in nanoseconds.

use alloc::{collections::BTreeMap, vec::Vec};
use core::fmt;

use crate::decode::syscall_name;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: u64,
    pub errors: u64,
    pub nanos: u64,
}

/// Counts per syscall number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyscallStats {
    by_number: BTreeMap<usize, CallStats>,
}

impl SyscallStats {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one call of `number` that took `nanos` and failed or not.
    pub fn record(&mut self, number: usize, nanos: u64, failed: bool) {
        let entry = self.by_number.entry(number).or_default();
        entry.calls = entry.calls.saturating_add(1);
        entry.nanos = entry.nanos.saturating_add(nanos);
        if failed {
            entry.errors = entry.errors.saturating_add(1);
        }
    }

    pub fn get(&self, number: usize) -> Option<&CallStats> {
        self.by_number.get(&number)
    }

    fn total(&self) -> CallStats {
        self.by_number
            .values()
            .fold(CallStats::default(), |acc, s| CallStats {
                calls: acc.calls.saturating_add(s.calls),
                errors: acc.errors.saturating_add(s.errors),
                nanos: acc.nanos.saturating_add(s.nanos),
            })
    }
}

const RULE: &str = "------ ----------- ----------- --------- --------- ----------------";

/// One row: `% time`, seconds, usecs/call, calls, errors (blank when 0), name.
fn row(
    f: &mut fmt::Formatter<'_>,
    stats: &CallStats,
    total_nanos: u64,
    name: &dyn fmt::Display,
    per_call: bool,
) -> fmt::Result {
    let percent = if total_nanos == 0 {
        0.0
    } else {
        stats.nanos as f64 * 100.0 / total_nanos as f64
    };
    let seconds = stats.nanos as f64 / 1e9;
    write!(f, "{percent:>6.2} {seconds:>11.6} ")?;
    if per_call {
        let usecs = stats.nanos.checked_div(stats.calls).unwrap_or(0) / 1000;
        write!(f, "{usecs:>11} ")?;
    } else {
        write!(f, "{:>11} ", "")?;
    }
    write!(f, "{:>9} ", stats.calls)?;
    if stats.errors == 0 {
        write!(f, "{:>9} ", "")?;
    } else {
        write!(f, "{:>9} ", stats.errors)?;
    }
    writeln!(f, "{name}")
}

impl fmt::Display for SyscallStats {
    /// The table, most time first (then most calls, then name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let mut rows: Vec<(usize, &CallStats)> =
            self.by_number.iter().map(|(n, s)| (*n, s)).collect();
        rows.sort_by(|(na, a), (nb, b)| {
            b.nanos
                .cmp(&a.nanos)
                .then(b.calls.cmp(&a.calls))
                .then(syscall_name(*na).cmp(&syscall_name(*nb)))
        });
        writeln!(
            f,
            "% time     seconds  usecs/call     calls    errors syscall"
        )?;
        writeln!(f, "{RULE}")?;
        for (number, stats) in rows {
            row(f, stats, total.nanos, &syscall_name(number), true)?;
        }
        writeln!(f, "{RULE}")?;
        row(f, &total, total.nanos, &"total", false)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use syscall::number::{SYS_CLOSE, SYS_READ, SYS_WRITE};

    use super::*;

    /// Verifies the strace -c layout: sorted by time, errors only when nonzero, a total row.
    #[test]
    fn table_looks_like_strace_c() {
        let mut stats = SyscallStats::new();
        stats.record(SYS_READ, 30_000, false);
        stats.record(SYS_READ, 30_000, false);
        stats.record(SYS_WRITE, 40_000, false);
        stats.record(SYS_CLOSE, 0, true);
        let expected = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 60.00    0.000060          30         2           read
 40.00    0.000040          40         1           write
  0.00    0.000000           0         1         1 close
------ ----------- ----------- --------- --------- ----------------
100.00    0.000100                     4         1 total
";
        assert_eq!(stats.to_string(), expected);
    }

    /// Verifies that an empty table has a zero total and no division by zero.
    #[test]
    fn empty_table_has_zero_total() {
        let text = SyscallStats::new().to_string();
        assert!(
            text.ends_with("  0.00    0.000000                     0           total\n"),
            "{text}"
        );
    }
}
