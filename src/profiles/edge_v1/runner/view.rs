//! The model's view of a step: which endpoint, who signs (and whether the model can count the
//! signature as valid), which parameters, through which URI. The runner signs and predicts
//! from this one reading; fuzz and prop predict from it too.

use super::state::CaseRun;
use crate::profiles::edge_v1::case::{parse_via, Step};
use crate::profiles::edge_v1::model::{
    self, Auth, Endpoint, KeyName, Model, ModelError, Params, Prediction, Via,
};
use crate::profiles::edge_v1::sign::{SigFault, AUTH_SCHEME};

/// One signature header of a step: who signs, with which fault, or which literal values.
#[derive(Debug, Clone)]
pub struct SignedHeader<'s> {
    /// The header's name.
    pub name: &'static str,
    /// The key that signs (None: no signature, only literal values if any).
    pub signer: Option<KeyName>,
    /// A deliberate fault in the signature.
    pub fault: Option<SigFault>,
    /// Literal field values; `{sig}` in them stands for the signature token.
    pub literals: Option<&'s [String]>,
    /// `Authorization` carries the `EMSig` scheme; `EM-New-Key-Signature` is a bare token.
    pub scheme: bool,
}

impl<'s> SignedHeader<'s> {
    /// The `Authorization` header of `step`: by default signed with the key the binding's
    /// table names for `endpoint` in the state of `model`.
    pub fn authorization(model: &Model, step: &'s Step, endpoint: Endpoint) -> SignedHeader<'s> {
        let default = match endpoint {
            Endpoint::Create => Some(create_recipient(step)),
            e if e.is_recipient() => model.conn(&step.conn).map(|c| c.rk.clone()),
            _ => model.conn(&step.conn).and_then(|c| c.sk.clone()),
        };
        SignedHeader {
            name: "Authorization",
            signer: step.sign_with.clone().unwrap_or(default),
            fault: step.sig_fault,
            literals: step.authorization.as_deref(),
            scheme: true,
        }
    }

    /// The `EM-New-Key-Signature` header of `step`: by default made with the key the request
    /// puts in place.
    pub fn new_key(step: &'s Step, endpoint: Endpoint) -> SignedHeader<'s> {
        let default = match endpoint {
            Endpoint::Update => step.recipient.clone(),
            Endpoint::SenderUpdate => step.sender.clone(),
            _ => None,
        };
        SignedHeader {
            name: "EM-New-Key-Signature",
            signer: step.new_key_sig_with.clone().unwrap_or(default),
            fault: step.new_key_sig_fault,
            literals: step.new_key_signature.as_deref(),
            scheme: false,
        }
    }

    /// What the model sees in the header: a valid signature by a key, a bad one, or none.
    pub fn auth(&self) -> Auth {
        match &self.signer {
            None if self.literals.is_some() => Auth::Bad,
            None => Auth::None,
            Some(name) if self.fault.is_none() && self.literal_is_valid() => {
                Auth::Key(name.clone())
            }
            Some(_) => Auth::Bad,
        }
    }

    /// Whether the literal values are still one well-formed field with the right token (such
    /// as a lower-case scheme); no literal values is the runner's own well-formed field.
    fn literal_is_valid(&self) -> bool {
        let Some(lits) = self.literals else {
            return true;
        };
        match lits {
            [one] if self.scheme => one.split_once(' ').is_some_and(|(scheme, token)| {
                scheme.eq_ignore_ascii_case(AUTH_SCHEME) && token == "{sig}"
            }),
            [one] => one == "{sig}",
            _ => false,
        }
    }
}

/// The recipient key a create step puts in place (default `<conn>.rk`).
pub fn create_recipient(step: &Step) -> KeyName {
    step.recipient
        .clone()
        .unwrap_or_else(|| format!("{}.rk", step.conn))
}

/// The abstract parameters of a step.
fn params(step: &Step, endpoint: Endpoint) -> Params {
    let recipient = match endpoint {
        Endpoint::Create => Some(create_recipient(step)),
        _ => step.recipient.clone(),
    };
    Params {
        cid: step.cid.clone(),
        recipient,
        sender: step.sender.clone(),
        disabled: step.disabled,
        new_recipient_uri: step.new_recipient_uri,
        new_sender_uri: step.new_sender_uri,
        page_size: step.page_size,
        from: step.from_message.clone(),
        keep: step.keep_messages,
        messages: step.messages.clone().unwrap_or_default(),
    }
}

/// The abstract request the runner sends for `step` at `endpoint` in the state of `model`.
pub fn model_request(model: &Model, step: &Step, endpoint: Endpoint) -> model::Request {
    let via = match step.via.as_deref().and_then(parse_via) {
        Some((_, v)) => Via::Version(v),
        None => Via::Current,
    };
    model::Request {
        conn: step.conn.clone(),
        endpoint,
        via,
        auth: SignedHeader::authorization(model, step, endpoint).auth(),
        new_key_auth: SignedHeader::new_key(step, endpoint).auth(),
        params: params(step, endpoint),
        fault: step.fault,
    }
}

impl CaseRun<'_> {
    /// The abstract request the runner sends for `step` at `endpoint` now.
    pub fn model_request(&self, step: &Step, endpoint: Endpoint) -> model::Request {
        model_request(&self.model, step, endpoint)
    }

    /// The model's prediction for `step` at `endpoint` now, before it is sent.
    pub fn predict(&self, step: &Step, endpoint: Endpoint) -> Result<Prediction, ModelError> {
        self.model.predict(&self.model_request(step, endpoint))
    }
}
