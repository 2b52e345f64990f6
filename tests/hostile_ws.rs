//! The WebSocket client (`client::ws`) against hostile servers written here over raw TCP:
//! garbage for a handshake, silence, a 2^40-byte frame header, 100 000 tiny frames, a close
//! in the middle of a frame, a slow upgrade, text frames, frames over the cap, a server that
//! does not read. Each call returns an error or a message within a generous bound and never
//! panics. Then a normal echo server (tokio-tungstenite) over ws:// and wss://.

use std::sync::Arc;
use std::time::{Duration, Instant};

use edgecheck::client::ws::{GoneCause, Incoming, RawFrame, WsClient, WsError, WsLimits};
use edgecheck::client::ClientOptions;
use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

const CAP: usize = 1024;

fn limits() -> WsLimits {
    WsLimits {
        frame_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        max_message: CAP,
        max_messages: 1000,
    }
}

fn client(limits: WsLimits) -> WsClient {
    WsClient::new(&ClientOptions::default(), limits).expect("client")
}

fn url(port: u16) -> Url {
    Url::parse(&format!("ws://127.0.0.1:{port}/api")).expect("url")
}

/// A listener on a free port and its ws:// URL; the closure serves the first connection.
async fn serve<F, Fut>(f: F) -> Url
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        if let Ok((s, _)) = listener.accept().await {
            f(s).await;
        }
    });
    url(port)
}

/// Reads the request head (up to its blank line).
async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads the upgrade request and answers 101.
async fn upgrade(s: &mut TcpStream) {
    let head = read_head(s).await;
    let key = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .expect("a Sec-WebSocket-Key");
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    s.write_all(answer.as_bytes()).await.expect("write 101");
}

/// A server frame (unmasked) with the given first byte.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// Reads one client frame: (first byte, unmasked payload); None at end of stream.
async fn read_client_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.ok()?;
    assert!(h[1] & 0x80 != 0, "client frames are masked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut mask = [0u8; 4];
    s.read_exact(&mut mask).await.ok()?;
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    s.read_exact(&mut payload).await.ok()?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Some((h[0], payload))
}

