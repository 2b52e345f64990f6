//! The churn part of a `simplex-v5` race round, on a connection of its own: senders send
//! while one session ([`UNSUBSCRIBER`]) unsubscribes and subscribes again every few pushes,
//! and another ([`DELETER`]) deletes about half of what it is pushed with `delete_message`.
//! Every push and reply is recorded with its place in its session's stream; a final REST
//! walk shows what is left. [`super::check::churn`] judges the events.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};

use super::{
    call, create, fetch_page, open_session, post, subscribe_text, token_of, Conn, Log, What,
};
use super::{QUIET_MS, SETTLE_MS};
use crate::client::ws::Incoming;
use crate::profiles::simplex_v5::runner::Env;

/// The session that unsubscribes and subscribes again.
pub const UNSUBSCRIBER: &str = "u0";
/// The session that deletes what it is pushed.
pub const DELETER: &str = "d0";
/// The churn senders' tokens begin with this.
pub const PREFIX: &str = "c";

/// What a churn session asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Ask {
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `delete_message` of a message it was pushed.
    Delete {
        /// The message's token.
        token: Option<String>,
        /// Its ID.
        id: String,
    },
}

/// The sender and number of a churn token (`c1-004` → (1, 4)).
pub fn sender_and_number(token: &str) -> Option<(usize, usize)> {
    let (j, n) = token.strip_prefix(PREFIX)?.split_once('-')?;
    Some((j.parse().ok()?, n.parse().ok()?))
}

