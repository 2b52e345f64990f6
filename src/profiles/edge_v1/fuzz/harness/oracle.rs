//! An independent reading of the binding's request rules, for the in-process server target:
//! given a request exactly as sent and the connections the harness holds, the reasons the
//! binding refuses it. A request with any reason must not get a 2xx.
//!
//! Only certain reasons count. Where the binding leaves room (duplicate members are a
//! SHOULD; keys over 8,192 bits MAY be accepted; ids the server chose are unknown here) the
//! oracle says nothing rather than guess.

use std::sync::Arc;

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA256};
use serde_json::{Map, Value};

use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::sign::{self, Key};
use crate::profiles::edge_v1::wire::{self, WireError};

/// A connection the harness holds.
#[derive(Clone)]
pub struct LiveConn {
    /// Its `connectionID`.
    pub cid: String,
    /// Path of `RU`.
    pub ru: String,
    /// Path of `SU`.
    pub su: String,
    /// The recipient key.
    pub rk: Arc<Key>,
    /// The sender key, once set.
    pub sk: Option<Arc<Key>>,
}

/// What the harness knows about the server's state.
#[derive(Clone)]
pub struct Live {
    /// Path of `CE`.
    pub ce: String,
    /// Live connections.
    pub conns: Vec<LiveConn>,
}

/// Why a path and method name no endpoint of the harness's connections.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The path is no live endpoint.
    #[error("{path:?} is no live endpoint (S-GEN-404)")]
    NoEndpoint {
        /// The request's path.
        path: String,
    },
    /// The endpoint does not define the method.
    #[error("{method} is not defined on {path:?} (B-METHOD)")]
    MethodNotDefined {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
}

/// Why the `Authorization` fields are not a single well-formed `EMSig <token>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum AuthFieldError {
    /// Not exactly one `Authorization` field.
    #[error("{0} Authorization fields (B-SIG-HDR)")]
    Count(usize),
    /// The field is not `EMSig <token>`.
    #[error("Authorization is not `EMSig <token>` (B-SIG-HDR)")]
    NotEmsig,
}

/// The endpoint a path and method name, and the connection it belongs to.
pub fn route(
    live: &Live,
    path: &str,
    method: &str,
) -> Result<(Endpoint, Option<usize>), RouteError> {
    let mut found = None;
    if path == live.ce {
        found = Some((vec![("POST", Endpoint::Create)], None));
    }
    for (i, c) in live.conns.iter().enumerate() {
        let table: Vec<(&str, Endpoint)> = if path == c.ru {
            vec![("PUT", Endpoint::Update), ("DELETE", Endpoint::Delete)]
        } else if path == format!("{}/messages", c.ru) {
            vec![
                ("POST", Endpoint::Retrieve),
                ("DELETE", Endpoint::DeleteMessages),
            ]
        } else if path == c.su {
            vec![("PUT", Endpoint::SenderUpdate)]
        } else if path == format!("{}/messages", c.su) {
            vec![("POST", Endpoint::Send)]
        } else {
            continue;
        };
        found = Some((table, Some(i)));
    }
    let Some((table, conn)) = found else {
        return Err(RouteError::NoEndpoint {
            path: path.to_string(),
        });
    };
    table
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, e)| (*e, conn))
        .ok_or_else(|| RouteError::MethodNotDefined {
            method: method.to_string(),
            path: path.to_string(),
        })
}

/// The path a request-target names (query and fragment dropped; an absolute-form target
/// loses its scheme and authority) and the bytes its signature covers (B-SIG-INPUT).
pub fn path_of(target: &str) -> (String, String) {
    let covered = match target.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('/') => match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".to_string(),
        },
        _ => target.to_string(),
    };
    let path = covered
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    (path, covered)
}

fn values<'h>(headers: &'h [(String, Vec<u8>)], name: &str) -> Vec<&'h [u8]> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
        .collect()
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

