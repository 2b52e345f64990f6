//! The body of a step's request: the canonical JSON from its parameters, then its overrides
//! (`body`, `set`, `setPath`, `omit`, raw bodies), with references to keys, connection IDs
//! and messages resolved.

use serde_json::{Map, Value};

use super::error::StepError;
use super::state::CaseRun;
use super::view::create_recipient;
use crate::profiles::edge_v1::case::Step;
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::wire;

impl CaseRun<'_> {
    /// Resolve `{"$key": ..}` (with an optional `"encoding": "base64url"`), `{"$cid": ..}`,
    /// `{"$msgId": ..}`, `{"$msg": ..}`, `{"$repeat": ..}`, `{"$freshCid": LEN}`.
    pub fn resolve(&mut self, v: &Value) -> Result<Value, StepError> {
        match v {
            Value::Object(o) if o.len() <= 2 && o.keys().any(|k| k.starts_with('$')) => {
                self.reference(o, v)
            }
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    out.insert(k.clone(), self.resolve(x)?);
                }
                Ok(Value::Object(out))
            }
            Value::Array(a) => a
                .iter()
                .map(|x| self.resolve(x))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        }
    }

    /// The value of one `$` reference object `o` (`v` as written, for the error).
    fn reference(&mut self, o: &Map<String, Value>, v: &Value) -> Result<Value, StepError> {
        if let Some(Value::String(k)) = o.get("$key") {
            return self.key_reference(k, o.get("encoding"));
        }
        if let Some(Value::String(c)) = o.get("$cid") {
            return Ok(Value::String(self.live(c)?.cid.clone()));
        }
        if let Some(Value::String(m)) = o.get("$msgId") {
            return self.known_msg_id(m).map(Value::String);
        }
        if let Some(Value::String(m)) = o.get("$msg") {
            return Ok(Value::String(self.msg(m)));
        }
        if let Some(n) = o.get("$freshCid").and_then(Value::as_u64) {
            return Ok(Value::String(wire::connection_id_of_len(
                n.min(4096) as usize
            )));
        }
        if let Some(Value::String(s)) = o.get("$repeat") {
            let n = o.get("times").and_then(Value::as_u64).unwrap_or(1) as usize;
            return Ok(Value::String(s.repeat(n.min(64 << 20))));
        }
        Err(StepError::UnknownReference(v.clone()))
    }

    /// The value of key `k` in base64, or in base64url when `encoding` says so.
    fn key_reference(&mut self, k: &str, encoding: Option<&Value>) -> Result<Value, StepError> {
        let value = self.key_value(k);
        match encoding {
            None => Ok(Value::String(value)),
            Some(Value::String(e)) if e == "base64url" => {
                if !value.contains(['+', '/']) {
                    return Err(StepError::SameInBase64url(k.to_string()));
                }
                Ok(Value::String(
                    value
                        .replace('+', "-")
                        .replace('/', "_")
                        .trim_end_matches('=')
                        .to_owned(),
                ))
            }
            Some(other) => Err(StepError::UnknownKeyEncoding(other.clone())),
        }
    }

    /// Replace `{cid:NAME}` (a connection's ID) and `{key:NAME}` (a key's base64 SPKI) in a
    /// raw body text.
    fn fill_template(&mut self, text: &str) -> Result<String, StepError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let tail = &rest[start..];
            // Only `{cid:` and `{key:` open a placeholder: other braces (a deeply nested body
            // has many thousands) are copied without a search for their end.
            let end = (tail.starts_with("{cid:") || tail.starts_with("{key:"))
                .then(|| tail.bytes().take(256).position(|b| b == b'}'))
                .flatten()
                .map(|e| e + 1);
            let token = end.map(|e| &tail[1..e - 1]);
            match token.and_then(|t| t.split_once(':')) {
                Some(("cid", name)) => out.push_str(&self.live(name)?.cid.clone()),
                Some(("key", name)) => out.push_str(&self.key_value(name)),
                _ => {
                    out.push('{');
                    rest = &tail[1..];
                    continue;
                }
            }
            rest = &tail[end.unwrap_or(tail.len())..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The `connectionID` a step sends: its connection's, or for a create a fresh one (or
    /// that of the connection named in `cid`).
    fn step_cid(&self, step: &Step, endpoint: Endpoint) -> Result<String, StepError> {
        if endpoint != Endpoint::Create {
            return Ok(self.live(&step.conn)?.cid.clone());
        }
        match &step.cid {
            Some(other) => Ok(self.live(other)?.cid.clone()),
            None => Ok(wire::connection_id()),
        }
    }

    /// The id sent as `fromMessageID` for message `m`; a name starting with `unknown` stands
    /// for an id the server never issued.
    fn start_message_id(&mut self, m: &str) -> Result<String, StepError> {
        if m.starts_with("unknown") {
            self.msg_ids
                .entry(m.to_string())
                .or_insert_with(wire::connection_id);
        }
        self.known_msg_id(m)
    }

    /// Build the canonical JSON body of a step (before overrides).
    fn canonical_body(
        &mut self,
        step: &Step,
        endpoint: Endpoint,
    ) -> Result<Map<String, Value>, StepError> {
        let mut b = Map::new();
        b.insert(
            "connectionID".into(),
            Value::String(self.step_cid(step, endpoint)?),
        );
        let recipient = match endpoint {
            Endpoint::Create => Some(create_recipient(step)),
            _ => step.recipient.clone(),
        };
        if let Some(rk) = recipient {
            b.insert("recipient".into(), Value::String(self.key_value(&rk)));
        }
        if let Some(sk) = &step.sender {
            b.insert("sender".into(), Value::String(self.key_value(sk)));
        }
        for (name, v) in [
            ("newRecipientURI", step.new_recipient_uri),
            ("newSenderURI", step.new_sender_uri),
            ("disabled", step.disabled),
        ] {
            if let Some(v) = v {
                b.insert(name.into(), Value::Bool(v));
            }
        }
        if let Some(n) = step.page_size {
            b.insert("pageSize".into(), Value::from(n));
        }
        if let Some(m) = &step.from_message {
            let id = self.start_message_id(m)?;
            b.insert("fromMessageID".into(), Value::String(id));
        }
        if let Some(k) = step.keep_messages {
            b.insert("keepMessages".into(), Value::Bool(k));
        }
        if let Some(ms) = &step.messages {
            let arr = ms
                .iter()
                .map(|m| {
                    let mut o = Map::new();
                    o.insert("msg".into(), Value::String(self.msg(m)));
                    Value::Object(o)
                })
                .collect();
            b.insert("messages".into(), Value::Array(arr));
        }
        Ok(b)
    }

    /// The final body bytes after the step's body overrides.
    pub(super) fn body_bytes(
        &mut self,
        step: &Step,
        endpoint: Endpoint,
    ) -> Result<Vec<u8>, StepError> {
        if let Some(t) = &step.raw_body {
            return Ok(self.fill_template(t)?.into_bytes());
        }
        if let Some(b) = &step.raw_body_base64 {
            return wire::unb64(b).map_err(StepError::RawBodyBase64);
        }
        let mut body = match &step.body {
            Some(v) => self.resolve(v)?,
            None => Value::Object(self.canonical_body(step, endpoint)?),
        };
        self.apply_overrides(step, &mut body)?;
        self.remember_messages(step, &body);
        let mut bytes = serde_json::to_vec(&body)?;
        if let Some(tail) = &step.append_body {
            bytes.extend_from_slice(tail.as_bytes());
        }
        Ok(bytes)
    }

    /// Apply `set`, `setPath` and `omit` to `body`.
    fn apply_overrides(&mut self, step: &Step, body: &mut Value) -> Result<(), StepError> {
        if let Some(set) = &step.set {
            let set = self.resolve(&Value::Object(set.clone()))?;
            if let (Value::Object(b), Value::Object(s)) = (&mut *body, set) {
                for (k, v) in s {
                    b.insert(k, v);
                }
            }
        }
        if let Some(paths) = &step.set_path {
            for (ptr, v) in paths.clone() {
                let v = self.resolve(&v)?;
                set_pointer(body, &ptr, v)?;
            }
        }
        for name in step.omit.iter().flatten() {
            let ptr = if name.starts_with('/') {
                name.clone()
            } else {
                format!("/{name}")
            };
            remove_pointer(body, &ptr);
        }
        Ok(())
    }

    /// Remember what was really sent as each named message.
    fn remember_messages(&mut self, step: &Step, body: &Value) {
        if let (Some(names), Some(Value::Array(arr))) = (&step.messages, body.get("messages")) {
            for (name, m) in names.iter().zip(arr) {
                if let Some(Value::String(s)) = m.get("msg") {
                    self.msgs.insert(name.clone(), s.clone());
                }
            }
        }
    }
}

