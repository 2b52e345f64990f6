//! Scenarios of the generic protocol (source documents 000, 002 and 003) run as real clients
//! run them: an out-of-band invitation (SU, connectionID, EK), an unsigned confirmation whose
//! ciphertext carries the sender's key, the recipient securing the connection with that key,
//! then signed traffic that the recipient decrypts end to end.
//!
//! Every request goes through [`CaseRun::protocol_step`], so each one is checked against the
//! model; these probes add what the model cannot see: that what comes back still decrypts to
//! what was sent, and that the keys and addresses the parties learn from each other work.

use std::sync::Arc;

use serde_json::{json, Value};
use url::Url;

use super::common::plain;
use crate::engine::event::Verdict;
use crate::profiles::edge_v1::case::{Expect, Step};
use crate::profiles::edge_v1::model::Endpoint;
use crate::profiles::edge_v1::runner::state::{failure, CaseRun, Live, StepFailure};
use crate::profiles::edge_v1::sign::Key;
use crate::profiles::edge_v1::wire::{self, RetrieveResponse};

/// End-to-end encryption as the source recommends it (RSA-OAEP), made hybrid because OAEP
/// with SHA-256 and a 2048-bit key carries at most 190 bytes, less than one SPKI.
///
/// No crate defines a message format for this protocol (the source names only the algorithm),
/// so the envelope is this module's own: `OAEP(EK, k) ‖ nonce ‖ AES-256-GCM(k, nonce, payload)`,
/// with `k` a fresh 256-bit key per message. The primitives are aws-lc-rs.
mod envelope {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    use aws_lc_rs::rsa::{
        OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
        PublicEncryptingKey, OAEP_SHA256_MGF1SHA256,
    };

    use crate::profiles::edge_v1::sign::Key;

    /// Encrypts `payload` for the holder of the RSA key whose SPKI DER is `ek`.
    pub fn seal(ek: &[u8], payload: &[u8]) -> Result<Vec<u8>, String> {
        let public = PublicEncryptingKey::from_der(ek)
            .map_err(|e| format!("EK is not an RSA public key: {e}"))?;
        let oaep = OaepPublicEncryptingKey::new(public).map_err(|e| format!("EK: {e}"))?;
        let rng = SystemRandom::new();
        let mut k = [0u8; 32];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut k).map_err(|e| format!("random: {e}"))?;
        rng.fill(&mut nonce).map_err(|e| format!("random: {e}"))?;
        let mut wrapped = vec![0u8; oaep.ciphertext_size()];
        let wrapped_len = oaep
            .encrypt(&OAEP_SHA256_MGF1SHA256, &k, &mut wrapped, None)
            .map_err(|e| format!("RSA-OAEP encryption: {e}"))?
            .len();
        wrapped.truncate(wrapped_len);
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k).map_err(|e| e.to_string())?);
        let mut body = payload.to_vec();
        aead.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut body)
            .map_err(|e| format!("AES-GCM: {e}"))?;
        let mut out = wrapped;
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts what [`seal`] made for `ek`; any other bytes are an error.
    pub fn open(ek: &Key, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let private = PrivateDecryptingKey::from_pkcs8(ek.pkcs8_der())
            .map_err(|e| format!("EK private key: {e}"))?;
        let oaep = OaepPrivateDecryptingKey::new(private).map_err(|e| format!("EK: {e}"))?;
        let n = oaep.key_size_bytes();
        if sealed.len() < n + NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(format!(
                "{} bytes is too short for a sealed message",
                sealed.len()
            ));
        }
        let (wrapped, rest) = sealed.split_at(n);
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let mut k = vec![0u8; oaep.min_output_size()];
        let k = oaep
            .decrypt(&OAEP_SHA256_MGF1SHA256, wrapped, &mut k, None)
            .map_err(|_| "RSA-OAEP decryption failed (not sealed for this EK)".to_string())?;
        let aead = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, k).map_err(|_| "the wrapped key is not 256 bits")?,
        );
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|e| e.to_string())?;
        let mut body = body.to_vec();
        let plain = aead
            .open_in_place(nonce, Aad::empty(), &mut body)
            .map_err(|_| {
                "AES-GCM authentication failed (the ciphertext was altered)".to_string()
            })?;
        Ok(plain.to_vec())
    }
}

/// What a recipient hands a sender out of band (a QR code in the source): where to send, the
/// connection ID every request carries, and the key to encrypt for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Invitation {
    su: Url,
    cid: String,
    ek: Vec<u8>,
}

impl Invitation {
    fn of(live: &Live, ek: &Key) -> Option<Invitation> {
        Some(Invitation {
            su: live.su.last()?.clone(),
            cid: live.cid.clone(),
            ek: ek.spki_der().to_vec(),
        })
    }

