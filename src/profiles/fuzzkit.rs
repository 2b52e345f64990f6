//! Hostile values shared by the network fuzzers of the profiles (`edge-v1`, `simplex-v5`):
//! wrong JSON types, numbers at the extremes, deep nesting, long strings, broken UTF-8,
//! bodies that are no JSON object, `Content-Type` variants, odd header fields, near-miss
//! path suffixes and methods. Each profile decides what its binding allows for them.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde_json::{json, Value};

/// A random item of a table (tables are never empty).
pub fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("mutation tables are never empty")
}

/// A value in at most about 20 characters, for shapes and reports.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 24 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(20).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

/// Values of the wrong type where a string is required.
pub fn not_strings() -> Vec<Value> {
    vec![
        json!(7),
        json!(true),
        Value::Null,
        json!([]),
        json!({}),
        json!(1.5),
    ]
}

/// Numbers at the extremes: zero, negative, past 2^31 and 2^63, fractional, huge.
pub fn extreme_numbers() -> Vec<Value> {
    vec![
        json!(0),
        json!(0),
        json!(-1),
        json!(-1),
        json!(2_147_483_648u64),
        json!(4_294_967_296u64),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1.5),
        json!(1.0),
        json!(1e3),
        json!(-0.0),
        json!(1e300),
        json!(-1e300),
    ]
}

/// Number texts that are not JSON numbers, or that no 64-bit type holds.
pub const RAW_NUMBERS: &[&str] = &[
    "1e400",
    "1E2",
    "1.0e0",
    "100000000000000000000000000000",
    "-0",
    "01",
    "+1",
    "0x10",
    "NaN",
    "Infinity",
    "-Infinity",
    "1_000",
    "\u{ff11}",
    ".5",
    "5.",
    "1e",
    "--1",
];

/// Nesting depths around the usual parser limits (128) and far past them.
pub const DEPTHS: &[usize] = &[32, 64, 127, 128, 129, 256, 1000, 10_000, 100_000];

/// `depth` nested arrays (`[[…]]`).
pub fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` nested objects around `1` (`{"a":{"a":…1}}`).
pub fn nested_objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// Lengths of long strings: just past a 64-character limit, and far past.
pub const LONG_STRINGS: &[usize] = &[65, 1000, 100_000];

/// Byte sequences that are not UTF-8, with a tag each.
pub const BAD_UTF8: [(&str, &[u8]); 6] = [
    ("ff", b"\xff"),
    ("overlong", b"\xc0\xaf"),
    ("surrogate", b"\xed\xa0\x80"),
    ("five-byte", b"\xf8\x88\x80\x80\x80"),
    ("continuation", b"\x80"),
    ("truncated", b"\xe2\x82"),
];

/// Texts that are not one JSON object, some built on a correct object `text`.
pub fn not_objects(text: &str) -> Vec<String> {
    vec![
        "[]".to_string(),
        "\"s\"".into(),
        "1".into(),
        "null".into(),
        "true".into(),
        String::new(),
        " ".into(),
        format!("[{text}]"),
        format!("/*c*/{text}"),
        text.replace('"', "'"),
        format!("{},}}", &text[..text.len().saturating_sub(1)]),
        "{".into(),
        "}".into(),
    ]
}

/// What may follow a JSON value and makes the text no longer JSON.
pub const TRAILING: &[&str] = &[
    "x", "}", "{}", "\u{b}", "\u{a0}", "//", "\u{0}", "\u{feff}", "1",
];

/// `Content-Type` values that name JSON in another spelling.
pub const CONTENT_TYPES_VALID: &[&str] = &[
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    "APPLICATION/JSON",
    "Application/Json",
    "application/json; charset=iso-8859-1",
    "application/json ; foo=bar",
];

/// `Content-Type` values that are not JSON.
pub const CONTENT_TYPES_INVALID: &[&str] = &[
    "text/plain",
    "application/jsonx",
    "application/x-json",
    "json",
    "",
    "application/json-patch+json",
    "text/json",
    "application/*",
    "*/*",
    "multipart/form-data",
    "application",
    "application/json/x",
];

/// Odd header fields: `(tag, name, value)`.
pub const ODD_HEADERS: &[(&str, &str, &str)] = &[
    ("nul-value", "X-Fuzz", "a\u{0}b"),
    ("del-value", "X-Fuzz", "a\u{7f}b"),
    ("space-name", "X Fuzz", "v"),
    ("colon-name", "X:Fuzz", "v"),
    ("folded", "X-Fuzz", "a\r\n b"),
    ("empty-name", "", "v"),
    ("utf8-value", "X-Fuzz", "ünïcödé"),
];

/// Sizes of one long header field, and counts of many small ones.
pub const HEADER_SIZES: &[usize] = &[1024, 16 * 1024, 70 * 1024, 200 * 1024];
/// Counts of many small header fields.
pub const HEADER_COUNTS: &[usize] = &[50, 100, 300];

/// Near-miss suffixes of a path.
pub const PATH_SUFFIXES: &[&str] = &[
    "/",
    "//",
    "/x",
    "x",
    "%00",
    "%2F",
    "%20",
    ";",
    "~",
    "%2e",
    "/messages/x",
    "%",
    "%zz",
];

/// Methods, defined and not, in odd spellings too.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "PATCH", "OPTIONS", "PUT", "DELETE", "POST", "post", "Put", "FOO", "M-SEARCH",
    "PROPFIND",
];
