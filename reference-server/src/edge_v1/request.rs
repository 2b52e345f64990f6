//! Request bodies of the six endpoints: required, unknown and mistyped properties and value
//! formats (S-GEN-400, S-SEND-BODY, B-CID-FMT, B-MSG-FMT, B-KEY-*), all answered with 400.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::edge_v1::encoding::{is_valid_cid, is_valid_msg};
use crate::edge_v1::keys::{KeyLeniency, PublicKey};

/// Largest `pageSize` (2^31 − 1).
const MAX_PAGE_SIZE: u64 = i32::MAX as u64;

/// Properties a sender update must not carry (S-SUPD-PROHIB → 401, checked before the schema).
pub(crate) const SENDER_PROHIBITED: [&str; 3] = ["recipient", "newRecipientURI", "disabled"];

/// A schema violation, as a short text for the error body.
pub(crate) type SchemaError = String;

/// Options of the schema beyond the binding (for fault injection).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SchemaLeniency {
    /// Ignore unknown properties at the top level.
    pub unknown_properties: bool,
    /// Ignore unknown properties in message objects.
    pub message_properties: bool,
    /// Accept an empty `messages` array.
    pub empty_messages: bool,
    /// Treat `null` as an absent optional property.
    pub null_as_absent: bool,
    /// Accept any non-empty string as `connectionID`.
    pub lax_cid: bool,
    /// Accept any non-empty string as `msg`.
    pub lax_msg: bool,
    /// Keys accepted beyond the binding.
    pub keys: KeyLeniency,
}

/// POST `CE`.
pub(crate) struct Create {
    pub connection_id: String,
    pub recipient: Arc<PublicKey>,
    pub sender: Option<Arc<PublicKey>>,
    pub disabled: bool,
}

/// PUT `RU`.
pub(crate) struct UpdateRecipient {
    pub connection_id: String,
    pub recipient: Option<Arc<PublicKey>>,
    pub sender: Option<Arc<PublicKey>>,
    pub new_recipient_uri: bool,
    pub new_sender_uri: bool,
    pub disabled: Option<bool>,
}

/// PUT `SU`.
pub(crate) struct UpdateSender {
    pub connection_id: String,
    pub sender: Option<Arc<PublicKey>>,
    pub new_sender_uri: bool,
}

/// DELETE `RU`.
pub(crate) struct DeleteConnection {
    pub connection_id: String,
}

/// POST `RU/messages`.
pub(crate) struct Retrieve {
    pub connection_id: String,
    pub page_size: Option<u64>,
    pub from_message_id: Option<String>,
    pub keep_messages: bool,
}

/// DELETE `RU/messages`.
pub(crate) struct DeleteMessages {
    pub connection_id: String,
    pub page_size: Option<u64>,
    pub from_message_id: Option<String>,
}

/// POST `SU/messages`.
pub(crate) struct Send {
    pub connection_id: String,
    pub messages: Vec<String>,
}

/// Reads properties out of one JSON object and reports what is left over.
struct Fields<'a> {
    map: Map<String, Value>,
    leniency: &'a SchemaLeniency,
}

impl<'a> Fields<'a> {
    fn new(map: Map<String, Value>, leniency: &'a SchemaLeniency) -> Self {
        Fields { map, leniency }
    }

    /// Removes `name`; `null` is refused (S-GEN-400) unless the leniency says otherwise.
    fn take(&mut self, name: &str) -> Result<Option<Value>, SchemaError> {
        match self.map.remove(name) {
            Some(Value::Null) if self.leniency.null_as_absent => Ok(None),
            Some(Value::Null) => Err(format!("{name} must not be null")),
            other => Ok(other),
        }
    }

    fn required(&mut self, name: &str) -> Result<Value, SchemaError> {
        self.take(name)?
            .ok_or_else(|| format!("{name} is required"))
    }

    fn string(&mut self, name: &str) -> Result<Option<String>, SchemaError> {
        match self.take(name)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name} must be a string")),
        }
    }

    fn boolean(&mut self, name: &str) -> Result<Option<bool>, SchemaError> {
        match self.take(name)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(format!("{name} must be a boolean")),
        }
    }

    fn page_size(&mut self) -> Result<Option<u64>, SchemaError> {
        match self.take("pageSize")? {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (1..=MAX_PAGE_SIZE).contains(&v) => Ok(Some(v)),
                _ => Err("pageSize must be an integer from 1 to 2147483647".into()),
            },
            Some(_) => Err("pageSize must be an integer".into()),
        }
    }

    fn connection_id(&mut self) -> Result<String, SchemaError> {
        match self.required("connectionID")? {
            Value::String(cid) if is_valid_cid(&cid) => Ok(cid),
            Value::String(cid) if self.leniency.lax_cid && !cid.is_empty() => Ok(cid),
            Value::String(_) => {
                Err("connectionID must be 8 to 64 characters of [A-Za-z0-9_-]".into())
            }
            _ => Err("connectionID must be a string".into()),
        }
    }

    fn key(&mut self, name: &str) -> Result<Option<Arc<PublicKey>>, SchemaError> {
        match self.string(name)? {
            None => Ok(None),
            Some(text) => PublicKey::from_base64(&text, self.leniency.keys)
                .map(|key| Some(Arc::new(key)))
                .map_err(|e| format!("{name} {e}")),
        }
    }

    /// Fails if a property was not taken (S-GEN-400: unknown properties).
    fn finish(self) -> Result<(), SchemaError> {
        match self.map.keys().next() {
            Some(name) if !self.leniency.unknown_properties => {
                Err(format!("unknown property {name:?}"))
            }
            _ => Ok(()),
        }
    }
}

