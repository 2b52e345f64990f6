//! Structure-aware mutations of a correct request, each expressed as case-file overrides so
//! that a finding replays as a case.
//!
//! Every mutation knows what the binding allows for the mutated request: the step of the
//! order of checks (§3.1) that must catch it and the statuses that step gives, or that the
//! executable model predicts it (signature faults, requests that stay valid), or that the
//! request may stay valid and may also be refused with a few named statuses (oversized
//! headers, bodies a server MAY accept). Families:
//!
//! - JSON: wrong types, huge, negative and fractional numbers, deep nesting, long strings,
//!   invalid UTF-8, duplicate members, unknown properties, truncation, non-objects;
//! - headers: `Content-Type` variants, duplicated and oversized fields, odd `Authorization`;
//! - signatures: every fault of the catalogue, for both signature headers, and wrong signers;
//! - paths and methods: near-miss paths, encodings of `CE`, extra segments, undefined methods;
//! - sizes: `Content-Length` values that lie, chunked bodies, bodies over the limit;
//! - valid extremes: the boundaries inside what the binding allows (`pageSize` 1, `PAGE_SIZE`,
//!   2^31−1 and large values, the longest `msg`, the most messages per send, the largest body,
//!   the shortest and longest `connectionID`), which a correct server accepts.

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::profiles::edge_v1::case::{OneOrMany, Step};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::sign::SigFault;
use crate::profiles::fuzzkit::{self, pick, short};

/// The step of the binding's order of checks (§3.1) that catches a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Step 1: unknown path or undefined method.
    Route,
    /// Step 2: body size and framing.
    Size,
    /// Step 2: Content-Type, UTF-8, JSON, object.
    Syntax,
    /// Step 2: a prohibited property on PUT SU.
    Prohibited,
    /// Step 2: the schema (required, unknown, mistyped properties, value formats).
    Schema,
    /// Step 3: a `connectionID` of another connection.
    Cid,
    /// Step 4: signatures.
    Auth,
    /// Step 5: state (unknown `fromMessageID`, ...).
    State,
}

/// What the binding allows for a mutated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The model's prediction for the mutated step (it reads signature faults and literal
    /// headers itself; for requests that stay valid it predicts the normal outcome).
    Model,
    /// Exactly these statuses: the fault is certain and the step that catches it is known.
    Statuses(Vec<u16>),
    /// The model's prediction, or one of these statuses (the server MAY refuse).
    ModelOr(Vec<u16>),
    /// The model's prediction for the step without its literal `Authorization` values: a
    /// form of the header the binding accepts (used on requests that change nothing).
    CleanModel,
    /// The model's prediction were the step's signature not to verify, or one of these
    /// statuses (a server that drops part of the target finds the signature wrong).
    UnverifiedOr(Vec<u16>),
}

/// One mutation applied to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// What was done, for deduplication and reports: `retrieve/json/number/-1`.
    pub shape: String,
    /// The step of §3.1 that must catch it (`None` when the request may stay valid).
    pub stage: Option<Stage>,
    /// The statuses allowed.
    pub expect: Expect,
    /// The rule a disallowed answer breaks (for [`Expect::Model`], the model names it).
    pub rule: &'static str,
    /// A narrower set of statuses a SHOULD rule prefers, with that rule.
    pub preferred: Option<(Vec<u16>, &'static str)>,
    /// The mutation replaces the body bytes.
    pub raw_body: bool,
    /// The mutation changes the body in any way.
    pub body: bool,
    /// For a mutation the binding refuses: the rule an acceptance (2xx) breaks, when it is
    /// narrower than the model's rule for the endpoint (a PKCS#1 v1.5 signature: B-SIG-ALG).
    pub accepted_breaks: Option<&'static str>,
    /// For a mutation that leaves the model's prediction as it was (a valid variant): the
    /// rule a 4xx the prediction does not allow breaks, when it is narrower than the model's
    /// (`Content-Type` with parameters: S-HDR-JSON).
    pub refused_breaks: Option<&'static str>,
}

impl Mutation {
    fn new(shape: String, stage: Option<Stage>, expect: Expect, rule: &'static str) -> Mutation {
        Mutation {
            shape,
            stage,
            expect,
            rule,
            preferred: None,
            raw_body: false,
            body: false,
            accepted_breaks: None,
            refused_breaks: None,
        }
    }

    fn accepted_breaks(mut self, rule: &'static str) -> Mutation {
        self.accepted_breaks = Some(rule);
        self
    }

    fn refused_breaks(mut self, rule: &'static str) -> Mutation {
        self.refused_breaks = Some(rule);
        self
    }

    fn reject(shape: String, stage: Stage, statuses: &[u16], rule: &'static str) -> Mutation {
        Mutation::new(
            shape,
            Some(stage),
            Expect::Statuses(statuses.to_vec()),
            rule,
        )
    }

    fn model(shape: String, stage: Option<Stage>) -> Mutation {
        Mutation::new(shape, stage, Expect::Model, "")
    }

    fn body(mut self) -> Mutation {
        self.body = true;
        self
    }

    fn raw(mut self) -> Mutation {
        self.body = true;
        self.raw_body = true;
        self
    }
}

/// What a mutation needs to know about the request it mutates.
#[derive(Debug, Clone)]
pub struct Site {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// The body the runner would send without overrides (values resolved).
    pub canonical: Map<String, Value>,
    /// The same body with `{cid:NAME}` and `{key:NAME}` in place of connection IDs and keys,
    /// for raw bodies (the runner fills them in, so a replay uses its own IDs and keys).
    pub template: Map<String, Value>,
    /// The path of `CE`.
    pub ce_path: String,
    /// A well-formed `connectionID` of another live connection (or a fresh one).
    pub foreign_cid: String,
    /// The step carries a key that needs `EM-New-Key-Signature`.
    pub new_key: bool,
    /// The step is a retrieval with `keepMessages: true` (changes nothing when accepted).
    pub keep_retrieve: bool,
    /// Keys of the other party, or retired keys, to sign with.
    pub wrong_signers: Vec<String>,
    /// A fresh message name for sends that grow.
    pub next_msg: usize,
    /// The server's `PAGE_SIZE`, when known.
    pub page_size: Option<usize>,
}

impl Site {
    /// The body as a raw-body template.
    fn canonical_text(&self) -> String {
        serde_json::to_string(&Value::Object(self.template.clone())).unwrap_or_default()
    }

    /// The body exactly as the runner sends it.
    fn resolved_text(&self) -> String {
        serde_json::to_string(&Value::Object(self.canonical.clone())).unwrap_or_default()
    }

    /// The canonical text with `,<member>` inserted before the closing brace.
    fn with_member(&self, member: &str) -> String {
        let mut t = self.canonical_text();
        t.pop();
        if self.canonical.is_empty() {
            t.push_str(member.trim_start_matches(','));
        } else {
            t.push_str(member);
        }
        t.push('}');
        t
    }

    fn name(&self) -> &'static str {
        self.endpoint.name()
    }
}

/// JSON types of the binding's request properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Cid,
    Key,
    Bool,
    Int,
    Str,
    Messages,
}

