//! The canary: a connection with known messages and a known past, checked regularly while
//! hostile requests hit other connections. Its messages must be intact and in order, nothing
//! may be added, and its replaced keys and URIs must stay dead (B-ISOLATION, S-RUPD-OLDKEY,
//! S-RUPD-OLDURI, S-SUPD-OLDKEY, S-SUPD-OLDURI).

use super::session::blank_case;
use crate::profiles::edge_v1::case::{Level, Op, Step};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::runner::{CaseRun, StepFailure};
use crate::profiles::edge_v1::Context;

/// Rules whose failure on the canary's retrievals, once a check has passed, means its content
/// changed: S-RETR-REMOVE is the 400 on a `fromMessageID` that vanished since.
const CONTENT_RULES: [&str; 7] = [
    "S-RETR-REMOVE",
    "S-RETR-200",
    "S-RETR-PAGE",
    "S-RETR-NEXT",
    "S-RETR-NOTRACK",
    "B-MSG-FMT",
    "B-MID-FMT",
];

const CONN: &str = "canary";

fn step(op: Op) -> Step {
    Step {
        op: Some(op),
        conn: CONN.into(),
        ..Step::default()
    }
}

fn retrieve_one(from: Option<&str>) -> Step {
    let mut s = step(Op::Call(Endpoint::Retrieve));
    s.page_size = Some(1);
    s.keep_messages = Some(true);
    s.from_message = from.map(str::to_string);
    s
}

/// The canary's setup: created, secured, two messages, every key and URI replaced once,
/// one more message, and the ids learned.
fn setup_steps() -> Vec<Step> {
    let mut create = step(Op::Call(Endpoint::Create));
    create.recipient = Some("canary.rk0".into());
    let mut secure = step(Op::Call(Endpoint::Update));
    secure.sender = Some("canary.sk0".into());
    let mut first = step(Op::Call(Endpoint::Send));
    first.messages = Some(vec!["canary.m1".into(), "canary.m2".into()]);
    let mut rotate = step(Op::Call(Endpoint::Update));
    rotate.recipient = Some("canary.rk1".into());
    rotate.new_recipient_uri = Some(true);
    rotate.new_sender_uri = Some(true);
    let mut sender = step(Op::Call(Endpoint::SenderUpdate));
    sender.sender = Some("canary.sk1".into());
    let mut last = step(Op::Call(Endpoint::Send));
    last.messages = Some(vec!["canary.m3".into()]);
    vec![
        create,
        secure,
        first,
        rotate,
        sender,
        last,
        retrieve_one(None),
        retrieve_one(Some("canary.m2")),
    ]
}

/// One check: the three messages one by one (exact, whatever PAGE_SIZE is), nothing after
/// the last, and each replaced key and URI refused.
fn check_steps(n: usize) -> Vec<Step> {
    let mut old_rk = retrieve_one(None);
    old_rk.sign_with = Some(Some("canary.rk0".into()));
    let mut old_ru = retrieve_one(None);
    old_ru.via = Some("ru@0".into());
    let mut old_sk = step(Op::Call(Endpoint::Send));
    old_sk.sign_with = Some(Some("canary.sk0".into()));
    old_sk.messages = Some(vec![format!("canary.stale{n}a")]);
    let mut old_su = step(Op::Call(Endpoint::Send));
    old_su.via = Some("su@0".into());
    old_su.messages = Some(vec![format!("canary.stale{n}b")]);
    vec![
        retrieve_one(None),
        retrieve_one(Some("canary.m2")),
        retrieve_one(Some("canary.m3")),
        old_rk,
        old_ru,
        old_sk,
        old_su,
    ]
}

/// The canary connection could not be set up (the failing step's message).
#[derive(Debug, thiserror::Error)]
#[error("the canary connection could not be set up: {0}")]
pub struct SetupError(String);

/// A canary connection and every step it has seen.
pub struct Canary<'a> {
    run: CaseRun<'a>,
    /// Every step so far (setup and checks), for the case file of a finding.
    pub steps: Vec<Step>,
    checks: usize,
}

impl<'a> Canary<'a> {
    /// Create the canary and check it once before any hostile request is sent, so that its
    /// own steps are known to leave it intact; the error says which step failed.
    pub async fn setup(ctx: &'a Context) -> Result<Canary<'a>, SetupError> {
        let mut run = CaseRun::new(ctx, &blank_case(0));
        run.judge_by(Vec::new(), Level::Must);
        let mut canary = Canary {
            run,
            steps: Vec::new(),
            checks: 0,
        };
        for s in setup_steps() {
            canary.send(s).await.map_err(|f| SetupError(f.message))?;
        }
        canary.run_check().await.map_err(|f| {
            SetupError(format!(
                "its first check, before any hostile request, failed: {} ({})",
                f.message, f.failure.rule
            ))
        })?;
        Ok(canary)
    }

    async fn send(&mut self, s: Step) -> Result<(), StepFailure> {
        let endpoint = s.op.and_then(Op::endpoint).unwrap_or(Endpoint::Retrieve);
        let n = self.steps.len() + 1;
        self.steps.push(s.clone());
        let r = self.run.protocol_step(n, &s, endpoint).await;
        // Only the steps are kept; exchanges of passing checks are not needed.
        if r.is_ok() {
            self.run.take_exchanges();
        }
        r
    }

    /// Run one check; on failure, the rule (B-ISOLATION when the content changed: the first
    /// check in `setup` showed that the canary's own steps keep it) and what happened.
    pub async fn check(&mut self) -> Result<usize, (String, String)> {
        self.run_check().await.map_err(|f| {
            let rule = if CONTENT_RULES.contains(&f.failure.rule.as_str()) {
                "B-ISOLATION".to_string()
            } else if f.failure.rule.is_empty() {
                "B-NO-5XX".to_string()
            } else {
                f.failure.rule.clone()
            };
            (rule, format!("canary check {}: {}", self.checks, f.message))
        })
    }

    /// The steps of one check, up to the first that fails; the requests sent.
    async fn run_check(&mut self) -> Result<usize, StepFailure> {
        self.checks += 1;
        let steps = check_steps(self.checks);
        let sent = steps.len();
        for s in steps {
            self.send(s).await?;
        }
        Ok(sent)
    }

    /// Checks run so far.
    pub fn checks(&self) -> usize {
        self.checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_are_valid_case_steps() {
        let mut steps = setup_steps();
        steps.extend(check_steps(1));
        let case = crate::profiles::edge_v1::case::Case {
            steps,
            requirements: vec!["B-ISOLATION".into()],
            ..blank_case(0)
        };
        let problems = crate::profiles::edge_v1::case::validate(&case, &|_| true);
        assert!(problems.is_empty(), "{problems:?}");
        // Old keys and URIs are exercised on both sides.
        let checks = check_steps(1);
        assert!(checks.iter().any(|s| s.via.as_deref() == Some("ru@0")));
        assert!(checks.iter().any(|s| s.via.as_deref() == Some("su@0")));
        assert_eq!(checks.iter().filter(|s| s.sign_with.is_some()).count(), 2);
    }
}