impl Create {
    /// Validates a create body.
    pub(crate) fn parse(
        map: Map<String, Value>,
        leniency: &SchemaLeniency,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::new(map, leniency);
        let connection_id = f.connection_id()?;
        let recipient = f.key("recipient")?.ok_or("recipient is required")?;
        let sender = f.key("sender")?;
        let disabled = f.boolean("disabled")?.unwrap_or(false);
        f.finish()?;
        Ok(Create {
            connection_id,
            recipient,
            sender,
            disabled,
        })
    }
}

impl UpdateRecipient {
    /// Validates a recipient update body.
    pub(crate) fn parse(
        map: Map<String, Value>,
        leniency: &SchemaLeniency,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::new(map, leniency);
        let parsed = UpdateRecipient {
            connection_id: f.connection_id()?,
            recipient: f.key("recipient")?,
            sender: f.key("sender")?,
            new_recipient_uri: f.boolean("newRecipientURI")?.unwrap_or(false),
            new_sender_uri: f.boolean("newSenderURI")?.unwrap_or(false),
            disabled: f.boolean("disabled")?,
        };
        f.finish()?;
        Ok(parsed)
    }
}

impl UpdateSender {
    /// Validates a sender update body (the prohibited properties are checked before).
    pub(crate) fn parse(
        map: Map<String, Value>,
        leniency: &SchemaLeniency,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::new(map, leniency);
        let parsed = UpdateSender {
            connection_id: f.connection_id()?,
            sender: f.key("sender")?,
            new_sender_uri: f.boolean("newSenderURI")?.unwrap_or(false),
        };
        f.finish()?;
        Ok(parsed)
    }
}

impl DeleteConnection {
    /// Validates a delete-connection body.
    pub(crate) fn parse(
        map: Map<String, Value>,
        leniency: &SchemaLeniency,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::new(map, leniency);
        let connection_id = f.connection_id()?;
        f.finish()?;
        Ok(DeleteConnection { connection_id })
    }
}

impl Retrieve {
    /// Validates a retrieve body.
    pub(crate) fn parse(
        map: Map<String, Value>,
        leniency: &SchemaLeniency,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::new(map, leniency);
        let parsed = Retrieve {
            connection_id: f.connection_id()?,
            page_size: f.page_size()?,
            from_message_id: f.string("fromMessageID")?,
            keep_messages: f.boolean("keepMessages")?.unwrap_or(false),
        };
        f.finish()?;
        Ok(parsed)
    }
}

impl DeleteMessages {
    /// Validates a delete-messages body.
    pub(crate) fn parse(
        map: Map<String, Value>,
        leniency: &SchemaLeniency,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::new(map, leniency);
        let parsed = DeleteMessages {
            connection_id: f.connection_id()?,
            page_size: f.page_size()?,
            from_message_id: f.string("fromMessageID")?,
        };
        f.finish()?;
        Ok(parsed)
    }
}

impl Send {
    /// Validates a send body: `messages` is 1..n objects, each exactly `{"msg": <base64>}`.
    pub(crate) fn parse(
        map: Map<String, Value>,
        leniency: &SchemaLeniency,
    ) -> Result<Self, SchemaError> {
        let mut f = Fields::new(map, leniency);
        let connection_id = f.connection_id()?;
        let items = match f.required("messages")? {
            Value::Array(items) => items,
            _ => return Err("messages must be an array".into()),
        };
        f.finish()?;
        if items.is_empty() && !leniency.empty_messages {
            return Err("messages must not be empty".into());
        }
        let messages = items
            .into_iter()
            .enumerate()
            .map(|(i, item)| message(i, item, leniency))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Send {
            connection_id,
            messages,
        })
    }
}