/// The properties of each endpoint's body.
fn schema(e: Endpoint) -> &'static [(&'static str, Ty)] {
    use Ty::*;
    match e {
        Endpoint::Create => &[
            ("connectionID", Cid),
            ("recipient", Key),
            ("sender", Key),
            ("disabled", Bool),
        ],
        Endpoint::Update => &[
            ("connectionID", Cid),
            ("recipient", Key),
            ("sender", Key),
            ("newRecipientURI", Bool),
            ("newSenderURI", Bool),
            ("disabled", Bool),
        ],
        Endpoint::Delete => &[("connectionID", Cid)],
        Endpoint::Retrieve => &[
            ("connectionID", Cid),
            ("pageSize", Int),
            ("fromMessageID", Str),
            ("keepMessages", Bool),
        ],
        Endpoint::DeleteMessages => &[
            ("connectionID", Cid),
            ("pageSize", Int),
            ("fromMessageID", Str),
        ],
        Endpoint::SenderUpdate => &[
            ("connectionID", Cid),
            ("sender", Key),
            ("newSenderURI", Bool),
        ],
        Endpoint::Send => &[("connectionID", Cid), ("messages", Messages)],
    }
}

/// Properties PUT SU refuses with 401 whatever their value (S-SUPD-PROHIB).
const PROHIBITED: [&str; 3] = ["recipient", "newRecipientURI", "disabled"];

/// Bodies larger than this may be over a conforming server's limit (B-SIZE: 16 messages of
/// 16,384 characters must fit), so 413 is allowed as well.
pub const SAFE_BODY: usize = 256 * 1024;

fn set(step: &mut Step, name: &str, v: Value) {
    step.set
        .get_or_insert_with(Map::new)
        .insert(name.to_string(), v);
}

fn set_path(step: &mut Step, ptr: &str, v: Value) {
    step.set_path
        .get_or_insert_with(Map::new)
        .insert(ptr.to_string(), v);
}

fn header(step: &mut Step, name: &str, value: &str) {
    step.headers
        .get_or_insert_with(Vec::new)
        .push((name.to_string(), value.to_string()));
}

/// A mutation operator: changes `step` and says what is allowed, or `None` when it does
/// not apply to this request.
type Operator = fn(&mut StdRng, &mut Step, &Site) -> Option<Mutation>;

/// JSON family.
const JSON: &[Operator] = &[
    wrong_type,
    number,
    number,
    raw_number,
    deep,
    long_string,
    bad_value,
    bad_value,
    utf8,
    duplicate,
    unknown,
    unknown,
    cid_mismatch,
    omit_required,
    truncate,
    not_object,
    trailing,
    message_fields,
];

/// Header family.
const HEADERS: &[Operator] = &[
    content_type,
    content_type,
    duplicate_auth,
    oversized_header,
    odd_header,
    auth_form,
    auth_form,
];

/// Signature family.
const SIGNATURES: &[Operator] = &[sig_fault, sig_fault, new_key_fault, wrong_signer];

/// Path and method family.
const ROUTES: &[Operator] = &[path_suffix, path_suffix, path_literal, ce_path, method];

/// Size family.
const SIZES: &[Operator] = &[
    short_length,
    bad_length,
    huge_length,
    chunked,
    oversized_body,
    batch,
    long_message,
];

/// Valid-extremes family: requests at the edges of the valid range (AFL's "interesting
/// values" inside the range), which the model predicts as accepted.
const VALID: &[Operator] = &[valid_extreme];

/// Families and their weights.
const FAMILIES: [(&[Operator], u32); 6] = [
    (JSON, 10),
    (HEADERS, 5),
    (SIGNATURES, 4),
    (ROUTES, 3),
    (SIZES, 3),
    (VALID, 3),
];

/// Operators that may be combined with another fault of a different stage.
const COMBINABLE: &[Operator] = &[
    wrong_type,
    unknown,
    bad_value,
    content_type,
    sig_fault,
    wrong_signer,
    path_suffix,
    method,
    cid_mismatch,
];

/// Apply one random mutation to `step`.
pub fn mutate(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let total: u32 = FAMILIES.iter().map(|(_, w)| w).sum();
    for _ in 0..8 {
        let mut roll = rng.random_range(0..total);
        let family = FAMILIES
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or(JSON, |(f, _)| *f);
        let op = pick(rng, family);
        let mut candidate = step.clone();
        if let Some(m) = op(rng, &mut candidate, site) {
            *step = candidate;
            return Some(m);
        }
    }
    None
}

/// Apply two faults of different stages (a multi-fault request, B-ORDER).
pub fn mutate_twice(
    rng: &mut StdRng,
    step: &mut Step,
    site: &Site,
) -> Option<(Mutation, Mutation)> {
    for _ in 0..8 {
        let mut candidate = step.clone();
        let Some(a) = pick(rng, COMBINABLE)(rng, &mut candidate, site) else {
            continue;
        };
        let Some(b) = pick(rng, COMBINABLE)(rng, &mut candidate, site) else {
            continue;
        };
        let distinct = matches!((a.stage, b.stage), (Some(x), Some(y)) if x != y);
        if distinct && !(a.body && b.body) {
            *step = candidate;
            return Some((a, b));
        }
    }
    None
}

// ---------------------------------------------------------------- JSON

fn wrong_type(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let (name, ty) = *pick(rng, schema(site.endpoint));
    let values: Vec<Value> = match ty {
        Ty::Cid | Ty::Key | Ty::Str => fuzzkit::not_strings(),
        Ty::Bool => vec![
            json!("true"),
            json!(1),
            json!(0),
            Value::Null,
            json!([]),
            json!({}),
        ],
        Ty::Int => vec![
            json!("5"),
            json!(2.5),
            json!(true),
            Value::Null,
            json!([]),
            json!({}),
            json!([5]),
        ],
        Ty::Messages => vec![
            json!({}),
            json!("QQ=="),
            json!([]),
            json!([1]),
            json!([["QQ=="]]),
            Value::Null,
            json!([{"msg": 5}]),
            json!([{"msg": null}]),
            json!([{}]),
            json!([{"msg": ["QQ=="]}]),
        ],
    };
    let v = pick(rng, &values).clone();
    let shape = format!("{}/json/type/{name}/{}", site.name(), short(&v));
    set(step, name, v);
    let rule = if name == "messages" {
        "S-SEND-BODY"
    } else {
        "S-GEN-400"
    };
    Some(Mutation::reject(shape, Stage::Schema, &[400], rule).body())
}

fn number(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if !matches!(site.endpoint, Endpoint::Retrieve | Endpoint::DeleteMessages) {
        return None;
    }
    // The boundaries below 1 come up most.
    let values = fuzzkit::extreme_numbers();
    let v = pick(rng, &values).clone();
    let shape = format!("{}/json/number/{v}", site.name());
    step.page_size = None;
    set(step, "pageSize", v);
    Some(Mutation::reject(shape, Stage::Schema, &[400], "S-GEN-400").body())
}

fn raw_number(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if !matches!(site.endpoint, Endpoint::Retrieve | Endpoint::DeleteMessages) {
        return None;
    }
    let t = *pick(rng, fuzzkit::RAW_NUMBERS);
    let mut site = site.clone();
    site.canonical.remove("pageSize");
    site.template.remove("pageSize");
    step.raw_body = Some(site.with_member(&format!(",\"pageSize\":{t}")));
    Some(
        Mutation::reject(
            format!("{}/json/raw-number/{t}", site.name()),
            Stage::Syntax,
            &[400],
            "S-GEN-400",
        )
        .raw(),
    )
}

