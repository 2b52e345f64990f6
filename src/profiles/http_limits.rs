//! HTTP transport checks shared by the REST profiles (edge-v1, simplex-v5), on requests each
//! profile builds and signs: a body's chunks are counted against the size limit (B-SIZE), a
//! second connection is served while a first one holds a half-sent request, and an HTTP/2
//! stream in flight outlives the server's idle deadline (B-NO-5XX).

use std::time::Duration;

use crate::client::Request;
use crate::client::{chunked, Client, Exchange, H2Unavailable, TransportError};

/// Size of the body [`chunked_body`] is given: over 1 MiB (the sensible limit the binding
/// names) many times, small enough that a server draining an over-limit body reads it all.
pub const CHUNKED_BODY: usize = 12 << 20;

/// Whitespace that, after a small JSON body (under 1 KiB), makes it about [`CHUNKED_BODY`]
/// bytes: still valid JSON, and acceptable if read whole.
pub fn padding() -> String {
    " ".repeat(CHUNKED_BODY - 1024)
}

/// Size of the chunks [`chunked_body`] sends.
const CHUNK: usize = 64 * 1024;

/// What a check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// The rule held.
    Pass,
    /// The rule was not exercised, and why.
    Skip(String),
    /// `rule` was seen broken.
    Broken {
        /// The rule.
        rule: &'static str,
        /// What the rule asks for.
        expected: String,
        /// What came back.
        actual: String,
    },
    /// Nothing can be said of the server, and why (the network or the suite failed).
    NotJudged(String),
}

fn broken(rule: &'static str, expected: impl Into<String>, actual: impl Into<String>) -> Judged {
    Judged::Broken {
        rule,
        expected: expected.into(),
        actual: actual.into(),
    }
}

fn status(ex: &Exchange) -> Result<u16, TransportError> {
    ex.response.as_ref().map(|r| r.status).map_err(Clone::clone)
}

/// How many bytes of `request` make its head and the first half of its body: sent, and the
/// rest held back, they keep a connection busy with a request in flight.
fn half_sent(request: &Request) -> usize {
    request.raw_head(0).len() + request.body.len() / 2
}

/// Nothing judged: a request to be sent in part could not be (`what` says which), and why.
fn not_held(what: &str, ex: &Exchange) -> Judged {
    let why = match &ex.response {
        Ok(r) => format!("answered {} before it was sent", r.status),
        Err(e) => e.to_string(),
    };
    Judged::NotJudged(format!("{what}: {why}"))
}

