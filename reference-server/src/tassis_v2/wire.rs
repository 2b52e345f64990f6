//! The wire schema of `tassis-v2` (`conformance/tassis-v2/tassis.proto`), generated at build
//! time: one serialized [`Message`] per WebSocket binary message.
#![allow(missing_docs, clippy::doc_markdown, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/tassis.rs"));