fn deep(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let depth = *pick(rng, fuzzkit::DEPTHS);
    let kind = rng.random_range(0..3);
    let text = match kind {
        0 => site.with_member(&format!(",\"x\":{}", fuzzkit::nested_arrays(depth))),
        1 => fuzzkit::nested_arrays(depth),
        _ => fuzzkit::nested_objects(depth),
    };
    let what = ["member", "array", "object"][kind];
    let rule = if kind == 1 { "B-CT-400" } else { "S-GEN-400" };
    step.raw_body = Some(text);
    Some(
        Mutation::reject(
            format!("{}/json/deep/{what}/{depth}", site.name()),
            Stage::Syntax,
            &[400],
            rule,
        )
        .raw(),
    )
}

fn long_string(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let n = *pick(rng, fuzzkit::LONG_STRINGS);
    let (name, rule) = *pick(
        rng,
        &[
            ("connectionID", "B-CID-FMT"),
            ("x", "S-GEN-400"),
            ("recipient", "B-KEY-FMT"),
        ],
    );
    if name == "recipient" && !matches!(site.endpoint, Endpoint::Create | Endpoint::Update) {
        return None;
    }
    if name == "x" && rng.random_bool(0.5) {
        // A long unknown member name.
        set(step, &"k".repeat(n), json!(1));
        return Some(
            Mutation::reject(
                format!("{}/json/long-name/{n}", site.name()),
                Stage::Schema,
                &[400],
                rule,
            )
            .body(),
        );
    }
    set(step, name, json!({"$repeat": "A", "times": n}));
    Some(
        Mutation::reject(
            format!("{}/json/long/{name}/{n}", site.name()),
            Stage::Schema,
            &[400],
            rule,
        )
        .body(),
    )
}

fn bad_value(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let choice = rng.random_range(0..4);
    match choice {
        0 => {
            let v = *pick(
                rng,
                &[
                    "",
                    "short7c",
                    "has space here",
                    "a/b+c=de",
                    "ünïcödé-id",
                    "AAAAAAA\u{0}",
                    "........",
                ],
            );
            let shape = format!("{}/json/cid/{v:?}", site.name());
            set(step, "connectionID", json!(v));
            Some(Mutation::reject(shape, Stage::Schema, &[400], "B-CID-FMT").body())
        }
        1 => {
            let name = match site.endpoint {
                Endpoint::Create | Endpoint::Update => *pick(rng, &["recipient", "sender"]),
                Endpoint::SenderUpdate => "sender",
                _ => return None,
            };
            let special = *pick(rng, &["rsa1024", "rsa2047", "ec-p256", "pkcs1", "garbage"]);
            let (v, tag, rule): (Value, String, &str) = match rng.random_range(0..4) {
                0 => (
                    json!({"$key": special}),
                    special.to_string(),
                    if special == "pkcs1" {
                        "B-KEY-PKCS1"
                    } else {
                        "B-KEY-SIZE"
                    },
                ),
                1 => (json!("not base64!"), "not-base64".into(), "B-ENC-B64"),
                2 => (json!(""), "empty".into(), "B-KEY-FMT"),
                _ => {
                    let current = site
                        .canonical
                        .get(name)
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let k =
                        current.unwrap_or_else(|| crate::profiles::edge_v1::wire::b64([7u8; 48]));
                    let mid = k.len() / 2;
                    (
                        json!(format!("{}\n{}", &k[..mid], &k[mid..])),
                        "line-break".into(),
                        "B-ENC-B64",
                    )
                }
            };
            set(step, name, v);
            Some(
                Mutation::reject(
                    format!("{}/json/key/{name}/{tag}", site.name()),
                    Stage::Schema,
                    &[400],
                    rule,
                )
                .body(),
            )
        }
        2 => {
            if site.endpoint != Endpoint::Send {
                return None;
            }
            let v = *pick(
                rng,
                &[
                    "", "!!!!", "QQ", "QQ=", "-_-_", "QU FB", "QUFB\n", "=QQ=", "QQ==QQ==",
                ],
            );
            set_path(step, "/messages/0/msg", json!(v));
            Some(
                Mutation::reject(
                    format!("send/json/msg/{v:?}"),
                    Stage::Schema,
                    &[400],
                    "B-MSG-FMT",
                )
                .body(),
            )
        }
        _ => {
            if !matches!(site.endpoint, Endpoint::Retrieve | Endpoint::DeleteMessages) {
                return None;
            }
            // A string that is no id of this connection: refused at the state step.
            let v = *pick(rng, &["", "unknown-id", "0", " "]);
            step.from_message = None;
            set(step, "fromMessageID", json!(v));
            let rule = if site.endpoint == Endpoint::Retrieve {
                "S-RETR-400"
            } else {
                "S-DELM-400"
            };
            Some(
                Mutation::reject(
                    format!("{}/json/from/{v:?}", site.name()),
                    Stage::State,
                    &[400],
                    rule,
                )
                .body(),
            )
        }
    }
}

fn utf8(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let (tag, bytes) = *pick(rng, &fuzzkit::BAD_UTF8);
    let text = site.with_member(",\"x\":\"@\"");
    let at = text.rfind('@').expect("marker just written");
    let mut out = text.as_bytes()[..at].to_vec();
    out.extend_from_slice(bytes);
    out.extend_from_slice(&text.as_bytes()[at + 1..]);
    step.raw_body_base64 = Some(crate::profiles::edge_v1::wire::b64(&out));
    Some(
        Mutation::reject(
            format!("{}/json/utf8/{tag}", site.name()),
            Stage::Syntax,
            &[400],
            "B-CT-400",
        )
        .raw(),
    )
}

fn duplicate(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    // Duplicates of members that are wrong either way: 400 whichever copy a parser keeps.
    let (tag, member) = *pick(
        rng,
        &[
            ("unknown", ",\"x\":1,\"x\":1"),
            ("cid", ",\"connectionID\":5,\"connectionID\":5"),
            ("null", ",\"connectionID\":null,\"connectionID\":null"),
        ],
    );
    let mut site = site.clone();
    if tag != "unknown" {
        site.canonical.remove("connectionID");
        site.template.remove("connectionID");
    }
    step.raw_body = Some(site.with_member(member));
    let mut m = Mutation::reject(
        format!("{}/json/duplicate/{tag}", site.name()),
        Stage::Syntax,
        &[400],
        "S-GEN-400",
    )
    .raw();
    m.preferred = Some((vec![400], "B-JSON-DUP"));
    Some(m)
}

fn unknown(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let mut names: Vec<&str> = vec![
        "x",
        "extra",
        "id",
        "ts",
        "msg",
        "Recipient",
        "connectionId",
        "CONNECTIONID",
        "connectionID ",
        " connectionID",
        "__proto__",
        "constructor",
        "",
        "pageSize",
        "keepMessages",
        "messages",
        "sender",
        "recipient",
        "disabled",
        "newRecipientURI",
        "newSenderURI",
        "fromMessageID",
        "afterMessageID",
    ];
    let known: Vec<&str> = schema(site.endpoint).iter().map(|(n, _)| *n).collect();
    names.retain(|n| !known.contains(n));
    let name = *pick(rng, &names);
    let v = pick(
        rng,
        &[
            json!(1),
            Value::Null,
            json!("x"),
            json!({}),
            json!(false),
            json!([]),
        ],
    )
    .clone();
    let shape = format!("{}/json/unknown/{name:?}", site.name());
    set(step, name, v);
    if site.endpoint == Endpoint::SenderUpdate && PROHIBITED.contains(&name) {
        return Some(Mutation::reject(shape, Stage::Prohibited, &[401], "S-SUPD-PROHIB").body());
    }
    Some(Mutation::reject(shape, Stage::Schema, &[400], "S-GEN-400").body())
}

