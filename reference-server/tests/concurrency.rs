//! B-CONCURRENT: concurrent senders and retrievers on one connection lose nothing, duplicate
//! nothing, and keep each sender's order.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{msgs, plain_with, Key};
use serde_json::json;

const SENDERS: usize = 4;
const SENDS_PER_SENDER: usize = 40;
const RETRIEVERS: usize = 3;

fn encode(sender: usize, seq: usize) -> String {
    STANDARD.encode(format!("{sender}:{seq}"))
}

fn decode(msg: &str) -> (usize, usize) {
    let text = String::from_utf8(STANDARD.decode(msg).unwrap()).unwrap();
    let (a, b) = text.split_once(':').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_and_retrievers() {
    let t = Arc::new(plain_with(|c| c.page_size = 7).await);
    let conn = Arc::new(
        t.secured(&Key::load("rsa2048-a"), &Key::load("rsa2048-b"))
            .await,
    );
    let senders_done = Arc::new(AtomicBool::new(false));

    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (t, conn) = (t.clone(), conn.clone());
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut seq = 0;
            for _ in 0..SENDS_PER_SENDER {
                // Batches of one or two messages.
                let batch: Vec<String> =
                    (0..1 + seq % 2).map(|i| encode(sender, seq + i)).collect();
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                let r = t.send(&conn, &refs).await;
                assert_eq!(r.status, 200);
                seq += batch.len();
                acked.extend(batch);
            }
            acked
        }));
    }
    let mut retrievers = Vec::new();
    for r in 0..RETRIEVERS {
        let (t, conn, done) = (t.clone(), conn.clone(), senders_done.clone());
        retrievers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = t
                    .retrieve(&conn, json!({"pageSize": 1 + (got.len() + r) % 5}))
                    .await;
                assert_eq!(page.status, 200);
                let batch = msgs(&page.json());
                if batch.is_empty() && finished {
                    return got;
                }
                got.extend(batch);
            }
        }));
    }
    let mut acked = Vec::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    senders_done.store(true, Ordering::SeqCst);
    let mut per_retriever = Vec::new();
    for r in retrievers {
        per_retriever.push(r.await.unwrap());
    }

    // Exactly once.
    let mut count: HashMap<&str, usize> = HashMap::new();
    for m in per_retriever.iter().flatten() {
        *count.entry(m.as_str()).or_default() += 1;
    }
    for m in &acked {
        assert_eq!(count.get(m.as_str()), Some(&1), "message {:?}", decode(m));
    }
    assert_eq!(count.len(), acked.len(), "nothing unacknowledged appears");
    // Each retriever saw each sender's messages in send order.
    for got in &per_retriever {
        let mut last: HashMap<usize, usize> = HashMap::new();
        for m in got {
            let (sender, seq) = decode(m);
            if let Some(&prev) = last.get(&sender) {
                assert!(seq > prev, "sender {sender}: {seq} after {prev}");
            }
            last.insert(sender, seq);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_sends_survive_concurrent_key_rotation() {
    let t = Arc::new(plain_with(|_| {}).await);
    let (rk, sk1, sk2) = (
        Key::load("rsa2048-a"),
        Key::load("rsa2048-b"),
        Key::load("rsa2048-c"),
    );
    let conn = t.secured(&rk, &sk1).await;
    let conn = Arc::new(conn);
    let sender = {
        let (t, conn) = (t.clone(), conn.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut refused = 0;
            for seq in 0..30 {
                let m = encode(0, seq);
                match t.send(&conn, &[m.as_str()]).await.status {
                    200 => acked.push(m),
                    401 => refused += 1,
                    other => panic!("unexpected status {other}"),
                }
            }
            (acked, refused)
        })
    };
    // Rotate SK to sk2 while the sender (holding sk1) keeps sending.
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    t.call(
        "PUT",
        &conn.ru,
        Some(&rk),
        &json!({"connectionID": conn.cid, "sender": sk2.spki}),
    )
    .await
    .expect(200);
    let (acked, refused) = sender.await.unwrap();
    assert_eq!(acked.len() + refused, 30);
    let got = t.drain(&conn, json!({"pageSize": 100})).await;
    assert_eq!(
        got, acked,
        "every acknowledged send, in order, and nothing else"
    );
}