fn verifies(spki: &[u8], input: &[u8], token: &[u8]) -> bool {
    let Ok(token) = std::str::from_utf8(token) else {
        return false;
    };
    let Ok(sig) = wire::unb64(token) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, spki)
        .verify(input, &sig)
        .is_ok()
}

/// The signature token of a single `Authorization: EMSig <token>` field, if well formed.
fn auth_token(headers: &[(String, Vec<u8>)]) -> Result<&[u8], AuthFieldError> {
    let v = values(headers, "authorization");
    let [one] = v.as_slice() else {
        return Err(AuthFieldError::Count(v.len()));
    };
    let one = trim(one);
    let (scheme, token) = match one.iter().position(|&b| b == b' ') {
        Some(i) => (&one[..i], &one[i + 1..]),
        None => return Err(AuthFieldError::NotEmsig),
    };
    if !scheme.eq_ignore_ascii_case(b"EMSig")
        || token.is_empty()
        || token.iter().any(|b| matches!(b, b' ' | b'\t'))
    {
        return Err(AuthFieldError::NotEmsig);
    }
    Ok(token)
}

fn is_int(v: &Value) -> bool {
    matches!(v, Value::Number(n) if (n.is_u64() || n.is_i64()) && n.as_u64().is_some_and(|x| (1..=2_147_483_647).contains(&x)))
}

/// Property types of each endpoint's body, and which are required.
fn schema(e: Endpoint) -> (&'static [&'static str], &'static [&'static str]) {
    match e {
        Endpoint::Create => (
            &["connectionID", "recipient", "sender", "disabled"],
            &["connectionID", "recipient"],
        ),
        Endpoint::Update => (
            &[
                "connectionID",
                "recipient",
                "sender",
                "newRecipientURI",
                "newSenderURI",
                "disabled",
            ],
            &["connectionID"],
        ),
        Endpoint::Delete => (&["connectionID"], &["connectionID"]),
        Endpoint::Retrieve => (
            &["connectionID", "pageSize", "fromMessageID", "keepMessages"],
            &["connectionID"],
        ),
        Endpoint::DeleteMessages => (
            &["connectionID", "pageSize", "fromMessageID"],
            &["connectionID"],
        ),
        Endpoint::SenderUpdate => (
            &["connectionID", "sender", "newSenderURI"],
            &["connectionID"],
        ),
        Endpoint::Send => (&["connectionID", "messages"], &["connectionID", "messages"]),
    }
}

/// A key value that certainly is no valid key (not base64, or not an RSA key of 2,048 to
/// 8,192 bits that aws-lc-rs reads).
fn bad_key(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return true };
    let Ok(der) = wire::unb64(s) else { return true };
    aws_lc_rs::signature::ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, der).is_err()
}

fn schema_problems(e: Endpoint, m: &Map<String, Value>) -> Vec<String> {
    let (allowed, required) = schema(e);
    let mut out = Vec::new();
    for r in required {
        if !m.contains_key(*r) {
            out.push(format!("`{r}` missing (S-GEN-400)"));
        }
    }
    for (k, v) in m {
        if !allowed.contains(&k.as_str()) {
            let rule = if e == Endpoint::SenderUpdate
                && ["recipient", "newRecipientURI", "disabled"].contains(&k.as_str())
            {
                "S-SUPD-PROHIB"
            } else {
                "S-GEN-400"
            };
            out.push(format!("unknown property `{k}` ({rule})"));
            continue;
        }
        let ok = match k.as_str() {
            "connectionID" => v.as_str().is_some_and(wire::is_connection_id),
            "recipient" | "sender" => !bad_key(v),
            "disabled" | "newRecipientURI" | "newSenderURI" | "keepMessages" => v.is_boolean(),
            "pageSize" => is_int(v),
            "fromMessageID" => v.is_string(),
            "messages" => v.as_array().is_some_and(|a| {
                !a.is_empty()
                    && a.iter().all(|m| {
                        m.as_object().is_some_and(|o| {
                            o.len() == 1
                                && o.get("msg")
                                    .and_then(Value::as_str)
                                    .is_some_and(|s| !s.is_empty() && wire::is_b64(s))
                        })
                    })
            }),
            _ => true,
        };
        if !ok {
            out.push(format!("`{k}` has a wrong type or value (S-GEN-400)"));
        }
    }
    out
}

