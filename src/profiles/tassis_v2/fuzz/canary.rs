//! The canary: an identity that logs in, registers, has a message sent to itself and checks
//! that it arrives and is acknowledged. Run between sessions, it notices damage that the
//! hostile frames did to the server's state without stopping it.

use std::sync::OnceLock;

use crate::profiles::tassis_v2::case::Case;
use crate::profiles::tassis_v2::runner::{self, Ending, Env};

/// The canary as a case (fresh keys and bytes each run).
const CANARY: &str = r#"{
  "id": "fuzz/canary",
  "title": "the canary logs in, registers, is sent a message, receives and acknowledges it",
  "requirements": ["T-DELIVER"],
  "level": "MUST",
  "steps": [
    {"op": "connect", "conn": "me"},
    {"op": "login", "conn": "me", "key": "canary", "device": "text:canary", "seq": 1},
    {"op": "expect", "conn": "me", "seq": 1, "reply": "login", "rule": "T-AUTH-OK"},
    {"op": "send", "conn": "me", "seq": 2,
     "msg": {"register": {"signedPreKey": "$spk", "oneTimePreKeys": ["$k1", "$k2", "$k3", "$k4"]}}},
    {"op": "expect", "conn": "me", "seq": 2, "reply": "ack", "rule": "T-REG-ACK"},
    {"op": "connect", "conn": "anon"},
    {"op": "send", "conn": "anon", "seq": 1, "msg": {"outboundMessage": {
      "to": {"identityKey": "key:canary", "deviceId": "text:canary"},
      "unidentifiedSenderMessage": "$m"}}},
    {"op": "expect", "conn": "anon", "seq": 1, "reply": "ack", "rule": "T-SEND-ACK"},
    {"op": "expect-push", "conn": "me", "push": "inbound", "bytes": "$m", "rule": "T-DELIVER"},
    {"op": "ack", "conn": "me", "bytes": "$m"}
  ]
}"#;

/// The canary case.
pub fn case() -> &'static Case {
    static CASE: OnceLock<Case> = OnceLock::new();
    CASE.get_or_init(|| serde_json::from_str(CANARY).expect("the canary case parses"))
}

/// Run the canary once: `Ok` when every step held, else the rule broken and what was seen.
pub async fn check(env: &Env) -> Result<(), (String, Vec<String>, String)> {
    let run = runner::run_case(env, case()).await;
    match run.ending {
        Ending::Pass | Ending::Skip(_) | Ending::Waived(_) => Ok(()),
        Ending::Broken { step, broken, .. } => Err((
            broken.rule.clone(),
            broken.also,
            format!(
                "canary step {step}: {}: expected {}; got {}",
                broken.rule, broken.expected, broken.actual
            ),
        )),
        Ending::Error(e) => Err((String::new(), Vec::new(), e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_canary_is_a_valid_case() {
        let file = crate::profiles::tassis_v2::case::CaseFile {
            area: "fuzz".into(),
            title: "canary".into(),
            cases: vec![super::case().clone()],
        };
        let problems = crate::profiles::tassis_v2::cases::validate(&[file], &|r| {
            crate::profiles::tassis_v2::catalogue().contains(r)
        });
        assert!(problems.is_empty(), "{problems:?}");
    }
}
