//! The debug exception's entry, on a stack of its own.
//!
//! Without an interrupt stack, a #DB raised in ring 0 runs on whatever stack is loaded. A `mov
//! ss` or `pop ss` from a watched address holds its debug exception until the next instruction
//! has run; when that is `syscall`, the exception is raised at the kernel's entry, still on the
//! stack the user chose (CVE-2018-8897). So #DB always switches to its interrupt stack, and a
//! #DB from ring 3 moves on to the context's kernel stack right away, since its handler may stop
//! the tracee there and the interrupt stack is the CPU's, not the context's. A #DB from ring 0
//! stays on the interrupt stack: its handler never sleeps (`hooks::debug_trap`).

use core::mem::offset_of;

use x86::bits64::task::TaskStateSegment;

use crate::arch::{gdt::ProcessorControlRegion, interrupt::exception};

/// The IDT's #DB entry: the CPU is on the #DB interrupt stack, which holds the frame it pushed
/// (RIP, CS, RFLAGS, RSP, SS; #DB has no error code). From ring 3, the frame is copied to where
/// the CPU puts it on a ring switch, the top of the context's kernel stack (TSS.RSP0), and the
/// handler runs there. GS may still be the user's, so the PCR is found through the GDT, as the
/// paranoid entries do.
#[unsafe(naked)]
pub unsafe extern "C" fn debug_entry() {
    core::arch::naked_asm!(
        "test byte ptr [rsp + 8], 3",
        "jz {handler}",
        "push rax",
        "push rdi",
        "sub rsp, 16",
        "sgdt [rsp + 6]",
        "mov rdi, [rsp + 8]",
        "add rsp, 16",
        "sub rdi, {pcr_gdt}",
        "mov rax, [rdi + {tss_rsp0}]",
        "sub rax, 40",
        "mov rdi, [rsp + 16]",
        "mov [rax], rdi",
        "mov rdi, [rsp + 24]",
        "mov [rax + 8], rdi",
        "mov rdi, [rsp + 32]",
        "mov [rax + 16], rdi",
        "mov rdi, [rsp + 40]",
        "mov [rax + 24], rdi",
        "mov rdi, [rsp + 48]",
        "mov [rax + 32], rdi",
        "pop rdi",
        // rax back, and the kernel stack's frame in its place: then switch to it.
        "xchg rax, [rsp]",
        "mov rsp, [rsp]",
        "jmp {handler}",
        handler = sym exception::debug,
        pcr_gdt = const offset_of!(ProcessorControlRegion, gdt),
        tss_rsp0 = const offset_of!(ProcessorControlRegion, tss) + offset_of!(TaskStateSegment, rsp),
    );
}