async fn hold() {
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn garbage_instead_of_a_handshake() {
    let u = serve(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n\x00\xff garbage")
            .await;
        hold().await;
    })
    .await;
    let start = Instant::now();
    let e = client(limits()).connect(&u).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(e, WsError::Handshake { status: None, .. }),
        "{e:?}"
    );
    assert!(!e.is_transport());

    // Endless garbage without a blank line: refused at 64 KiB or at the timeout.
    let u = serve(|mut s| async move {
        read_head(&mut s).await;
        let chunk = vec![b'x'; 16 * 1024];
        while s.write_all(&chunk).await.is_ok() {}
    })
    .await;
    let start = Instant::now();
    let e = client(limits()).connect(&u).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(
        matches!(e, WsError::Handshake { .. } | WsError::Timeout { .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_refused_upgrade_keeps_its_status() {
    let u = serve(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n")
            .await;
        hold().await;
    })
    .await;
    let e = client(limits()).connect(&u).await.unwrap_err();
    assert!(
        matches!(
            e,
            WsError::Handshake {
                status: Some(426),
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn silence_after_the_upgrade() {
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        // Reads (and drops) what the client sends, answers nothing.
        let mut sink = vec![0u8; 4096];
        while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    let start = Instant::now();
    assert_eq!(conn.recv(Duration::from_millis(300)).await, Ok(None));
    assert_eq!(conn.recv(Duration::from_millis(300)).await, Ok(None));
    let e = start.elapsed();
    assert!(
        e >= Duration::from_millis(550) && e < Duration::from_secs(2),
        "{e:?}"
    );
    // A polite close waits for the server's close at most frame_timeout.
    let start = Instant::now();
    conn.close().await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(matches!(
        conn.recv(Duration::from_millis(10)).await,
        Err(WsError::Closed(_))
    ));
    assert_eq!(conn.frames_received(), 0);
}

/// With no time left, a read answers on its first poll: the frame that has arrived, or
/// none. It never waits for a timer, whose next tick is a millisecond away.
#[tokio::test]
async fn a_read_with_no_time_left_takes_what_has_arrived_without_waiting() {
    let (go, went) = tokio::sync::oneshot::channel::<()>();
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let _ = went.await;
        // Two frames in one write: the client reads both at once.
        let mut both = frame(0x82, b"one");
        both.extend(frame(0x82, b"two"));
        s.write_all(&both).await.expect("write");
        hold().await;
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    assert_eq!(conn.recv(Duration::ZERO).now_or_never(), Some(Ok(None)));
    go.send(()).expect("the server waits");
    assert_eq!(
        conn.recv(Duration::from_secs(2)).await,
        Ok(Some(Incoming::Binary(b"one".to_vec())))
    );
    assert_eq!(
        conn.recv(Duration::ZERO).now_or_never(),
        Some(Ok(Some(Incoming::Binary(b"two".to_vec()))))
    );
    assert_eq!(conn.recv(Duration::ZERO).now_or_never(), Some(Ok(None)));
}

#[tokio::test]
async fn a_frame_header_of_two_to_the_forty_bytes_then_a_trickle() {
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let mut header = vec![0x82, 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let _ = s.write_all(&header).await;
        for _ in 0..200 {
            if s.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    let start = Instant::now();
    let r = conn.recv(Duration::from_secs(10)).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(
        r,
        Err(WsError::TooBig {
            size: 1 << 40,
            max: CAP
        })
    );
    assert!(matches!(
        conn.recv(Duration::from_secs(1)).await,
        Err(WsError::Closed(_))
    ));
}

#[tokio::test]
async fn a_hundred_thousand_tiny_frames() {
    const N: usize = 100_000;
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let mut all = Vec::with_capacity(3 * (N + 1));
        for i in 0..=N {
            all.extend_from_slice(&[0x82, 1, i as u8]);
        }
        let _ = s.write_all(&all).await;
        hold().await;
    })
    .await;
    let mut conn = client(WsLimits {
        max_messages: N,
        ..limits()
    })
    .connect(&u)
    .await
    .expect("upgrade");
    let start = Instant::now();
    let mut n = 0;
    let end = loop {
        match conn.recv(Duration::from_secs(5)).await {
            Ok(Some(Incoming::Binary(b))) => {
                assert_eq!(b, vec![n as u8]);
                n += 1;
            }
            other => break other,
        }
    };
    assert_eq!(n, N);
    assert_eq!(end, Err(WsError::TooMany { max: N }));
    assert_eq!(conn.bytes_received(), N as u64);
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_ping_flood_counts_against_the_message_limit() {
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let mut all = Vec::new();
        for _ in 0..5000 {
            all.extend_from_slice(&frame(0x89, b"ping"));
        }
        let _ = s.write_all(&all).await;
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    let start = Instant::now();
    let r = conn.recv(Duration::from_secs(10)).await;
    assert_eq!(r, Err(WsError::TooMany { max: 1000 }));
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn pings_are_answered_and_skipped() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let _ = s.write_all(&frame(0x89, b"p1")).await;
        let _ = s.write_all(&frame(0x82, b"data")).await;
        let _ = tx.send(read_client_frame(&mut s).await);
        hold().await;
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    assert_eq!(
        conn.recv(Duration::from_secs(2)).await,
        Ok(Some(Incoming::Binary(b"data".to_vec())))
    );
    assert_eq!(conn.frames_received(), 2);
    let pong = tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .expect("the server read a frame")
        .expect("sent");
    assert_eq!(pong, Some((0x8a, b"p1".to_vec())));
}

#[tokio::test]
async fn a_close_in_the_middle_of_a_frame() {
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let mut partial = vec![0x82, 100];
        partial.extend_from_slice(&[7u8; 10]);
        let _ = s.write_all(&partial).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    let start = Instant::now();
    let r = conn.recv(Duration::from_secs(5)).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(
            r,
            Ok(Some(Incoming::Gone {
                cause: GoneCause::Disconnected,
                ..
            }))
        ),
        "{r:?}"
    );
    assert!(conn.ended().is_some());
}

#[tokio::test]
async fn a_slow_upgrade_answer_times_out() {
    let slow = |mut s: TcpStream| async move {
        read_head(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 101 Switching Protocols\r\n").await;
        for _ in 0..100 {
            if s.write_all(b"X").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let short = WsLimits {
        connect_timeout: Duration::from_secs(1),
        ..limits()
    };
    let u = serve(slow).await;
    let start = Instant::now();
    let e = client(short).connect(&u).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(matches!(e, WsError::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("--timeout"));

    let u = serve(slow).await;
    let start = Instant::now();
    let e = client(short).plain_get(&u).await.unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(matches!(e, WsError::Timeout { .. }), "{e:?}");
}

#[tokio::test]
async fn text_frames_and_bad_utf8() {
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let _ = s.write_all(&frame(0x81, b"hello")).await;
        let _ = s.write_all(&frame(0x81, &[0xff, 0xfe])).await;
        hold().await;
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    assert_eq!(
        conn.recv(Duration::from_secs(2)).await,
        Ok(Some(Incoming::Text("hello".into())))
    );
    let r = conn.recv(Duration::from_secs(2)).await;
    assert!(
        matches!(
            r,
            Ok(Some(Incoming::Gone {
                cause: GoneCause::ProtocolViolation,
                ..
            }))
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn messages_over_the_cap_are_refused() {
    // One frame at the cap passes, one byte more is refused.
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let _ = s.write_all(&frame(0x82, &[1u8; CAP])).await;
        let _ = s.write_all(&frame(0x82, &[2u8; CAP + 1])).await;
        hold().await;
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    assert_eq!(
        conn.recv(Duration::from_secs(2)).await,
        Ok(Some(Incoming::Binary(vec![1u8; CAP])))
    );
    assert_eq!(
        conn.recv(Duration::from_secs(2)).await,
        Err(WsError::TooBig {
            size: CAP + 1,
            max: CAP
        })
    );

    // Fragments that add up to more than the cap.
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let _ = s.write_all(&frame(0x02, &[3u8; 600])).await;
        let _ = s.write_all(&frame(0x80, &[4u8; 600])).await;
        hold().await;
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    let r = conn.recv(Duration::from_secs(2)).await;
    assert!(matches!(r, Err(WsError::TooBig { max: CAP, .. })), "{r:?}");
}

#[tokio::test]
async fn a_close_frame_is_reported_once() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        let mut payload = 1009u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"too big");
        let _ = s.write_all(&frame(0x88, &payload)).await;
        let _ = tx.send(read_client_frame(&mut s).await);
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    assert_eq!(
        conn.recv(Duration::from_secs(2)).await,
        Ok(Some(Incoming::Closed {
            code: Some(1009),
            reason: "too big".into()
        }))
    );
    let reply = tokio::time::timeout(Duration::from_secs(2), rx)
        .await
        .expect("the server read the reply")
        .expect("sent");
    assert_eq!(reply.map(|(b0, _)| b0), Some(0x88));
    assert!(matches!(
        conn.recv(Duration::from_secs(1)).await,
        Err(WsError::Closed(_))
    ));
    assert!(matches!(
        conn.send_binary(vec![1]).await,
        Err(WsError::Closed(_))
    ));
}

#[tokio::test]
async fn sends_are_exact_single_frames_of_any_size() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        while let Some(f) = read_client_frame(&mut s).await {
            if tx.send(f).is_err() {
                break;
            }
        }
    })
    .await;
    let mut conn = client(limits()).connect(&u).await.expect("upgrade");
    let big: Vec<u8> = (0..(2 << 20)).map(|i: u32| (i % 251) as u8).collect();
    for payload in [Vec::new(), vec![0u8], vec![9u8; 126], big] {
        conn.send_binary(payload.clone()).await.expect("send");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("in time");
        assert_eq!(
            got,
            Some((0x82, payload)),
            "FIN, binary, no RSV, exact bytes"
        );
    }
    conn.send_text("hé".into()).await.expect("send text");
    assert_eq!(rx.recv().await, Some((0x81, "hé".as_bytes().to_vec())));
    // Raw frames: a fragmented message, then a reserved opcode with RSV1.
    for (f, b0) in [
        (
            RawFrame {
                fin: false,
                rsv: [false; 3],
                opcode: 2,
                payload: b"ab".to_vec(),
            },
            0x02,
        ),
        (
            RawFrame {
                fin: true,
                rsv: [false; 3],
                opcode: 0,
                payload: b"cd".to_vec(),
            },
            0x80,
        ),
        (
            RawFrame {
                fin: true,
                rsv: [true, false, false],
                opcode: 0x3,
                payload: vec![],
            },
            0xc3,
        ),
    ] {
        let payload = f.payload.clone();
        conn.send_frame(f).await.expect("send frame");
        assert_eq!(rx.recv().await, Some((b0, payload)));
    }
}

#[tokio::test]
async fn abort_reset_and_close_as_the_server_sees_them() {
    // What the server reads after the upgrade, until the end of the stream.
    async fn after_upgrade(
        u_tx: tokio::sync::oneshot::Sender<Result<Vec<u8>, String>>,
        mut s: TcpStream,
    ) {
        upgrade(&mut s).await;
        let mut all = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut all)).await;
        let _ = u_tx.send(match r {
            Ok(Ok(_)) => Ok(all),
            Ok(Err(e)) => Err(e.kind().to_string()),
            Err(_) => Err("timeout".into()),
        });
    }
    let c = client(limits());

    let (tx, rx) = tokio::sync::oneshot::channel();
    let u = serve(move |s| after_upgrade(tx, s)).await;
    c.connect(&u).await.expect("upgrade").abort();
    assert_eq!(rx.await.expect("result"), Ok(Vec::new()), "no close frame");

    let (tx, rx) = tokio::sync::oneshot::channel();
    let u = serve(move |s| after_upgrade(tx, s)).await;
    c.connect(&u).await.expect("upgrade").reset();
    let r = rx.await.expect("result");
    assert!(r.is_err() || r == Ok(Vec::new()), "{r:?}");

    let (tx, rx) = tokio::sync::oneshot::channel();
    let u = serve(move |s| after_upgrade(tx, s)).await;
    let mut conn = c.connect(&u).await.expect("upgrade");
    let start = Instant::now();
    conn.close().await;
    assert!(start.elapsed() < Duration::from_secs(3));
    drop(conn);
    let bytes = rx.await.expect("result").expect("read");
    assert_eq!(bytes.first(), Some(&0x88), "a close frame");
}

#[tokio::test]
async fn a_server_that_does_not_read_makes_sends_time_out() {
    let u = serve(|mut s| async move {
        upgrade(&mut s).await;
        hold().await;
    })
    .await;
    let mut conn = client(WsLimits {
        frame_timeout: Duration::from_millis(500),
        ..limits()
    })
    .connect(&u)
    .await
    .expect("upgrade");
    let start = Instant::now();
    let mut result = Ok(());
    for _ in 0..64 {
        result = conn.send_binary(vec![0u8; 8 << 20]).await;
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(WsError::Timeout { .. })), "{result:?}");
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(matches!(
        conn.recv(Duration::from_millis(10)).await,
        Err(WsError::Closed(_))
    ));
}

#[tokio::test]
async fn plain_get_reads_only_the_status() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let u = serve(|mut s| async move {
        let head = read_head(&mut s).await;
        let _ = tx.send(head);
        let _ = s
            .write_all(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 426 Upgrade Required\r\n\
                  Content-Length: 100000000\r\n\r\npartial body",
            )
            .await;
        hold().await;
    })
    .await;
    let u = Url::parse(&format!("{}?x=1", u)).expect("url");
    let start = Instant::now();
    assert_eq!(client(limits()).plain_get(&u).await, Ok(426));
    assert!(start.elapsed() < Duration::from_secs(2));
    let head = rx.await.expect("head");
    assert!(head.starts_with("GET /api?x=1 HTTP/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("Host: 127.0.0.1:{}\r\n", u.port().unwrap_or(0))));
    assert!(!head.to_ascii_lowercase().contains("upgrade"), "{head}");
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let e = client(limits()).connect(&url(port)).await.unwrap_err();
    assert!(
        matches!(e, WsError::Connect { .. }) && e.is_transport(),
        "{e:?}"
    );
    assert!(e.to_string().contains("is the server running"));
}

// A normal server: tokio-tungstenite, echoing every data message.

async fn echo<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default().max_message_size(Some(8 << 20));
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    while let Some(Ok(m)) = ws.next().await {
        if matches!(m, Message::Binary(_) | Message::Text(_)) && ws.send(m).await.is_err() {
            break;
        }
    }
}

fn tls_acceptor() -> (tokio_rustls::TlsAcceptor, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key.into())
    .expect("config");
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        cert.pem(),
    )
}

/// An echo server for any number of connections; returns its port.
async fn echo_server(tls: Option<tokio_rustls::TlsAcceptor>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(s).await {
                            echo(s).await;
                        }
                    }
                    None => echo(s).await,
                }
            });
        }
    });
    port
}

