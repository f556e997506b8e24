//! Instruction sequences with known addresses and lengths, for the tests that stop a tracee
//! at an instruction: breakpoints, single steps, faults.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.rp_code, "ax"

    // A literal breakpoint, then two instructions of known length.
    .global rp_step
rp_step:
    int3
    .global rp_step_mov
rp_step_mov:
    mov eax, 7
    .global rp_step_add
rp_step_add:
    add eax, 3
    .global rp_step_ret
rp_step_ret:
    ret

    // A breakpoint, then a syscall (number 0: ENOSYS) between two instructions.
    .global rp_syscall
rp_syscall:
    int3
    .global rp_syscall_xor
rp_syscall_xor:
    xor eax, eax
    .global rp_syscall_insn
rp_syscall_insn:
    syscall
    .global rp_syscall_ret
rp_syscall_ret:
    ret

    // Where a tracer plants a breakpoint: a nop to overwrite.
    .global rp_patch
rp_patch:
    nop
    .global rp_patch_next
rp_patch_next:
    mov eax, 42
    ret

    // An invalid opcode.
    .global rp_ud2
rp_ud2:
    ud2
    .global rp_ud2_next
rp_ud2_next:
    mov eax, 5
    ret

    // A load from an unmapped address.
    .global rp_load
rp_load:
    mov rax, qword ptr [{unmapped}]
    .global rp_load_next
rp_load_next:
    mov eax, 6
    ret

    // A 4-byte store of esi to [rdi], then the next instruction.
    .global rp_store
rp_store:
    mov dword ptr [rdi], esi
    .global rp_store_next
rp_store_next:
    mov eax, 9
    .global rp_store_ret
rp_store_ret:
    ret

    // An instruction to watch for execution.
    .global rp_watched
rp_watched:
    mov eax, 11
    ret

    // SS from [rdi], then a syscall (number 0: ENOSYS) on the stack that ends at rsi; a debug
    // exception the load raises is held until the instruction after it has run.
    .global rp_movss
rp_movss:
    mov r8, rsp
    mov rsp, rsi
    xor eax, eax
    mov ss, word ptr [rdi]
    .global rp_movss_syscall
rp_movss_syscall:
    syscall
    mov rsp, r8
    ret

    // ymm0 from the 32 bytes at [rdi], a breakpoint, then ymm0 to the 32 bytes at [rsi].
    .global rp_ymm
rp_ymm:
    vmovdqu ymm0, ymmword ptr [rdi]
    int3
    .global rp_ymm_store
rp_ymm_store:
    vmovdqu ymmword ptr [rsi], ymm0
    vzeroupper
    ret

    // A loop without syscalls, forever.
    .global rp_spin
rp_spin:
    pause
    jmp rp_spin
    .global rp_spin_end
rp_spin_end:
"#,
    unmapped = const UNMAPPED,
);

/// An address in the never-mapped first page.
pub const UNMAPPED: usize = 0x10;

unsafe extern "C" {
    pub safe fn rp_step() -> u32;
    safe fn rp_step_mov();
    safe fn rp_step_add();
    safe fn rp_step_ret();
    pub safe fn rp_syscall() -> usize;
    safe fn rp_syscall_xor();
    safe fn rp_syscall_insn();
    safe fn rp_syscall_ret();
    pub safe fn rp_patch() -> u32;
    safe fn rp_patch_next();
    pub safe fn rp_ud2() -> u32;
    safe fn rp_ud2_next();
    pub safe fn rp_load() -> u32;
    safe fn rp_load_next();
    /// Stores `value` at `address`.
    pub unsafe fn rp_store(address: *mut u32, value: u32) -> u32;
    safe fn rp_store_next();
    safe fn rp_store_ret();
    pub safe fn rp_watched() -> u32;
    /// Loads SS from `selector`, then makes a syscall with its stack ending at `stack_end`.
    pub unsafe fn rp_movss(selector: *const u16, stack_end: *mut u8) -> usize;
    safe fn rp_movss_syscall();
    /// Copies 32 bytes from `from` to `to` through ymm0, with a breakpoint in between.
    pub unsafe fn rp_ymm(from: *const [u8; 32], to: *mut [u8; 32]);
    safe fn rp_ymm_store();
    /// Spins without a syscall until killed.
    pub safe fn rp_spin() -> !;
    safe fn rp_spin_end();
}

/// Addresses of the labels above.
pub mod at {
    macro_rules! addresses {
        ($($name:ident => $label:ident),* $(,)?) => {
            $(pub fn $name() -> usize {
                super::$label as *const () as usize
            })*
        };
    }
    addresses! {
        step => rp_step,
        step_mov => rp_step_mov,
        step_add => rp_step_add,
        step_ret => rp_step_ret,
        syscall => rp_syscall,
        syscall_xor => rp_syscall_xor,
        syscall_insn => rp_syscall_insn,
        syscall_ret => rp_syscall_ret,
        patch => rp_patch,
        patch_next => rp_patch_next,
        ud2 => rp_ud2,
        ud2_next => rp_ud2_next,
        load => rp_load,
        load_next => rp_load_next,
        store => rp_store,
        store_next => rp_store_next,
        store_ret => rp_store_ret,
        watched => rp_watched,
        movss_syscall => rp_movss_syscall,
        ymm_store => rp_ymm_store,
        spin => rp_spin,
        spin_end => rp_spin_end,
    }
}