    fn to_json(&self) -> Value {
        json!({ "senderURI": self.su.as_str(), "connectionID": self.cid, "ek": wire::b64(&self.ek) })
    }

    fn from_json(v: &Value) -> Option<Invitation> {
        Some(Invitation {
            su: Url::parse(v.get("senderURI")?.as_str()?).ok()?,
            cid: v.get("connectionID")?.as_str()?.to_string(),
            ek: wire::unb64(v.get("ek")?.as_str()?).ok()?,
        })
    }
}

/// Run one protocol step, naming the scenario's moment in any failure.
async fn act(
    run: &mut CaseRun<'_>,
    n: usize,
    mut s: Step,
    e: Endpoint,
    what: &str,
) -> Result<(), StepFailure> {
    s.note = Some(what.to_string());
    run.protocol_step(n, &s, e).await.map_err(|mut f| {
        f.message = format!("{what}: {}", f.message);
        f
    })
}

/// Create connection `conn` on server `server` (with `sender` for the alternative flow) and
/// return the invitation its recipient hands out, with the recipient's encryption key.
async fn open_connection(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    server: usize,
    sender: Option<&str>,
) -> Result<(Invitation, Arc<Key>), StepFailure> {
    if server > 0 {
        run.conns.insert(
            conn.to_string(),
            Live {
                server,
                ..Live::default()
            },
        );
    }
    let mut s = plain(Endpoint::Create, conn);
    s.sender = sender.map(str::to_string);
    act(
        run,
        n,
        s,
        Endpoint::Create,
        &format!("{conn} creates a connection"),
    )
    .await?;
    let ek = run.key(&format!("{conn}.ek"));
    let inv = run
        .conns
        .get(conn)
        .and_then(|l| Invitation::of(l, &ek))
        .ok_or_else(|| {
            failure(
                Verdict::Error,
                n,
                "",
                "the new connection's URIs",
                "none recorded",
            )
        })?;
    Ok((inv, ek))
}

/// Seal each payload for `ek` and send them in one request on `conn`, signed as the model
/// says the sender must (unsigned while the connection has no SK).
async fn send_sealed(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    ek: &[u8],
    payloads: &[(String, Value)],
    what: &str,
) -> Result<(), StepFailure> {
    for (name, p) in payloads {
        let bytes = serde_json::to_vec(p).unwrap_or_default();
        let sealed = envelope::seal(ek, &bytes)
            .map_err(|e| failure(Verdict::Error, n, "", "a sealed message", e))?;
        run.msgs.insert(name.clone(), wire::b64(sealed));
    }
    let mut s = plain(Endpoint::Send, conn);
    s.messages = Some(payloads.iter().map(|(m, _)| m.clone()).collect());
    act(run, n, s, Endpoint::Send, what).await
}

/// A send the binding refuses once SK is set: unsigned (`signer` None) or signed by a key
/// that is not SK. Expects 401; the later retrievals show nothing was stored.
async fn refused_send(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    name: &str,
    signer: Option<&str>,
    what: &str,
) -> Result<(), StepFailure> {
    let mut s = plain(Endpoint::Send, conn);
    s.messages = Some(vec![name.to_string()]);
    s.sign_with = Some(signer.map(str::to_string));
    s.expect = Some(Expect {
        status: Some(vec![401]),
        ..Expect::default()
    });
    act(run, n, s, Endpoint::Send, what).await
}

/// Retrieve (and so remove) everything queued on `conn`, page by page, and decrypt each
/// message with `ek`: `None` for one that does not decrypt.
async fn receive(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    ek: &Key,
    what: &str,
) -> Result<Vec<Option<Value>>, StepFailure> {
    let mut out = Vec::new();
    for _ in 0..64 {
        act(
            run,
            n,
            plain(Endpoint::Retrieve, conn),
            Endpoint::Retrieve,
            what,
        )
        .await?;
        let body = match run.exchanges.last().map(|ex| &ex.response) {
            Some(Ok(r)) => r.body.clone(),
            _ => {
                return Err(failure(
                    Verdict::Error,
                    n,
                    "",
                    "the retrieval's answer",
                    "none recorded",
                ))
            }
        };
        let page = RetrieveResponse::from_body(&body).map_err(|e| {
            failure(
                Verdict::Fail,
                n,
                "S-RETR-200",
                "a retrieval body",
                e.to_string(),
            )
        })?;
        for m in &page.messages {
            let plain = wire::unb64(&m.msg)
                .ok()
                .and_then(|b| envelope::open(ek, &b).ok())
                .and_then(|p| serde_json::from_slice::<Value>(&p).ok());
            out.push(plain);
        }
        if page.next_message_id.is_none() {
            return Ok(out);
        }
    }
    Err(failure(
        Verdict::Fail,
        n,
        "S-RETR-NEXT",
        "the queue to end within 64 pages",
        "nextMessageID on every page",
    ))
}

