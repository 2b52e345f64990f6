//! One protocol step: build the request, predict its outcome, send it, check the answer, and
//! move the model on when the step passed.

use super::error::StepError;
use super::expect::{self, StepOutcome};
use super::state::{CaseRun, StepFailure};
use crate::profiles::edge_v1::case::{Op, Step};
use crate::profiles::edge_v1::model::{Endpoint, Observed};

impl CaseRun<'_> {
    /// Run one protocol step. `Ok(())` when its expectations held.
    pub async fn protocol_step(
        &mut self,
        n: usize,
        step: &Step,
        endpoint: Endpoint,
    ) -> Result<(), StepFailure> {
        let setup = |e: StepError| StepFailure::setup(n, &e);
        let req = self.http_request(step, endpoint).map_err(setup)?;
        let mreq = self.model_request(step, endpoint);
        let pred = self.model.predict(&mreq).map_err(|e| setup(e.into()))?;
        let ex = self.ctx.client.execute(req).await;
        let result = expect::check(self, n, step, endpoint, &pred, &ex);
        self.record(ex);
        let StepOutcome { status, count } = result?;
        self.model.commit(&mreq, &pred, Observed { status, count });
        Ok(())
    }

    /// Delete every connection the model holds live, as step `n` (correct requests, still
    /// checked, outcomes ignored). Returns how many deletions were made.
    pub async fn delete_live_connections(&mut self, n: usize) -> usize {
        let live: Vec<String> = self
            .model
            .conns()
            .filter(|(_, c)| c.live)
            .map(|(name, _)| name.clone())
            .collect();
        for conn in &live {
            let step = Step {
                op: Some(Op::Call(Endpoint::Delete)),
                conn: conn.clone(),
                ..Step::default()
            };
            let _ = self.protocol_step(n, &step, Endpoint::Delete).await;
        }
        live.len()
    }
}