/// B-SIZE, the counting path. `request` is a signed request whose body is about
/// [`CHUNKED_BODY`] bytes and acceptable if read whole (valid JSON, then whitespace). It is
/// sent with `Content-Length`; when that is refused with 413 (or 400), the server's limit is
/// below the size, and the same body in chunks, without `Content-Length`, must be refused as
/// well. A server that reads the chunks whole answers otherwise (success, when it then
/// accepts the request); one that does not answer the chunks breaks B-NO-5XX. A limit above
/// the size, no answer to the first, or 411 for the second (no chunked bodies at all) leave
/// B-SIZE unexercised. Returns the exchanges made.
pub async fn chunked_body(client: &Client, request: Request) -> (Judged, Vec<Exchange>) {
    let size = request.body.len();
    let declared = client.execute(request).await;
    let first = status(&declared);
    let mut exchanges = vec![declared];
    match first {
        Ok(413 | 400) => {}
        Ok(s) if (200..300).contains(&s) => {
            let why = format!(
                "a body of {size} bytes with Content-Length got {s}: the server's limit is \
                 above it, so chunks of that size need not be refused; not judged"
            );
            return (Judged::Skip(why), exchanges);
        }
        Ok(s) => {
            let expected =
                format!("413 (or 400), or success, for {size} bytes with Content-Length");
            return (broken("B-SIZE", expected, s.to_string()), exchanges);
        }
        Err(e) => {
            let why = format!(
                "no answer to a body of {size} bytes with Content-Length ({e}); the chunked path \
                 is not compared"
            );
            return (Judged::Skip(why), exchanges);
        }
    }
    // The same request in chunks, without a copy of its many MiB of body.
    let sent = &mut exchanges[0].request;
    let body = std::mem::take(&mut sent.body);
    let mut in_chunks = sent.clone();
    in_chunks.body = chunked(&body, CHUNK);
    sent.body = body;
    in_chunks
        .headers
        .push(("Transfer-Encoding".into(), b"chunked".to_vec()));
    let ex = client.execute(in_chunks).await;
    let second = status(&ex);
    exchanges.push(ex);
    let expected = format!(
        "413 (or 400) for the same {size} bytes in chunks, as with Content-Length: counted, \
         not read whole"
    );
    let judged = match second {
        Ok(413 | 400) => Judged::Pass,
        Ok(411) => Judged::Skip(
            "bodies without Content-Length are refused (411): there are no chunks to count".into(),
        ),
        Ok(s) => broken("B-SIZE", expected, s.to_string()),
        // The same server just answered the declared body, so an unanswered upload is its own
        // failure to answer. Nothing shows it read the chunks whole: it may not have read
        // them at all (a connection it never served), so B-SIZE is not blamed.
        Err(e @ (TransportError::Timeout | TransportError::Closed(_))) => broken(
            "B-NO-5XX",
            format!("an answer to the same {size} bytes in chunks (413 or 400 expected)"),
            format!("none ({e})"),
        ),
        Err(e) => Judged::NotJudged(format!("no answer to the chunked body: {e}")),
    };
    (judged, exchanges)
}

/// The body size [`body_at_limit`] is given: the 1 MiB limit the binding calls sensible.
pub const LIMIT_BODY: usize = 1 << 20;

/// The longest [`body_at_limit`] waits for an answer before it sends the last byte.
const EARLY_ANSWER_MAX: Duration = Duration::from_secs(3);

/// The shortest wait of [`body_at_limit`].
const EARLY_ANSWER_MIN: Duration = Duration::from_millis(250);

/// How many times the server's own time to refuse a declared 1 GiB body
/// [`body_at_limit`] waits.
const EARLY_ANSWER_FACTOR: u32 = 5;

/// The `Content-Length` of [`body_at_limit`]'s timing request: over any sensible limit.
const DECLARED_OVER: u64 = 1 << 30;

/// B-SIZE, decided from `Content-Length`. `request` is a signed request whose body is
/// exactly [`LIMIT_BODY`] bytes and acceptable if read whole.
///
/// First the server's time to refuse a head declaring 1 GiB is measured (only the head is
/// sent). Then all but the last byte of `request` go on a connection of their own. A server
/// whose limit is lower answers 413 (or 400) from `Content-Length`, as fast as it refused
/// the 1 GiB head; the probe waits five times that (from 250 ms to 3 s). A server that waits
/// is given the last byte and must then accept the body: a 413 only after the whole body was
/// read means the size was known from the head and not used to decide. Returns the
/// exchanges made.
pub async fn body_at_limit(client: &Client, request: Request) -> (Judged, Vec<Exchange>) {
    let size = request.body.len();
    let (wait, mut exchanges) = refusal_time(client, &request).await;
    let all_but_one = request.raw_head(0).len() + size - 1;
    let held = match client.send_part(request, all_but_one).await {
        Ok(held) => held,
        Err(ex) => {
            let judged = not_held("the request could not be sent in part", &ex);
            exchanges.push(ex);
            return (judged, exchanges);
        }
    };
    let (late, ex) = match held.early_answer(client, wait).await {
        Ok(ex) => (false, ex),
        Err(held) => (true, held.finish(client).await),
    };
    let judged = match (status(&ex), late) {
        (Ok(s), _) if s >= 500 => broken(
            "B-NO-5XX",
            format!("an answer other than 5xx to a body of {size} bytes"),
            s.to_string(),
        ),
        (Ok(413 | 400), false) => Judged::Pass,
        (Ok(s), true) if (200..300).contains(&s) => Judged::Pass,
        (Ok(413), true) => broken(
            "B-SIZE",
            format!(
                "413 decided from Content-Length: {size} before the last byte, or success \
                 once it came"
            ),
            format!(
                "no answer in {} ms with one byte unsent (the server refused a declared \
                 1 GiB at once), then 413 once the whole body was read",
                wait.as_millis()
            ),
        ),
        (Ok(s), late) => Judged::Skip(format!(
            "a body of {size} bytes got {s} {}: the size limit is not judged",
            if late {
                "once complete"
            } else {
                "before it was complete"
            }
        )),
        (Err(e), _) => Judged::NotJudged(format!("no answer to a body of {size} bytes: {e}")),
    };
    exchanges.push(ex);
    (judged, exchanges)
}

