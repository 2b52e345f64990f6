//! One fuzz session: a short life of two connections, driven by correct operations chosen
//! from the model's state, most of them mutated. Every request is checked against what the
//! mutation allows and the model; a rejected request must leave the model's state intact,
//! which later correct requests on the same connections show.

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{Map, Value};

use super::mutate::{self, Expect, Mutation, Site, Stage, SAFE_BODY};
use super::predict::predict;
use super::Shared;
use crate::client::TransportError;
use crate::engine::Verdict;
use crate::profiles::edge_v1::case::{Case, Expect as CaseExpect, Level, Op, Step};
use crate::profiles::edge_v1::model::{Auth, Endpoint, ModelError, Prediction};
use crate::profiles::edge_v1::prop::gen::{AbstractOp, Kind};
use crate::profiles::edge_v1::prop::interpret::Interpreter;
use crate::profiles::edge_v1::runner::CaseRun;
use crate::profiles::edge_v1::wire;
use crate::profiles::edge_v1::Context;

/// Rules a prediction rests on when the request never gets past routing.
const ROUTE_RULES: [&str; 4] = ["S-DEL-AFTER", "S-RUPD-OLDURI", "S-SUPD-OLDURI", "S-GEN-404"];

/// A finding as first seen, before deduplication and reproduction.
#[derive(Debug, Clone)]
pub struct Raw {
    /// The rule broken.
    pub rule: String,
    /// MUST or SHOULD.
    pub level: Level,
    /// What happened.
    pub message: String,
    /// The mutation's shape (`send/json/deep/array/1000`), or `<endpoint>/clean`.
    pub shape: String,
    /// How the answer failed: `5xx`, `closed`, `timeout`, `malformed`, or the status.
    pub answer: String,
    /// Every step of the session up to and including the failing one, each with the
    /// statuses it was checked against.
    pub steps: Vec<Step>,
    /// Which steps were mutated and refused (they changed nothing, so a shorter case may
    /// leave them out).
    pub refused_mutation: Vec<bool>,
    /// The session's seed.
    pub seed: u64,
    /// The target stopped accepting connections.
    pub unreachable: bool,
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// Its steps ran out (or the campaign is stopping).
    Done,
    /// A finding; the session's state is no longer known.
    Finding(Box<Raw>),
    /// The suite could not go on (a setup problem, a truncated body); not the server's fault.
    Error(String),
}

/// Why a session cannot plan its next step (a suite problem, not the server's).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The model cannot predict the step (it names a connection the model does not know).
    #[error("fuzz: {0}")]
    Predict(#[from] ModelError),
}

/// What the runner is told about one step, and what a case file needs to replay it.
struct Plan {
    step: Step,
    shape: String,
    mutated: bool,
    /// Statuses the step is checked against (the case file's `expect.status`).
    allowed: Vec<u16>,
    /// Explicit statuses for the runner (`None`: the model's prediction).
    explicit: bool,
    rule: String,
    preferred: Option<(Vec<u16>, &'static str)>,
    /// The single mutation's narrower rules for an acceptance and for a refusal the
    /// prediction did not allow ([`Mutation::accepted_breaks`], [`Mutation::refused_breaks`]).
    narrower: (Option<&'static str>, Option<&'static str>),
}

/// One session.
pub struct Session<'a> {
    run: CaseRun<'a>,
    interp: Interpreter,
    steps: Vec<Step>,
    refused_mutation: Vec<bool>,
    seed: u64,
    next_msg: usize,
}

/// An empty case to run steps under (the fuzzer sets rules and level per step).
pub fn blank_case(seed: u64) -> Case {
    Case {
        id: "fuzz/session".into(),
        title: "fuzz session".into(),
        requirements: Vec::new(),
        level: Level::Must,
        needs: Vec::new(),
        seed: Some(seed),
        origin: Some("fuzz".into()),
        steps: Vec::new(),
    }
}

