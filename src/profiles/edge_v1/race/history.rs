//! The history edge-v1 records under concurrency (`edgecheck race` and the scripted
//! concurrency probe): who did what to which connection, with which key and URI versions,
//! when it was invoked and when it returned, and what came back.
//!
//! Times are microseconds since the start of the history, taken from one monotonic clock, so
//! "A returned before B was invoked" is a plain comparison. [`Op::queue_op`] is what the
//! protocol-neutral queue checker ([`crate::engine::history`]) sees of an operation, and
//! [`Names`] how it shows ciphertexts and connections.

use serde::Serialize;

use crate::client::{Exchange, TransportError};
use crate::engine::history as queues;

/// A credential a party holds: a key or a URI, recipient or sender side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Cred {
    /// The recipient key `RK`.
    Rk,
    /// The sender key `SK`.
    Sk,
    /// The recipient URI `RU`.
    Ru,
    /// The sender URI `SU`.
    Su,
}

impl Cred {
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Cred::Rk => "RK",
            Cred::Sk => "SK",
            Cred::Ru => "RU",
            Cred::Su => "SU",
        }
    }
}

/// The versions of the key and URI a request used (0 = from create).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Used {
    /// Which key signed it and its version (`None`: unsigned).
    pub key: Option<(Cred, u32)>,
    /// Which URI it went to and its version.
    pub uri: (Cred, u32),
}

/// What an operation was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum Action {
    /// POST `SU/messages` with these ciphertexts, in array order.
    Send {
        /// The ciphertexts.
        msgs: Vec<String>,
    },
    /// POST `RU/messages`.
    Retrieve {
        /// `pageSize` sent.
        page: usize,
        /// `keepMessages: true` was sent (nothing may be removed).
        keep: bool,
        /// The ciphertexts returned, in order (`None`: no usable 2xx body).
        got: Option<Vec<String>>,
    },
    /// PUT `RU` or PUT `SU`: rotations, disable, enable.
    Update {
        /// Credentials this update replaces when it succeeds, with the version retired.
        retires: Vec<(Cred, u32)>,
        /// `disabled` sent, if any.
        disabled: Option<bool>,
        /// Whether it went to `SU` (the sender's update) rather than `RU`.
        by_sender: bool,
    },
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Outcome {
    /// A response with this status.
    Status {
        /// The status.
        status: u16,
    },
    /// No usable response: its effect is unknown (indeterminate).
    NoAnswer {
        /// Why (timeout, closed connection, ...).
        reason: String,
        /// It was a timeout.
        timeout: bool,
    },
}

impl Outcome {
    /// How an exchange ended: its status, or why there was none.
    pub fn of(ex: &Exchange) -> Outcome {
        match &ex.response {
            Ok(r) => Outcome::Status { status: r.status },
            Err(e) => Outcome::NoAnswer {
                reason: e.to_string(),
                timeout: matches!(e, TransportError::Timeout),
            },
        }
    }

    /// The status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Status { status } => Some(*status),
            Outcome::NoAnswer { .. } => None,
        }
    }

    /// A 2xx answer: the operation took effect.
    pub fn succeeded(&self) -> bool {
        self.status().is_some_and(|s| (200..300).contains(&s))
    }

    /// A 4xx answer: the operation must have changed nothing.
    pub fn refused(&self) -> bool {
        self.status().is_some_and(|s| (400..500).contains(&s))
    }

    /// No answer or a 5xx: the operation may or may not have taken effect.
    pub fn indeterminate(&self) -> bool {
        !self.succeeded() && !self.refused()
    }
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Op {
    /// `sender 2`, `retriever 0`, `rotator`, `prober`, `drain`.
    pub actor: String,
    /// Index of the connection.
    pub conn: usize,
    /// Microseconds from the start of the round to just before the request was sent.
    pub invoke: u64,
    /// Microseconds from the start to when the answer (or its absence) was known.
    pub ret: u64,
    /// The key and URI versions used.
    pub used: Used,
    /// What it was.
    pub action: Action,
    /// How it ended.
    pub outcome: Outcome,
    /// A problem with the answer itself (a malformed 2xx body, too many messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<(String, String)>,
    /// The request line and status, for reports: `POST /c/x/messages -> 200`.
    pub exchange: String,
}