fn omit_required(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let required: &[&str] = match site.endpoint {
        Endpoint::Create => &["connectionID", "recipient"],
        Endpoint::Send => &["connectionID", "messages"],
        _ => &["connectionID"],
    };
    let name = *pick(rng, required);
    step.omit
        .get_or_insert_with(Vec::new)
        .push(name.to_string());
    Some(
        Mutation::reject(
            format!("{}/json/omit/{name}", site.name()),
            Stage::Schema,
            &[400],
            "S-GEN-400",
        )
        .body(),
    )
}

fn truncate(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    // The real bytes cut short (a template cut inside a placeholder would not be filled).
    let text = site.resolved_text();
    let mut k = rng.random_range(0..text.len().max(1));
    while !text.is_char_boundary(k) {
        k -= 1;
    }
    step.raw_body = Some(text[..k].to_string());
    Some(
        Mutation::reject(
            format!("{}/json/truncate", site.name()),
            Stage::Syntax,
            &[400],
            "B-CT-400",
        )
        .raw(),
    )
}

fn not_object(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let text = site.canonical_text();
    let bodies = fuzzkit::not_objects(&text);
    let b = pick(rng, &bodies).clone();
    let tag = if b.len() > 12 {
        format!(
            "{}…",
            &b[..b.char_indices().nth(8).map_or(b.len(), |(i, _)| i)]
        )
    } else {
        b.clone()
    };
    step.raw_body = Some(b);
    Some(
        Mutation::reject(
            format!("{}/json/not-object/{tag:?}", site.name()),
            Stage::Syntax,
            &[400],
            "B-CT-400",
        )
        .raw(),
    )
}

fn trailing(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if rng.random_bool(0.2) {
        // JSON whitespace after the value is allowed (B-CT-400).
        step.append_body = Some(" \t\r\n".into());
        return Some(
            Mutation::model(format!("{}/json/trailing-whitespace", site.name()), None).body(),
        );
    }
    let t = *pick(rng, fuzzkit::TRAILING);
    step.append_body = Some(t.into());
    Some(
        Mutation::reject(
            format!("{}/json/trailing/{t:?}", site.name()),
            Stage::Syntax,
            &[400],
            "B-CT-400",
        )
        .body(),
    )
}

fn message_fields(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if site.endpoint != Endpoint::Send {
        return None;
    }
    let name = *pick(rng, &["id", "ts", "extra", "MSG", "msg2", ""]);
    set_path(step, &format!("/messages/0/{name}"), json!("x"));
    Some(
        Mutation::reject(
            format!("send/json/message-field/{name:?}"),
            Stage::Schema,
            &[400],
            "S-SEND-BODY",
        )
        .body(),
    )
}

/// A well-formed `connectionID` of another connection (step 3: 404).
fn cid_mismatch(_rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if site.endpoint == Endpoint::Create {
        return None;
    }
    set(step, "connectionID", json!(site.foreign_cid));
    Some(
        Mutation::reject(
            format!("{}/cid/other", site.name()),
            Stage::Cid,
            &[404],
            "S-CID-404",
        )
        .body(),
    )
}

// ---------------------------------------------------------------- headers

fn content_type(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let (valid, invalid) = (fuzzkit::CONTENT_TYPES_VALID, fuzzkit::CONTENT_TYPES_INVALID);
    match rng.random_range(0..5) {
        0 => {
            let v = *pick(rng, valid);
            step.content_type = Some(Some(OneOrMany::One(v.into())));
            Some(
                Mutation::model(format!("{}/ct/valid/{v:?}", site.name()), None)
                    .refused_breaks("S-HDR-JSON"),
            )
        }
        1 => {
            step.content_type = Some(None);
            Some(Mutation::reject(
                format!("{}/ct/missing", site.name()),
                Stage::Syntax,
                &[400],
                "B-CT-400",
            ))
        }
        2 => {
            step.content_type = Some(Some(OneOrMany::Many(vec![
                "application/json".into(),
                "application/json".into(),
            ])));
            Some(Mutation::reject(
                format!("{}/ct/twice", site.name()),
                Stage::Syntax,
                &[400],
                "B-CT-400",
            ))
        }
        _ => {
            let v = *pick(rng, invalid);
            step.content_type = Some(Some(OneOrMany::One(v.into())));
            Some(Mutation::reject(
                format!("{}/ct/invalid/{v:?}", site.name()),
                Stage::Syntax,
                &[400],
                "B-CT-400",
            ))
        }
    }
}

fn duplicate_auth(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if site.new_key && rng.random_bool(0.5) {
        step.new_key_signature = Some(vec!["{sig}".into(), "{sig}".into()]);
        return Some(Mutation::model(
            format!("{}/header/new-key-twice", site.name()),
            Some(Stage::Auth),
        ));
    }
    step.authorization = Some(vec!["EMSig {sig}".into(), "EMSig {sig}".into()]);
    Some(
        Mutation::model(
            format!("{}/header/authorization-twice", site.name()),
            Some(Stage::Auth),
        )
        .accepted_breaks("B-SIG-HDR"),
    )
}

fn oversized_header(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    // Over HTTP/1.1 (`Connection: close` takes the raw path): an HTTP/2 peer may reset the
    // stream instead of answering, which HTTP/2 allows.
    header(step, "Connection", "close");
    let tag = if rng.random_bool(0.5) {
        let n = *pick(rng, fuzzkit::HEADER_SIZES);
        header(step, "X-Fuzz-Pad", &"a".repeat(n));
        format!("long/{n}")
    } else {
        let n = *pick(rng, fuzzkit::HEADER_COUNTS);
        for i in 0..n {
            header(step, &format!("X-Fuzz-{i}"), "v");
        }
        format!("many/{n}")
    };
    Some(Mutation::new(
        format!("{}/header/{tag}", site.name()),
        None,
        Expect::ModelOr(vec![400, 413, 431]),
        "B-NO-5XX",
    ))
}

fn odd_header(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    header(step, "Connection", "close");
    let (tag, name, value) = *pick(rng, fuzzkit::ODD_HEADERS);
    header(step, name, value);
    Some(Mutation::new(
        format!("{}/header/{tag}", site.name()),
        None,
        Expect::ModelOr(vec![400]),
        "B-NO-5XX",
    ))
}