/// How long to wait for a refusal decided from `Content-Length`: [`EARLY_ANSWER_FACTOR`]
/// times the time the server takes to refuse a head like `request`'s declaring
/// [`DECLARED_OVER`] bytes, within [`EARLY_ANSWER_MIN`] and [`EARLY_ANSWER_MAX`]; the
/// longest when it does not refuse it at once. Returns the exchange when one completed.
async fn refusal_time(client: &Client, request: &Request) -> (Duration, Vec<Exchange>) {
    let mut over = request.clone();
    over.body.clear();
    over.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
    over.headers.push((
        "Content-Length".into(),
        DECLARED_OVER.to_string().into_bytes(),
    ));
    let head = over.raw_bytes().len();
    let Ok(held) = client.send_part(over, head).await else {
        return (EARLY_ANSWER_MAX, Vec::new());
    };
    let start = std::time::Instant::now();
    match held.early_answer(client, EARLY_ANSWER_MAX).await {
        Ok(ex) if matches!(status(&ex), Ok(413 | 400)) => {
            let wait =
                (start.elapsed() * EARLY_ANSWER_FACTOR).clamp(EARLY_ANSWER_MIN, EARLY_ANSWER_MAX);
            (wait, vec![ex])
        }
        Ok(ex) => (EARLY_ANSWER_MAX, vec![ex]),
        Err(_) => (EARLY_ANSWER_MAX, Vec::new()),
    }
}

/// B-SIZE, when a body declared far over any limit got no answer (`error`): a server that
/// refuses from `Content-Length` answers at once, so the silence means it waited for the
/// whole body or dropped the connection. That is blamed only when `witness`, a small valid
/// request sent next on a connection of its own, is answered: a server that answers nothing
/// at all has stopped serving, which is not B-SIZE. Returns the witness's exchange.
pub async fn unanswered_oversize(
    client: &Client,
    error: &TransportError,
    witness: Request,
) -> (Judged, Exchange) {
    let witness = on_own_connection(client, witness).await;
    let judged = match (error, status(&witness)) {
        (TransportError::Timeout | TransportError::Closed(_), Ok(w)) => broken(
            "B-SIZE",
            "413 (or 400) decided from Content-Length, before the body was sent",
            format!(
                "none ({error}): the server waited for the whole body or dropped the \
                 connection, while a small request sent next was answered ({w})"
            ),
        ),
        (_, Ok(_)) => Judged::NotJudged(format!("no answer to a declared 1 GiB body: {error}")),
        (_, Err(w)) => Judged::NotJudged(format!(
            "no answer to a declared 1 GiB body ({error}), nor to a small request sent next \
             ({w}): the server or the network may be down"
        )),
    };
    (judged, witness)
}

/// Sends `request` on a connection of its own: `Connection: close` takes the raw path.
async fn on_own_connection(client: &Client, mut request: Request) -> Exchange {
    request
        .headers
        .push(("Connection".into(), b"close".to_vec()));
    client.execute(request).await
}