/// The value a JSON pointer's parent names, and the pointer's last member as written.
fn parent<'v>(root: &'v mut Value, ptr: &'v str) -> Option<(Option<&'v mut Value>, &'v str)> {
    let (parent, last) = ptr.rsplit_once('/')?;
    let target = if parent.is_empty() {
        Some(root)
    } else {
        root.pointer_mut(parent)
    };
    Some((target, last))
}

/// Set the value at a JSON pointer, creating the last member if needed.
fn set_pointer(root: &mut Value, ptr: &str, v: Value) -> Result<(), StepError> {
    let (target, last) = parent(root, ptr).ok_or_else(|| StepError::NotPointer(ptr.to_string()))?;
    let last = last.replace("~1", "/").replace("~0", "~");
    match target {
        Some(Value::Object(o)) => {
            o.insert(last, v);
            Ok(())
        }
        Some(Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a[i] = v;
                Ok(())
            }
            Ok(i) if i == a.len() => {
                a.push(v);
                Ok(())
            }
            _ => Err(StepError::NoSuchIndex(ptr.to_string())),
        },
        _ => Err(StepError::NoSuchPlace(ptr.to_string())),
    }
}

/// Remove the value at a JSON pointer, if there is one.
fn remove_pointer(root: &mut Value, ptr: &str) {
    match parent(root, ptr) {
        Some((Some(Value::Object(o)), last)) => {
            o.remove(last);
        }
        Some((Some(Value::Array(a)), last)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::profiles::edge_v1::testkit::{case, context};

    use super::*;

    #[test]
    fn raw_body_placeholders_are_filled_and_other_braces_kept() {
        let ctx = context();
        let mut run = CaseRun::new(&ctx, &case("body/t"));
        let deep = format!("{}1{}", "{\"a\":".repeat(5000), "}".repeat(5000));
        assert_eq!(run.fill_template(&deep).unwrap(), deep);
        let odd = "{x:y} {cid} {cid:no-end".to_string() + &"x".repeat(300) + "}";
        assert_eq!(run.fill_template(&odd).unwrap(), odd);
        let filled = run.fill_template("{\"sender\":\"{key:sk}\"}").unwrap();
        assert_eq!(
            filled,
            format!("{{\"sender\":\"{}\"}}", run.key_value("sk"))
        );
        // A connection that does not exist is an error, not a literal.
        assert!(run.fill_template("{\"connectionID\":\"{cid:c}\"}").is_err());
    }
}