/// The churn part: `senders` × `messages` sends against the two sessions.
pub(super) async fn run(
    env: Env,
    log: Log,
    senders: usize,
    messages: usize,
    seed: u64,
) -> Result<(), String> {
    let c = Arc::new(create(&env).await?);
    let done = Arc::new(AtomicBool::new(false));
    let subscribed = Arc::new(AtomicUsize::new(0));
    let progress = Arc::new(Progress::default());
    let mut sessions = Vec::new();
    for (k, name) in [UNSUBSCRIBER, DELETER].into_iter().enumerate() {
        let s = Session {
            env: env.clone(),
            log: log.clone(),
            c: c.clone(),
            name,
            done: done.clone(),
            subscribed: subscribed.clone(),
            progress: progress.clone(),
            rng: rand::rngs::StdRng::seed_from_u64(seed.wrapping_mul(97).wrapping_add(k as u64)),
        };
        sessions.push(tokio::spawn(s.run()));
    }
    // Both sessions are subscribed before anything is sent.
    let wait = tokio::time::Instant::now() + env.reply_timeout;
    while subscribed.load(Ordering::Relaxed) < 2 && tokio::time::Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut tasks = Vec::new();
    for j in 0..senders {
        let (env, log, c) = (env.clone(), log.clone(), c.clone());
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..messages {
                let token = format!("{PREFIX}{j}-{n:03}");
                let invoke = log.now();
                let status = post(&env, &c, &token, None).await;
                if status == Some(200) {
                    progress.add(&progress.accepted, &token);
                }
                log.add(
                    &format!("{PREFIX}{j}"),
                    What::ChurnSend { token, status },
                    invoke,
                    log.now(),
                );
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    done.store(true, Ordering::Relaxed);
    let mut problem = None;
    for s in sessions {
        match s.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problem = problem.or(Some(e)),
            Err(e) => problem = problem.or(Some(e.to_string())),
        }
    }
    if let Some(p) = problem {
        return Err(p);
    }
    walk(&env, &log, &c).await;
    call(&env, "DELETE", &c.ru, None, Some(&c.rk)).await;
    Ok(())
}

/// The churn connection from the start through every `nextMessageID`, as one event.
async fn walk(env: &Env, log: &Log, c: &Conn) {
    let invoke = log.now();
    let mut tokens = Vec::new();
    let mut from: Option<String> = None;
    let mut status = None;
    for _ in 0..10_000 {
        let page = fetch_page(env, c, from.as_deref()).await;
        status = page.status;
        if status != Some(200) {
            break;
        }
        tokens.extend(page.tokens);
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    log.add(
        "final",
        What::ChurnWalk { tokens, status },
        invoke,
        log.now(),
    );
}

/// What the senders and sessions know of each other, for the sessions to tell when they
/// have every message they should.
#[derive(Default)]
struct Progress {
    /// Tokens of accepted sends.
    accepted: Mutex<BTreeSet<String>>,
    /// Tokens the deleter asked to delete.
    deleting: Mutex<BTreeSet<String>>,
}

impl Progress {
    fn add(&self, set: &Mutex<BTreeSet<String>>, token: &str) {
        set.lock()
            .expect("churn progress")
            .insert(token.to_string());
    }

    /// Every accepted message is in `got` or was asked to be deleted (when `deleted` counts).
    fn complete(&self, got: &BTreeSet<String>, deleted: bool) -> bool {
        let accepted = self.accepted.lock().expect("churn progress");
        let deleting = self.deleting.lock().expect("churn progress");
        accepted
            .iter()
            .all(|t| got.contains(t) || (deleted && deleting.contains(t)))
    }
}

/// One churn session.
struct Session {
    env: Env,
    log: Log,
    c: Arc<Conn>,
    name: &'static str,
    done: Arc<AtomicBool>,
    subscribed: Arc<AtomicUsize>,
    progress: Arc<Progress>,
    rng: rand::rngs::StdRng,
}

/// A request sent and not answered yet.
struct Pending {
    ask: Ask,
    invoke: u64,
}

impl Session {
    /// Subscribes, then reads until the senders are done, it has every message it should
    /// (the deleter: every accepted one; the unsubscriber, in its last subscription: every
    /// one never asked to be deleted) and the stream has been quiet for a while, or until
    /// it has waited long enough. The unsubscriber ends subscribed.
    async fn run(mut self) -> Result<(), String> {
        let (mut ws, nonce) = open_session(&self.env).await?;
        let mut pending: HashMap<String, Pending> = HashMap::new();
        let mut asked = 0usize;
        let mut frame = 0usize;
        let mut is_subscribed = false;
        let mut first = true;
        // A subscribe after an unsubscribe failed: the check reports it; no more churn.
        let mut gave_up = false;
        let mut pushes_left = 0usize;
        let mut resubscribe_at: Option<u64> = Some(0);
        let mut done_at: Option<u64> = None;
        let mut complete_at: Option<u64> = None;
        // Tokens pushed in the current subscription (the deleter has only one).
        let mut current: BTreeSet<String> = BTreeSet::new();
        loop {
            let now = self.log.now();
            // Send what is due: a subscribe (at the start, and after an unsubscribe).
            if !is_subscribed && pending.is_empty() && resubscribe_at.is_some_and(|t| now >= t) {
                asked += 1;
                let id = format!("{}-{asked}", self.name);
                ws.send_text(subscribe_text(&nonce, &id, &self.c))
                    .await
                    .map_err(|e| format!("{}: subscribe not sent: {e}", self.name))?;
                pending.insert(
                    id,
                    Pending {
                        ask: Ask::Subscribe,
                        invoke: now,
                    },
                );
                resubscribe_at = None;
            }
            if let Some((id, p)) = pending
                .iter()
                .find(|(_, p)| now > p.invoke + self.env.reply_timeout.as_micros() as u64)
            {
                return Err(format!(
                    "{}: no reply to {:?} ({id}) within {:?}",
                    self.name, p.ask, self.env.reply_timeout
                ));
            }
            let done = self.done.load(Ordering::Relaxed);
            if done {
                let at = *done_at.get_or_insert(now);
                // Messages asked to be deleted may be missing only for the unsubscriber.
                let has_all = pending.is_empty()
                    && (gave_up
                        || is_subscribed
                            && self.progress.complete(&current, self.name == UNSUBSCRIBER));
                if complete_at.is_none() && (has_all || now > at + SETTLE_MS * 1000) {
                    complete_at = Some(now);
                }
                if complete_at.is_some_and(|c| now > c + QUIET_MS * 1000) {
                    self.log.add(
                        self.name,
                        What::Quiet {
                            session: self.name.to_string(),
                        },
                        now,
                        now,
                    );
                    break;
                }
                if !is_subscribed && !gave_up && resubscribe_at.is_none() && pending.is_empty() {
                    resubscribe_at = Some(now);
                }
            }
            let got = ws.recv(Duration::from_millis(5)).await;
            let now = self.log.now();
            let v: Value = match got {
                Ok(Some(Incoming::Text(t))) => serde_json::from_str(&t).unwrap_or(Value::Null),
                Ok(None) => continue,
                Ok(Some(other)) => {
                    return Err(format!("{}: unexpected {other:?}", self.name));
                }
                Err(e) => return Err(format!("{}: {e}", self.name)),
            };
            frame += 1;
            match v.get("type").and_then(Value::as_str) {
                Some("message") => {
                    let m = &v["message"];
                    let token = token_of(m);
                    let id = m
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string();
                    if let Some(t) = &token {
                        current.insert(t.clone());
                    }
                    self.log.add(
                        self.name,
                        What::ChurnPush {
                            session: self.name.to_string(),
                            token: token.clone(),
                            id: id.clone(),
                            frame,
                        },
                        now,
                        now,
                    );
                    if self.name == DELETER && self.rng.random_bool(0.5) {
                        if let Some(t) = &token {
                            self.progress.add(&self.progress.deleting, t);
                        }
                        asked += 1;
                        let rid = format!("{}-{asked}", self.name);
                        let req = json!({"id": rid, "type": "delete_message",
                            "recipientURI": self.c.ru_text, "messageId": id});
                        ws.send_text(req.to_string())
                            .await
                            .map_err(|e| format!("{}: delete_message not sent: {e}", self.name))?;
                        let ask = Ask::Delete { token, id };
                        pending.insert(rid, Pending { ask, invoke: now });
                    } else if self.name == UNSUBSCRIBER && is_subscribed && !done {
                        pushes_left = pushes_left.saturating_sub(1);
                        if pushes_left == 0 && pending.is_empty() {
                            asked += 1;
                            let rid = format!("{}-{asked}", self.name);
                            let req = json!({"id": rid, "type": "unsubscribe",
                                "recipientURI": self.c.ru_text});
                            ws.send_text(req.to_string())
                                .await
                                .map_err(|e| format!("{}: unsubscribe not sent: {e}", self.name))?;
                            let ask = Ask::Unsubscribe;
                            pending.insert(rid, Pending { ask, invoke: now });
                        }
                    }
                }
                Some("subscribe" | "unsubscribe" | "delete_message") => {
                    let rid = v.get("id").and_then(Value::as_str).unwrap_or_default();
                    let Some(p) = pending.remove(rid) else {
                        continue;
                    };
                    let ok = v.get("ok").and_then(Value::as_bool);
                    match (&p.ask, ok) {
                        (Ask::Subscribe, Some(true)) => {
                            is_subscribed = true;
                            current.clear();
                            pushes_left = self.rng.random_range(2..7);
                            if first {
                                first = false;
                                self.subscribed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        (Ask::Unsubscribe, Some(true)) => {
                            is_subscribed = false;
                            // A little time unsubscribed, for pushes that should not come.
                            resubscribe_at = Some(now + self.rng.random_range(0..3000));
                        }
                        (Ask::Subscribe, _) if first => {
                            return Err(format!(
                                "{}: the first subscribe answered {v}; run `edgecheck run \
                                 --profile simplex-v5` first",
                                self.name
                            ));
                        }
                        (Ask::Subscribe, _) => gave_up = true,
                        _ => {}
                    }
                    self.log.add(
                        self.name,
                        What::ChurnReply {
                            session: self.name.to_string(),
                            ask: p.ask,
                            ok,
                            frame,
                        },
                        p.invoke,
                        now,
                    );
                }
                _ => {}
            }
        }
        ws.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_sender_and_number() {
        assert_eq!(sender_and_number("c1-004"), Some((1, 4)));
        assert_eq!(sender_and_number("c12-120"), Some((12, 120)));
        assert_eq!(sender_and_number("s1-004"), None);
        assert_eq!(sender_and_number("c1"), None);
    }
}
