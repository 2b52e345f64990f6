//! What the model predicts for a fuzzed step before it is sent. The abstract request is the
//! runner's own ([`CaseRun::model_request`]): the same default signers and the same reading of
//! literal signature headers.

use crate::profiles::edge_v1::case::Step;
use crate::profiles::edge_v1::model::{Endpoint, ModelError, Prediction};
use crate::profiles::edge_v1::runner::CaseRun;

/// The model's prediction for `step` in the state of `run`.
pub fn predict(
    run: &CaseRun<'_>,
    step: &Step,
    endpoint: Endpoint,
) -> Result<Prediction, ModelError> {
    run.predict(step, endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::edge_v1::case::Op;
    use crate::profiles::edge_v1::model::Auth;
    use crate::profiles::edge_v1::runner::view::SignedHeader;
    use crate::profiles::edge_v1::sign::SigFault;
    use crate::profiles::edge_v1::testkit::{case, context};

    #[test]
    fn signers_and_literal_headers_are_read_as_the_runner_reads_them() {
        let ctx = context();
        let run = CaseRun::new(&ctx, &case("fuzz/t"));
        let mut create = Step {
            op: Some(Op::Call(Endpoint::Create)),
            conn: "c".into(),
            ..Step::default()
        };
        let r = run.model_request(&create, Endpoint::Create);
        assert_eq!(r.auth, Auth::Key("c.rk".into()));
        assert_eq!(r.params.recipient.as_deref(), Some("c.rk"));
        assert_eq!(
            predict(&run, &create, Endpoint::Create).unwrap().statuses,
            [201].into()
        );
        create.sig_fault = Some(SigFault::Bitflip);
        assert_eq!(run.model_request(&create, Endpoint::Create).auth, Auth::Bad);
        assert_eq!(
            predict(&run, &create, Endpoint::Create).unwrap().statuses,
            [401].into()
        );
        create.sig_fault = None;
        create.sign_with = Some(None);
        assert_eq!(
            run.model_request(&create, Endpoint::Create).auth,
            Auth::None
        );
        create.authorization = Some(vec!["EMSig x".into()]);
        assert_eq!(run.model_request(&create, Endpoint::Create).auth, Auth::Bad);
    }

    #[test]
    fn an_unknown_connection_is_an_error_not_a_prediction() {
        let ctx = context();
        let run = CaseRun::new(&ctx, &case("fuzz/t"));
        let send = Step {
            op: Some(Op::Call(Endpoint::Send)),
            conn: "nope".into(),
            messages: Some(vec!["m1".into()]),
            ..Step::default()
        };
        assert!(predict(&run, &send, Endpoint::Send).is_err());
    }

    /// The prediction for a step with literal `Authorization` values reads them as the
    /// runner's signing does: one field with the token (any case of the scheme) is valid.
    #[test]
    fn literal_authorization_is_read_as_the_runner_signs_it() {
        let ctx = context();
        let run = CaseRun::new(&ctx, &case("fuzz/t"));
        let cases: [(&[&str], Auth, u16); 5] = [
            (&["EMSig {sig}"], Auth::Key("c.rk".into()), 201),
            (&["emsig {sig}"], Auth::Key("c.rk".into()), 201),
            (&["Bearer {sig}"], Auth::Bad, 401),
            (&["EMSig {sig}", "EMSig {sig}"], Auth::Bad, 401),
            (&["EMSig x"], Auth::Bad, 401),
        ];
        for (literals, auth, status) in cases {
            let create = Step {
                op: Some(Op::Call(Endpoint::Create)),
                conn: "c".into(),
                authorization: Some(literals.iter().map(|l| l.to_string()).collect()),
                ..Step::default()
            };
            let signed = SignedHeader::authorization(run.model(), &create, Endpoint::Create);
            assert_eq!(signed.auth(), auth, "{literals:?}: the runner's signing");
            let predicted = run.model_request(&create, Endpoint::Create).auth;
            assert_eq!(predicted, auth, "{literals:?}: the model's view");
            let statuses = predict(&run, &create, Endpoint::Create).unwrap().statuses;
            assert!(statuses.contains(&status), "{literals:?}: {statuses:?}");
        }
    }
}