/// A random correct operation (before interpretation against the state).
fn abstract_op(rng: &mut StdRng) -> AbstractOp {
    let slot = if rng.random_bool(0.75) { 0 } else { 1 };
    let page = |rng: &mut StdRng| rng.random_bool(0.6).then(|| rng.random_range(1..=6u8));
    let from = |rng: &mut StdRng| rng.random_bool(0.25).then(|| rng.random_range(0..8u8));
    let kind = match rng.random_range(0..100) {
        0..=4 => Kind::Create {
            alt: rng.random_bool(0.5),
            disabled: rng.random_bool(0.1),
        },
        5..=19 => Kind::Update(rng.random_range(1..64)),
        20..=27 => Kind::SenderUpdate(rng.random_range(1..4)),
        28..=57 => Kind::Send(rng.random_range(1..=4)),
        58..=85 => Kind::Retrieve {
            page: page(rng),
            from: from(rng),
            keep: rng.random_bool(0.5),
        },
        86..=97 => Kind::DeleteMessages {
            page: page(rng),
            from: from(rng),
        },
        _ => Kind::Delete,
    };
    AbstractOp { slot, kind }
}

impl<'a> Session<'a> {
    /// A session with fresh connections.
    pub fn new(ctx: &'a Context, seed: u64) -> Session<'a> {
        let mut run = CaseRun::new(ctx, &blank_case(seed));
        run.judge_by(Vec::new(), Level::Must);
        Session {
            run,
            interp: Interpreter::default(),
            steps: Vec::new(),
            refused_mutation: Vec::new(),
            seed,
            next_msg: 0,
        }
    }

    /// Run up to `len` steps; stops early when `shared` says so.
    pub async fn run(&mut self, rng: &mut StdRng, shared: &Shared, len: usize) -> End {
        for i in 0..len {
            if shared.stopping() {
                return End::Done;
            }
            let verify = i % 8 == 7;
            let op = if verify {
                AbstractOp {
                    slot: 0,
                    kind: Kind::Retrieve {
                        page: None,
                        from: None,
                        keep: true,
                    },
                }
            } else {
                abstract_op(rng)
            };
            let base = self.interp.step(&op, &self.run);
            let Some(endpoint) = base.op.and_then(Op::endpoint) else {
                continue;
            };
            let plan = match self.plan(rng, base, endpoint, !verify) {
                Ok(p) => p,
                Err(e) => return End::Error(format!("fuzz: {e}")),
            };
            if let Some(end) = self.execute(plan, endpoint, shared).await {
                return end;
            }
        }
        End::Done
    }

    /// Delete the session's live connections (correct requests, still checked).
    pub async fn cleanup(&mut self, shared: &Shared) {
        let n = self.steps.len() + 1;
        let signed = self.run.signatures();
        for _ in 0..self.run.delete_live_connections(n).await {
            shared.count_request();
        }
        shared.count_signatures(self.run.signatures() - signed);
    }

    /// The body the runner would build for `step`: resolved, and as a raw-body template.
    fn canonical(
        &mut self,
        step: &Step,
        endpoint: Endpoint,
    ) -> (Map<String, Value>, Map<String, Value>) {
        let run = &mut self.run;
        let mut b = Map::new();
        let mut t = Map::new();
        let mut both = |name: &str, v: Value, template: Option<String>| {
            t.insert(
                name.into(),
                template.map_or_else(|| v.clone(), Value::String),
            );
            b.insert(name.into(), v);
        };
        let (cid, cid_template) = match (endpoint, &step.cid) {
            (Endpoint::Create, Some(other)) => (
                run.connection(other).map(|l| l.cid.clone()),
                Some(format!("{{cid:{other}}}")),
            ),
            (Endpoint::Create, None) => (None, None),
            _ => (
                run.connection(&step.conn).map(|l| l.cid.clone()),
                Some(format!("{{cid:{}}}", step.conn)),
            ),
        };
        let cid_template = cid_template.filter(|_| cid.is_some());
        both(
            "connectionID",
            Value::String(cid.unwrap_or_else(wire::connection_id)),
            cid_template,
        );
        let recipient = match endpoint {
            Endpoint::Create => Some(
                step.recipient
                    .clone()
                    .unwrap_or_else(|| format!("{}.rk", step.conn)),
            ),
            _ => step.recipient.clone(),
        };
        if let Some(rk) = recipient {
            both(
                "recipient",
                Value::String(run.key_value(&rk)),
                Some(format!("{{key:{rk}}}")),
            );
        }
        if let Some(sk) = &step.sender {
            both(
                "sender",
                Value::String(run.key_value(sk)),
                Some(format!("{{key:{sk}}}")),
            );
        }
        for (name, v) in [
            ("newRecipientURI", step.new_recipient_uri),
            ("newSenderURI", step.new_sender_uri),
            ("disabled", step.disabled),
        ] {
            if let Some(v) = v {
                both(name, Value::Bool(v), None);
            }
        }
        if let Some(n) = step.page_size {
            both("pageSize", Value::from(n), None);
        }
        if let Some(id) = step.from_message.as_deref().and_then(|m| run.message_id(m)) {
            both("fromMessageID", Value::String(id.to_string()), None);
        }
        if let Some(k) = step.keep_messages {
            both("keepMessages", Value::Bool(k), None);
        }
        if let Some(ms) = &step.messages {
            let arr: Vec<Value> = ms
                .iter()
                .map(|m| {
                    let mut o = Map::new();
                    o.insert("msg".into(), Value::String(run.msg(m)));
                    Value::Object(o)
                })
                .collect();
            both("messages", Value::Array(arr), None);
        }
        (b, t)
    }

    fn site(&mut self, base: &Step, endpoint: Endpoint) -> Site {
        let (canonical, template) = self.canonical(base, endpoint);
        let model_conn = self.run.model().conn(&base.conn).cloned();
        let mut wrong_signers = Vec::new();
        if let Some(c) = &model_conn {
            if endpoint.is_recipient() {
                wrong_signers.extend(c.sk.clone());
                wrong_signers.extend(c.retired_rk.iter().cloned());
            } else {
                wrong_signers.push(c.rk.clone());
                wrong_signers.extend(c.retired_sk.iter().cloned());
            }
        }
        let own_cid = self.run.connection(&base.conn).map(|l| l.cid.clone());
        let foreign_cid = self
            .run
            .connections()
            .map(|(_, l)| l.cid.clone())
            .find(|c| Some(c) != own_cid.as_ref())
            .unwrap_or_else(wire::connection_id);
        self.next_msg += 64;
        Site {
            endpoint,
            canonical,
            template,
            ce_path: self.run.ctx().ce().path().to_string(),
            foreign_cid,
            new_key: match endpoint {
                Endpoint::Update => base.recipient.is_some(),
                Endpoint::SenderUpdate => base.sender.is_some(),
                _ => false,
            },
            keep_retrieve: endpoint == Endpoint::Retrieve && base.keep_messages == Some(true),
            wrong_signers,
            next_msg: self.next_msg,
            page_size: self.run.ctx().page_size,
        }
    }

    fn predict(&self, step: &Step, endpoint: Endpoint) -> Result<Prediction, ModelError> {
        predict(&self.run, step, endpoint)
    }

    /// The prediction for `step` were its `Authorization` signature not to verify.
    fn predict_unverified(
        &self,
        step: &Step,
        endpoint: Endpoint,
    ) -> Result<Prediction, ModelError> {
        let mut req = self.run.model_request(step, endpoint);
        req.auth = Auth::Bad;
        self.run.model().predict(&req)
    }

    /// Choose and apply mutations, and work out what the binding allows.
    fn plan(
        &mut self,
        rng: &mut StdRng,
        base: Step,
        endpoint: Endpoint,
        may_mutate: bool,
    ) -> Result<Plan, ModelError> {
        let pred0 = self.predict(&base, endpoint)?;
        let clean = |step: Step, pred: &Prediction| Plan {
            shape: format!("{}/clean", endpoint.name()),
            mutated: false,
            allowed: pred.statuses.iter().copied().collect(),
            explicit: false,
            rule: pred.rule.to_string(),
            preferred: None,
            narrower: (None, None),
            step,
        };
        let routed = ROUTE_RULES.contains(&pred0.rule)
            && !pred0.statuses.iter().any(|s| (200..300).contains(s));
        if !may_mutate || routed || rng.random_bool(0.2) {
            return Ok(clean(base, &pred0));
        }
        let site = self.site(&base, endpoint);
        let mut step = base.clone();
        let two = rng.random_bool(0.15);
        let mutations: Vec<Mutation> = if two {
            match mutate::mutate_twice(rng, &mut step, &site) {
                Some((a, b)) => vec![a, b],
                None => Vec::new(),
            }
        } else {
            mutate::mutate(rng, &mut step, &site).into_iter().collect()
        };
        if mutations.is_empty() {
            return Ok(clean(base, &pred0));
        }
        let pred = self.predict(&step, endpoint)?;
        let unverified = if mutations
            .iter()
            .any(|m| matches!(m.expect, Expect::UnverifiedOr(_)))
        {
            Some(self.predict_unverified(&step, endpoint)?)
        } else {
            None
        };
        let big = approx_body_len(&step, &site) > SAFE_BODY;
        let statuses_of = |m: &Mutation| -> Vec<u16> {
            let mut s: Vec<u16> = match &m.expect {
                Expect::Model => pred.statuses.iter().copied().collect(),
                Expect::Statuses(s) => s.clone(),
                Expect::ModelOr(extra) => pred.statuses.iter().chain(extra).copied().collect(),
                Expect::CleanModel => pred0.statuses.iter().copied().collect(),
                Expect::UnverifiedOr(extra) => unverified
                    .iter()
                    .flat_map(|p| p.statuses.iter())
                    .chain(extra)
                    .copied()
                    .collect(),
            };
            if big && m.body && !s.contains(&413) {
                s.push(413);
            }
            s.sort_unstable();
            s.dedup();
            s
        };
        // A mutation the model judges names the model's rule; so does one the model judges
        // with a few statuses more a server may choose (an odd header, a large valid body):
        // what breaks when neither is met is the model's rule (a 5xx is B-NO-5XX anyway).
        let rule_of = |m: &Mutation| -> String {
            if m.rule.is_empty() || matches!(m.expect, Expect::Model | Expect::ModelOr(_)) {
                pred.rule.to_string()
            } else {
                m.rule.to_string()
            }
        };
        // A narrower rule for an acceptance holds only when the step would succeed without
        // the mutation: otherwise the refusal the model expects has another cause (a
        // disabled connection).
        let base_succeeds = pred0.statuses.iter().any(|s| (200..300).contains(s));
        let accepted_breaks = |m: &Mutation| m.accepted_breaks.filter(|_| base_succeeds);
        // A narrower rule for a refusal holds only for a mutation that leaves the prediction
        // as it was (a valid variant): then any other 4xx refuses the variant itself.
        let unchanged = pred.statuses == pred0.statuses;
        let refused_breaks = |m: &Mutation| m.refused_breaks.filter(|_| unchanged);
        let shape = mutations
            .iter()
            .map(|m| m.shape.clone())
            .collect::<Vec<_>>()
            .join(" + ");
        let plan = if let [m] = mutations.as_slice() {
            let mut allowed = statuses_of(m);
            // A signature the state refuses as well: the model allows the state's 4xx and
            // prefers 401 (B-ORDER); the mutation's own alternatives stay preferred too.
            let order = |p: Option<&Prediction>, extra: &[u16]| {
                p.and_then(|p| p.preferred.clone())
                    .filter(|(_, rule)| *rule == "B-ORDER")
                    .map(|(s, rule)| (s.into_iter().chain(extra.iter().copied()).collect(), rule))
            };
            let mut preferred = m.preferred.clone().or_else(|| match &m.expect {
                Expect::Model => order(Some(&pred), &[]),
                Expect::ModelOr(extra) => order(Some(&pred), extra),
                Expect::UnverifiedOr(extra) => order(unverified.as_ref(), extra),
                Expect::CleanModel | Expect::Statuses(_) => None,
            });
            // A step the model refuses unmutated (a disabled connection, a missing sender
            // key) has a second fault, of a later step of §3.1 than the mutation's: its 4xx
            // are allowed too, and the mutation's preferred (B-ORDER).
            if matches!(m.expect, Expect::Statuses(_)) && m.stage.is_some_and(|s| s < Stage::State)
            {
                let mine = Prediction {
                    statuses: allowed.iter().copied().collect(),
                    rule: m.rule,
                    preferred: None,
                    outcome: crate::profiles::edge_v1::model::Outcome::Rejected,
                }
                .with_later_fault(&pred0);
                allowed = mine.statuses.into_iter().collect();
                if preferred.is_none() {
                    preferred = mine
                        .preferred
                        .map(|(s, rule)| (s.into_iter().collect(), rule));
                }
            }
            Plan {
                allowed,
                explicit: m.expect != Expect::Model,
                rule: rule_of(m),
                preferred,
                narrower: (accepted_breaks(m), refused_breaks(m)),
                shape,
                mutated: true,
                step,
            }
        } else {
            // Two faults: any status either fault alone gets is allowed (MUST); the one of
            // the earlier step of §3.1 is preferred (B-ORDER).
            let mut ms = mutations.clone();
            ms.sort_by_key(|m| m.stage.unwrap_or(Stage::State));
            let rejections = |m: &Mutation| -> Vec<u16> {
                statuses_of(m)
                    .into_iter()
                    .filter(|s| (400..500).contains(s))
                    .collect()
            };
            let first = rejections(&ms[0]);
            let mut allowed: Vec<u16> = ms.iter().flat_map(rejections).collect();
            allowed.sort_unstable();
            allowed.dedup();
            if first.is_empty() || allowed.is_empty() {
                return Ok(clean(base, &pred0));
            }
            Plan {
                allowed,
                explicit: true,
                rule: rule_of(&ms[0]),
                preferred: Some((first, "B-ORDER")),
                // Accepted, the request breaks the earlier fault's rule, as `rule` says.
                narrower: (accepted_breaks(&ms[0]), None),
                shape,
                mutated: true,
                step,
            }
        };
        Ok(plan)
    }

    /// Send one planned step and judge the answer; `Some` ends the session.
    async fn execute(&mut self, plan: Plan, endpoint: Endpoint, shared: &Shared) -> Option<End> {
        let mut step = plan.step.clone();
        if plan.explicit {
            step.expect = Some(CaseExpect {
                status: Some(plan.allowed.clone()),
                ..CaseExpect::default()
            });
            self.run.judge_by(vec![plan.rule.clone()], Level::Must);
        } else {
            self.run.judge_by(Vec::new(), Level::Must);
        }
        let n = self.steps.len() + 1;
        let before = self.run.exchanges().len();
        let signed = self.run.signatures();
        let result = self.run.protocol_step(n, &step, endpoint).await;
        shared.count_signatures(self.run.signatures() - signed);
        let sent = self.run.exchanges().len() > before;
        if sent {
            shared.count_request();
        }
        // The case file states every status it checks, so a replay checks the same.
        let mut case_step = plan.step.clone();
        if plan.mutated {
            case_step.expect = Some(CaseExpect {
                status: Some(plan.allowed.clone()),
                ..CaseExpect::default()
            });
        }
        let exchange = self.run.exchanges().last().filter(|_| sent);
        let status = exchange
            .and_then(|e| e.response.as_ref().ok())
            .map(|r| r.status);
        if let Some(ex) = exchange {
            shared.note(format!(
                "{} {} [{}] -> {}",
                ex.request.method,
                ex.request.request_target(),
                plan.shape,
                status.map_or_else(|| "no answer".to_string(), |s| s.to_string())
            ));
        }
        self.steps.push(case_step);
        self.refused_mutation
            .push(plan.mutated && !status.is_some_and(|s| (200..300).contains(&s)));
        let finding = |this: &Self,
                       rule: String,
                       level: Level,
                       message: String,
                       answer: String,
                       unreachable: bool| {
            End::Finding(Box::new(Raw {
                rule,
                level,
                message,
                shape: plan.shape.clone(),
                answer,
                steps: this.steps.clone(),
                refused_mutation: this.refused_mutation.clone(),
                seed: this.seed,
                unreachable,
            }))
        };
        // How the answer failed, for deduplication.
        let transport = exchange.and_then(|e| e.response.as_ref().err()).cloned();
        let answer = match (&transport, status) {
            (Some(TransportError::Timeout), _) => "timeout".to_string(),
            (Some(TransportError::Closed(_)), _) => "closed".into(),
            (Some(TransportError::Connect(_)), _) => "unreachable".into(),
            (Some(TransportError::Tls(_)), _) => "tls".into(),
            (Some(_), _) => "malformed".into(),
            (None, Some(s)) if s >= 500 => "5xx".into(),
            (None, Some(s)) => s.to_string(),
            (None, None) => "none".into(),
        };
        let unreachable = matches!(transport, Some(TransportError::Connect(_)));
        match result {
            Ok(()) => {
                let status = status.unwrap_or_default();
                if let Some((pref, rule)) = &plan.preferred {
                    if !pref.contains(&status) {
                        let message = format!(
                            "{}: expected status {:?} (the earlier check of §3.1), got {status}",
                            plan.shape, pref
                        );
                        return Some(finding(
                            self,
                            rule.to_string(),
                            Level::Should,
                            message,
                            answer,
                            false,
                        ));
                    }
                }
                None
            }
            Err(f) => {
                let level = match f.verdict {
                    Verdict::Fail => Level::Must,
                    Verdict::Warn => Level::Should,
                    // A transport failure the runner cannot blame on the server (a timeout,
                    // a malformed answer, a refused connection) is still a finding of the
                    // fuzzer: B-NO-5XX asks for an answer to every request, in time.
                    _ if transport.is_some() => Level::Must,
                    _ => return Some(End::Error(f.message)),
                };
                // An answer the prediction did not allow to a mutation with a narrower rule
                // for it (a PKCS#1 v1.5 signature accepted) breaks that rule.
                let success = |s: &u16| (200..300).contains(s);
                let narrower = match status {
                    Some(s) if f.verdict != Verdict::Fail || plan.allowed.contains(&s) => None,
                    Some(s) if success(&s) && !plan.allowed.iter().any(success) => plan.narrower.0,
                    Some(400..=499) => plan.narrower.1,
                    _ => None,
                };
                let rule = if let Some(rule) = narrower {
                    rule.to_string()
                } else if f.failure.rule.is_empty() {
                    if transport.is_some() {
                        "B-NO-5XX".to_string()
                    } else {
                        plan.rule.clone()
                    }
                } else {
                    f.failure.rule.clone()
                };
                // The runner's message names the rule it judged by; a narrower one replaces it.
                let message = match narrower {
                    Some(r) if !f.failure.rule.is_empty() => {
                        f.message
                            .replacen(&format!("{}: ", f.failure.rule), &format!("{r}: "), 1)
                    }
                    _ => f.message,
                };
                Some(finding(
                    self,
                    rule,
                    level,
                    format!("{}: {message}", plan.shape),
                    answer,
                    unreachable,
                ))
            }
        }
    }
}

/// The body length a step will have, roughly (enough to know whether it may be over a
/// conforming server's limit).
fn approx_body_len(step: &Step, site: &Site) -> usize {
    if let Some(b) = &step.raw_body {
        return b.len();
    }
    if let Some(b) = &step.raw_body_base64 {
        return b.len() / 4 * 3;
    }
    let canonical = serde_json::to_string(&site.canonical).map_or(0, |s| s.len());
    let repeated: usize = step
        .set
        .iter()
        .chain(step.set_path.iter())
        .flat_map(|m| m.values())
        .map(
            |v| match (v.get("$repeat"), v.get("times").and_then(Value::as_u64)) {
                (Some(_), Some(n)) => n as usize,
                _ => v.to_string().len(),
            },
        )
        .sum();
    canonical + repeated
}