fn auth_form(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let valid = [
        "emsig {sig}",
        "EMSIG {sig}",
        "eMsIg {sig}",
        "  EMSig {sig}  ",
    ];
    if site.keep_retrieve && rng.random_bool(0.3) {
        let v = *pick(rng, &valid);
        step.authorization = Some(vec![v.into()]);
        header(step, "Connection", "close");
        return Some(Mutation::new(
            format!("retrieve/auth/valid/{v:?}"),
            None,
            Expect::CleanModel,
            "B-SIG-HDR",
        ));
    }
    let invalid = [
        "EMSig  {sig}",
        "EMSig\t{sig}",
        "Bearer {sig}",
        "EMSig",
        "EMSig ",
        "{sig}",
        "EMSig {sig} x",
        "EMSig {sig},EMSig {sig}",
        "EMSig1 {sig}",
        "EMSig {sig}=",
        "EMSig ={sig}",
        "EMSig \"{sig}\"",
        "EMSig:{sig}",
        "",
        "Basic dXNlcjpwYXNz",
    ];
    let v = *pick(rng, &invalid);
    step.authorization = Some(vec![v.into()]);
    Some(
        Mutation::model(
            format!("{}/auth/invalid/{v:?}", site.name()),
            Some(Stage::Auth),
        )
        .accepted_breaks("B-SIG-HDR"),
    )
}

// ---------------------------------------------------------------- signatures

fn sig_fault(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let f = *pick(rng, &SigFault::ALL);
    step.sig_fault = Some(f);
    let m = Mutation::model(format!("{}/sig/{f:?}", site.name()), Some(Stage::Auth));
    Some(match sig_fault_rule(f, site.endpoint) {
        Some(rule) => m.accepted_breaks(rule),
        None => m,
    })
}

/// The rule a server that accepts a signature with fault `f` on `endpoint` breaks, when it
/// is narrower than "the signature does not verify" (the model's rule for the endpoint).
fn sig_fault_rule(f: SigFault, endpoint: Endpoint) -> Option<&'static str> {
    let sender = matches!(endpoint, Endpoint::Send | Endpoint::SenderUpdate);
    match f {
        SigFault::Pkcs1v15 if sender => Some("S-CRYPTO-PSS"),
        SigFault::Pkcs1v15 | SigFault::Salt20 | SigFault::Salt0 | SigFault::Salt64 => {
            Some("B-SIG-ALG")
        }
        SigFault::WrongPath
        | SigFault::WrongMethod
        | SigFault::WrongBody
        | SigFault::EmptyBody
        | SigFault::DropQuery => Some("B-SIG-INPUT"),
        SigFault::Base64url | SigFault::NoPadding => Some("B-ENC-B64"),
        SigFault::Truncated
        | SigFault::Bitflip
        | SigFault::Empty
        | SigFault::NotBase64
        | SigFault::OtherKey => None,
    }
}

fn new_key_fault(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if !site.new_key {
        return None;
    }
    let tag = match rng.random_range(0..3) {
        0 => {
            let f = *pick(rng, &SigFault::ALL);
            step.new_key_sig_fault = Some(f);
            format!("{f:?}")
        }
        1 => {
            step.new_key_sig_with = Some(None);
            "missing".into()
        }
        _ => {
            step.new_key_sig_with = Some(Some(format!("{}.stranger", step.conn)));
            "stranger".into()
        }
    };
    // Whatever is wrong with it, a new-key signature accepted breaks B-SIG-NEWKEY, the
    // model's rule, as the scripted cases say.
    Some(Mutation::model(
        format!("{}/new-key-sig/{tag}", site.name()),
        Some(Stage::Auth),
    ))
}

fn wrong_signer(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let tag = match rng.random_range(0..3) {
        0 if !site.wrong_signers.is_empty() => {
            let k = pick(rng, &site.wrong_signers).clone();
            step.sign_with = Some(Some(k));
            "other-or-retired"
        }
        1 => {
            step.sign_with = Some(None);
            "unsigned"
        }
        _ => {
            step.sign_with = Some(Some(format!("{}.stranger", step.conn)));
            "stranger"
        }
    };
    let m = Mutation::model(format!("{}/signer/{tag}", site.name()), Some(Stage::Auth));
    // Refused where the prediction stays that of a send signed as usual: no SK is set yet.
    Some(if site.endpoint == Endpoint::Send {
        m.refused_breaks("S-G-OPEN")
    } else {
        m
    })
}

// ---------------------------------------------------------------- paths and methods

fn path_suffix(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let mut suffixes = fuzzkit::PATH_SUFFIXES.to_vec();
    if site.endpoint.is_messages() {
        suffixes.push("/messages");
    }
    let s = *pick(rng, &suffixes);
    step.path_suffix = Some(s.into());
    // A bare or broken percent-escape may be refused as a malformed request-target.
    let statuses: &[u16] = if s.starts_with('%') && !s.starts_with("%2") && s != "%00" {
        &[400, 404]
    } else {
        &[404]
    };
    Some(Mutation::reject(
        format!("{}/path/suffix/{s:?}", site.name()),
        Stage::Route,
        statuses,
        "S-GEN-404",
    ))
}

/// Literal request-targets built on the computed path (`{path}`): dot-segments a client
/// library would remove, and queries, which routing ignores and the signature covers.
fn path_literal(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let table: [(&str, &str, &[u16]); 8] = [
        ("{path}/..", "dot-dot", &[404]),
        ("{path}/.", "dot", &[404]),
        ("{path}/./", "dot-slash", &[404]),
        ("{path}/../", "dot-dot-slash", &[404]),
        ("/./{path}", "leading-dot", &[404]),
        ("{path}?", "bare-query", &[]),
        ("{path}?x=1", "query", &[]),
        ("{path}#frag", "fragment", &[400, 404]),
    ];
    let (p, tag, statuses) = *pick(rng, &table);
    step.path = Some(p.into());
    let shape = format!("{}/path/literal/{tag}", site.name());
    if tag == "fragment" {
        // A fragment is no part of a request-target: a server refuses it, or drops it and
        // then finds the signature (made over the target with it) wrong.
        return Some(Mutation::new(
            shape,
            None,
            Expect::UnverifiedOr(statuses.to_vec()),
            "S-GEN-404",
        ));
    }
    if statuses.is_empty() {
        return Some(Mutation::model(shape, None));
    }
    Some(Mutation::reject(shape, Stage::Route, statuses, "S-GEN-404"))
}

fn ce_path(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if site.endpoint != Endpoint::Create {
        return None;
    }
    let p = site.ce_path.clone();
    let last = p.rfind('/').map_or(0, |i| i + 1);
    let variants: Vec<(String, &str)> = {
        let mut v = vec![
            (p.to_uppercase(), "upper"),
            (format!("{p}/."), "dot"),
            (format!("{p}/.."), "dot-dot"),
            (format!("/.{p}"), "leading-dot"),
            (format!("/x/..{p}"), "parent"),
            (format!("{p};x"), "params"),
            (format!("{p}%2F"), "encoded-slash"),
            (format!("{p}%00"), "nul"),
        ];
        if let Some(c) = p[last..].chars().next().filter(char::is_ascii_alphanumeric) {
            v.push((
                format!("{}%{:02X}{}", &p[..last], c as u32, &p[last + 1..]),
                "encoded-char",
            ));
            v.push((
                format!("{}%{:02x}{}", &p[..last], c as u32, &p[last + 1..]),
                "encoded-char-lower",
            ));
        }
        v
    };
    let (path, tag) = pick(rng, &variants).clone();
    if path == p {
        return None;
    }
    step.path = Some(path);
    Some(Mutation::reject(
        format!("create/path/ce/{tag}"),
        Stage::Route,
        &[404],
        "S-GEN-404",
    ))
}

