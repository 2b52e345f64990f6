//! B-NO-5XX across connections: a request on one TCP connection is answered while another
//! connection holds a request whose body is half sent.
//!
//! Every request of this probe goes over a connection of its own (the raw path), so that
//! neither shares the HTTP/2 connection of the rest of the run.

use super::common::plain;
use crate::client::{Exchange, Request, TransportError};
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::runner::state::{failure, CaseRun, StepFailure};

/// The probe `second-connection`: a signed create is sent up to half its body on a first
/// connection and held there; a second create goes on a second connection and must be
/// answered within the timeout (not 5xx). Then the first one's body is completed. A server
/// that serves one connection at a time keeps the second waiting behind the first: it hangs
/// (B-NO-5XX). The hang is blamed on the server only when the first connection is then
/// answered, which shows that the server and the network were up; otherwise it is an error.
pub(super) async fn second_connection(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let first = create(run, n, "held")?;
    let head = first.raw_bytes().len() - first.body.len();
    let half = head + first.body.len() / 2;
    let held = match run.ctx.client.send_part(first, half).await {
        Ok(held) => held,
        Err(ex) => {
            let why = describe(&ex);
            run.exchanges.push(ex);
            return Err(failure(
                Verdict::Error,
                n,
                "",
                "a first connection holding half a request",
                why,
            ));
        }
    };
    let mut second = create(run, n, "second")?;
    // `Connection: close` takes the raw path: a connection of its own.
    second
        .headers
        .push(("Connection".into(), b"close".to_vec()));
    let second = run.ctx.client.execute(second).await;
    let first = held.finish(&run.ctx.client).await;
    let (second_answer, first_answer) = (status(&second), status(&first));
    run.exchanges.push(first);
    run.exchanges.push(second);
    match second_answer {
        Ok(s) if s < 500 => Ok(()),
        Ok(s) => Err(failure(
            Verdict::Fail,
            n,
            "B-NO-5XX",
            "an answer other than 5xx on the second connection",
            s.to_string(),
        )),
        Err(e @ (TransportError::Timeout | TransportError::Closed(_))) => match first_answer {
            Ok(s) => Err(failure(
                Verdict::Fail,
                n,
                "B-NO-5XX",
                "an answer on a second connection while a first one holds half a request",
                format!(
                    "none ({e}); the first connection was answered ({s}) once its body was \
                     complete: the second waited behind it"
                ),
            )),
            Err(first_error) => Err(failure(
                Verdict::Error,
                n,
                "B-NO-5XX",
                "an answer on either connection",
                format!("none on the second ({e}) nor on the first ({first_error})"),
            )),
        },
        Err(e) => Err(failure(
            Verdict::Error,
            n,
            "",
            "an answer on the second connection",
            e.to_string(),
        )),
    }
}

/// A signed create for a connection named `conn`.
fn create(run: &mut CaseRun<'_>, n: usize, conn: &str) -> Result<Request, StepFailure> {
    run.http_request(&plain(Endpoint::Create, conn), Endpoint::Create)
        .map_err(|e| StepFailure::setup(n, &e))
}

fn status(ex: &Exchange) -> Result<u16, TransportError> {
    ex.response.as_ref().map(|r| r.status).map_err(Clone::clone)
}

fn describe(ex: &Exchange) -> String {
    match &ex.response {
        Ok(r) => r.status.to_string(),
        Err(e) => e.to_string(),
    }
}
