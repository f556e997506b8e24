//! The test list: one file per area, one registration list for all of them.
//!
//! To add a test: write `pub fn scenario() -> Result<(), Failure>` with a "Verifies that …"
//! doc comment in `<area>.rs`, and add `area::scenario` to [`ALL`]. Tests run in this order.
//! Gate architecture-specific tests with `#[cfg(target_arch = …)]` on both.

use crate::harness::Test;

mod clone;
mod code;
mod exec;
mod exit;
mod fault;
mod filter;
mod follow;
pub(crate) mod fuzz;
pub(crate) mod interrupt;
mod leak;
mod mem;
mod regs;
mod scheme;
mod signal;
pub(crate) mod smp;
mod spawn;
mod step;
mod taken;
pub(crate) mod strace;
pub(crate) mod trace;
mod watch;
mod xsave;

pub static ALL: &[Test] = tests![
    spawn::child_writes_to_pipe,
    spawn::exit_is_seen_through_status,
    spawn::exit_closes_child_fds,
    spawn::not_started_before_start,
    spawn::regs_show_blocked_child,
    spawn::kill_ends_running_child,
    spawn::second_start_is_einval,
    spawn::unknown_handle_is_einval,
    trace::sees_syscall_sequence,
    trace::sysemu_replaces_result,
    trace::entry_argument_edit_changes_effect,
    trace::second_tracer_is_ebusy,
    trace::attach_to_self_is_eperm,
    trace::close_lets_tracee_finish,
    trace::exclusive_close_kills_tracee,
    trace::exit_wakes_blocked_reader,
    trace::event_multiplexes_two_tracees,
    trace::privileged_register_writes_are_eperm,
    trace::bad_requests_are_einval,
    mem::reads_and_writes_across_pages,
    mem::short_at_mapping_end_efault_beyond,
    mem::breakpoint_in_code_is_copy_on_write,
    mem::dead_tracee_is_esrch,
    step::int3_then_steps_report_each_instruction,
    step::step_over_syscall_stops_after_it,
    step::unarmed_breakpoint_is_an_exception,
    fault::invalid_opcode_stops_and_is_suppressed,
    fault::page_fault_reports_the_address,
    exit::stop_comes_before_teardown,
    exit::killed_tracee_reports_exit,
    exec::switch_is_reported_and_mem_follows,
    clone::grandchild_is_traced_from_the_start,
    strace::library_prints_exact_lines,
    strace::library_multiplexes_tracees,
    regs::rip_outside_user_space_is_einval,
    regs::reserved_mxcsr_bits_are_einval,
    regs::written_mxcsr_mask_is_ignored,
    regs::addrspace_switch_to_kernel_rip_is_einval,
    trace::failed_attach_leaves_no_session,
    trace::read_faulting_part_way_loses_nothing,
    step::leaving_step_after_syscall_clears_trap_flag,
    step::leaving_syscall_stop_unstepped_clears_trap_flag,
    step::disarming_step_during_syscall_clears_trap_flag,
    exec::many_notices_never_drop_a_stop,
    exit::kill_ends_a_stopped_tracee,
    exit::killed_tracee_does_not_wait_at_exit,
    spawn::empty_fd_transfer_is_einval,
    mem::physical_mapping_is_eacces,
    clone::kill_at_clone_stop_leaks_nothing,
    scheme::stop_awaiting_mmap_is_ebusy,
    scheme::kill_awaiting_mmap_ends_it,
    scheme::event_read_into_scheme_page_blocks_no_other_use,
    follow::started_context_is_traced_from_the_start,
    follow::started_context_without_clone_armed_runs_free,
    follow::exclusive_close_at_clone_stop_discards_the_context,
    follow::killed_starter_still_starts_the_clone,
    leak::kill_cycles_leak_nothing,
    filter::only_selected_syscalls_stop,
    filter::filter_changed_at_a_stop_applies_next,
    filter::empty_filter_stops_no_syscall,
    filter::filter_reads_back_and_refuses_bad_sets,
    filter::clones_inherit_the_filter,
    watch::write_watch_stops_after_the_store,
    watch::execute_watch_stops_before_the_instruction,
    watch::watch_survives_context_switches,
    watch::kernel_access_is_not_reported,
    watch::detaching_clears_watchpoints,
    watch::bad_watchpoints_are_einval,
    watch::step_onto_a_watch_gives_one_stop,
    watch::mov_ss_syscall_leaves_user_stack_alone,
    xsave::tracer_and_tracee_see_each_others_ymm0,
    xsave::bad_xsave_areas_are_einval,
    xsave::written_mxcsr_mask_is_ignored,
    signal::pending_signal_leaves_the_stop_asleep,
    signal::signal_stop_comes_before_the_handler,
    signal::process_signal_stop_names_the_process_sender,
    signal::suppressed_signal_is_never_handled,
    signal::replaced_signal_is_handled_instead,
    signal::signal_injected_at_a_syscall_stop_is_handled,
    signal::bad_signal_words_are_einval,
    taken::taken_signal_stops_each_time,
    taken::suppressed_taken_signal_answers_one,
    taken::replaced_taken_signal_is_raised,
    taken::taken_signal_without_signal_stops_answers_zero,
    taken::taken_signal_errors,
    taken::redirected_signal_is_reported_without_a_second_stop,
    interrupt::spinning_tracee_stops,
    interrupt::stopped_tracee_ignores_interrupt,
    interrupt::blocked_tracee_stops_in_its_call,
    interrupt::interrupt_part_errors,
    smp::busy_contexts_run_on_every_cpu,
    smp::unmap_while_a_thread_spins_elsewhere,
    smp::pipe_wakeup_across_cpus_is_never_lost,
    smp::pipe_wakeup_survives_register_reads,
    smp::exclusive_close_kills_tracee_creating_contexts,
    smp::kill_races_syscall_stops,
    smp::kill_races_start,
    smp::kill_races_register_reads,
    fuzz::random_operations_keep_invariants,
];
