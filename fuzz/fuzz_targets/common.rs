//! Configuration shared by the targets: the reference server as the embedded target runs
//! it (PAGE_SIZE 10), with the faults named in `EDGE_FAULTS` when built with `--features
//! faults`.

/// The reference server's configuration for a target.
pub fn config() -> edge_reference_server::Config {
    #[allow(unused_mut)]
    let mut c = edge_reference_server::Config {
        page_size: 10,
        ..edge_reference_server::Config::default()
    };
    #[cfg(feature = "faults")]
    {
        c.faults = std::env::var("EDGE_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse::<edge_reference_server::faults::Fault>()
                    .unwrap_or_else(|e| panic!("EDGE_FAULTS: {e}"))
            })
            .collect();
    }
    c
}
