//! The initial stack a Redox program starts with, laid out as Redox's `fexec`
//! (relibc `redox-rt/src/proc.rs`) lays it out: `argc`, `argv[]`, `NULL`, `envp[]`, `NULL`,
//! `(key, value)` auxiliary pairs ending in `AT_NULL`, with the strings above them.

/// Auxiliary vector keys: the System V ones relibc reads, then Redox's own
/// (relibc `src/platform/auxv_defs.rs`).
pub mod auxv {
    pub const AT_NULL: u64 = 0;
    pub const AT_PHDR: u64 = 3;
    pub const AT_PHENT: u64 = 4;
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    pub const AT_ENTRY: u64 = 9;
    pub const AT_REDOX_INITIAL_CWD_PTR: u64 = 32;
    pub const AT_REDOX_INITIAL_CWD_LEN: u64 = 33;
    pub const AT_REDOX_INHERITED_SIGIGNMASK: u64 = 34;
    pub const AT_REDOX_INHERITED_SIGPROCMASK: u64 = 36;
    pub const AT_REDOX_UMASK: u64 = 40;
    pub const AT_REDOX_PROC_FD: u64 = 41;
    pub const AT_REDOX_THR_FD: u64 = 42;
    pub const AT_REDOX_NS_FD: u64 = 43;
    pub const AT_REDOX_CWD_FD: u64 = 44;
    pub const AT_REDOX_FILETABLE_FD: u64 = 45;
}

/// An auxiliary value: a number, or the address of a string placed on the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuxValue {
    Num(u64),
    /// Address of these bytes (not NUL-terminated by the key's meaning, but a NUL follows).
    Str(Vec<u8>),
}

/// The stack contents for a stack whose highest address is `top`: returns the bytes to copy
/// to `rsp` and `rsp` itself (16-byte aligned, as the System V ABI wants at entry).
pub fn build(
    top: u64,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    aux: &[(u64, AuxValue)],
) -> (u64, Vec<u8>) {
    // Strings first, at the top: collect them, then lay the pointer block below.
    let mut strings: Vec<u8> = Vec::new();
    let mut place = |s: &[u8]| -> usize {
        let at = strings.len();
        strings.extend_from_slice(s);
        strings.push(0);
        at
    };
    let argv_at: Vec<usize> = argv.iter().map(|a| place(a)).collect();
    let envp_at: Vec<usize> = envp.iter().map(|e| place(e)).collect();
    let aux_at: Vec<Option<usize>> = aux
        .iter()
        .map(|(_, v)| match v {
            AuxValue::Num(_) => None,
            AuxValue::Str(s) => Some(place(s)),
        })
        .collect();
    let strings_len = (strings.len() as u64).next_multiple_of(16);
    let strings_base = top - strings_len;

    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * (aux.len() + 1);
    let block_len = (words as u64 * 8).next_multiple_of(16);
    let rsp = strings_base - block_len;

    let mut block: Vec<u64> = Vec::with_capacity(words);
    block.push(argv.len() as u64);
    block.extend(argv_at.iter().map(|&o| strings_base + o as u64));
    block.push(0);
    block.extend(envp_at.iter().map(|&o| strings_base + o as u64));
    block.push(0);
    for ((key, value), at) in aux.iter().zip(&aux_at) {
        block.push(*key);
        block.push(match (value, at) {
            (AuxValue::Num(n), _) => *n,
            (AuxValue::Str(_), Some(o)) => strings_base + *o as u64,
            (AuxValue::Str(_), None) => 0,
        });
    }
    block.push(auxv::AT_NULL);
    block.push(0);

    let mut bytes: Vec<u8> = block.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.resize(block_len as usize, 0);
    bytes.extend_from_slice(&strings);
    bytes.resize((block_len + strings_len) as usize, 0);
    (rsp, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(bytes: &[u8], i: usize) -> u64 {
        u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
    }

    fn string_at(bytes: &[u8], rsp: u64, addr: u64) -> Vec<u8> {
        let start = (addr - rsp) as usize;
        bytes[start..]
            .iter()
            .take_while(|&&b| b != 0)
            .copied()
            .collect()
    }

    /// Verifies that argc, argv, envp and the auxiliary vector sit where relibc's `Stack`
    /// looks for them, and that string values point at their bytes.
    #[test]
    fn layout_matches_fexec() {
        let top = 0x7000_0000_0000;
        let argv = [b"prog".to_vec(), b"3".to_vec()];
        let envp = [b"HOME=/".to_vec()];
        let aux = [
            (auxv::AT_PAGESZ, AuxValue::Num(4096)),
            (
                auxv::AT_REDOX_INITIAL_CWD_PTR,
                AuxValue::Str(b"/scheme/file/".to_vec()),
            ),
        ];
        let (rsp, bytes) = build(top, &argv, &envp, &aux);
        assert_eq!(rsp % 16, 0, "rsp {rsp:#x} is not 16-byte aligned");
        assert_eq!(rsp + bytes.len() as u64, top);
        assert_eq!(word(&bytes, 0), 2, "argc");
        assert_eq!(string_at(&bytes, rsp, word(&bytes, 1)), b"prog");
        assert_eq!(string_at(&bytes, rsp, word(&bytes, 2)), b"3");
        assert_eq!(word(&bytes, 3), 0, "argv terminator");
        assert_eq!(string_at(&bytes, rsp, word(&bytes, 4)), b"HOME=/");
        assert_eq!(word(&bytes, 5), 0, "envp terminator");
        assert_eq!((word(&bytes, 6), word(&bytes, 7)), (auxv::AT_PAGESZ, 4096));
        assert_eq!(word(&bytes, 8), auxv::AT_REDOX_INITIAL_CWD_PTR);
        assert_eq!(string_at(&bytes, rsp, word(&bytes, 9)), b"/scheme/file/");
        assert_eq!((word(&bytes, 10), word(&bytes, 11)), (auxv::AT_NULL, 0));
    }
}
