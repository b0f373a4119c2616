//! Polling: when to look at a remote again. Every Application has its own
//! interval; a random jitter spreads the fetches of many Applications with
//! the same interval, so a controller restart does not hit the Git server
//! with all of them at once.

use std::time::Duration;

/// Errors of reading an interval.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not `<number><unit>` with unit `s`, `m` or `h`.
    #[error("failed to parse interval {0:?}: expected a number and a unit (s, m, h), e.g. 3m or 1h30m")]
    Interval(String),
}

/// Shortest interval accepted: polling faster only loads the Git server.
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);

/// The interval when an Application gives none (Argo CD's and Flux's default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(180);

/// Parses `30s`, `3m`, `1h30m` (Go-style durations, as Flux writes them).
pub fn parse_interval(text: &str) -> Result<Duration, Error> {
    let bad = || Error::Interval(text.to_owned());
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// The schedule of one Application's polls.
#[derive(Debug, Clone)]
pub struct Poller {
    interval: Duration,
    jitter: f64,
    rng: fastrand::Rng,
}

impl Poller {
    /// Polls every `interval` (at least [`MIN_INTERVAL`]), each wait
    /// stretched or shortened by up to `jitter` (a fraction, at most 0.5).
    pub fn new(interval: Duration, jitter: f64) -> Self {
        Self { interval: interval.max(MIN_INTERVAL), jitter: jitter.clamp(0.0, 0.5), rng: fastrand::Rng::new() }
    }

    /// From an Application's `interval` field, with 10 % jitter.
    pub fn from_spec(interval: Option<&str>) -> Result<Self, Error> {
        let interval = interval.map(parse_interval).transpose()?.unwrap_or(DEFAULT_INTERVAL);
        Ok(Self::new(interval, 0.1))
    }

    /// The same schedule with a fixed seed, for reproducible tests.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// The configured interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long to wait before the next poll: `interval × (1 ± jitter)`.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1.0 + self.jitter * (self.rng.f64() * 2.0 - 1.0);
        self.interval.mul_f64(factor)
    }

    /// Waits for the next poll, or less if `trigger` fires first (a webhook
    /// for this Application). Returns whether a trigger woke it.
    pub async fn wait(&mut self, trigger: &tokio::sync::Notify) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            () = tokio::time::sleep(delay) => false,
            () = trigger.notified() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_like_flux() {
        assert_eq!(parse_interval("3m").unwrap(), Duration::from_secs(180));
        assert_eq!(parse_interval("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_interval("45s").unwrap(), Duration::from_secs(45));
        for bad in ["", "3", "m", "3d", "0s", "-1m"] {
            assert!(parse_interval(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn delays_stay_within_the_jitter_and_vary() {
        let mut poller = Poller::new(Duration::from_secs(100), 0.1).with_seed(7);
        let delays: Vec<Duration> = (0..200).map(|_| poller.next_delay()).collect();
        assert!(delays.iter().all(|d| (90.0..=110.0).contains(&d.as_secs_f64())), "{delays:?}");
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "jitter must spread the polls");
    }

    #[test]
    fn intervals_below_the_minimum_are_raised() {
        assert_eq!(Poller::new(Duration::from_secs(1), 0.0).next_delay(), MIN_INTERVAL);
    }

    #[tokio::test]
    async fn a_trigger_ends_the_wait_early() {
        let trigger = tokio::sync::Notify::new();
        trigger.notify_one();
        let mut poller = Poller::new(Duration::from_secs(3600), 0.0);
        assert!(poller.wait(&trigger).await);
    }
}
