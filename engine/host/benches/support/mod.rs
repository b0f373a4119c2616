//! What the host's benchmarks share: timing a closure without criterion's
//! statistics, so a median and a p99 can be printed beside a goal.

use std::time::{Duration, Instant};

/// Median and p99 of `n` runs of `run`, each given fresh `setup` output;
/// what `run` returns is dropped outside the timing.
pub fn sample<S, R>(n: usize, mut setup: impl FnMut() -> S, mut run: impl FnMut(S) -> R) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let input = setup();
            let start = Instant::now();
            let output = run(input);
            let elapsed = start.elapsed();
            drop(output);
            elapsed
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)];
    (at(0.5), at(0.99))
}
