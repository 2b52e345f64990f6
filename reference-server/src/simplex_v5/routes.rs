//! Literal routing on the raw request path (B-SIG-INPUT, V-EP-MSG, VB-ROUTE).
//!
//! A path is sorted by its shape alone (`CE`, `CE/<token>`, `CE/<token>/messages`,
//! `CE/<token>/messages/<id>`), never by whether its token is live, so that the syntax checks
//! (400) are the same for live and dead URIs; only the value checks ask the store.

use hyper::Method;

/// The fixed segment of the message endpoints (V-EP-MSG).
const MESSAGES: &str = "messages";

/// What a path looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape<'a> {
    /// `CE`.
    Create,
    /// `CE/<token>`.
    Uri(&'a str),
    /// `CE/<token>/messages`.
    Messages(&'a str),
    /// `CE/<token>/messages/<id>` (the ID not yet checked).
    Message(&'a str, &'a str),
    /// Anything else.
    Unknown,
}

impl<'a> Shape<'a> {
    /// The URI token the path names, if any.
    pub(crate) fn token(self) -> Option<&'a str> {
        match self {
            Shape::Uri(t) | Shape::Messages(t) | Shape::Message(t, _) => Some(t),
            Shape::Create | Shape::Unknown => None,
        }
    }
}

/// A request of §3, by shape and method (the token's role is checked later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// POST `CE`.
    Create,
    /// PUT `RU`.
    Secure,
    /// DELETE `RU`.
    Delete,
    /// GET `RU/messages[?fromMessageId=]`.
    Retrieve,
    /// GET `RU/messages/ID`.
    RetrieveOne,
    /// DELETE `RU/messages/ID`.
    DeleteOne,
    /// POST `SU/messages`.
    Send,
    /// Any other method on `CE` (405).
    CreateOther,
    /// Nothing of §3 (401).
    Undefined,
}

impl Op {
    /// The operation for `shape` and `method`.
    pub(crate) fn of(shape: Shape<'_>, method: &Method) -> Op {
        match (shape, method.as_str()) {
            (Shape::Create, "POST") => Op::Create,
            (Shape::Create, _) => Op::CreateOther,
            (Shape::Uri(_), "PUT") => Op::Secure,
            (Shape::Uri(_), "DELETE") => Op::Delete,
            (Shape::Messages(_), "GET") => Op::Retrieve,
            (Shape::Messages(_), "POST") => Op::Send,
            (Shape::Message(..), "GET") => Op::RetrieveOne,
            (Shape::Message(..), "DELETE") => Op::DeleteOne,
            _ => Op::Undefined,
        }
    }

    /// Whether the request has a JSON body (V-HDR-JSON).
    pub(crate) fn has_body(self) -> bool {
        matches!(self, Op::Create | Op::Secure | Op::Send)
    }
}

/// The server's paths.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    create: String,
    /// `create` followed by `/` (just `/` when `create` is `/`).
    under: String,
}

impl Paths {
    /// Paths under `base_path` (already validated).
    pub(crate) fn new(base_path: &str) -> Paths {
        let under = if base_path == "/" {
            "/".to_owned()
        } else {
            format!("{base_path}/")
        };
        Paths {
            create: base_path.to_owned(),
            under,
        }
    }

    /// The path of `CE`.
    pub(crate) fn create_path(&self) -> &str {
        &self.create
    }

    /// The path of the URI with `token`.
    pub(crate) fn token_path(&self, token: &str) -> String {
        format!("{}{token}", self.under)
    }

    /// The token of a path `CE/<token>` (compared literally), if it is one.
    pub(crate) fn token_of<'a>(&self, path: &'a str) -> Option<&'a str> {
        match self.shape(path) {
            Shape::Uri(token) => Some(token),
            _ => None,
        }
    }

    /// The shape of `path` (without the query).
    pub(crate) fn shape<'a>(&self, path: &'a str) -> Shape<'a> {
        if path == self.create {
            return Shape::Create;
        }
        let Some(rest) = path.strip_prefix(&self.under) else {
            return Shape::Unknown;
        };
        let mut segments = rest.split('/');
        let token = segments.next().unwrap_or("");
        if token.is_empty() {
            return Shape::Unknown;
        }
        match (segments.next(), segments.next(), segments.next()) {
            (None, _, _) => Shape::Uri(token),
            (Some(MESSAGES), None, _) => Shape::Messages(token),
            (Some(MESSAGES), Some(id), None) => Shape::Message(token, id),
            _ => Shape::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_literal() {
        let p = Paths::new("/connection");
        assert_eq!(p.shape("/connection"), Shape::Create);
        assert_eq!(p.shape("/connection/abc"), Shape::Uri("abc"));
        assert_eq!(p.shape("/connection/abc/messages"), Shape::Messages("abc"));
        assert_eq!(
            p.shape("/connection/abc/messages/x"),
            Shape::Message("abc", "x")
        );
        assert_eq!(
            p.shape("/connection/abc/messages/"),
            Shape::Message("abc", "")
        );
        for unknown in [
            "/",
            "/connection/",
            "/connectionx",
            "/%63onnection",
            "/connection//messages",
            "/connection/abc/Messages",
            "/connection/abc/messages/x/y",
            "/connection/abc/other",
        ] {
            assert_eq!(p.shape(unknown), Shape::Unknown, "{unknown}");
        }
        let root = Paths::new("/");
        assert_eq!(root.shape("/"), Shape::Create);
        assert_eq!(root.shape("/t/messages"), Shape::Messages("t"));
        assert_eq!(root.token_path("t"), "/t");
    }

    #[test]
    fn operations() {
        let op = |shape, m: &str| Op::of(shape, &Method::from_bytes(m.as_bytes()).unwrap());
        assert_eq!(op(Shape::Create, "POST"), Op::Create);
        assert_eq!(op(Shape::Create, "PUT"), Op::CreateOther);
        assert_eq!(op(Shape::Uri("t"), "PUT"), Op::Secure);
        assert_eq!(op(Shape::Uri("t"), "GET"), Op::Undefined);
        assert_eq!(op(Shape::Messages("t"), "GET"), Op::Retrieve);
        assert_eq!(op(Shape::Messages("t"), "DELETE"), Op::Undefined);
        assert_eq!(op(Shape::Message("t", "i"), "DELETE"), Op::DeleteOne);
        assert_eq!(op(Shape::Unknown, "GET"), Op::Undefined);
    }
}
