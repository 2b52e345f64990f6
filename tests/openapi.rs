//! `conformance/edge-v1/openapi.yaml`: a valid OpenAPI 3.1 document (checked against the official
//! OAS 3.1 JSON Schema in `fixtures/openapi/`), whose schemas are valid JSON Schema 2020-12,
//! and which says what the binding and the catalogue say: the same endpoints, request and
//! response properties, and statuses, each status resting on a catalogued rule that names
//! it. A real exchange with the reference server matches it too.

use edgecheck::profiles::edge_v1;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

use edgecheck::client::{Client, ClientOptions, Request};
use edgecheck::profiles::edge_v1::case::CaseFile;
use edgecheck::profiles::edge_v1::cases;
use edgecheck::profiles::edge_v1::sign::{signing_input, Key, KeyPool};
use serde_json::{json, Value};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The OpenAPI document as JSON.
fn doc() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("conformance/edge-v1/openapi.yaml"))
            .expect("conformance/edge-v1/openapi.yaml exists");
        serde_yaml_ng::from_str(&text).expect("conformance/edge-v1/openapi.yaml is YAML")
    })
}

/// Follows local `$ref`s (`#/components/...`).
fn resolve(mut v: &Value) -> &Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r.strip_prefix('#').expect("local $ref");
        v = doc()
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref {r}"));
    }
    v
}

/// One operation of the document.
struct Operation {
    /// `x-edge-endpoint`, e.g. `POST RU/messages`.
    endpoint: String,
    op: &'static Value,
}

impl Operation {
    fn responses(&self) -> BTreeMap<u16, &'static Value> {
        self.op["responses"]
            .as_object()
            .expect("responses")
            .iter()
            .map(|(k, v)| (k.parse().expect("numeric status"), resolve(v)))
            .collect()
    }

    fn request_schema(&self) -> &'static Value {
        resolve(&resolve(&self.op["requestBody"])["content"]["application/json"]["schema"])
    }
}

fn operations() -> Vec<Operation> {
    let mut out = Vec::new();
    for (_path, item) in doc()["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if let Some(op) = item.get(method) {
                let endpoint = op["x-edge-endpoint"]
                    .as_str()
                    .expect("every operation names its x-edge-endpoint")
                    .to_owned();
                assert!(
                    endpoint.starts_with(&method.to_uppercase()),
                    "{endpoint} is not a {method} operation"
                );
                out.push(Operation { endpoint, op });
            }
        }
    }
    out
}

fn operation(endpoint: &str) -> Operation {
    operations()
        .into_iter()
        .find(|o| o.endpoint == endpoint)
        .unwrap_or_else(|| panic!("no operation for {endpoint}"))
}

/// A validator for a component schema, resolving its `$ref`s within the document.
fn validator(component: &str) -> jsonschema::Validator {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{component}"),
        "components": doc()["components"],
    });
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("schema {component} compiles: {e}"))
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| e.to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// The binding's text (the catalogue's copy, conformance/edge-v1/binding.md).

/// Sections 4.N: (number, endpoint such as `POST RU/messages`, text).
fn binding_endpoints() -> Vec<(String, String, String)> {
    let md = edge_v1::BINDING_MD;
    let mut out = Vec::new();
    let mut lines = md.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("### 4.") else {
            continue;
        };
        let number = format!("4.{}", rest.split(' ').next().unwrap());
        let (_, endpoint) = line.split_once(" — ").expect("heading names its endpoint");
        let endpoint = endpoint.replace('`', "");
        let mut text = String::new();
        while let Some(l) = lines.peek() {
            if l.starts_with("## ") || l.starts_with("### ") {
                break;
            }
            text.push_str(lines.next().unwrap());
            text.push('\n');
        }
        out.push((number, endpoint, text));
    }
    out
}