impl Op {
    /// The operation as the queue checker sees it: connections are queues, ciphertexts are
    /// tokens, updates move none; a 2xx is done, a 4xx refused, anything else unknown.
    pub fn queue_op(&self) -> queues::Op {
        let action = match &self.action {
            Action::Send { msgs } => queues::Action::Send {
                tokens: msgs.clone(),
            },
            Action::Retrieve { page, keep, got } => queues::Action::Retrieve {
                page: *page,
                keep: *keep,
                got: got.clone(),
            },
            Action::Update { .. } => queues::Action::Other,
        };
        let effect = match self.outcome.status() {
            _ if self.outcome.succeeded() => queues::Effect::Done,
            Some(status) if self.outcome.refused() => queues::Effect::Refused(status.to_string()),
            _ => queues::Effect::Unknown,
        };
        queues::Op {
            actor: self.actor.clone(),
            queue: self.conn,
            invoke: self.invoke,
            ret: self.ret,
            action,
            effect,
        }
    }
}

/// How the queue checker names things in an edge-v1 history: ciphertexts by [`label`],
/// connections as `c0`, `c1`, ...
pub struct Names<'a> {
    /// The history's ciphertext prefix.
    pub nonce: &'a str,
}

impl queues::Naming for Names<'_> {
    fn token(&self, token: &str) -> String {
        label(self.nonce, token)
    }

    fn queue(&self, queue: usize) -> String {
        format!("c{queue}")
    }
}

/// How ciphertexts are shown: histories write `<nonce>:c<conn>.s<sender>#<seq>` in base64
/// ([`ciphertext`]); anything else is shown by its first characters.
pub fn label(nonce: &str, msg: &str) -> String {
    if let Ok(bytes) = crate::profiles::edge_v1::wire::unb64(msg) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Some(rest) = text.strip_prefix(nonce).and_then(|r| r.strip_prefix(':')) {
                return rest.to_string();
            }
        }
    }
    let head: String = msg.chars().take(12).collect();
    format!("unknown {head:?}")
}

/// The ciphertext of message `seq` of sender `sender` on connection `conn`.
pub fn ciphertext(nonce: &str, conn: usize, sender: usize, seq: usize) -> String {
    crate::profiles::edge_v1::wire::b64(format!("{nonce}:c{conn}.s{sender}#{seq}"))
}

/// The request line and how it ended, for reports: `POST /c/x/messages -> 200`.
pub fn exchange_line(ex: &Exchange, outcome: &Outcome) -> String {
    let end = outcome
        .status()
        .map_or_else(|| "no answer".to_string(), |s| s.to_string());
    format!(
        "{} {} -> {end}",
        ex.request.method,
        ex.request.request_target()
    )
}

fn ms(us: u64) -> String {
    format!("{}.{:03}ms", us / 1000, us % 1000)
}

/// One line for operation `i`.
pub fn render_op(h: &[Op], i: usize, nonce: &str) -> String {
    let Some(op) = h.get(i) else {
        return format!("#{i}: (no such operation)");
    };
    let key = match op.used.key {
        Some((c, v)) => format!("signed {}{v}", c.name()),
        None => "unsigned".into(),
    };
    let uri = format!("{}{}", op.used.uri.0.name(), op.used.uri.1);
    let labels = |m: &[String]| -> String {
        m.iter()
            .map(|x| label(nonce, x))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let what = match &op.action {
        Action::Send { msgs } => format!("send [{}] to {uri}, {key}", labels(msgs)),
        Action::Retrieve { page, keep, got } => {
            let keep = if *keep { " keepMessages" } else { "" };
            let got = match got {
                Some(g) => format!(" returned [{}]", labels(g)),
                None => String::new(),
            };
            format!("retrieve pageSize {page}{keep} from {uri}, {key}{got}")
        }
        Action::Update {
            retires,
            disabled,
            by_sender,
        } => {
            let mut parts: Vec<String> = retires
                .iter()
                .map(|(c, v)| format!("replace {}{v}", c.name()))
                .collect();
            if let Some(d) = disabled {
                parts.push(if *d { "disable" } else { "enable" }.into());
            }
            let whose = if *by_sender { "PUT SU" } else { "PUT RU" };
            format!("{whose} {} via {uri}, {key}", parts.join(" + "))
        }
    };
    let end = match &op.outcome {
        Outcome::Status { status } => status.to_string(),
        Outcome::NoAnswer { reason, .. } => format!("no answer ({reason})"),
    };
    format!(
        "#{i} {}..{} {} c{}: {what} -> {end}",
        ms(op.invoke),
        ms(op.ret),
        op.actor,
        op.conn
    )
}

/// The operations `ops` of a history, one line each, in history order.
pub fn render(h: &[Op], ops: &[usize], nonce: &str) -> String {
    ops.iter()
        .map(|&i| render_op(h, i, nonce))
        .collect::<Vec<_>>()
        .join("\n")
}