/// Why a check that waits past the server's idle timeout did not run.
pub const IDLE_WAIT_NEEDED: &str = "not run without --idle-wait DURATION (longer than the \
     server's timeout for a request head, e.g. 15s)";

/// B-NO-5XX past the server's idle timeout. A connection is opened (TLS included) and sends
/// nothing for `idle`, which should be longer than the server's timeout for a request head;
/// meanwhile `witness` is sent up to half its body on a connection of its own and held there.
/// Then `request` goes on a connection of its own and must be answered within the timeout,
/// not with 5xx. A server whose bookkeeping of idle connections breaks (a sweeper that never
/// lets go, a closed connection counted twice) stops answering here. A missing answer is
/// blamed on the server only when the witness is answered once its body is complete: that
/// shows the server and the network were still up. Returns the exchanges made.
pub async fn after_idle(
    client: &Client,
    idle: Duration,
    request: Request,
    witness: Request,
) -> (Judged, Vec<Exchange>) {
    let idler = match client.send_part(request.clone(), 0).await {
        Ok(held) => held,
        Err(ex) => {
            let judged = not_held("the idle connection could not be opened", &ex);
            return (judged, vec![ex]);
        }
    };
    let half = half_sent(&witness);
    let witness = match client.send_part(witness, half).await {
        Ok(held) => held,
        Err(ex) => {
            let judged = not_held("the witness connection could not be opened and held", &ex);
            return (judged, vec![ex]);
        }
    };
    tokio::time::sleep(idle).await;
    drop(idler);
    let ex = on_own_connection(client, request).await;
    let witness = witness.finish(client).await;
    let after = format!(
        "an answer other than 5xx, within the timeout, after a connection sat idle for {} s",
        idle.as_secs_f64()
    );
    let judged = match status(&ex) {
        Ok(s) if s < 500 => Judged::Pass,
        Ok(s) => broken("B-NO-5XX", after, s.to_string()),
        Err(e @ (TransportError::Timeout | TransportError::Closed(_))) => match status(&witness) {
            Ok(w) => broken(
                "B-NO-5XX",
                after,
                format!(
                    "none ({e}), while a connection opened before the idle one was answered \
                     ({w}) once its body was complete"
                ),
            ),
            Err(w) => Judged::NotJudged(format!(
                "no answer after the idle connection ({e}), nor on a connection held open \
                 meanwhile ({w}): the server or the network may be down"
            )),
        },
        Err(e) => Judged::NotJudged(format!("no answer after the idle connection: {e}")),
    };
    (judged, vec![ex, witness])
}

/// B-NO-5XX across connections. `first` is sent up to half its body on a connection of its
/// own and held there; `second` goes on another connection of its own and must be answered
/// within the timeout, not with 5xx; then `first` is completed. A server that serves one
/// connection at a time keeps the second waiting behind the first. The hang is blamed on the
/// server only when the first connection is then answered, which shows that the server and
/// the network were up. Returns the exchanges made.
pub async fn second_connection(
    client: &Client,
    first: Request,
    second: Request,
) -> (Judged, Vec<Exchange>) {
    let half = half_sent(&first);
    let held = match client.send_part(first, half).await {
        Ok(held) => held,
        Err(ex) => {
            let judged = not_held("the first connection could not be opened and held", &ex);
            return (judged, vec![ex]);
        }
    };
    let second = on_own_connection(client, second).await;
    let first = held.finish(client).await;
    let (second_answer, first_answer) = (status(&second), status(&first));
    let judged = match second_answer {
        Ok(s) if s < 500 => Judged::Pass,
        Ok(s) => broken(
            "B-NO-5XX",
            "an answer other than 5xx on the second connection",
            s.to_string(),
        ),
        Err(e @ (TransportError::Timeout | TransportError::Closed(_))) => match first_answer {
            Ok(s) => broken(
                "B-NO-5XX",
                "an answer on a second connection while a first one holds half a request",
                format!(
                    "none ({e}); the first connection was answered ({s}) once its body was \
                     complete: the second waited behind it"
                ),
            ),
            Err(first_error) => Judged::NotJudged(format!(
                "no answer on the second connection ({e}) nor on the first ({first_error})"
            )),
        },
        Err(e) => Judged::NotJudged(format!("no answer on the second connection: {e}")),
    };
    (judged, vec![first, second])
}