/// The text of rule `id` in the binding: from `**id**` to the next rule or bullet.
fn rule_text(id: &str) -> String {
    let md = edge_v1::BINDING_MD;
    let marker = format!("**{id}**");
    let start = md
        .find(&marker)
        .unwrap_or_else(|| panic!("{id} in binding.md"))
        + marker.len();
    let rest = &md[start..];
    let end = [
        rest.find("\n- "),
        rest.find("\n\n"),
        rest.find("**B-"),
        rest.find("**S-"),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// Property names in backticked spans: `name`, or every `"name"` inside a JSON fragment.
/// Returns (plain names, names inside fragments).
fn backticked_names(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut plain = BTreeSet::new();
    let mut nested = BTreeSet::new();
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        // Property names are camelCase; `RK`, `SU` and such are terms.
        if span.starts_with(|c: char| c.is_ascii_lowercase())
            && span.chars().all(|c| c.is_ascii_alphabetic())
        {
            plain.insert(span.to_owned());
        } else {
            for (j, q) in span.split('"').enumerate() {
                if j % 2 == 1 && !q.is_empty() && q.chars().all(|c| c.is_ascii_alphabetic()) {
                    nested.insert(q.to_owned());
                }
            }
        }
    }
    (plain, nested)
}

/// The body paragraph of a section: (properties, required, nested properties).
fn binding_body(section: &str) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    let start = section.find("Body:").expect("section describes its body");
    let para = &section[start..];
    let para = &para[..para.find("Signed with").expect("then its signature")];
    let (plain, nested) = backticked_names(para);
    let mut required: BTreeSet<String> = plain
        .iter()
        .filter(|name| {
            let at = para.find(&format!("`{name}` (")).map(|i| &para[i..]);
            at.and_then(|s| s.split_once(')'))
                .is_some_and(|(inside, _)| inside.contains("required"))
        })
        .cloned()
        .collect();
    // S-CID-404: every request except create carries connectionID.
    required.insert("connectionID".into());
    // A send's `messages` holds 1..n objects (S-SEND-BODY: an empty array → 400), so it is
    // required though the body line does not say "required".
    if plain.contains("messages") {
        required.insert("messages".into());
    }
    (plain, required, nested)
}

/// Property names reachable from a schema (through $ref, properties, items, allOf/oneOf/anyOf).
fn property_names(schema: &Value, out: &mut BTreeSet<String>) {
    let s = resolve(schema);
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            out.insert(k.clone());
            property_names(v, out);
        }
    }
    if let Some(items) = s.get("items") {
        property_names(items, out);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for sub in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            property_names(sub, out);
        }
    }
}

fn statuses_in(text: &str) -> BTreeSet<u16> {
    const HTTP: [u16; 10] = [200, 201, 400, 401, 403, 404, 405, 409, 413, 429];
    // Rule IDs such as S-GEN-400 are names, not statuses.
    let cleaned: String = text
        .split_whitespace()
        .filter(|w| !(w.contains("S-") || w.contains("B-")))
        .collect::<Vec<_>>()
        .join(" ");
    // Runs of digits, joined across `,` and `.` between digits (`16,384`, `1.5`).
    let chars: Vec<char> = cleaned.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut number = String::new();
        let mut joined = false;
        while i < chars.len() {
            let c = chars[i];
            let next_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                number.push(c);
            } else if (c == ',' || c == '.') && next_digit {
                joined = true;
            } else {
                break;
            }
            i += 1;
        }
        if let (false, Ok(n)) = (joined, number.parse::<u16>()) {
            if number.len() == 3 && HTTP.contains(&n) {
                out.insert(n);
            }
        }
    }
    out
}