async fn echo_round_trips(c: &WsClient, u: &Url) {
    let mut conn = c.connect(u).await.expect("connect");
    let sizes = [0usize, 1, 125, 126, 65_535, 65_536, 300_000];
    for n in sizes {
        let payload: Vec<u8> = (0..n).map(|i| (i * 31 % 256) as u8).collect();
        conn.send_binary(payload.clone()).await.expect("send");
        assert_eq!(
            conn.recv(Duration::from_secs(5)).await,
            Ok(Some(Incoming::Binary(payload))),
            "{n} bytes"
        );
    }
    assert_eq!(conn.frames_received(), sizes.len());
    assert_eq!(conn.bytes_received(), sizes.iter().sum::<usize>() as u64);
    conn.close().await;
}

fn echo_limits() -> WsLimits {
    WsLimits {
        max_message: 1 << 20,
        ..limits()
    }
}

#[tokio::test]
async fn echo_over_ws() {
    let port = echo_server(None).await;
    echo_round_trips(&client(echo_limits()), &url(port)).await;
}

#[tokio::test]
async fn echo_over_wss_trusts_the_given_ca_only() {
    let (acceptor, pem) = tls_acceptor();
    let port = echo_server(Some(acceptor)).await;
    let u = Url::parse(&format!("wss://localhost:{port}/api")).expect("url");

    let trusting = WsClient::new(
        &ClientOptions {
            ca_cert_pem: Some(pem.into_bytes()),
            ..ClientOptions::default()
        },
        echo_limits(),
    )
    .expect("client");
    echo_round_trips(&trusting, &u).await;

    let insecure = WsClient::new(
        &ClientOptions {
            insecure: true,
            ..ClientOptions::default()
        },
        echo_limits(),
    )
    .expect("client");
    echo_round_trips(&insecure, &u).await;

    let e = client(echo_limits()).connect(&u).await.unwrap_err();
    assert!(
        matches!(e, WsError::Tls { .. }) && e.is_transport(),
        "{e:?}"
    );
    assert!(e.to_string().contains("--ca-cert"), "{e}");
    let e = client(echo_limits()).plain_get(&u).await.unwrap_err();
    assert!(matches!(e, WsError::Tls { .. }), "{e:?}");
}
