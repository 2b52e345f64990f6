//! One HTTP/2 connection (hyper's client, prior knowledge) on which a create is held with
//! half its body while a second one runs on another stream and ends: the probe of the
//! `h2-stream-closed-at-idle` faults of both REST profiles.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Frame;

/// A request body whose bytes the caller sends later.
type HeldBody = http_body_util::StreamBody<
    futures_util::stream::PollFn<
        Box<
            dyn FnMut(&mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>>
                + Send
                + Unpin,
        >,
    >,
>;

/// A body fed by the returned sender; dropping the sender ends it.
fn held_body() -> (
    tokio::sync::mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
    HeldBody,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let poll: Box<dyn FnMut(&mut Context<'_>) -> _ + Send + Unpin> =
        Box::new(move |cx: &mut Context<'_>| rx.poll_recv(cx));
    (
        tx,
        http_body_util::StreamBody::new(futures_util::stream::poll_fn(poll)),
    )
}

/// An unsigned create to `path` is held with half its body while a second one is answered
/// on another stream; `hold` later the first body is completed. Returns the second's status
/// and the first's, or `None` when the first got no answer within 3 s.
pub async fn held_stream(addr: SocketAddr, path: &str, hold: Duration) -> (u16, Option<u16>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let uri = format!("http://{addr}{path}");
    let body = b"{\"recipient\": \"x\", \"sender\": \"y\"}".to_vec();
    let request = |b: HeldBody| {
        hyper::Request::post(&uri)
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(b)
            .unwrap()
    };
    let (first_tx, first_body) = held_body();
    first_tx
        .send(Ok(Frame::data(Bytes::copy_from_slice(&body[..10]))))
        .await
        .unwrap();
    let first = tokio::spawn(send.send_request(request(first_body)));
    let (second_tx, second_body) = held_body();
    second_tx
        .send(Ok(Frame::data(Bytes::from(body.clone()))))
        .await
        .unwrap();
    drop(second_tx);
    let second = send.send_request(request(second_body)).await.unwrap();
    tokio::time::sleep(hold).await;
    let _ = first_tx
        .send(Ok(Frame::data(Bytes::copy_from_slice(&body[10..]))))
        .await;
    drop(first_tx);
    let first = match tokio::time::timeout(Duration::from_secs(3), first).await {
        Ok(Ok(Ok(r))) => Some(r.status().as_u16()),
        _ => None,
    };
    (second.status().as_u16(), first)
}