/// B-NO-5XX for HTTP/2: a stream in flight keeps its connection open past the server's
/// timeout for a request head. On one HTTP/2 connection of its own, `first` is sent up to
/// half its body and held; `second` goes whole on another stream and is answered; the
/// connection then sits for `idle` (longer than the server's head timeout) before the rest of
/// `first` is sent, and `first` must be answered, not with 5xx. A server that counts the
/// connection idle once one stream has ended closes it, and `first` with it. That close is
/// blamed on the server only when `witness`, sent right after on a connection of its own, is
/// answered: the server and the network were up. A server without HTTP/2 leaves the rule
/// unexercised here; an answer that never comes, with the connection still open, is not
/// judged. Returns the exchanges made.
pub async fn h2_stream_after_idle(
    client: &Client,
    idle: Duration,
    [first, second, witness]: [Request; 3],
) -> (Judged, Vec<Exchange>) {
    let mut conn = match client.h2_connect(&first.url).await {
        Ok(conn) => conn,
        Err(H2Unavailable::NotSpoken(why)) => {
            return (
                Judged::Skip(format!("the server does not speak HTTP/2 ({why})")),
                Vec::new(),
            )
        }
        Err(H2Unavailable::Failed(e)) => {
            let why = format!("no HTTP/2 connection could be opened: {e}");
            return (Judged::NotJudged(why), Vec::new());
        }
    };
    let half = first.body.len() / 2;
    let held = match conn.send_part(client, first, half).await {
        Ok(held) => held,
        Err(ex) => {
            let judged = not_held("the first stream could not be opened and held", &ex);
            return (judged, vec![ex]);
        }
    };
    let second = conn.execute(client, second).await;
    match status(&second) {
        Ok(s) if s >= 500 => {
            let judged = broken(
                "B-NO-5XX",
                "an answer other than 5xx on a second HTTP/2 stream",
                s.to_string(),
            );
            return (judged, vec![second]);
        }
        Ok(_) => {}
        // Over plain TCP (prior knowledge) this first answer would have shown that the server
        // speaks HTTP/2: without it, nothing has.
        Err(e) if second.request.url.scheme() == "http" => {
            let why = format!("the server did not answer HTTP/2 with prior knowledge ({e})");
            return (Judged::Skip(why), vec![second]);
        }
        Err(e) => {
            let why = format!("no answer on the second HTTP/2 stream: {e}");
            return (Judged::NotJudged(why), vec![second]);
        }
    }
    tokio::time::sleep(idle).await;
    let first = held.finish(client).await;
    let expected = format!(
        "an answer other than 5xx to a request whose body was completed after {} s, while \
         another stream of its HTTP/2 connection had ended",
        idle.as_secs_f64()
    );
    let judged = match status(&first) {
        Ok(s) if s < 500 => Judged::Pass,
        Ok(s) => broken("B-NO-5XX", expected, s.to_string()),
        Err(e @ TransportError::Closed(_)) => {
            let witness = on_own_connection(client, witness).await;
            let judged = match status(&witness) {
                Ok(w) => broken(
                    "B-NO-5XX",
                    expected,
                    format!(
                        "none: {e}, the stream still in flight, while a new connection opened \
                         right after was answered ({w})"
                    ),
                ),
                Err(w) => Judged::NotJudged(format!(
                    "the held HTTP/2 stream ended without an answer ({e}), and a new \
                     connection got none either ({w}): the server or the network may be down"
                )),
            };
            return (judged, vec![second, first, witness]);
        }
        Err(e) => Judged::NotJudged(format!(
            "no answer on the held HTTP/2 stream after the wait: {e}"
        )),
    };
    (judged, vec![second, first])
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::client::{ClientOptions, HEADER_VALUE_CAP};

    fn assert_broken(seen: &Judged, want: &str) {
        assert!(
            matches!(seen, Judged::Broken { rule, .. } if *rule == want),
            "{seen:?}"
        );
    }

    /// A server that refuses the declared body with 413, then answers the chunked one with
    /// `second` (nothing at all when empty: it closes).
    async fn server(second: Vec<u8>) -> url::Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut s, _)) = listener.accept().await {
                n += 1;
                let answer = if n == 1 {
                    b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n".to_vec()
                } else {
                    second.clone()
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(&answer).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        url::Url::parse(&format!("http://{addr}/connection")).unwrap()
    }

    fn client() -> Client {
        Client::new(&ClientOptions {
            timeout: Duration::from_secs(10),
            body_cap: 64 * 1024,
            body_limit: 1 << 20,
            ca_cert_pem: None,
            insecure: false,
            origins: Default::default(),
            http: Default::default(),
        })
        .unwrap()
    }

    async fn judge(second: Vec<u8>) -> Judged {
        let url = server(second).await;
        let client = client();
        let request = Request::new("POST", url)
            .header("Connection", "close")
            .body(vec![b' '; 256 * 1024]);
        chunked_body(&client, request).await.0
    }

    #[tokio::test]
    async fn an_unanswered_chunked_body_breaks_b_no_5xx_not_b_size() {
        // No answer shows the server read the chunks whole: only the missing answer is blamed.
        let seen = judge(Vec::new()).await;
        assert_broken(&seen, "B-NO-5XX");
    }

    #[tokio::test]
    async fn an_answer_the_suite_cannot_read_judges_nothing() {
        let long = "x".repeat(HEADER_VALUE_CAP + 1);
        let second = format!("HTTP/1.1 413 Payload Too Large\r\nX-Long: {long}\r\n\r\n");
        let seen = judge(second.into_bytes()).await;
        assert!(matches!(seen, Judged::NotJudged(_)), "{seen:?}");
    }

    /// A server that answers `status` at once (`early`) or after reading `Content-Length`
    /// body bytes; a head declaring more than [`LIMIT_BODY`] gets 413 at once.
    async fn limit_server(status: u16, early: bool) -> url::Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    let head_end = loop {
                        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    // Every head declaring more than the limit is refused at once.
                    let over = length > LIMIT_BODY;
                    let status = if over { 413 } else { status };
                    while !early && !over && got.len() < head_end + length {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                    let _ = s.write_all(answer.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        url::Url::parse(&format!("http://{addr}/connection")).unwrap()
    }

    async fn judge_at_limit(status: u16, early: bool) -> Judged {
        let request = Request::new("POST", limit_server(status, early).await)
            .header("Connection", "close")
            .body(vec![b' '; LIMIT_BODY]);
        body_at_limit(&client(), request).await.0
    }

    #[tokio::test]
    async fn a_refusal_after_the_whole_body_breaks_b_size() {
        let seen = judge_at_limit(413, false).await;
        assert_broken(&seen, "B-SIZE");
    }

    #[tokio::test]
    async fn a_refusal_from_the_length_or_an_acceptance_passes() {
        assert_eq!(judge_at_limit(413, true).await, Judged::Pass);
        assert_eq!(judge_at_limit(201, false).await, Judged::Pass);
        let seen = judge_at_limit(500, false).await;
        assert_broken(&seen, "B-NO-5XX");
    }

    /// A server that answers 201 to every request; with `freeze`, it answers nothing more
    /// once a connection has sent nothing for 200 ms (a sweeper that never lets go).
    async fn idle_server(freeze: bool) -> url::Url {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = std::sync::Arc::new(AtomicBool::new(false));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let frozen = frozen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let read = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf));
                    match read.await {
                        Err(_) if freeze => frozen.store(true, Ordering::Relaxed),
                        Err(_) | Ok(Ok(0) | Err(_)) => {}
                        Ok(Ok(_)) if frozen.load(Ordering::Relaxed) => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                        }
                        Ok(Ok(_)) => {
                            let answer = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
                            let _ = s.write_all(answer).await;
                            let _ = s.shutdown().await;
                        }
                    }
                });
            }
        });
        url::Url::parse(&format!("http://{addr}/connection")).unwrap()
    }

    #[tokio::test]
    async fn a_server_that_stops_answering_after_an_idle_connection_breaks_b_no_5xx() {
        let client = Client::new(&ClientOptions {
            timeout: Duration::from_secs(1),
            ..ClientOptions::default()
        })
        .unwrap();
        let idle = Duration::from_millis(400);
        let request = |url: &url::Url| Request::new("POST", url.clone()).body(b"{}".to_vec());
        let frozen = idle_server(true).await;
        let seen = after_idle(&client, idle, request(&frozen), request(&frozen))
            .await
            .0;
        assert_broken(&seen, "B-NO-5XX");
        let fine = idle_server(false).await;
        let seen = after_idle(&client, idle, request(&fine), request(&fine))
            .await
            .0;
        assert_eq!(seen, Judged::Pass);
    }

    #[tokio::test]
    async fn no_answer_at_all_after_an_idle_connection_is_not_blamed_on_the_server() {
        // A server that accepts connections and answers none: nothing shows it was up.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                open.push(s);
            }
        });
        let client = Client::new(&ClientOptions {
            timeout: Duration::from_millis(500),
            ..ClientOptions::default()
        })
        .unwrap();
        let url = url::Url::parse(&format!("http://{addr}/connection")).unwrap();
        let request = || Request::new("POST", url.clone()).body(b"{}".to_vec());
        let seen = after_idle(&client, Duration::from_millis(100), request(), request())
            .await
            .0;
        assert!(matches!(seen, Judged::NotJudged(_)), "{seen:?}");
    }

    /// A server that answers 201 to a small request and waits for the body of a large one;
    /// with `mute`, it answers nothing at all.
    async fn waiting_server(mute: bool) -> url::Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                    if mute || head.contains(&format!("content-length: {}", 1u64 << 30)) {
                        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                        return;
                    }
                    let answer = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
                    let _ = s.write_all(answer).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        url::Url::parse(&format!("http://{addr}/connection")).unwrap()
    }

    async fn judge_unanswered(mute: bool) -> Judged {
        let client = Client::new(&ClientOptions {
            timeout: Duration::from_millis(500),
            ..ClientOptions::default()
        })
        .unwrap();
        let url = waiting_server(mute).await;
        let oversized = Request::new("POST", url.clone())
            .header("Content-Length", (1u64 << 30).to_string())
            .body(vec![b' '; 1024]);
        let ex = client.execute(oversized).await;
        let error = ex.response.expect_err("the server waits for the body");
        let witness = Request::new("POST", url).body(b"{}".to_vec());
        unanswered_oversize(&client, &error, witness).await.0
    }

    #[tokio::test]
    async fn waiting_for_a_declared_body_while_serving_others_breaks_b_size() {
        assert_broken(&judge_unanswered(false).await, "B-SIZE");
    }

    #[tokio::test]
    async fn no_answer_to_anything_is_not_blamed_on_b_size() {
        let seen = judge_unanswered(true).await;
        assert!(matches!(seen, Judged::NotJudged(_)), "{seen:?}");
    }

    #[tokio::test]
    async fn a_counted_refusal_passes() {
        let second = b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n".to_vec();
        assert_eq!(judge(second).await, Judged::Pass);
    }

    /// The reference server on plain HTTP with a head deadline of 1 s, and its create URL.
    async fn reference(
        faults: Vec<edge_reference_server::edge_v1::faults::Fault>,
    ) -> (edge_reference_server::Server, url::Url) {
        let server = edge_reference_server::start(edge_reference_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: edge_reference_server::Tls::Plain,
            head_timeout: Duration::from_secs(1),
            faults,
            ..Default::default()
        })
        .await
        .unwrap();
        let url = url::Url::parse(&server.create_url()).unwrap();
        (server, url)
    }

    /// Three requests the server answers without 5xx (unsigned creates get 4xx), with bodies.
    fn creates(url: &url::Url) -> [Request; 3] {
        let body = br#"{"recipient":"x","sender":"y","padding":"0123456789abcdef"}"#.to_vec();
        [(); 3].map(|_| {
            Request::new("POST", url.clone())
                .header("Content-Type", "application/json")
                .body(body.clone())
        })
    }

    #[tokio::test]
    async fn a_held_h2_stream_outlives_the_idle_deadline_only_on_a_correct_server() {
        use edge_reference_server::edge_v1::faults::Fault;
        let wait = Duration::from_secs(2);
        let (correct, url) = reference(Vec::new()).await;
        let (seen, exchanges) = h2_stream_after_idle(&client(), wait, creates(&url)).await;
        assert_eq!(seen, Judged::Pass, "{exchanges:?}");
        assert!(exchanges
            .iter()
            .all(|e| e.response.as_ref().is_ok_and(|r| r.version == "HTTP/2")));
        correct.shutdown().await;

        let (faulty, url) = reference(vec![Fault::H2StreamClosedAtIdle]).await;
        let (seen, exchanges) = h2_stream_after_idle(&client(), wait, creates(&url)).await;
        assert_broken(&seen, "B-NO-5XX");
        assert_eq!(exchanges.len(), 3, "the witness was sent");
        faulty.shutdown().await;
    }

    #[tokio::test]
    async fn a_server_without_h2_leaves_the_h2_check_unexercised() {
        // An HTTP/1.1-only server answers the HTTP/2 preface with 400 and closes.
        let url = server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()).await;
        let (seen, _) =
            h2_stream_after_idle(&client(), Duration::from_millis(10), creates(&url)).await;
        assert!(matches!(seen, Judged::Skip(_)), "{seen:?}");
    }

    /// An HTTP/2 server (prior knowledge) on its first connection: it answers every complete
    /// stream with 201, and 300 ms after the first answer drops the connection (a bare TCP
    /// close, no GOAWAY). Later connections get an HTTP/1.1 201 when `stay` says so; else the
    /// listener is gone.
    async fn h2_closing_server(stay: bool) -> url::Url {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut conn = h2::server::handshake(tcp).await.unwrap();
            let mut answered = false;
            loop {
                let next = if answered {
                    match tokio::time::timeout(Duration::from_millis(300), conn.accept()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    }
                } else {
                    conn.accept().await
                };
                let Some(Ok((request, mut respond))) = next else {
                    break;
                };
                let mut body = request.into_body();
                tokio::spawn(async move {
                    while let Some(Ok(_)) = body.data().await {}
                    let answer = http::Response::builder().status(201).body(()).unwrap();
                    let _ = respond.send_response(answer, true);
                });
                answered = true;
            }
            drop(conn);
            if !stay {
                return;
            }
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        url::Url::parse(&format!("http://{addr}/connection")).unwrap()
    }

    #[tokio::test]
    async fn a_closed_h2_connection_is_blamed_only_when_a_new_one_is_answered() {
        let wait = Duration::from_millis(800);
        let url = h2_closing_server(true).await;
        let (seen, exchanges) = h2_stream_after_idle(&client(), wait, creates(&url)).await;
        assert_broken(&seen, "B-NO-5XX");
        assert!(
            exchanges[2]
                .response
                .as_ref()
                .is_ok_and(|r| r.status == 201),
            "{exchanges:?}"
        );

        let url = h2_closing_server(false).await;
        let (seen, exchanges) = h2_stream_after_idle(&client(), wait, creates(&url)).await;
        assert!(
            matches!(&seen, Judged::NotJudged(why) if why.contains("may be down")),
            "{seen:?}"
        );
        assert_eq!(exchanges.len(), 3);
    }
}