fn method(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let defined: &[&str] = match site.endpoint {
        Endpoint::Create | Endpoint::Send => &["POST"],
        Endpoint::Update | Endpoint::Delete => &["PUT", "DELETE"],
        Endpoint::Retrieve | Endpoint::DeleteMessages => &["POST", "DELETE"],
        Endpoint::SenderUpdate => &["PUT"],
    };
    let candidates: Vec<&str> = fuzzkit::METHODS
        .iter()
        .copied()
        .filter(|m| !defined.contains(m))
        .collect();
    let m = *pick(rng, &candidates);
    step.method = Some(m.into());
    Some(Mutation::reject(
        format!("{}/method/{m}", site.name()),
        Stage::Route,
        &[404, 405],
        "B-METHOD",
    ))
}

// ---------------------------------------------------------------- sizes

fn short_length(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let len = site.resolved_text().len();
    if len < 2 {
        return None;
    }
    let declared = rng.random_range(0..len);
    header(step, "Content-Length", &declared.to_string());
    Some(Mutation::reject(
        format!("{}/size/length-short", site.name()),
        Stage::Syntax,
        &[400],
        "B-CT-400",
    ))
}

fn bad_length(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let len = site.resolved_text().len();
    let values = [
        "abc".to_string(),
        "-1".into(),
        "0x10".into(),
        "1e3".into(),
        format!("+{len}"),
        format!("{len}, {}", len + 1),
        "18446744073709551616".into(),
    ];
    let v = pick(rng, &values).clone();
    if rng.random_bool(0.3) {
        header(step, "Content-Length", &len.to_string());
        header(step, "Content-Length", &(len + 1).to_string());
        return Some(Mutation::reject(
            format!("{}/size/length-twice", site.name()),
            Stage::Size,
            &[400, 411, 413],
            "B-SIZE",
        ));
    }
    let tag = if v.contains(',') {
        "list".to_string()
    } else if v.starts_with('+') {
        "plus".into()
    } else {
        v.clone()
    };
    header(step, "Content-Length", &v);
    Some(Mutation::reject(
        format!("{}/size/length-invalid/{tag}", site.name()),
        Stage::Size,
        &[400, 411, 413],
        "B-SIZE",
    ))
}

fn huge_length(_rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    header(step, "Content-Length", "1099511627776");
    Some(Mutation::reject(
        format!("{}/size/length-huge", site.name()),
        Stage::Size,
        &[413, 400],
        "B-SIZE",
    ))
}

