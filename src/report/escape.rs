//! Server text made safe to display: control characters (C0, DEL, C1) and bidirectional
//! controls are shown as escapes (`\x1b`, `\u{202e}`) instead of being sent to a terminal or a
//! viewer that would act on them; HTML special characters are turned into entities; long text
//! is cut with a visible `…(N bytes)` marker.
//!
//! JSON output is data and keeps every character; every other output displays text through
//! these functions.

use std::borrow::Cow;

pub use crate::client::shell::is_unsafe;

/// How line breaks and tabs are treated by [`controls`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaks {
    /// Text shown on one line: `\n`, `\r` and `\t` are escaped like every other control.
    Escape,
    /// A multi-line block (a transcript, a body): `\n` and `\t` are kept, `\r` is escaped.
    Keep,
}

/// The escape shown for an unsafe character: `\n`, `\r`, `\t`, `\x1b` for ASCII, `\u{85}` for
/// the others.
fn push_escaped(o: &mut String, c: char) {
    match c {
        '\n' => o.push_str("\\n"),
        '\r' => o.push_str("\\r"),
        '\t' => o.push_str("\\t"),
        c if (c as u32) < 0x80 => o.push_str(&format!("\\x{:02x}", c as u32)),
        c => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// `s` with every unsafe character (see [`is_unsafe`]) escaped; borrowed when there is none.
pub fn controls(s: &str, breaks: Breaks) -> Cow<'_, str> {
    let keep = |c: char| breaks == Breaks::Keep && matches!(c, '\n' | '\t');
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe(c) && !keep(c) {
            push_escaped(&mut o, c);
        } else {
            o.push(c);
        }
    }
    Cow::Owned(o)
}

/// `s` with `&`, `<`, `>`, `"` and `'` as HTML entities and unsafe characters escaped (line
/// breaks and tabs kept, for `<pre>` blocks).
pub fn html(s: &str) -> String {
    let s = controls(s, Breaks::Keep);
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// `s` cut to at most `max` bytes (on a character boundary) followed by `…(N bytes)` with its
/// whole length, or `s` itself when it is short enough.
pub fn cap(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}…({} bytes)", &s[..cut], s.len()))
}

/// Longest line any display output (terminal, Markdown, HTML, JUnit) may have, in bytes.
pub const LINE_MAX: usize = 16 * 1024;

/// Server text shown on one line (a message, a header value, a URL) is cut at this many
/// bytes before escaping: escaping grows a byte to at most six (`&quot;`, `\u{85}` …), which
/// keeps any line under [`LINE_MAX`].
pub const TEXT_MAX: usize = 2048;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi() {
        let s = "a\u{1b}[2J\u{7}\u{8}\r\u{9b}1m\u{85}\u{202e}x\u{2066}\u{7f}";
        assert_eq!(
            controls(s, Breaks::Escape),
            r"a\x1b[2J\x07\x08\r\u{9b}1m\u{85}\u{202e}x\u{2066}\x7f"
        );
        assert_eq!(controls("a\nb\tc\r", Breaks::Keep), "a\nb\tc\\r");
        assert_eq!(controls("a\nb", Breaks::Escape), r"a\nb");
        assert!(matches!(
            controls("plain é …", Breaks::Escape),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn html_entities_and_controls() {
        assert_eq!(
            html("<script>alert('1')</script>&\"\u{1b}"),
            "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt;&amp;&quot;\\x1b"
        );
    }

    #[test]
    fn caps_on_a_character_boundary() {
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("abcd", 3), "abc…(4 bytes)");
        assert_eq!(cap("aé", 2), "a…(3 bytes)");
    }
}
