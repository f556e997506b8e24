//! Quoting byte strings the way strace does: `"abc\n"`, octal escapes, `...` when cut.

use core::fmt::{self, Write};

/// Writes `bytes` as a C string literal; appends `...` after the quote when `truncated`.
///
/// Printable ASCII is kept, `"` and `\` are escaped, `\t \n \v \f \r` use their letters and
/// every other byte is an octal escape (three digits when an octal digit follows, so the
/// output reads back unambiguously).
pub fn write_quoted(f: &mut dyn Write, bytes: &[u8], truncated: bool) -> fmt::Result {
    f.write_char('"')?;
    let mut iter = bytes.iter().peekable();
    while let Some(&byte) = iter.next() {
        match byte {
            b'"' => f.write_str("\\\"")?,
            b'\\' => f.write_str("\\\\")?,
            b'\t' => f.write_str("\\t")?,
            b'\n' => f.write_str("\\n")?,
            0x0b => f.write_str("\\v")?,
            0x0c => f.write_str("\\f")?,
            b'\r' => f.write_str("\\r")?,
            0x20..=0x7e => f.write_char(char::from(byte))?,
            _ => {
                let next_is_octal = iter.peek().is_some_and(|b| (b'0'..=b'7').contains(*b));
                if next_is_octal {
                    write!(f, "\\{byte:03o}")?;
                } else {
                    write!(f, "\\{byte:o}")?;
                }
            }
        }
    }
    f.write_char('"')?;
    if truncated {
        f.write_str("...")?;
    }
    Ok(())
}

/// A quoted string as a `Display` value.
pub struct Quoted<'a> {
    pub bytes: &'a [u8],
    pub truncated: bool,
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.bytes, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    /// Verifies that printable text is kept and quotes and backslashes are escaped.
    #[test]
    fn printable_text_is_kept() {
        let q = Quoted {
            bytes: b"say \"hi\" \\o/",
            truncated: false,
        };
        assert_eq!(q.to_string(), r#""say \"hi\" \\o/""#);
    }

    /// Verifies strace's escapes: letters for common controls, short octal, three digits
    /// before an octal digit.
    #[test]
    fn control_bytes_use_strace_escapes() {
        let q = Quoted {
            bytes: b"a\n\0\x1b[\x001\xff",
            truncated: false,
        };
        assert_eq!(q.to_string(), r#""a\n\0\33[\0001\377""#);
    }

    /// Verifies that a cut string ends in `...` after the closing quote.
    #[test]
    fn truncated_strings_end_in_dots() {
        let q = Quoted {
            bytes: b"abc",
            truncated: true,
        };
        assert_eq!(q.to_string(), r#""abc"..."#);
    }
}
