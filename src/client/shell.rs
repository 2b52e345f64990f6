//! POSIX shell words: quoting bytes for a command line, and reading a quoted word back.

/// Whether a character must not reach a display raw: C0 controls, DEL, C1 controls
/// (U+0080–U+009F) and the bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
/// U+2066–U+2069), which reorder the text around them.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Quotes bytes for a POSIX shell: `'…'` when the text is valid UTF-8 without control or
/// bidirectional characters, else bash's `$'…'` with `\xHH` escapes (so no such character is
/// ever printed raw).
pub fn quote(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(is_unsafe) => format!("'{}'", s.replace('\'', r"'\''")),
        _ => {
            let mut out = String::from("$'");
            for &b in bytes {
                match b {
                    b'\\' => out.push_str(r"\\"),
                    b'\'' => out.push_str(r"\'"),
                    b'\n' => out.push_str(r"\n"),
                    b'\r' => out.push_str(r"\r"),
                    b'\t' => out.push_str(r"\t"),
                    0x20..=0x7e => out.push(b as char),
                    _ => out.push_str(&format!("\\x{b:02x}")),
                }
            }
            out.push('\'');
            out
        }
    }
}

/// The bytes of a shell word made of `'…'`, `$'…'` (the escapes [`quote`] writes) and
/// backslash-escaped or plain characters; `None` when the word is not one [`quote`] could have
/// written (an unterminated quote, an unknown escape, a space outside quotes).
pub fn unquote(word: &str) -> Option<Vec<u8>> {
    let b = word.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let end = i + 1 + word[i + 1..].find('\'')?;
                out.extend_from_slice(&b[i + 1..end]);
                i = end + 1;
            }
            b'$' if b.get(i + 1) == Some(&b'\'') => {
                i += 2;
                loop {
                    match *b.get(i)? {
                        b'\'' => break,
                        b'\\' => {
                            let (byte, used) = match *b.get(i + 1)? {
                                b'\\' => (b'\\', 2),
                                b'\'' => (b'\'', 2),
                                b'n' => (b'\n', 2),
                                b'r' => (b'\r', 2),
                                b't' => (b'\t', 2),
                                b'x' => {
                                    let hex = word.get(i + 2..i + 4)?;
                                    (u8::from_str_radix(hex, 16).ok()?, 4)
                                }
                                _ => return None,
                            };
                            out.push(byte);
                            i += used;
                        }
                        c => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            b'\\' => {
                out.push(*b.get(i + 1)?);
                i += 2;
            }
            b' ' | b'\t' | b'\n' => return None,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_for_the_shell() {
        assert_eq!(quote(b"a b"), "'a b'");
        assert_eq!(quote(b"it's"), r"'it'\''s'");
        assert_eq!(quote("é$`!".as_bytes()), "'é$`!'");
        assert_eq!(quote(b"a\nb'\\"), r"$'a\nb\'\\'");
        assert_eq!(quote(b"\xff\x00"), r"$'\xff\x00'");
        assert_eq!(quote("a\u{202e}b".as_bytes()), r"$'a\xe2\x80\xaeb'");
        assert_eq!(quote("\u{9b}".as_bytes()), r"$'\xc2\x9b'");
    }

    #[test]
    fn reads_back_what_it_quotes() {
        for bytes in [
            &b"a b"[..],
            b"it's",
            "é$`!".as_bytes(),
            b"a\nb'\\",
            b"\xff\x00\x1b[2J",
            "\u{202e}'x'".as_bytes(),
            b"",
        ] {
            assert_eq!(unquote(&quote(bytes)).as_deref(), Some(bytes), "{bytes:?}");
        }
        assert_eq!(unquote("@'x'").as_deref(), Some(&b"@x"[..]));
        assert_eq!(unquote("'open"), None);
        assert_eq!(unquote(r"$'\q'"), None);
        assert_eq!(unquote("a b"), None);
    }
}