/// One message object `{"msg": <base64>}`.
pub(crate) fn message(
    index: usize,
    item: Value,
    leniency: &SchemaLeniency,
) -> Result<String, SchemaError> {
    let Value::Object(map) = item else {
        return Err(format!("messages[{index}] must be an object"));
    };
    let object_leniency = SchemaLeniency {
        unknown_properties: leniency.message_properties,
        ..*leniency
    };
    let mut f = Fields::new(map, &object_leniency);
    let msg = match f.required("msg") {
        Ok(Value::String(msg)) => msg,
        Ok(_) => return Err(format!("messages[{index}].msg must be a string")),
        Err(e) => return Err(format!("messages[{index}].{e}")),
    };
    f.finish().map_err(|e| format!("messages[{index}]: {e}"))?;
    let valid = is_valid_msg(&msg) || (leniency.lax_msg && !msg.is_empty());
    if !valid {
        return Err(format!(
            "messages[{index}].msg must be non-empty standard base64"
        ));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test bodies are objects"),
        }
    }

    const CID: &str = "abcdefgh12345678";

    #[test]
    fn retrieve_schema() {
        let strict = SchemaLeniency::default();
        let ok = Retrieve::parse(
            obj(json!({"connectionID": CID, "pageSize": 3, "fromMessageID": "", "keepMessages": true})),
            &strict,
        )
        .unwrap();
        assert_eq!(ok.page_size, Some(3));
        assert_eq!(ok.from_message_id.as_deref(), Some(""));
        assert!(ok.keep_messages);

        for bad in [
            json!({}),
            json!({"connectionID": CID, "pageSize": 0}),
            json!({"connectionID": CID, "pageSize": 2_147_483_648_u64}),
            json!({"connectionID": CID, "pageSize": 1.0}),
            json!({"connectionID": CID, "pageSize": -1}),
            json!({"connectionID": CID, "pageSize": "1"}),
            json!({"connectionID": CID, "pageSize": null}),
            json!({"connectionID": CID, "keepMessages": 1}),
            json!({"connectionID": CID, "fromMessageID": 5}),
            json!({"connectionID": CID, "extra": 1}),
            json!({"connectionID": "short"}),
            json!({"connectionID": 12_345_678}),
        ] {
            assert!(Retrieve::parse(obj(bad.clone()), &strict).is_err(), "{bad}");
        }
        assert!(Retrieve::parse(
            obj(json!({"connectionID": CID, "pageSize": 2_147_483_647})),
            &strict
        )
        .is_ok());
    }

    #[test]
    fn null_is_never_valid_unless_lenient() {
        let body = json!({"connectionID": CID, "keepMessages": null});
        assert!(Retrieve::parse(obj(body.clone()), &SchemaLeniency::default()).is_err());
        let lax = SchemaLeniency {
            null_as_absent: true,
            ..SchemaLeniency::default()
        };
        assert!(Retrieve::parse(obj(body), &lax).is_ok());
    }

    #[test]
    fn send_schema() {
        let strict = SchemaLeniency::default();
        let ok = Send::parse(
            obj(json!({"connectionID": CID, "messages": [{"msg": "QQ=="}, {"msg": "QUJD"}]})),
            &strict,
        )
        .unwrap();
        assert_eq!(ok.messages, vec!["QQ==", "QUJD"]);
        for bad in [
            json!({"connectionID": CID}),
            json!({"connectionID": CID, "messages": []}),
            json!({"connectionID": CID, "messages": {}}),
            json!({"connectionID": CID, "messages": ["QQ=="]}),
            json!({"connectionID": CID, "messages": [{"msg": "QQ==", "ts": 1}]}),
            json!({"connectionID": CID, "messages": [{}]}),
            json!({"connectionID": CID, "messages": [{"msg": ""}]}),
            json!({"connectionID": CID, "messages": [{"msg": "QQ"}]}),
            json!({"connectionID": CID, "messages": [{"msg": "QQ=="}, {"msg": "*"}]}),
            json!({"connectionID": CID, "messages": [{"msg": null}]}),
        ] {
            assert!(Send::parse(obj(bad.clone()), &strict).is_err(), "{bad}");
        }
    }

    #[test]
    fn update_schemas() {
        let strict = SchemaLeniency::default();
        let ru = UpdateRecipient::parse(
            obj(json!({"connectionID": CID, "newRecipientURI": false, "newSenderURI": true, "disabled": false})),
            &strict,
        )
        .unwrap();
        assert!(!ru.new_recipient_uri && ru.new_sender_uri);
        assert_eq!(ru.disabled, Some(false));
        assert!(UpdateRecipient::parse(
            obj(json!({"connectionID": CID, "sender": "QQ=="})),
            &strict
        )
        .is_err());
        assert!(UpdateSender::parse(
            obj(json!({"connectionID": CID, "newSenderURI": 1})),
            &strict
        )
        .is_err());
        assert!(UpdateSender::parse(
            obj(json!({"connectionID": CID, "newSenderURI": true})),
            &strict
        )
        .is_ok());
        assert!(
            DeleteConnection::parse(obj(json!({"connectionID": CID, "x": 1})), &strict).is_err()
        );
        assert!(DeleteMessages::parse(
            obj(json!({"connectionID": CID, "keepMessages": true})),
            &strict
        )
        .is_err());
        assert!(Create::parse(obj(json!({"connectionID": CID})), &strict).is_err());
    }
}
