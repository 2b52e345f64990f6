//! An in-process reference server with faults switched on, and a run context for it.

use std::sync::Arc;
use std::time::Duration;

use edge_reference_server::{faults::Fault, Config, Tls};
use edgecheck::client::{Client, ClientOptions};
use edgecheck::profiles::edge_v1::sign::KeyPool;
use edgecheck::profiles::edge_v1::Context;

/// A plain-HTTP reference server on 127.0.0.1 (PAGE_SIZE 10) with the named faults.
pub async fn server(faults: &[&str]) -> edge_reference_server::Server {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Tls::Plain,
        page_size: 10,
        faults: faults
            .iter()
            .map(|f| f.parse::<Fault>().expect("known fault"))
            .collect(),
        ..Config::default()
    };
    edge_reference_server::start(config)
        .await
        .expect("server starts")
}

/// A run context targeting `server`.
pub fn context(server: &edge_reference_server::Server) -> Arc<Context> {
    Arc::new(Context {
        client: Client::new(&ClientOptions {
            timeout: Duration::from_secs(10),
            ..ClientOptions::default()
        })
        .unwrap(),
        pool: KeyPool::builtin().unwrap(),
        servers: vec![server.create_url().parse().unwrap()],
        page_size: Some(10),
        allow_http: true,
        origins: Default::default(),
        idle_wait: None,
    })
}
