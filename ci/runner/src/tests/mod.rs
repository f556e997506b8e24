//! The test list: one file per area, one registration list for all of them.
//!
//! To add a test: write `pub fn scenario() -> Result<(), Failure>` with a "Verifies that …"
//! doc comment in `<area>.rs`, and add `area::scenario` to [`ALL`]. Tests run in this order.
//! Gate architecture-specific tests with `#[cfg(target_arch = …)]` on both.

// The shared trace ABI, for the trace tests: `trace_core::TraceEvent` and friends.
#[allow(unused_imports)]
use trace_core as _;

use crate::harness::Test;

mod spawn;

pub static ALL: &[Test] = tests![
    spawn::child_writes_to_pipe,
    spawn::exit_is_seen_through_status,
    spawn::exit_closes_child_fds,
    spawn::not_started_before_start,
    spawn::regs_show_blocked_child,
    spawn::kill_ends_running_child,
    spawn::second_start_is_einval,
    spawn::unknown_handle_is_einval,
];
