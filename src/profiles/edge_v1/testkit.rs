//! Unit-test helpers: a context that never reaches a server, and an empty case.

use super::case::{Case, Level};
use super::sign::KeyPool;
use super::Context;
use crate::client::{Client, ClientOptions};

/// A context aimed at a port nothing listens on, with the built-in key pool and PAGE_SIZE 10.
pub(crate) fn context() -> Context {
    Context {
        client: Client::new(&ClientOptions::default()).unwrap(),
        pool: KeyPool::builtin().unwrap(),
        servers: vec!["https://127.0.0.1:1/connection".parse().unwrap()],
        page_size: Some(10),
        allow_http: false,
        origins: Default::default(),
        idle_wait: None,
    }
}

/// A MUST case `id` of B-NO-5XX without steps.
pub(crate) fn case(id: &str) -> Case {
    Case {
        id: id.into(),
        title: "t".into(),
        requirements: vec!["B-NO-5XX".into()],
        level: Level::Must,
        needs: vec![],
        seed: None,
        origin: None,
        steps: vec![],
    }
}
