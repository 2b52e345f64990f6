//! The signed bytes (B-SIG-INPUT) and the header values (B-SIG-HDR, B-SIG-NEWKEY).

/// The `Authorization` scheme name (B-SIG-HDR).
pub const AUTH_SCHEME: &str = "EMSig";

/// The header carrying the proof of possession of a new key (B-SIG-NEWKEY).
pub const NEW_KEY_HEADER: &str = "EM-New-Key-Signature";

/// The bytes a request signature covers: `"EMSig1" LF METHOD LF PATH LF BODY`.
///
/// `method` and `path` are used exactly as given: pass the method as sent on the request
/// line (upper-case per B-SIG-INPUT) and the literal request-target (path and query).
pub fn signing_input(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + method.len() + path.len() + body.len());
    out.extend_from_slice(b"EMSig1\n");
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(path.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// The `Authorization` value for a signature token: `EMSig <token>`.
pub fn authorization(token: &str) -> String {
    format!("{AUTH_SCHEME} {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_exactly_the_b_sig_input_bytes() {
        assert_eq!(
            signing_input("POST", "/connection", b"{\"a\":1}"),
            b"EMSig1\nPOST\n/connection\n{\"a\":1}".to_vec()
        );
        // Query (and a bare `?`) and literal escapes are kept; the body is raw bytes.
        assert_eq!(
            signing_input("DELETE", "/r/%63x?", b"\xff\n"),
            b"EMSig1\nDELETE\n/r/%63x?\n\xff\n".to_vec()
        );
        assert_eq!(signing_input("PUT", "/", b""), b"EMSig1\nPUT\n/\n".to_vec());
    }

    #[test]
    fn authorization_value() {
        assert_eq!(authorization("QQ=="), "EMSig QQ==");
    }
}
