//! Literal routing on the raw request path (B-SIG-INPUT, S-GEN-404, B-METHOD).
//!
//! Paths are compared byte for byte as received: no percent-decoding, no dot-segment
//! removal, no trailing-slash folding, so `/connection/` and `/%63onnection` are not
//! `/connection`. A router crate would normalise or at least pattern-match; six endpoints
//! need only the comparisons below.

use hyper::Method;

use crate::edge_v1::faults::{Fault, Faults};
use crate::edge_v1::store::Party;

/// The fixed last segment of the message endpoints (S-EP-MSG).
const MESSAGES: &str = "messages";

/// What a path names, before the store is asked whether a token is live.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// `CE`.
    Create,
    /// The benchmark's echo endpoint.
    Echo,
    /// `<base>/<token>` or `<base>/<token>/messages`.
    Connection {
        /// The URI token.
        token: &'a str,
        /// Whether `/messages` follows.
        messages: bool,
    },
}

/// A live endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// POST `CE`.
    Create,
    /// The benchmark's echo endpoint.
    Echo,
    /// `RU` or `SU`.
    Connection(Party),
    /// `RU/messages` or `SU/messages`.
    Messages(Party),
}

/// An operation: an endpoint and a method it defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// POST `CE`.
    Create,
    /// PUT `RU`.
    UpdateRecipient,
    /// DELETE `RU`.
    DeleteConnection,
    /// POST `RU/messages`.
    Retrieve,
    /// DELETE `RU/messages`.
    DeleteMessages,
    /// PUT `SU`.
    UpdateSender,
    /// POST `SU/messages`.
    Send,
    /// POST to the benchmark's echo endpoint.
    Echo,
    /// DELETE `SU/messages`, which only the `sender-deletes-messages` fault defines.
    SenderDeleteMessages,
}

/// The server's paths.
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    create: String,
    /// `create` followed by `/` (just `/` when `create` is `/`).
    under: String,
    echo: Option<String>,
    faults: Faults,
}

impl Routes {
    /// Routes for `base_path` (already validated), with the echo endpoint if `echo`.
    pub(crate) fn new(base_path: &str, echo: bool, faults: Faults) -> Routes {
        let under = if base_path == "/" {
            "/".to_owned()
        } else {
            format!("{base_path}/")
        };
        Routes {
            create: base_path.to_owned(),
            echo: echo.then(|| format!("{under}echo")),
            under,
            faults,
        }
    }

    /// The path of `CE`.
    pub(crate) fn create_path(&self) -> &str {
        &self.create
    }

    /// The path of the connection URI with `token`.
    pub(crate) fn token_path(&self, token: &str) -> String {
        format!("{}{token}", self.under)
    }

    /// What `path` (without the query) names, if anything.
    pub(crate) fn target<'a>(&self, path: &'a str) -> Option<Target<'a>> {
        if self.faults.on(Fault::NulPathPanics) {
            assert!(!path.contains("%00"), "NUL in the request path");
        }
        if path == self.create {
            return Some(Target::Create);
        }
        if self.echo.as_deref() == Some(path) {
            return Some(Target::Echo);
        }
        let mut rest = path.strip_prefix(&self.under)?;
        if self.faults.on(Fault::TrailingSlashAlias) {
            rest = rest.strip_suffix('/').unwrap_or(rest);
        }
        let (token, messages) = match rest.split_once('/') {
            None => (rest, false),
            Some((token, MESSAGES)) => (token, true),
            Some((token, segment))
                if (self.faults.on(Fault::MessagesSegmentAnyCase)
                    && segment.eq_ignore_ascii_case(MESSAGES))
                    || (self.faults.on(Fault::MessagesSegmentDecoded)
                        && percent_decoded(segment).as_deref() == Some(MESSAGES)) =>
            {
                (token, true)
            }
            Some(_) => return None,
        };
        (!token.is_empty()).then_some(Target::Connection { token, messages })
    }
}