/// `text` in chunks of the given sizes (cycled).
fn chunk(text: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < text.len() {
        let n = sizes[k % sizes.len()].clamp(1, text.len() - i);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&text[i..i + n]);
        out.extend_from_slice(b"\r\n");
        i += n;
        k += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn chunked(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    let text = site.canonical_text();
    let sizes = [rng.random_range(1..64usize), rng.random_range(1..8)];
    header(step, "Transfer-Encoding", "chunked");
    let kind = rng.random_range(0..5);
    let (body, tag, m): (Vec<u8>, &str, Mutation) = match kind {
        0 | 1 if site.endpoint == Endpoint::Create => {
            // Well-formed chunks: the server decodes them, so the signature (made over the
            // chunked bytes) does not verify; a server without chunked support refuses.
            step.authorization = Some(vec!["EMSig {sig}".into()]);
            let mut b = chunk(text.as_bytes(), &sizes);
            if kind == 1 {
                let ext = b.iter().position(|&c| c == b'\r').unwrap_or(0);
                b.splice(ext..ext, b";ext=1".iter().copied());
            }
            let tag = if kind == 1 { "extension" } else { "valid" };
            (
                b,
                tag,
                Mutation::new(
                    String::new(),
                    None,
                    Expect::ModelOr(vec![400, 411]),
                    "B-SIZE",
                ),
            )
        }
        0 | 1 => {
            // Well-formed chunks of a body that is wrong in any case.
            let bad = site.with_member(",\"x\":1");
            (
                chunk(bad.as_bytes(), &sizes),
                "valid-bad-json",
                Mutation::reject(String::new(), Stage::Schema, &[400], "S-GEN-400"),
            )
        }
        2 => {
            let mut b = format!("{:x}\r\n", text.len() / 2).into_bytes();
            b.extend_from_slice(text.as_bytes());
            b.extend_from_slice(b"\r\n0\r\n\r\n");
            (
                b,
                "size-short",
                Mutation::reject(String::new(), Stage::Size, &[400], "B-SIZE"),
            )
        }
        3 => {
            let mut b = b"zz\r\n".to_vec();
            b.extend_from_slice(text.as_bytes());
            b.extend_from_slice(b"\r\n0\r\n\r\n");
            (
                b,
                "size-not-hex",
                Mutation::reject(String::new(), Stage::Size, &[400], "B-SIZE"),
            )
        }
        _ => {
            let mut b = b"ffffffffffffffffffff\r\n".to_vec();
            b.extend_from_slice(text.as_bytes());
            b.extend_from_slice(b"\r\n0\r\n\r\n");
            (
                b,
                "size-overflow",
                Mutation::reject(String::new(), Stage::Size, &[400, 413], "B-SIZE"),
            )
        }
    };
    header(step, "Connection", "close");
    step.raw_body_base64 = Some(crate::profiles::edge_v1::wire::b64(&body));
    let mut m = m.raw();
    m.shape = format!("{}/size/chunked/{tag}", site.name());
    Some(m)
}

/// One draw in this many keeps an oversized body; on the others the family is drawn again.
/// Such a request costs client and server about as much as a hundred ordinary ones
/// (megabytes built, hashed, encrypted and written), and at full weight it took a sixth of
/// the fuzzer's time for one request in seventy. Like AFL, which gives slow inputs less
/// energy, the fuzzer sends it less often: still several times a second.
pub const OVERSIZED_ODDS: u32 = 4;

fn oversized_body(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if !rng.random_ratio(1, OVERSIZED_ODDS) {
        return None;
    }
    let n = *pick(rng, &[1_100_000usize, 2_000_000, 4_200_000]);
    set(step, "x", json!({"$repeat": "A", "times": n}));
    header(step, "Connection", "close");
    Some(
        Mutation::reject(
            format!("{}/size/body/{n}", site.name()),
            Stage::Size,
            &[413, 400],
            "B-SIZE",
        )
        .body(),
    )
}

fn batch(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if site.endpoint != Endpoint::Send {
        return None;
    }
    // 16 messages, the most a server must accept, are a valid extreme (`valid_extreme`).
    let n = *pick(rng, &[17usize, 64]);
    step.messages = Some((0..n).map(|i| format!("fz{}", site.next_msg + i)).collect());
    Some(Mutation::new(
        format!("send/size/batch/{n}"),
        None,
        Expect::ModelOr(vec![400, 413]),
        "B-SIZE",
    ))
}

fn long_message(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    if site.endpoint != Endpoint::Send {
        return None;
    }
    // A msg of 16,384 characters, the longest a server must accept, is a valid extreme.
    let n = *pick(rng, &[16_388usize, 300_000]);
    set_path(step, "/messages/0/msg", json!("A".repeat(n)));
    Some(
        Mutation::new(
            format!("send/size/msg/{n}"),
            None,
            Expect::ModelOr(vec![400, 413]),
            "B-SIZE",
        )
        .body(),
    )
}

// ---------------------------------------------------------------- valid extremes

/// The largest `pageSize` (and other integer) the binding allows: 2^31−1 (S-GEN-400).
pub const MAX_INT: u64 = (1 << 31) - 1;

/// The longest `msg` a server must accept, in base64 characters (B-SIZE).
pub const MAX_MSG: usize = 16_384;

/// The most messages per send a server must accept (B-SIZE).
pub const MAX_MESSAGES: usize = 16;

/// The shortest and longest legal `connectionID` (B-CID-FMT).
pub const CID_LENGTHS: [usize; 2] = [8, 64];

/// A valid request at an edge of the valid range: the model predicts its outcome, so a
/// correct server passes and one that fails on large but legal values is a finding.
fn valid_extreme(rng: &mut StdRng, step: &mut Step, site: &Site) -> Option<Mutation> {
    match site.endpoint {
        Endpoint::Retrieve | Endpoint::DeleteMessages => Some(valid_page_size(rng, step, site)),
        Endpoint::Send => Some(valid_send(rng, step, site)),
        Endpoint::Create if step.cid.is_none() => Some(valid_cid(rng, step)),
        _ => None,
    }
}

/// The `pageSize` values at the edges of the valid range, large ones most often.
fn page_sizes(rng: &mut StdRng, page_size: Option<usize>) -> Vec<u64> {
    let mut v = vec![
        1,
        1 << 16,
        MAX_INT,
        MAX_INT,
        MAX_INT - 1,
        1 << 30,
        2_000_000,
        1_000_000,
        rng.random_range(1_000_000..=MAX_INT),
        rng.random_range(1_000_000..=MAX_INT),
    ];
    if let Some(p) = page_size.map(|p| p as u64).filter(|p| *p < MAX_INT) {
        v.extend([p, p + 1]);
    }
    v
}

fn valid_page_size(rng: &mut StdRng, step: &mut Step, site: &Site) -> Mutation {
    let mut sizes = page_sizes(rng, site.page_size);
    sizes.retain(|&n| Some(n) != step.page_size);
    let n = *pick(rng, &sizes);
    step.page_size = Some(n);
    Mutation::model(format!("{}/valid/page-size/{n}", site.name()), None).body()
}

fn valid_send(rng: &mut StdRng, step: &mut Step, site: &Site) -> Mutation {
    let longest = || json!({"$repeat": "A", "times": MAX_MSG});
    match rng.random_range(0..3) {
        0 => {
            step.messages = Some(
                (0..MAX_MESSAGES)
                    .map(|i| format!("fz{}", site.next_msg + i))
                    .collect(),
            );
            Mutation::model(format!("send/valid/batch/{MAX_MESSAGES}"), None).body()
        }
        1 => {
            set_path(step, "/messages/0/msg", longest());
            Mutation::model(format!("send/valid/msg/{MAX_MSG}"), None).body()
        }
        _ => {
            // The largest body B-SIZE asks a server to accept: 16 messages of 16,384 each.
            step.messages = Some(
                (0..MAX_MESSAGES)
                    .map(|i| format!("fz{}", site.next_msg + i))
                    .collect(),
            );
            for i in 0..MAX_MESSAGES {
                set_path(step, &format!("/messages/{i}/msg"), longest());
            }
            Mutation::model(format!("send/valid/body/{MAX_MESSAGES}x{MAX_MSG}"), None).body()
        }
    }
}

fn valid_cid(rng: &mut StdRng, step: &mut Step) -> Mutation {
    // A fresh ID on every run, so that the finding's case replays on the same server.
    let n = *pick(rng, &CID_LENGTHS);
    set(step, "connectionID", json!({ "$freshCid": n }));
    Mutation::model(format!("create/valid/cid/{n}"), None).body()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn site(endpoint: Endpoint) -> Site {
        let mut canonical = Map::new();
        canonical.insert("connectionID".into(), json!("AAAAAAAAAAAAAAAAAAAAAA"));
        match endpoint {
            Endpoint::Send => {
                canonical.insert("messages".into(), json!([{"msg": "QQ=="}]));
            }
            Endpoint::Retrieve => {
                canonical.insert("pageSize".into(), json!(2));
            }
            Endpoint::Create => {
                canonical.insert("recipient".into(), json!("QUFB"));
            }
            _ => {}
        }
        Site {
            endpoint,
            template: canonical.clone(),
            canonical,
            ce_path: "/connection".into(),
            foreign_cid: "BBBBBBBBBBBBBBBBBBBBBB".into(),
            new_key: endpoint == Endpoint::Update,
            keep_retrieve: endpoint == Endpoint::Retrieve,
            wrong_signers: vec!["other".into()],
            next_msg: 100,
            page_size: Some(10),
        }
    }

    fn base(endpoint: Endpoint) -> Step {
        Step {
            op: Some(crate::profiles::edge_v1::case::Op::Call(Endpoint::Send)),
            conn: "p0".into(),
            ..Step::default()
        }
        .with_endpoint(endpoint)
    }

    trait WithEndpoint {
        fn with_endpoint(self, e: Endpoint) -> Step;
    }

    impl WithEndpoint for Step {
        fn with_endpoint(mut self, e: Endpoint) -> Step {
            self.op = Some(e.into());
            self
        }
    }

    #[test]
    fn every_mutation_changes_the_step_and_states_what_is_allowed() {
        let mut rng = StdRng::seed_from_u64(7);
        for e in Endpoint::ALL {
            let s = site(e);
            for _ in 0..300 {
                let mut step = base(e);
                let before = step.clone();
                let Some(m) = mutate(&mut rng, &mut step, &s) else {
                    continue;
                };
                assert_ne!(step, before, "{} left the step unchanged", m.shape);
                assert!(m.shape.starts_with(e.name()), "{} on {}", m.shape, e.name());
                match &m.expect {
                    Expect::Statuses(s) => {
                        assert!(
                            !s.is_empty() && s.iter().all(|c| (400..500).contains(c)),
                            "{}: {s:?}",
                            m.shape
                        );
                        assert!(m.stage.is_some() && !m.rule.is_empty(), "{}", m.shape);
                    }
                    Expect::ModelOr(s) | Expect::UnverifiedOr(s) => {
                        assert!(s.iter().all(|c| (400..500).contains(c)), "{}", m.shape)
                    }
                    Expect::CleanModel => assert!(s.keep_retrieve, "{}", m.shape),
                    Expect::Model => {}
                }
                // A mutated step still serialises as a case step and reads back the same.
                let text = serde_json::to_string(&step).unwrap();
                let back: Step = serde_json::from_str(&text).unwrap();
                assert_eq!(back, step, "{}", m.shape);
            }
        }
    }

    #[test]
    fn prohibited_properties_on_sender_update_are_401_others_400() {
        let mut rng = StdRng::seed_from_u64(3);
        let s = site(Endpoint::SenderUpdate);
        let mut seen = (false, false);
        for _ in 0..400 {
            let mut step = base(Endpoint::SenderUpdate);
            let m = unknown(&mut rng, &mut step, &s).unwrap();
            let name = step.set.as_ref().unwrap().keys().next().unwrap().clone();
            if PROHIBITED.contains(&name.as_str()) {
                assert_eq!(m.expect, Expect::Statuses(vec![401]), "{name}");
                assert_eq!(m.stage, Some(Stage::Prohibited));
                seen.0 = true;
            } else {
                assert_eq!(m.expect, Expect::Statuses(vec![400]), "{name}");
                seen.1 = true;
            }
        }
        assert_eq!(seen, (true, true));
    }

    #[test]
    fn undefined_methods_are_never_the_endpoints_own() {
        let mut rng = StdRng::seed_from_u64(5);
        for e in Endpoint::ALL {
            for _ in 0..100 {
                let mut step = base(e);
                method(&mut rng, &mut step, &site(e)).unwrap();
                let m = step.method.unwrap();
                let own = match e {
                    Endpoint::Update | Endpoint::Delete => ["PUT", "DELETE"].contains(&m.as_str()),
                    Endpoint::Retrieve | Endpoint::DeleteMessages => {
                        ["POST", "DELETE"].contains(&m.as_str())
                    }
                    Endpoint::SenderUpdate => m == "PUT",
                    Endpoint::Create | Endpoint::Send => m == "POST",
                };
                assert!(!own, "{m} on {}", e.name());
            }
        }
    }

    #[test]
    fn truncation_never_yields_a_complete_object() {
        let mut rng = StdRng::seed_from_u64(9);
        let s = site(Endpoint::Send);
        for _ in 0..200 {
            let mut step = base(Endpoint::Send);
            truncate(&mut rng, &mut step, &s).unwrap();
            let body = step.raw_body.unwrap();
            assert!(
                crate::profiles::edge_v1::wire::parse_object_strict(body.as_bytes()).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn chunks_reassemble_to_the_body() {
        let body = br#"{"connectionID":"abc","messages":[{"msg":"QQ=="}]}"#;
        let c = chunk(body, &[5, 3]);
        let mut out = Vec::new();
        let mut rest = &c[..];
        loop {
            let Ok(httparse::Status::Complete((used, size))) = httparse::parse_chunk_size(rest)
            else {
                panic!("bad chunk")
            };
            rest = &rest[used..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[..size as usize]);
            rest = &rest[size as usize + 2..];
        }
        assert_eq!(out, body);
    }

    #[test]
    fn valid_extremes_stay_inside_the_binding_and_are_left_to_the_model() {
        let mut rng = StdRng::seed_from_u64(13);
        let mut large_page = false;
        for e in Endpoint::ALL {
            let s = site(e);
            for _ in 0..200 {
                let mut step = base(e);
                let Some(m) = valid_extreme(&mut rng, &mut step, &s) else {
                    assert!(
                        matches!(
                            e,
                            Endpoint::Update | Endpoint::Delete | Endpoint::SenderUpdate
                        ),
                        "{}",
                        e.name()
                    );
                    break;
                };
                assert_eq!(m.expect, Expect::Model, "{}", m.shape);
                assert!(m.shape.contains("/valid/"), "{}", m.shape);
                if let Some(n) = step.page_size {
                    assert!((1..=MAX_INT).contains(&n), "{n}");
                    large_page |= n >= 1_000_000;
                }
                if let Some(msgs) = &step.messages {
                    assert_eq!(msgs.len(), MAX_MESSAGES);
                }
                for v in step.set_path.iter().flat_map(|p| p.values()) {
                    assert_eq!(v["times"], json!(MAX_MSG), "{}", m.shape);
                }
                if let Some(cid) = step.set.as_ref().and_then(|s| s.get("connectionID")) {
                    assert!(CID_LENGTHS.contains(&(cid["$freshCid"].as_u64().unwrap() as usize)));
                }
            }
        }
        assert!(large_page);
    }

    #[test]
    fn two_faults_have_different_stages_and_at_most_one_changes_the_body() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut found = 0;
        for e in Endpoint::ALL {
            for _ in 0..50 {
                let mut step = base(e);
                if let Some((a, b)) = mutate_twice(&mut rng, &mut step, &site(e)) {
                    assert_ne!(a.stage, b.stage);
                    assert!(!(a.body && b.body), "{} + {}", a.shape, b.shape);
                    found += 1;
                }
            }
        }
        assert!(found > 100, "only {found} combinations");
    }

    #[test]
    fn oversized_bodies_are_sent_but_at_a_quarter_of_their_draws() {
        // Families and operators are drawn uniformly, so without the odds an oversized body
        // would be SIZES' weight / total weight / the operators in SIZES of all mutations.
        let total: u32 = FAMILIES.iter().map(|(_, w)| w).sum();
        let full = 3.0 / f64::from(total) / SIZES.len() as f64;
        let mut rng = StdRng::seed_from_u64(11);
        let s = site(Endpoint::Retrieve);
        let (mut oversized, mut draws) = (0u32, 0u32);
        for _ in 0..40_000 {
            let mut step = base(Endpoint::Retrieve);
            if let Some(m) = mutate(&mut rng, &mut step, &s) {
                draws += 1;
                oversized += u32::from(m.shape.contains("/size/body/"));
            }
        }
        let share = f64::from(oversized) / f64::from(draws);
        let expected = full / f64::from(OVERSIZED_ODDS);
        assert!(oversized > 0, "no oversized body in {draws} mutations");
        assert!(
            share > expected * 0.6 && share < expected * 1.6,
            "oversized share {share:.5}, expected about {expected:.5} (full weight {full:.5})"
        );
    }

    #[test]
    fn signature_faults_accepted_break_the_rule_of_their_kind() {
        for (f, endpoint, want) in [
            (SigFault::Salt20, Endpoint::Retrieve, Some("B-SIG-ALG")),
            (SigFault::Pkcs1v15, Endpoint::Create, Some("B-SIG-ALG")),
            (SigFault::Pkcs1v15, Endpoint::Send, Some("S-CRYPTO-PSS")),
            (SigFault::DropQuery, Endpoint::Send, Some("B-SIG-INPUT")),
            (SigFault::NoPadding, Endpoint::Update, Some("B-ENC-B64")),
            // A signature that does not verify at all: the model's rule for the endpoint.
            (SigFault::Bitflip, Endpoint::Create, None),
            (SigFault::OtherKey, Endpoint::Send, None),
        ] {
            assert_eq!(sig_fault_rule(f, endpoint), want, "{f:?} on {endpoint:?}");
        }
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..50 {
            let mut step = base(Endpoint::Send);
            let m = sig_fault(&mut rng, &mut step, &site(Endpoint::Send)).unwrap();
            let f = step.sig_fault.expect("a signature fault");
            assert_eq!(
                m.accepted_breaks,
                sig_fault_rule(f, Endpoint::Send),
                "{f:?}"
            );
        }
        let mut step = base(Endpoint::Send);
        let m = content_type_valid(&mut rng, &mut step);
        assert_eq!(m.refused_breaks, Some("S-HDR-JSON"));
    }

    /// A `Content-Type` mutation that stays valid.
    fn content_type_valid(rng: &mut StdRng, step: &mut Step) -> Mutation {
        loop {
            let m = content_type(rng, step, &site(Endpoint::Send)).unwrap();
            if m.shape.contains("/ct/valid/") {
                return m;
            }
        }
    }
}