/// Every certain reason the binding refuses this request.
pub fn refusals(
    live: &Live,
    method: &str,
    target: &str,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Vec<String> {
    let (path, covered) = path_of(target);
    let (endpoint, conn) = match route(live, &path, method) {
        Ok(x) => x,
        Err(e) => return vec![e.to_string()],
    };
    let mut out = Vec::new();
    let ct = values(headers, "content-type");
    match ct.as_slice() {
        [one] => {
            let media = trim(one.split(|&b| b == b';').next().unwrap_or_default());
            if !media.eq_ignore_ascii_case(b"application/json") {
                out.push("Content-Type is not application/json (B-CT-400)".into());
            }
        }
        many => out.push(format!("{} Content-Type fields (B-CT-400)", many.len())),
    }
    let map = match wire::parse_object_strict(body) {
        Ok(m) => m,
        // B-JSON-DUP is a SHOULD: a server may read duplicates; nothing more is certain.
        Err(WireError::DuplicateMember(_)) => return out,
        Err(e) => {
            out.push(format!("{e} (B-CT-400)"));
            return out;
        }
    };
    out.extend(schema_problems(endpoint, &map));
    if !out.is_empty() {
        return out;
    }
    let input = sign::signing_input(method, &covered, body);
    let cid = map
        .get("connectionID")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(i) = conn else {
        // Create: signed with the body's recipient key; the ID must not be live.
        if live.conns.iter().any(|c| c.cid == cid) {
            out.push("connectionID is live (S-CREATE-409)".into());
        }
        let spki = map
            .get("recipient")
            .and_then(Value::as_str)
            .and_then(|s| wire::unb64(s).ok())
            .unwrap_or_default();
        match auth_token(headers) {
            Ok(t) if verifies(&spki, &input, t) => {}
            Ok(_) => out.push(
                "the signature does not verify with the body's recipient (S-CREATE-SIGN)".into(),
            ),
            Err(e) => out.push(e.to_string()),
        }
        return out;
    };
    let c = &live.conns[i];
    if cid != c.cid {
        out.push("connectionID of another connection (S-CID-404)".into());
        return out;
    }
    let key = if endpoint.is_recipient() {
        Some(&c.rk)
    } else {
        c.sk.as_ref()
    };
    match (key, endpoint) {
        // While no SK is set, sends are not verified at all (S-G-OPEN).
        (None, Endpoint::Send) => {}
        (None, _) => out.push("no sender key is set (S-SUPD-KEY)".into()),
        (Some(k), _) => match auth_token(headers) {
            Ok(t) if verifies(k.spki_der(), &input, t) => {}
            Ok(_) => {
                out.push("the signature does not verify with the current key (B-SIG-HDR)".into())
            }
            Err(e) => out.push(e.to_string()),
        },
    }
    let new_key = match endpoint {
        Endpoint::Update => map.get("recipient"),
        Endpoint::SenderUpdate => map.get("sender"),
        _ => None,
    };
    if let Some(nk) = new_key
        .and_then(Value::as_str)
        .and_then(|s| wire::unb64(s).ok())
    {
        let v = values(headers, sign::NEW_KEY_HEADER);
        match v.as_slice() {
            [one] if verifies(&nk, &input, trim(one)) => {}
            _ => out.push("EM-New-Key-Signature missing, doubled or wrong (B-SIG-NEWKEY)".into()),
        }
    }
    if endpoint == Endpoint::Update && c.sk.is_none() && !map.contains_key("sender") {
        out.push("the first update must set sender (S-RUPD-FIRST)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::edge_v1::sign::KeyPool;

    fn live() -> (Live, Arc<Key>) {
        let pool = KeyPool::builtin().unwrap();
        let (rk, sk) = (pool.take(), pool.take());
        let live = Live {
            ce: "/connection".into(),
            conns: vec![LiveConn {
                cid: "AAAAAAAAAAAAAAAAAAAAAA".into(),
                ru: "/connection/r1".into(),
                su: "/connection/s1".into(),
                rk: rk.clone(),
                sk: Some(sk),
            }],
        };
        (live, rk)
    }

    fn signed(key: &Key, method: &str, target: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
        let token = wire::b64(key.sign(&sign::signing_input(method, target, body)));
        vec![
            ("Content-Type".into(), b"application/json".to_vec()),
            (
                "Authorization".into(),
                sign::authorization(&token).into_bytes(),
            ),
        ]
    }

    #[test]
    fn a_correct_retrieval_has_no_reason_and_each_fault_has_one() {
        let (live, rk) = live();
        let body = br#"{"connectionID":"AAAAAAAAAAAAAAAAAAAAAA","pageSize":2}"#;
        let t = "/connection/r1/messages";
        let h = signed(&rk, "POST", t, body);
        assert_eq!(refusals(&live, "POST", t, &h, body), Vec::<String>::new());
        assert_eq!(
            refusals(&live, "POST", "/connection/r1/messages?x", &h, body).len(),
            1,
            "query is signed"
        );
        assert!(refusals(&live, "GET", t, &h, body)[0].contains("B-METHOD"));
        assert!(
            refusals(&live, "POST", "/connection/r1/messages/", &h, body)[0].contains("S-GEN-404")
        );
        let bad = br#"{"connectionID":"AAAAAAAAAAAAAAAAAAAAAA","pageSize":0}"#;
        assert!(
            refusals(&live, "POST", t, &signed(&rk, "POST", t, bad), bad)[0].contains("pageSize")
        );
        let other = br#"{"connectionID":"BBBBBBBBBBBBBBBBBBBBBB","pageSize":2}"#;
        assert!(
            refusals(&live, "POST", t, &signed(&rk, "POST", t, other), other)[0]
                .contains("S-CID-404")
        );
        let mut two = h.clone();
        two.push(h[1].clone());
        assert!(refusals(&live, "POST", t, &two, body)[0].contains("2 Authorization"));
        let mut ct = h.clone();
        ct[0].1 = b"text/plain".to_vec();
        assert!(refusals(&live, "POST", t, &ct, body)[0].contains("B-CT-400"));
        ct[0].1 = b"Application/JSON; charset=utf-8".to_vec();
        assert!(refusals(&live, "POST", t, &ct, body).is_empty());
    }

    #[test]
    fn duplicates_leave_the_oracle_silent_and_absolute_targets_sign_the_path() {
        let (live, rk) = live();
        let body = br#"{"connectionID":"AAAAAAAAAAAAAAAAAAAAAA","pageSize":2,"pageSize":2}"#;
        let t = "/connection/r1/messages";
        assert!(refusals(&live, "POST", t, &signed(&rk, "POST", t, body), body).is_empty());
        let body = br#"{"connectionID":"AAAAAAAAAAAAAAAAAAAAAA"}"#;
        let abs = "http://127.0.0.1:9/connection/r1/messages";
        assert!(refusals(&live, "POST", abs, &signed(&rk, "POST", t, body), body).is_empty());
        assert_eq!(path_of(abs).0, t);
    }

    #[test]
    fn open_sends_are_not_verified() {
        let (mut live, _) = live();
        live.conns[0].sk = None;
        let body = br#"{"connectionID":"AAAAAAAAAAAAAAAAAAAAAA","messages":[{"msg":"QQ=="}]}"#;
        let h = vec![
            ("Content-Type".into(), b"application/json".to_vec()),
            ("Authorization".into(), b"junk".to_vec()),
        ];
        assert!(refusals(&live, "POST", "/connection/s1/messages", &h, body).is_empty());
        let body = br#"{"connectionID":"AAAAAAAAAAAAAAAAAAAAAA","messages":[]}"#;
        assert_eq!(
            refusals(&live, "POST", "/connection/s1/messages", &h, body).len(),
            1
        );
    }
}
