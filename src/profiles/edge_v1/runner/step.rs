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
        if !(200..300).contains(&status) {
            if let Some(r) = expect::old_uri_refusal(step, &pred) {
                self.refused_uris.insert(r);
            }
            match endpoint {
                Endpoint::Send => self.note_refused_send(step, status),
                Endpoint::Update | Endpoint::SenderUpdate => self.note_refused_update(step),
                _ => {}
            }
        }
        self.model.commit(&mreq, &pred, Observed { status, count });
        Ok(())
    }

    /// Remember the messages of a send refused with `status`, under the rule that says such a
    /// refusal stores nothing: over the queue cap (429, B-QUOTA), a batch with an invalid
    /// message (400, B-SEND-ATOMIC), a disabled connection (403, S-CREATE-DIS or
    /// B-SEND-DISABLED). A message of it that shows up later was stored by the refused send.
    fn note_refused_send(&mut self, step: &Step, status: u16) {
        let names = step.messages.as_deref().unwrap_or_default();
        let rule = match status {
            429 => "B-QUOTA",
            400 if names.len() > 1 => "B-SEND-ATOMIC",
            403 => match self.model.conn(&step.conn) {
                Some(c) if c.live && c.disabled => c.disabled_rule(),
                _ => return,
            },
            _ => return,
        };
        for m in names {
            self.refused_msgs.insert(m.clone(), rule);
        }
        self.refused_sends.insert(step.conn.clone(), rule);
    }

    /// Remember what a refused PUT asked for on its connection.
    fn note_refused_update(&mut self, step: &Step) {
        let asked = [
            ("ru", step.new_recipient_uri == Some(true)),
            ("su", step.new_sender_uri == Some(true)),
            ("rk", step.recipient.is_some()),
            ("sk", step.sender.is_some()),
            ("disabled", step.disabled == Some(true)),
        ];
        let entry = self.refused_updates.entry(step.conn.clone()).or_default();
        entry.extend(asked.iter().filter(|(_, on)| *on).map(|(what, _)| *what));
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