/// The messages `got` must be exactly `want`, in order, each decrypting.
fn expect_plaintexts(
    n: usize,
    who: &str,
    got: &[Option<Value>],
    want: &[Value],
) -> Result<(), StepFailure> {
    if let Some(i) = got.iter().position(Option::is_none) {
        return Err(failure(
            Verdict::Fail,
            n,
            "B-MSG-FMT",
            format!("{who}: every message to decrypt with her EK"),
            format!(
                "message {} of {} does not (its ciphertext changed on the way)",
                i + 1,
                got.len()
            ),
        ));
    }
    let got: Vec<&Value> = got.iter().flatten().collect();
    if got.len() != want.len() || got.iter().zip(want).any(|(g, w)| *g != w) {
        let show = |v: &[&Value]| v.iter().map(|x| short(x)).collect::<Vec<_>>().join(", ");
        return Err(failure(
            Verdict::Fail,
            n,
            "S-RETR-200",
            format!(
                "{who}: [{}] in this order",
                show(&want.iter().collect::<Vec<_>>())
            ),
            format!("[{}]", show(&got)),
        ));
    }
    Ok(())
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn text(conv: &str, i: usize, words: &str) -> (String, Value) {
    (
        format!("{conv}.{i}"),
        json!({ "type": "text", "n": i, "text": words }),
    )
}

/// A text longer than one OAEP block, so that only the hybrid envelope carries it.
fn long_text() -> String {
    "The quick brown fox jumps over the lazy dog. ".repeat(40)
}

/// The confirmation a sender puts into an open connection: its key, and for a duplex
/// conversation the invitation to its own connection.
fn confirmation(sk: &Key, reply: Option<&Invitation>) -> Value {
    let mut v = json!({ "type": "confirm", "sender": sk.spki_base64() });
    if let Some(r) = reply {
        v["reply"] = r.to_json();
    }
    v
}

/// The recipient reads her queue after inviting someone: strangers' messages do not decrypt
/// and are ignored; exactly one confirmation must. Returns it.
async fn await_confirmation(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    ek: &Key,
    who: &str,
) -> Result<Value, StepFailure> {
    let got = receive(
        run,
        n,
        conn,
        ek,
        &format!("{who} retrieves the confirmation"),
    )
    .await?;
    let confirms: Vec<&Value> = got
        .iter()
        .flatten()
        .filter(|v| v["type"] == "confirm")
        .collect();
    match confirms.as_slice() {
        [one] => Ok((*one).clone()),
        other => Err(failure(
            Verdict::Fail,
            n,
            "S-RETR-200",
            format!("{who}: exactly one confirmation that decrypts"),
            format!("{} among {} messages", other.len(), got.len()),
        )),
    }
}

/// The recipient secures `conn` with the key the confirmation carried (the model knows it as
/// `sk_name`; the body carries the decrypted bytes).
async fn secure(
    run: &mut CaseRun<'_>,
    n: usize,
    conn: &str,
    sk_name: &str,
    confirm: &Value,
    who: &str,
) -> Result<(), StepFailure> {
    let sent = confirm["sender"].as_str().unwrap_or_default().to_string();
    let expected = run.key(sk_name).spki_base64();
    if sent != expected {
        return Err(failure(
            Verdict::Fail,
            n,
            "B-MSG-FMT",
            format!("{who}: the sender key the confirmation carried"),
            "another key: the ciphertext changed on the way",
        ));
    }
    let mut s = plain(Endpoint::Update, conn);
    s.sender = Some(sk_name.to_string());
    s.set = Some(
        [("sender".to_string(), Value::String(sent))]
            .into_iter()
            .collect(),
    );
    act(
        run,
        n,
        s,
        Endpoint::Update,
        &format!("{who} secures her connection with the sender's key"),
    )
    .await
}

/// `alice-bob`: the generic protocol's connection between Alice and Bob, end to end.
pub(super) async fn alice_bob(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let (inv, alice_ek) = open_connection(run, n, "alice", 0, None).await?;
    // S-G-OPEN: anyone who learns SU may send while the connection is open.
    let mut s = plain(Endpoint::Send, "alice");
    s.messages = Some(vec!["stranger.1".into()]);
    act(
        run,
        n,
        s,
        Endpoint::Send,
        "a stranger sends to the open connection",
    )
    .await?;
    // Bob, holding the invitation, confirms with his key SK inside a ciphertext, unsigned.
    let bob_sk = run.key("bob.sk");
    let confirm = confirmation(&bob_sk, None);
    send_sealed(
        run,
        n,
        "alice",
        &inv.ek,
        &[("bob.confirm".into(), confirm)],
        "Bob sends his unsigned confirmation",
    )
    .await?;
    let got = await_confirmation(run, n, "alice", &alice_ek, "Alice").await?;
    secure(run, n, "alice", "bob.sk", &got, "Alice").await?;
    // S-G-SIGNED-ONLY: from now on only Bob can send.
    refused_send(
        run,
        n,
        "alice",
        "mallory.1",
        None,
        "an unsigned send after securing",
    )
    .await?;
    refused_send(
        run,
        n,
        "alice",
        "mallory.2",
        Some("mallory.key"),
        "a send signed by another key",
    )
    .await?;
    let long = long_text();
    let batch1 = [text("bob", 1, "Hello Alice"), text("bob", 2, "This is Bob")];
    let batch2 = [text("bob", 3, &long)];
    send_sealed(
        run,
        n,
        "alice",
        &inv.ek,
        &batch1,
        "Bob sends two signed messages",
    )
    .await?;
    send_sealed(
        run,
        n,
        "alice",
        &inv.ek,
        &batch2,
        "Bob sends a long signed message",
    )
    .await?;
    let got = receive(run, n, "alice", &alice_ek, "Alice retrieves Bob's messages").await?;
    let want: Vec<Value> = batch1
        .iter()
        .chain(&batch2)
        .map(|(_, v)| v.clone())
        .collect();
    expect_plaintexts(n, "Alice", &got, &want)
}

/// `duplex` and `two-servers`: Alice's and Bob's connections, each secured as in
/// `alice-bob`, then a conversation both ways. Bob's connection lives on server `bob_server`.
pub(super) async fn duplex(
    run: &mut CaseRun<'_>,
    n: usize,
    bob_server: usize,
) -> Result<(), StepFailure> {
    let (to_alice, alice_ek) = open_connection(run, n, "alice", 0, None).await?;
    // Bob reads Alice's invitation and creates his own connection (on his own server).
    let (to_bob, bob_ek) = open_connection(run, n, "bob", bob_server, None).await?;
    let bob_sk = run.key("bob.sk");
    let confirm = confirmation(&bob_sk, Some(&to_bob));
    send_sealed(
        run,
        n,
        "alice",
        &to_alice.ek,
        &[("bob.confirm".into(), confirm)],
        "Bob confirms, inviting Alice back",
    )
    .await?;
    let got = await_confirmation(run, n, "alice", &alice_ek, "Alice").await?;
    secure(run, n, "alice", "bob.sk", &got, "Alice").await?;
    let reply = Invitation::from_json(&got["reply"]);
    if reply.as_ref() != Some(&to_bob) {
        return Err(failure(
            Verdict::Fail,
            n,
            "B-MSG-FMT",
            "Alice: Bob's invitation as he sealed it",
            "another one: the ciphertext changed on the way",
        ));
    }
    // Alice confirms on Bob's connection with her key, unsigned; Bob secures it.
    let alice_sk = run.key("alice.sk");
    let confirm = confirmation(&alice_sk, None);
    send_sealed(
        run,
        n,
        "bob",
        &to_bob.ek,
        &[("alice.confirm".into(), confirm)],
        "Alice confirms on Bob's connection",
    )
    .await?;
    let got = await_confirmation(run, n, "bob", &bob_ek, "Bob").await?;
    secure(run, n, "bob", "alice.sk", &got, "Bob").await?;
    // The conversation: each round, both send (signed by their SK), then both read.
    let long = long_text();
    let rounds: [(Vec<&str>, Vec<&str>); 3] = [
        (vec!["Hi Alice"], vec!["Hi Bob", "How are you?"]),
        (vec!["Fine, thanks", &long], vec!["Good to hear"]),
        (vec!["Bye"], vec!["Bye, Bob", "Talk soon", "Really"]),
    ];
    let (mut i, mut j) = (0, 0);
    for (r, (from_bob, from_alice)) in rounds.iter().enumerate() {
        let b: Vec<(String, Value)> = from_bob
            .iter()
            .map(|t| {
                i += 1;
                text("bob", i, t)
            })
            .collect();
        let a: Vec<(String, Value)> = from_alice
            .iter()
            .map(|t| {
                j += 1;
                text("alice", j, t)
            })
            .collect();
        send_sealed(
            run,
            n,
            "alice",
            &to_alice.ek,
            &b,
            &format!("round {}: Bob writes", r + 1),
        )
        .await?;
        send_sealed(
            run,
            n,
            "bob",
            &to_bob.ek,
            &a,
            &format!("round {}: Alice writes", r + 1),
        )
        .await?;
        let got = receive(
            run,
            n,
            "alice",
            &alice_ek,
            &format!("round {}: Alice reads", r + 1),
        )
        .await?;
        expect_plaintexts(
            n,
            "Alice",
            &got,
            &b.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        )?;
        let got = receive(
            run,
            n,
            "bob",
            &bob_ek,
            &format!("round {}: Bob reads", r + 1),
        )
        .await?;
        expect_plaintexts(
            n,
            "Bob",
            &got,
            &a.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        )?;
    }
    Ok(())
}

/// `two-servers`: the duplex conversation with each recipient on her own server.
pub(super) async fn two_servers(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    if run.ctx.servers.len() < 2 {
        return Err(failure(
            Verdict::Error,
            n,
            "",
            "two servers",
            "one; give --server twice (the case should declare needs: [\"twoServers\"])",
        ));
    }
    duplex(run, n, 1).await
}

/// `alternative-flow`: Bob hands Alice his SK out of band first; she creates the connection
/// secured from the start (S-CREATE-ALT) and no unsigned message is ever accepted.
pub(super) async fn alternative_flow(run: &mut CaseRun<'_>, n: usize) -> Result<(), StepFailure> {
    let (inv, alice_ek) = open_connection(run, n, "alice", 0, Some("bob.sk")).await?;
    refused_send(
        run,
        n,
        "alice",
        "stranger.1",
        None,
        "an unsigned send to a connection created with SK",
    )
    .await?;
    let batch = [text("bob", 1, "Hello Alice"), text("bob", 2, &long_text())];
    send_sealed(
        run,
        n,
        "alice",
        &inv.ek,
        &batch,
        "Bob sends signed messages at once",
    )
    .await?;
    let got = receive(run, n, "alice", &alice_ek, "Alice retrieves Bob's messages").await?;
    expect_plaintexts(
        n,
        "Alice",
        &got,
        &batch.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::edge_v1::sign::KeyPool;

    #[test]
    fn sealed_messages_open_only_with_their_key_and_unaltered() {
        let pool = KeyPool::builtin().unwrap();
        let (ek, other) = (pool.take(), pool.take());
        let payload = long_text().into_bytes();
        assert!(payload.len() > 190, "must not fit one OAEP block");
        let sealed = envelope::seal(ek.spki_der(), &payload).unwrap();
        assert_eq!(envelope::open(&ek, &sealed).unwrap(), payload);
        assert!(envelope::open(&other, &sealed).is_err());
        let mut bent = sealed.clone();
        let last = bent.len() - 1;
        bent[last] ^= 1;
        assert!(envelope::open(&ek, &bent).unwrap_err().contains("altered"));
        assert!(envelope::open(&ek, b"short").is_err());
        // Two seals of one payload differ (fresh key and nonce each time).
        assert_ne!(envelope::seal(ek.spki_der(), &payload).unwrap(), sealed);
        assert!(envelope::seal(b"not a key", &payload).is_err());
    }

    #[test]
    fn plaintexts_must_match_in_order_and_all_decrypt() {
        let a = json!({"n": 1});
        let b = json!({"n": 2});
        assert!(expect_plaintexts(
            1,
            "A",
            &[Some(a.clone()), Some(b.clone())],
            &[a.clone(), b.clone()]
        )
        .is_ok());
        let e = expect_plaintexts(
            1,
            "A",
            &[Some(b.clone()), Some(a.clone())],
            &[a.clone(), b.clone()],
        )
        .unwrap_err();
        assert_eq!(e.failure.rule, "S-RETR-200");
        let e = expect_plaintexts(1, "A", &[Some(a.clone())], &[a.clone(), b.clone()]).unwrap_err();
        assert_eq!(e.failure.rule, "S-RETR-200");
        let e = expect_plaintexts(1, "A", &[Some(a.clone()), None], &[a, b]).unwrap_err();
        assert_eq!(e.failure.rule, "B-MSG-FMT");
    }

    #[test]
    fn invitations_survive_their_json_form() {
        let inv = Invitation {
            su: Url::parse("https://h/connection/s1").unwrap(),
            cid: wire::connection_id(),
            ek: vec![1, 2, 3],
        };
        assert_eq!(Invitation::from_json(&inv.to_json()), Some(inv));
        assert_eq!(Invitation::from_json(&json!({"senderURI": 1})), None);
    }
}
