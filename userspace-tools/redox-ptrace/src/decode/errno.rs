//! Errno names, as strace prints them (`-1 ENOENT (No such file or directory)`).
//!
//! The numbers are `redox_syscall` 0.9.2's (`syscall::error::E*`); the test below checks every
//! entry against the crate's constants, and the texts come from the crate (`Error::text`).

use syscall::error::*;

/// `(errno, name)` for every errno constant of redox_syscall 0.9.2, in numeric order.
pub const ERRNOS: &[(i32, &str)] = &[
    (EPERM, "EPERM"),
    (ENOENT, "ENOENT"),
    (ESRCH, "ESRCH"),
    (EINTR, "EINTR"),
    (EIO, "EIO"),
    (ENXIO, "ENXIO"),
    (E2BIG, "E2BIG"),
    (ENOEXEC, "ENOEXEC"),
    (EBADF, "EBADF"),
    (ECHILD, "ECHILD"),
    (EAGAIN, "EAGAIN"),
    (ENOMEM, "ENOMEM"),
    (EACCES, "EACCES"),
    (EFAULT, "EFAULT"),
    (ENOTBLK, "ENOTBLK"),
    (EBUSY, "EBUSY"),
    (EEXIST, "EEXIST"),
    (EXDEV, "EXDEV"),
    (ENODEV, "ENODEV"),
    (ENOTDIR, "ENOTDIR"),
    (EISDIR, "EISDIR"),
    (EINVAL, "EINVAL"),
    (ENFILE, "ENFILE"),
    (EMFILE, "EMFILE"),
    (ENOTTY, "ENOTTY"),
    (ETXTBSY, "ETXTBSY"),
    (EFBIG, "EFBIG"),
    (ENOSPC, "ENOSPC"),
    (ESPIPE, "ESPIPE"),
    (EROFS, "EROFS"),
    (EMLINK, "EMLINK"),
    (EPIPE, "EPIPE"),
    (EDOM, "EDOM"),
    (ERANGE, "ERANGE"),
    (EDEADLK, "EDEADLK"),
    (ENAMETOOLONG, "ENAMETOOLONG"),
    (ENOLCK, "ENOLCK"),
    (ENOSYS, "ENOSYS"),
    (ENOTEMPTY, "ENOTEMPTY"),
    (ELOOP, "ELOOP"),
    (EWOULDBLOCK, "EWOULDBLOCK"),
    (ENOMSG, "ENOMSG"),
    (EIDRM, "EIDRM"),
    (ECHRNG, "ECHRNG"),
    (EL2NSYNC, "EL2NSYNC"),
    (EL3HLT, "EL3HLT"),
    (EL3RST, "EL3RST"),
    (ELNRNG, "ELNRNG"),
    (EUNATCH, "EUNATCH"),
    (ENOCSI, "ENOCSI"),
    (EL2HLT, "EL2HLT"),
    (EBADE, "EBADE"),
    (EBADR, "EBADR"),
    (EXFULL, "EXFULL"),
    (ENOANO, "ENOANO"),
    (EBADRQC, "EBADRQC"),
    (EBADSLT, "EBADSLT"),
    (EDEADLOCK, "EDEADLOCK"),
    (EBFONT, "EBFONT"),
    (ENOSTR, "ENOSTR"),
    (ENODATA, "ENODATA"),
    (ETIME, "ETIME"),
    (ENOSR, "ENOSR"),
    (ENONET, "ENONET"),
    (ENOPKG, "ENOPKG"),
    (EREMOTE, "EREMOTE"),
    (ENOLINK, "ENOLINK"),
    (EADV, "EADV"),
    (ESRMNT, "ESRMNT"),
    (ECOMM, "ECOMM"),
    (EPROTO, "EPROTO"),
    (EMULTIHOP, "EMULTIHOP"),
    (EDOTDOT, "EDOTDOT"),
    (EBADMSG, "EBADMSG"),
    (EOVERFLOW, "EOVERFLOW"),
    (ENOTUNIQ, "ENOTUNIQ"),
    (EBADFD, "EBADFD"),
    (EREMCHG, "EREMCHG"),
    (ELIBACC, "ELIBACC"),
    (ELIBBAD, "ELIBBAD"),
    (ELIBSCN, "ELIBSCN"),
    (ELIBMAX, "ELIBMAX"),
    (ELIBEXEC, "ELIBEXEC"),
    (EILSEQ, "EILSEQ"),
    (ERESTART, "ERESTART"),
    (ESTRPIPE, "ESTRPIPE"),
    (EUSERS, "EUSERS"),
    (ENOTSOCK, "ENOTSOCK"),
    (EDESTADDRREQ, "EDESTADDRREQ"),
    (EMSGSIZE, "EMSGSIZE"),
    (EPROTOTYPE, "EPROTOTYPE"),
    (ENOPROTOOPT, "ENOPROTOOPT"),
    (EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"),
    (EOPNOTSUPP, "EOPNOTSUPP"),
    (EPFNOSUPPORT, "EPFNOSUPPORT"),
    (EAFNOSUPPORT, "EAFNOSUPPORT"),
    (EADDRINUSE, "EADDRINUSE"),
    (EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (ENETDOWN, "ENETDOWN"),
    (ENETUNREACH, "ENETUNREACH"),
    (ENETRESET, "ENETRESET"),
    (ECONNABORTED, "ECONNABORTED"),
    (ECONNRESET, "ECONNRESET"),
    (ENOBUFS, "ENOBUFS"),
    (EISCONN, "EISCONN"),
    (ENOTCONN, "ENOTCONN"),
    (ESHUTDOWN, "ESHUTDOWN"),
    (ETOOMANYREFS, "ETOOMANYREFS"),
    (ETIMEDOUT, "ETIMEDOUT"),
    (ECONNREFUSED, "ECONNREFUSED"),
    (EHOSTDOWN, "EHOSTDOWN"),
    (EHOSTUNREACH, "EHOSTUNREACH"),
    (EALREADY, "EALREADY"),
    (EINPROGRESS, "EINPROGRESS"),
    (ESTALE, "ESTALE"),
    (EUCLEAN, "EUCLEAN"),
    (ENOTNAM, "ENOTNAM"),
    (ENAVAIL, "ENAVAIL"),
    (EISNAM, "EISNAM"),
    (EREMOTEIO, "EREMOTEIO"),
    (EDQUOT, "EDQUOT"),
    (ENOMEDIUM, "ENOMEDIUM"),
    (EMEDIUMTYPE, "EMEDIUMTYPE"),
    (ECANCELED, "ECANCELED"),
    (ENOKEY, "ENOKEY"),
    (EKEYEXPIRED, "EKEYEXPIRED"),
    (EKEYREVOKED, "EKEYREVOKED"),
    (EKEYREJECTED, "EKEYREJECTED"),
    (EOWNERDEAD, "EOWNERDEAD"),
    (ENOTRECOVERABLE, "ENOTRECOVERABLE"),
    (ERSVD, "ERSVD"),
];

/// The constant's name for `errno` (`ENOENT`), if it has one.
pub fn name(errno: i32) -> Option<&'static str> {
    ERRNOS
        .iter()
        .find(|(number, _)| *number == errno)
        .map(|(_, name)| *name)
}

/// The error text (`No such file or directory`), from redox_syscall's table.
pub fn text(errno: i32) -> &'static str {
    syscall::error::Error::new(errno).text()
}

/// The errno of a raw syscall return value, if it is an error (`Error::demux`'s rule: the
/// value is `-errno` for an errno the crate knows).
pub fn from_return(value: usize) -> Option<i32> {
    syscall::error::Error::demux(value).err().map(|e| e.errno)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that the table is sorted, has no duplicate numbers and covers 1..=132.
    #[test]
    fn table_is_complete_and_sorted() {
        let numbers: alloc::vec::Vec<i32> = ERRNOS.iter().map(|(n, _)| *n).collect();
        let expected: alloc::vec::Vec<i32> = (1..=132).collect();
        assert_eq!(numbers, expected);
    }

    /// Verifies that error returns decode to their names, and large values are not errors.
    #[test]
    fn returns_decode_to_names() {
        let enoent = (-(ENOENT as isize)) as usize;
        assert_eq!(from_return(enoent).and_then(name), Some("ENOENT"));
        assert_eq!(text(EBADF), "Bad file number");
        assert_eq!(from_return(0x7fff_0000_1000), None);
        assert_eq!(from_return(0), None);
    }
}
