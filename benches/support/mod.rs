//! What the benches share: the suite's signing rate and the CPU time of a process.

use std::time::{Duration, Instant};

use edgecheck::profiles::edge_v1::sign::{signing_input, KeyPool};

/// The signatures per second of `cores` threads signing at once with the suite's signer,
/// each with a fixture key of its own: the signing input of a send, over 2 s after a
/// warm-up (the key's blinding set-up). One thread gives one core's rate.
pub fn signing_rate_on(pool: &KeyPool, cores: usize) -> f64 {
    let input = signing_input("POST", "/connection/x/messages", &[b'x'; 300]);
    let start = std::sync::Barrier::new(cores);
    let total: f64 = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                let key = pool.take();
                let (input, start) = (&input, &start);
                scope.spawn(move || {
                    for _ in 0..20 {
                        std::hint::black_box(key.sign(input));
                    }
                    start.wait();
                    let began = Instant::now();
                    let mut n = 0u64;
                    while began.elapsed() < Duration::from_secs(2) {
                        std::hint::black_box(key.sign(input));
                        n += 1;
                    }
                    n as f64 / began.elapsed().as_secs_f64()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a signing thread"))
            .sum()
    });
    total
}

/// User and system CPU seconds so far of `who`: `libc::RUSAGE_SELF` (this process) or
/// `libc::RUSAGE_CHILDREN` (every child process waited for); NaN if it cannot be read.
pub fn cpu_seconds(who: libc::c_int) -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        if libc::getrusage(who, &mut usage) != 0 {
            return f64::NAN;
        }
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