/// `segment` with its `%XX` escapes decoded (`messages-segment-decoded` only).
#[cfg_attr(mutants, mutants::skip)] // fault injection only
fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The operation `method` selects on `endpoint`, or the `Allow` value for a 405.
pub(crate) fn select(endpoint: Endpoint, method: &Method) -> Result<Op, &'static str> {
    use Endpoint as E;
    match (endpoint, method) {
        (E::Create, &Method::POST) => Ok(Op::Create),
        (E::Echo, &Method::POST) => Ok(Op::Echo),
        (E::Connection(Party::Recipient), &Method::PUT) => Ok(Op::UpdateRecipient),
        (E::Connection(Party::Recipient), &Method::DELETE) => Ok(Op::DeleteConnection),
        (E::Messages(Party::Recipient), &Method::POST) => Ok(Op::Retrieve),
        (E::Messages(Party::Recipient), &Method::DELETE) => Ok(Op::DeleteMessages),
        (E::Connection(Party::Sender), &Method::PUT) => Ok(Op::UpdateSender),
        (E::Messages(Party::Sender), &Method::POST) => Ok(Op::Send),
        (E::Create | E::Echo | E::Messages(Party::Sender), _) => Err("POST"),
        (E::Connection(Party::Recipient), _) => Err("PUT, DELETE"),
        (E::Messages(Party::Recipient), _) => Err("POST, DELETE"),
        (E::Connection(Party::Sender), _) => Err("PUT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_literally() {
        let r = Routes::new("/connection", false, Faults::default());
        assert_eq!(r.target("/connection"), Some(Target::Create));
        assert_eq!(
            r.target("/connection/abc"),
            Some(Target::Connection {
                token: "abc",
                messages: false
            })
        );
        assert_eq!(
            r.target("/connection/abc/messages"),
            Some(Target::Connection {
                token: "abc",
                messages: true
            })
        );
        for unknown in [
            "/connection/",
            "/%63onnection",
            "/%63onnection/abc",
            "/Connection",
            "/connection/abc/",
            "/connection/abc/messages/",
            "/connection/abc/Messages",
            "/connection/abc/%6Dessages",
            "/connection/abc/x/messages",
            "/connection//messages",
            "/connection/./abc",
            "/connectionabc",
            "",
            "*",
            "/",
        ] {
            assert_eq!(r.target(unknown), None, "{unknown}");
        }
        // Percent-encoded tokens are looked up as written, so they never match a live token.
        assert_eq!(
            r.target("/connection/%41bc"),
            Some(Target::Connection {
                token: "%41bc",
                messages: false
            })
        );
    }

    #[test]
    fn percent_decoding_of_a_segment() {
        assert_eq!(percent_decoded("%6Dessages").as_deref(), Some("messages"));
        assert_eq!(percent_decoded("%6d%65ssages").as_deref(), Some("messages"));
        assert_eq!(percent_decoded("messages").as_deref(), Some("messages"));
        for bad in ["%6", "%+6essages", "%zzessages", "%ff"] {
            assert_eq!(percent_decoded(bad), None, "{bad}");
        }
    }

    #[cfg(feature = "faults")]
    #[test]
    fn segment_faults_route_other_spellings() {
        let any_case = Routes::new(
            "/connection",
            false,
            Faults::of(&[Fault::MessagesSegmentAnyCase]),
        );
        let decoded = Routes::new(
            "/connection",
            false,
            Faults::of(&[Fault::MessagesSegmentDecoded]),
        );
        let messages = Some(Target::Connection {
            token: "abc",
            messages: true,
        });
        assert_eq!(any_case.target("/connection/abc/MESSAGES"), messages);
        assert_eq!(any_case.target("/connection/abc/%6Dessages"), None);
        assert_eq!(decoded.target("/connection/abc/%6Dessages"), messages);
        assert_eq!(decoded.target("/connection/abc/Messages"), None);
        assert_eq!(decoded.target("/connection/abc/message"), None);
    }

    #[test]
    fn root_base_path_and_echo() {
        let r = Routes::new("/", true, Faults::default());
        assert_eq!(r.target("/"), Some(Target::Create));
        assert_eq!(r.target("/echo"), Some(Target::Echo));
        assert_eq!(r.token_path("t"), "/t");
        assert_eq!(
            r.target("/t/messages"),
            Some(Target::Connection {
                token: "t",
                messages: true
            })
        );
    }

    #[test]
    fn methods() {
        use Endpoint as E;
        assert_eq!(select(E::Create, &Method::POST), Ok(Op::Create));
        assert_eq!(select(E::Create, &Method::GET), Err("POST"));
        assert_eq!(
            select(E::Connection(Party::Recipient), &Method::GET),
            Err("PUT, DELETE")
        );
        assert_eq!(
            select(E::Connection(Party::Sender), &Method::DELETE),
            Err("PUT")
        );
        assert_eq!(
            select(E::Messages(Party::Sender), &Method::PUT),
            Err("POST")
        );
        assert_eq!(
            select(E::Messages(Party::Recipient), &Method::DELETE),
            Ok(Op::DeleteMessages)
        );
        let lower = Method::from_bytes(b"post").unwrap();
        assert_eq!(select(E::Create, &lower), Err("POST"));
        assert_eq!(select(E::Create, &Method::HEAD), Err("POST"));
    }
}