fn rules_of(response: &Value) -> Vec<String> {
    response["x-edge-rules"]
        .as_array()
        .unwrap_or_else(|| panic!("response without x-edge-rules: {response}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Validity.

#[test]
fn is_a_valid_openapi_3_1_document() {
    let text =
        std::fs::read_to_string(root().join("fixtures/openapi/oas-3.1-schema-2022-10-07.json"))
            .expect("the OAS 3.1 schema is in fixtures/openapi");
    let oas: Value = serde_json::from_str(&text).unwrap();
    // Formats stay annotations here, as in JSON Schema 2020-12 by default: a server URL with
    // `{variables}` is valid OpenAPI, though not a valid `uri-reference` as it stands.
    let v = jsonschema::draft202012::options()
        .build(&oas)
        .expect("the OAS 3.1 schema compiles");
    let errs = errors(&v, doc());
    assert!(
        errs.is_empty(),
        "not valid OpenAPI 3.1:\n{}",
        errs.join("\n")
    );
    assert!(doc()["openapi"].as_str().unwrap().starts_with("3.1."));
    // The validator does bite: a document without `info`, or with a bad status key, fails.
    let mut broken = doc().clone();
    broken.as_object_mut().unwrap().remove("info");
    assert!(!v.is_valid(&broken));
    let mut broken = doc().clone();
    broken["paths"]["/connection"]["post"]["responses"]["2xx"] = json!({"description": "x"});
    assert!(!v.is_valid(&broken));
}

#[test]
fn every_schema_is_valid_json_schema_2020_12() {
    for (name, schema) in doc()["components"]["schemas"].as_object().unwrap() {
        if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
            panic!("components/schemas/{name} is not valid JSON Schema 2020-12: {e}");
        }
        let _ = validator(name);
    }
    assert!(jsonschema::draft202012::meta::validate(&json!({"type": "strin"})).is_err());
}

#[test]
fn the_security_scheme_is_emsig() {
    let s = &doc()["components"]["securitySchemes"]["EMSig"];
    assert_eq!(s["type"], "http");
    assert_eq!(s["scheme"], "EMSig");
    assert_eq!(doc()["security"], json!([{"EMSig": []}]));
    // Only sends may go unsigned (S-G-OPEN).
    for o in operations() {
        let open =
            o.op.get("security")
                .is_some_and(|s| s.as_array().unwrap().contains(&json!({})));
        assert_eq!(open, o.endpoint == "POST SU/messages", "{}", o.endpoint);
    }
}

#[test]
fn schemas_accept_and_refuse_what_the_binding_says() {
    let pool = KeyPool::builtin().unwrap();
    let key = pool.take().spki_base64();
    let cid = "AAAAAAAAAAAAAAAAAAAAAA";
    let cases: &[(&str, Value, bool)] = &[
        (
            "CreateRequest",
            json!({"connectionID": cid, "recipient": key}),
            true,
        ),
        (
            "CreateRequest",
            json!({"connectionID": cid, "recipient": key, "sender": key, "disabled": true}),
            true,
        ),
        ("CreateRequest", json!({"connectionID": cid}), false),
        (
            "CreateRequest",
            json!({"connectionID": cid, "recipient": key, "x": 1}),
            false,
        ),
        (
            "CreateRequest",
            json!({"connectionID": "short", "recipient": key}),
            false,
        ),
        (
            "CreateRequest",
            json!({"connectionID": "not base64url!", "recipient": key}),
            false,
        ),
        (
            "CreateRequest",
            json!({"connectionID": cid, "recipient": &key[1..]}),
            false,
        ),
        (
            "CreateRequest",
            json!({"connectionID": cid, "recipient": key, "disabled": null}),
            false,
        ),
        (
            "RecipientUpdateRequest",
            json!({"connectionID": cid, "newRecipientURI": false}),
            true,
        ),
        (
            "RecipientUpdateRequest",
            json!({"connectionID": cid, "newSenderURI": "yes"}),
            false,
        ),
        (
            "ConnectionOnlyRequest",
            json!({"connectionID": cid, "pageSize": 1}),
            false,
        ),
        (
            "RetrieveRequest",
            json!({"connectionID": cid, "pageSize": 1, "fromMessageID": "x", "keepMessages": true}),
            true,
        ),
        (
            "RetrieveRequest",
            json!({"connectionID": cid, "pageSize": 0}),
            false,
        ),
        (
            "RetrieveRequest",
            json!({"connectionID": cid, "pageSize": 1.5}),
            false,
        ),
        (
            "RetrieveRequest",
            json!({"connectionID": cid, "pageSize": 2147483648u64}),
            false,
        ),
        (
            "DeleteMessagesRequest",
            json!({"connectionID": cid, "keepMessages": true}),
            false,
        ),
        (
            "SenderUpdateRequest",
            json!({"connectionID": cid, "sender": key, "newSenderURI": true}),
            true,
        ),
        (
            "SenderUpdateRequest",
            json!({"connectionID": cid, "disabled": false}),
            false,
        ),
        (
            "SendRequest",
            json!({"connectionID": cid, "messages": [{"msg": "QQ=="}]}),
            true,
        ),
        (
            "SendRequest",
            json!({"connectionID": cid, "messages": []}),
            false,
        ),
        (
            "SendRequest",
            json!({"connectionID": cid, "messages": [{"msg": "QQ==", "ts": "x"}]}),
            false,
        ),
        (
            "SendRequest",
            json!({"connectionID": cid, "messages": [{"msg": ""}]}),
            false,
        ),
        (
            "SendRequest",
            json!({"connectionID": cid, "messages": [{"msg": "QQ"}]}),
            false,
        ),
        (
            "RetrieveResponse",
            json!({"messages": [{"id": "a", "ts": "2020-01-21T21:01:48.123Z", "msg": "QQ=="}], "nextMessageID": "b"}),
            true,
        ),
        ("RetrieveResponse", json!({"messages": []}), true),
        (
            "RetrieveResponse",
            json!({"messages": [{"id": "a", "ts": "2020-01-21T21:01:48Z", "msg": "QQ==", "seen": 1}]}),
            false,
        ),
        (
            "RetrieveResponse",
            json!({"messages": [{"id": "a", "ts": "2020-01-21T21:01:48+00:00", "msg": "QQ=="}]}),
            false,
        ),
        (
            "RetrieveResponse",
            json!({"messages": [{"id": "", "ts": "2020-01-21T21:01:48Z", "msg": "QQ=="}]}),
            false,
        ),
        (
            "CreateResponse",
            json!({"recipientURI": "/connection/a", "senderURI": "https://h/connection/b"}),
            true,
        ),
        (
            "CreateResponse",
            json!({"recipientURI": "/connection/a"}),
            false,
        ),
        ("DeleteMessagesResponse", json!({"deleted": 3}), true),
        ("DeleteMessagesResponse", json!({"deleted": -1}), false),
    ];
    for (schema, instance, valid) in cases {
        let v = validator(schema);
        assert_eq!(
            v.is_valid(instance),
            *valid,
            "{schema}: {instance}: {:?}",
            errors(&v, instance)
        );
    }
}

// ---------------------------------------------------------------------------------------
// In sync with the binding and the catalogue.

#[test]
fn endpoints_are_the_bindings() {
    let binding: BTreeSet<String> = binding_endpoints().into_iter().map(|(_, e, _)| e).collect();
    let described: Vec<String> = operations().into_iter().map(|o| o.endpoint).collect();
    let unique: BTreeSet<String> = described.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        described.len(),
        "an endpoint is described twice"
    );
    assert_eq!(unique, binding);
    assert_eq!(binding.len(), 7);
}

#[test]
fn request_properties_are_the_bindings() {
    for (number, endpoint, text) in binding_endpoints() {
        let (props, required, nested) = binding_body(&text);
        let o = operation(&endpoint);
        let schema = o.request_schema();
        assert_eq!(
            schema["additionalProperties"], false,
            "{endpoint}: unknown properties → 400"
        );
        let described: BTreeSet<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(described, props, "{number} {endpoint}: request properties");
        let req: BTreeSet<String> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(req, required, "{number} {endpoint}: required properties");
        let mut all = BTreeSet::new();
        property_names(schema, &mut all);
        let inner: BTreeSet<String> = all.difference(&described).cloned().collect();
        assert_eq!(
            inner, nested,
            "{number} {endpoint}: properties of nested objects"
        );
        for name in &inner {
            // Nested objects forbid unknown properties too (S-SEND-BODY).
            let mut objects = vec![schema];
            while let Some(s) = objects.pop() {
                let s = resolve(s);
                if s.get("properties").is_some_and(|p| p.get(name).is_some()) {
                    assert_eq!(
                        s["additionalProperties"], false,
                        "{endpoint}: {name}'s object"
                    );
                }
                objects.extend(
                    s.get("properties")
                        .and_then(Value::as_object)
                        .into_iter()
                        .flat_map(|p| p.values()),
                );
                objects.extend(s.get("items"));
            }
        }
    }
}

#[test]
fn response_properties_are_the_bindings() {
    let sections: BTreeMap<String, String> = binding_endpoints()
        .into_iter()
        .map(|(n, e, _)| (e, n))
        .collect();
    let reqs = edge_v1::catalogue();
    for o in operations() {
        let responses = o.responses();
        let (status, success) = responses
            .iter()
            .find(|(s, _)| (200..300).contains(*s))
            .unwrap_or_else(|| panic!("{}: no success response", o.endpoint));
        let main = rules_of(success)[0].clone();
        let section = &reqs.get(&main).unwrap().section;
        assert!(
            section.starts_with(&sections[&o.endpoint]),
            "{}: the {status} response rests on {main}, a rule of another section ({section})",
            o.endpoint
        );
        let (plain, nested) = backticked_names(&rule_text(&main));
        let (request, _, _) = binding_body(
            &binding_endpoints()
                .into_iter()
                .find(|(_, e, _)| *e == o.endpoint)
                .unwrap()
                .2,
        );
        let named: BTreeSet<String> = plain
            .union(&nested)
            .filter(|n| !request.contains(*n))
            .cloned()
            .collect();
        let mut described = BTreeSet::new();
        if let Some(schema) = success.pointer("/content/application~1json/schema") {
            property_names(schema, &mut described);
        }
        assert_eq!(
            described, named,
            "{}: properties of the {status} response ({main})",
            o.endpoint
        );
    }
}

#[test]
fn every_status_rests_on_a_catalogued_rule_that_names_it() {
    let reqs = edge_v1::catalogue();
    let mut seen = 0;
    for o in operations() {
        for (status, response) in o.responses() {
            let rules = rules_of(response);
            for r in &rules {
                assert!(
                    reqs.get(r).is_some(),
                    "{} {status}: {r} is not in the catalogue",
                    o.endpoint
                );
            }
            let main = reqs.get(&rules[0]).unwrap();
            assert!(
                statuses_in(&main.text).contains(&status),
                "{} {status}: its first rule {} does not name {status}",
                o.endpoint,
                main.id
            );
            seen += 1;
        }
    }
    assert!(seen >= 30, "{seen} responses");
}

/// Rules whose statuses belong to no single operation: undefined methods (404 or 405, never
/// 5xx), never-5xx, and the order of checks of multi-fault requests.
const NOT_PER_OPERATION: [&str; 3] = ["B-METHOD", "B-NO-5XX", "B-ORDER"];

/// Rules of an endpoint's section whose statuses are those of another endpoint.
const ABOUT_ANOTHER_ENDPOINT: [(&str, &str); 1] = [("S-CREATE-ALT", "POST SU/messages")];

#[test]
fn every_status_the_catalogue_names_is_documented_where_it_applies() {
    let reqs = edge_v1::catalogue();
    let by_section: BTreeMap<String, String> = binding_endpoints()
        .into_iter()
        .map(|(n, e, _)| (n, e))
        .collect();
    // (rule, status) → endpoints that document the status citing the rule.
    let mut cited: BTreeMap<(String, u16), BTreeSet<String>> = BTreeMap::new();
    for o in operations() {
        for (status, response) in o.responses() {
            for r in rules_of(response) {
                cited
                    .entry((r, status))
                    .or_default()
                    .insert(o.endpoint.clone());
            }
        }
    }
    for r in reqs.all() {
        if NOT_PER_OPERATION.contains(&r.id.as_str()) {
            continue;
        }
        for status in statuses_in(&r.text) {
            let at = cited.get(&(r.id.clone(), status));
            assert!(
                at.is_some(),
                "{} names {status}, but no response with {status} cites it",
                r.id
            );
            let number = r.section.split(' ').next().unwrap();
            let own = ABOUT_ANOTHER_ENDPOINT
                .iter()
                .find(|(id, _)| *id == r.id)
                .map(|(_, e)| e.to_string())
                .or_else(|| by_section.get(number).cloned());
            if let Some(endpoint) = own {
                assert!(
                    at.unwrap().contains(&endpoint),
                    "{} ({}) names {status}: {endpoint} must document it",
                    r.id,
                    r.section
                );
            }
        }
    }
}

#[test]
fn statuses_the_cases_expect_are_documented() {
    let endpoint_of = |op: &str| match op {
        "create" => Some("POST CE"),
        "update" => Some("PUT RU"),
        "delete" => Some("DELETE RU"),
        "retrieve" => Some("POST RU/messages"),
        "deleteMessages" => Some("DELETE RU/messages"),
        "senderUpdate" => Some("PUT SU"),
        "send" => Some("POST SU/messages"),
        _ => None,
    };
    let files: Vec<CaseFile> = cases::builtin().unwrap();
    let documented: BTreeMap<String, BTreeSet<u16>> = operations()
        .into_iter()
        .map(|o| (o.endpoint.clone(), o.responses().keys().copied().collect()))
        .collect();
    let mut checked = 0;
    for f in &files {
        for c in &f.cases {
            let v = serde_json::to_value(c).unwrap();
            for (i, step) in v["steps"].as_array().unwrap().iter().enumerate() {
                let Some(endpoint) = step["op"].as_str().and_then(endpoint_of) else {
                    continue;
                };
                // Requests sent elsewhere or with another method are routing checks.
                if ["method", "path", "pathSuffix"]
                    .iter()
                    .any(|k| step.get(*k).is_some_and(|x| !x.is_null()))
                {
                    continue;
                }
                let Some(expected) = step.pointer("/expect/status").and_then(Value::as_array)
                else {
                    continue;
                };
                let expected: BTreeSet<u16> = expected
                    .iter()
                    .map(|s| s.as_u64().unwrap() as u16)
                    .collect();
                let doc = &documented[endpoint];
                if expected.len() == 1 {
                    assert!(
                        expected.is_subset(doc),
                        "{} step {}: {endpoint} → {expected:?} is not documented",
                        c.id,
                        i + 1
                    );
                } else {
                    assert!(
                        !expected.is_disjoint(doc),
                        "{} step {}: none of {expected:?} is documented for {endpoint}",
                        c.id,
                        i + 1
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} steps with expected statuses");
}

// ---------------------------------------------------------------------------------------
// A real exchange.

#[test]
fn a_real_exchange_with_the_reference_server_matches_the_description() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = edge_reference_server::start(edge_reference_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: edge_reference_server::Tls::Plain,
            ..edge_reference_server::Config::default()
        })
        .await
        .unwrap();
        let ce = url::Url::parse(&server.create_url()).unwrap();
        let client = Client::new(&ClientOptions {
            timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        })
        .unwrap();
        let pool = KeyPool::builtin().unwrap();
        let (rk, sk) = (pool.take(), pool.take());
        let cid = edgecheck::profiles::edge_v1::wire::connection_id();
        // Sends one signed request, checks the body against the request schema, the status
        // against the documented ones and the response body against the response schema.
        let call = |endpoint: &'static str,
                    url: url::Url,
                    body: Value,
                    key: Option<std::sync::Arc<Key>>| {
            let client = &client;
            async move {
                let o = operation(endpoint);
                let component = resolve(&o.op["requestBody"])["content"]["application/json"]
                    ["schema"]["$ref"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned();
                let errs = errors(&validator(&component), &body);
                assert!(
                    errs.is_empty(),
                    "{endpoint} ({component}): the request does not match: {errs:?}"
                );
                let bytes = serde_json::to_vec(&body).unwrap();
                let mut req = Request::new(o.endpoint.split(' ').next().unwrap(), url.clone())
                    .header("Content-Type", "application/json");
                if let Some(k) = key {
                    let target = req.request_target();
                    let sig = edgecheck::profiles::edge_v1::wire::b64(k.sign(&signing_input(
                        &req.method,
                        &target,
                        &bytes,
                    )));
                    req = req.header("Authorization", format!("EMSig {sig}"));
                }
                let ex = client.execute(req.body(bytes)).await;
                let resp = ex.response.expect("a response");
                let responses = o.responses();
                let documented = responses
                    .get(&resp.status)
                    .unwrap_or_else(|| panic!("{endpoint}: {} is not documented", resp.status));
                if let Some(schema) = documented.pointer("/content/application~1json/schema") {
                    if !resp.body.is_empty() {
                        let value: Value =
                            serde_json::from_slice(&resp.body).expect("JSON response");
                        let name = schema["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                        let errs = errors(&validator(name), &value);
                        assert!(
                            errs.is_empty(),
                            "{endpoint} {}: the response does not match {name}: {errs:?}",
                            resp.status
                        );
                    }
                } else {
                    assert!(
                        resp.body.is_empty(),
                        "{endpoint} {}: documented without a body",
                        resp.status
                    );
                }
                (
                    resp.status,
                    serde_json::from_slice::<Value>(&resp.body).unwrap_or(Value::Null),
                )
            }
        };
        let join = |u: &str, suffix: &str| ce.join(&format!("{u}{suffix}")).unwrap();
        let (s, created) = call(
            "POST CE",
            ce.clone(),
            json!({"connectionID": cid, "recipient": rk.spki_base64()}),
            Some(rk.clone()),
        )
        .await;
        assert_eq!(s, 201);
        let ru = created["recipientURI"].as_str().unwrap().to_owned();
        let su = created["senderURI"].as_str().unwrap().to_owned();
        let (s, _) = call(
            "POST SU/messages",
            join(&su, "/messages"),
            json!({"connectionID": cid, "messages": [{"msg": "QUJD"}, {"msg": "REVGRw=="}]}),
            None,
        )
        .await;
        assert_eq!(s, 200);
        let (s, _) = call(
            "PUT RU",
            join(&ru, ""),
            json!({"connectionID": cid, "sender": sk.spki_base64()}),
            Some(rk.clone()),
        )
        .await;
        assert_eq!(s, 200);
        let (s, _) = call(
            "POST SU/messages",
            join(&su, "/messages"),
            json!({"connectionID": cid, "messages": [{"msg": "SEk="}]}),
            None,
        )
        .await;
        assert_eq!(s, 401);
        let (s, updated) = call(
            "PUT SU",
            join(&su, ""),
            json!({"connectionID": cid, "newSenderURI": true}),
            Some(sk.clone()),
        )
        .await;
        assert_eq!(s, 200);
        let su = updated["senderURI"].as_str().unwrap().to_owned();
        let (s, page) = call(
            "POST RU/messages",
            join(&ru, "/messages"),
            json!({"connectionID": cid, "pageSize": 1, "keepMessages": true}),
            Some(rk.clone()),
        )
        .await;
        assert_eq!(s, 200);
        assert!(page.get("nextMessageID").is_some());
        let (s, _) = call(
            "POST RU/messages",
            join(&ru, "/messages"),
            json!({"connectionID": cid, "fromMessageID": "unknown"}),
            Some(rk.clone()),
        )
        .await;
        assert_eq!(s, 400);
        let (s, deleted) = call(
            "DELETE RU/messages",
            join(&ru, "/messages"),
            json!({"connectionID": cid, "pageSize": 1}),
            Some(rk.clone()),
        )
        .await;
        assert_eq!((s, deleted["deleted"].as_u64()), (200, Some(1)));
        let (s, _) = call(
            "DELETE RU",
            join(&ru, ""),
            json!({"connectionID": cid}),
            Some(rk.clone()),
        )
        .await;
        assert_eq!(s, 200);
        let (s, _) = call(
            "PUT SU",
            join(&su, ""),
            json!({"connectionID": cid}),
            Some(sk.clone()),
        )
        .await;
        assert_eq!(s, 404);
        server.shutdown().await;
    });
}
