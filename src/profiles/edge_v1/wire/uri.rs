//! Resolving the URIs a server returns (`recipientURI`, `senderURI`) against `CE`.
//!
//! The binding allows absolute URLs and absolute paths, and the client must use them exactly
//! as given. A URL parser normalises dot-segments and percent-encodes some characters, so a
//! URI it would change is rejected here rather than silently sent somewhere else.

use url::Url;

use super::WireError;

/// Longest URI the suite follows, in bytes (servers' URIs are short paths; RFC 9112 §3
/// recommends request-targets of at least 8000 octets be supported).
pub const MAX_URI_LEN: usize = 8 * 1024;

/// Resolves `returned` (an absolute `http(s)` URL or an absolute path) against `ce`.
pub fn resolve_uri(ce: &Url, returned: &str) -> Result<Url, WireError> {
    let reject = |reason: &str| WireError::Uri {
        uri: returned.chars().take(200).collect(),
        reason: reason.to_owned(),
    };
    if returned.is_empty() {
        return Err(reject("it is empty"));
    }
    if returned.len() > MAX_URI_LEN {
        return Err(WireError::UriTooLong {
            head: returned.chars().take(80).collect(),
            len: returned.len(),
        });
    }
    if let Some(bad) = returned.chars().find(|c| !is_uri_char(*c)) {
        return Err(reject(&format!(
            "it contains {bad:?}, which is not allowed in a URI (RFC 3986)"
        )));
    }
    if returned.contains('#') {
        return Err(reject("it has a fragment (`#`), which is never sent"));
    }
    let url = if returned.starts_with("//") {
        return Err(reject(
            "it is a network-path reference (`//host/...`); expected an absolute URL or an absolute path",
        ));
    } else if returned.starts_with('/') {
        ce.join(returned)
            .map_err(|e| reject(&format!("it does not resolve against CE: {e}")))?
    } else {
        let url = Url::parse(returned).map_err(|e| {
            reject(&format!(
                "it is neither an absolute URL nor an absolute path ({e})"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(reject("its scheme is not http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(reject("it has no host"));
        }
        url
    };
    let path_part = path_and_query(returned);
    if has_dot_segment(path_part) {
        return Err(reject(
            "its path has a `.` or `..` segment, which a URL parser would remove",
        ));
    }
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    if !path_part.is_empty() && target != path_part {
        return Err(reject(&format!(
            "a URL parser would send its path as {target:?}; use a normalised URI"
        )));
    }
    Ok(url)
}

/// The path and query of an absolute path or absolute URL (`""` when the URL has no path).
fn path_and_query(s: &str) -> &str {
    if s.starts_with('/') {
        return s;
    }
    let after_scheme = s.find("://").map_or(0, |i| i + 3);
    match s[after_scheme..].find(['/', '?']) {
        Some(i) => &s[after_scheme + i..],
        None => "",
    }
}

fn has_dot_segment(path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap_or_default();
    path.split('/').any(|seg| {
        let seg = seg.to_ascii_lowercase().replace("%2e", ".");
        seg == "." || seg == ".."
    })
}

/// RFC 3986 characters: unreserved, reserved, and `%` (escapes are checked by the parser).
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ce() -> Url {
        Url::parse("https://edge.example:8443/api/connection").unwrap()
    }

    #[test]
    fn refuses_uris_over_the_length_cap() {
        let long = format!("/r/{}", "a".repeat(MAX_URI_LEN));
        assert!(matches!(
            resolve_uri(&ce(), &long),
            Err(WireError::UriTooLong { len, .. }) if len == MAX_URI_LEN + 3
        ));
        let fits = format!("/r/{}", "a".repeat(MAX_URI_LEN - 3));
        assert!(resolve_uri(&ce(), &fits).is_ok());
    }

    #[test]
    fn resolves_paths_and_urls() {
        assert_eq!(
            resolve_uri(&ce(), "/r/Ab_9-x").unwrap().as_str(),
            "https://edge.example:8443/r/Ab_9-x"
        );
        assert_eq!(
            resolve_uri(&ce(), "/r/x?k=1").unwrap().as_str(),
            "https://edge.example:8443/r/x?k=1"
        );
        assert_eq!(
            resolve_uri(&ce(), "http://other.example/s/%41b")
                .unwrap()
                .as_str(),
            "http://other.example/s/%41b"
        );
        assert_eq!(
            resolve_uri(&ce(), "https://other.example")
                .unwrap()
                .as_str(),
            "https://other.example/"
        );
    }

    #[test]
    fn rejects_what_cannot_be_used_as_given() {
        for bad in [
            "",
            "r/relative",
            "//evil.example/r",
            "ftp://edge.example/r",
            "javascript:alert(1)",
            "/r/./x",
            "/r/../x",
            "/r/%2E%2e/x",
            "/r/x#frag",
            "/r x",
            " /r",
            "/r\n",
            "/r\\x",
            "/r/é",
            "https:///r",
        ] {
            let e = resolve_uri(&ce(), bad);
            assert!(e.is_err(), "{bad:?} resolved to {e:?}");
            assert!(matches!(e, Err(WireError::Uri { .. })));
        }
    }
}
