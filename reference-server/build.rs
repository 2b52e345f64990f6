//! Generates the tassis-v2 wire types from `conformance/tassis-v2/tassis.proto` with protox
//! (a protobuf compiler in pure Rust, so no `protoc` is needed) and prost-build.

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new("../conformance/tassis-v2");
    let proto = dir.join("tassis.proto");
    println!("cargo:rerun-if-changed={}", proto.display());
    println!("cargo:rerun-if-changed=build.rs");
    let descriptors = protox::compile([&proto], [dir]).map_err(|e| {
        format!(
            "cannot compile {}: {e}; the tassis-v2 wire schema must be a valid proto3 file",
            proto.display()
        )
    })?;
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
