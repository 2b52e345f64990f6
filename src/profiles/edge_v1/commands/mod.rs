//! The bodies of the generator commands for `edge-v1`: each opens the target, runs, prints
//! what it found, and says how it went.

mod fuzz;
mod prop;
mod race;
#[cfg(feature = "selftest")]
mod selftest;

pub use fuzz::fuzz;
pub use prop::prop;
pub use race::race;

/// `edgecheck selftest`: the kill matrix (needs the `selftest` feature).
#[cfg(feature = "selftest")]
pub use selftest::selftest;

/// `edgecheck selftest` without the `selftest` feature: say how to get it.
#[cfg(not(feature = "selftest"))]
pub fn selftest(
    _opts: &crate::profiles::SelftestOptions,
) -> Result<crate::profiles::Outcome, crate::profiles::ProfileError> {
    Err(crate::profiles::common::selftest_unavailable(
        crate::profiles::edge_v1::NAME,
    ))
}
