//! What the model predicts for a step, before it is sent: the abstract request the runner
//! will build for it (same defaults for signers, same reading of literal headers).

use crate::profiles::edge_v1::case::{parse_via, Step};
use crate::profiles::edge_v1::model::{self, Auth, Endpoint, ModelError, Params, Prediction, Via};
use crate::profiles::edge_v1::runner::CaseRun;

/// The abstract request `CaseRun::protocol_step` builds for `step` in the state of `run`.
pub fn model_request(run: &CaseRun<'_>, step: &Step, endpoint: Endpoint) -> model::Request {
    let default_signer = match endpoint {
        Endpoint::Create => Some(
            step.recipient
                .clone()
                .unwrap_or_else(|| format!("{}.rk", step.conn)),
        ),
        e if e.is_recipient() => run.model.conn(&step.conn).map(|c| c.rk.clone()),
        _ => run.model.conn(&step.conn).and_then(|c| c.sk.clone()),
    };
    let signer = match &step.sign_with {
        Some(s) => s.clone(),
        None => default_signer,
    };
    let auth = match (signer, &step.authorization) {
        (Some(name), None) if step.sig_fault.is_none() => Auth::Key(name),
        (Some(_), _) | (None, Some(_)) => Auth::Bad,
        (None, None) => Auth::None,
    };
    let new_key = match endpoint {
        Endpoint::Update => step.recipient.clone(),
        Endpoint::SenderUpdate => step.sender.clone(),
        _ => None,
    };
    let nk_signer = match &step.new_key_sig_with {
        Some(s) => s.clone(),
        None => new_key,
    };
    let new_key_auth = match (nk_signer, &step.new_key_signature) {
        (Some(name), None) if step.new_key_sig_fault.is_none() => Auth::Key(name),
        (Some(_), _) | (None, Some(_)) => Auth::Bad,
        (None, None) => Auth::None,
    };
    let recipient = match (&step.recipient, endpoint) {
        (None, Endpoint::Create) => Some(format!("{}.rk", step.conn)),
        (r, _) => r.clone(),
    };
    model::Request {
        conn: step.conn.clone(),
        endpoint,
        via: match step.via.as_deref().and_then(parse_via) {
            Some((_, v)) => Via::Version(v),
            None => Via::Current,
        },
        auth,
        new_key_auth,
        params: Params {
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
        },
        fault: step.fault,
    }
}

/// The model's prediction for `step` in the state of `run`.
pub fn predict(
    run: &CaseRun<'_>,
    step: &Step,
    endpoint: Endpoint,
) -> Result<Prediction, ModelError> {
    run.model.predict(&model_request(run, step, endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Client, ClientOptions};
    use crate::profiles::edge_v1::case::{Case, Level, Op};
    use crate::profiles::edge_v1::sign::{KeyPool, SigFault};
    use crate::profiles::edge_v1::Context;

    fn ctx() -> Context {
        Context {
            client: Client::new(&ClientOptions::default()).unwrap(),
            pool: KeyPool::builtin().unwrap(),
            servers: vec!["https://127.0.0.1:1/connection".parse().unwrap()],
            page_size: Some(10),
            allow_http: false,
        }
    }

    fn case() -> Case {
        Case {
            id: "fuzz/t".into(),
            title: "t".into(),
            requirements: vec!["B-NO-5XX".into()],
            level: Level::Must,
            needs: vec![],
            seed: None,
            origin: None,
            steps: vec![],
        }
    }

    #[test]
    fn signers_and_literal_headers_are_read_as_the_runner_reads_them() {
        let ctx = ctx();
        let run = CaseRun::new(&ctx, &case());
        let mut create = Step {
            op: Some(Op::Create),
            conn: "c".into(),
            ..Step::default()
        };
        let r = model_request(&run, &create, Endpoint::Create);
        assert_eq!(r.auth, Auth::Key("c.rk".into()));
        assert_eq!(r.params.recipient.as_deref(), Some("c.rk"));
        assert_eq!(
            predict(&run, &create, Endpoint::Create).unwrap().statuses,
            [201].into()
        );
        create.sig_fault = Some(SigFault::Bitflip);
        assert_eq!(
            model_request(&run, &create, Endpoint::Create).auth,
            Auth::Bad
        );
        assert_eq!(
            predict(&run, &create, Endpoint::Create).unwrap().statuses,
            [401].into()
        );
        create.sig_fault = None;
        create.sign_with = Some(None);
        assert_eq!(
            model_request(&run, &create, Endpoint::Create).auth,
            Auth::None
        );
        create.authorization = Some(vec!["EMSig x".into()]);
        assert_eq!(
            model_request(&run, &create, Endpoint::Create).auth,
            Auth::Bad
        );
    }

    #[test]
    fn an_unknown_connection_is_an_error_not_a_prediction() {
        let ctx = ctx();
        let run = CaseRun::new(&ctx, &case());
        let send = Step {
            op: Some(Op::Send),
            conn: "nope".into(),
            messages: Some(vec!["m1".into()]),
            ..Step::default()
        };
        assert!(predict(&run, &send, Endpoint::Send).is_err());
    }
}
