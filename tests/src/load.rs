//! A steady load of lock and rate-limit calls through a gateway, for
//! failover tests: each worker alternates `lock.acquire` + `lock.release`
//! and `ratelimit.fixed_window` on keys under 8 hash tags (so that, on a
//! cluster, every master gets some), and every call's outcome is kept.

use crate::http::Gateway;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Threads sending calls at once.
const WORKERS: usize = 4;

/// One call: when it ended, its error if it failed, how long it took.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub at: Instant,
    pub error: Option<String>,
    pub took: Duration,
}

/// A running load.
pub struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    workers: Vec<JoinHandle<()>>,
}

/// What the calls went through after an event (a kill).
#[derive(Debug)]
pub struct Disruption {
    pub before: usize,
    pub after: usize,
    pub failed_before: usize,
    pub failed_after: usize,
    /// From the event to the last failed call's end.
    pub last_failure: Duration,
    /// The slowest call after the event (calls that waited for the new
    /// topology instead of failing).
    pub slowest: Duration,
    /// Whether every call of the last second succeeded.
    pub healthy_at_end: bool,
    /// What the last failed call after the event answered.
    pub last_error: Option<String>,
}

impl Disruption {
    /// How long calls could not be served: until the last failure, or the
    /// end of the slowest call, whichever is later.
    pub fn window(&self) -> Duration {
        self.last_failure.max(self.slowest)
    }
}

/// One call through the gateway: the status and body of a failure.
fn call(
    gateway: &Gateway,
    target: &str,
    keys: &[&str],
    args: serde_json::Value,
) -> Result<(), String> {
    let body = json!({ "keys": keys, "args": args }).to_string();
    let response = gateway.request("POST", &format!("/v1/call/{target}"), None, body.as_bytes());
    match response.status {
        200 => Ok(()),
        status => Err(format!("{target}: {status} {}", response.text())),
    }
}

impl Load {
    /// Starts the workers.
    pub fn start(gateway: Arc<Gateway>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
        let workers = (0..WORKERS)
            .map(|w| {
                let (gateway, stop, outcomes) = (gateway.clone(), stop.clone(), outcomes.clone());
                std::thread::spawn(move || {
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let started = Instant::now();
                        let tag = format!("{{w{}}}", (n + w) % 8);
                        let result = if n.is_multiple_of(2) {
                            let owner = format!("worker-{w}");
                            let (lock, fence) = (format!("{tag}:lock"), format!("{tag}:fence"));
                            call(
                                &gateway,
                                "lock.acquire",
                                &[&lock, &fence],
                                json!([owner, 5000]),
                            )
                            .and_then(|()| call(&gateway, "lock.release", &[&lock], json!([owner])))
                        } else {
                            let key = format!("{tag}:rate");
                            call(
                                &gateway,
                                "ratelimit.fixed_window",
                                &[&key],
                                json!([1_000_000, 60]),
                            )
                        };
                        outcomes.lock().unwrap().push(Outcome {
                            at: Instant::now(),
                            error: result.err(),
                            took: started.elapsed(),
                        });
                    }
                })
            })
            .collect();
        Self {
            stop,
            outcomes,
            workers,
        }
    }

    /// Lets the load run for `at_least`, then on until every call of the
    /// last second succeeded, for at most `at_most` in all. A new primary
    /// can refuse writes again after it first took one (`NOREPLICAS` while
    /// a replica it counted as good drops into a full resync), so a fixed
    /// wait can end inside such a spell; the failure window is asserted on
    /// the report either way.
    pub fn settle(&self, at_least: Duration, at_most: Duration) {
        let started = Instant::now();
        std::thread::sleep(at_least);
        while started.elapsed() < at_most && !self.healthy_last_second() {
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether calls ended in the last second and all of them succeeded.
    fn healthy_last_second(&self) -> bool {
        let now = Instant::now();
        let outcomes = self.outcomes.lock().unwrap();
        let mut recent = outcomes
            .iter()
            .filter(|o| now.duration_since(o.at) < Duration::from_secs(1))
            .peekable();
        recent.peek().is_some() && recent.all(|o| o.error.is_none())
    }

    /// Stops the workers; what happened around `event`.
    pub fn stop(self, event: Instant) -> Disruption {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.join().unwrap();
        }
        let outcomes = self.outcomes.lock().unwrap();
        let (before, after): (Vec<&Outcome>, Vec<&Outcome>) =
            outcomes.iter().partition(|o| o.at < event);
        let failed_after: Vec<&&Outcome> = after.iter().filter(|o| o.error.is_some()).collect();
        let end = outcomes.iter().map(|o| o.at).max().unwrap_or(event);
        let last_second: Vec<&&Outcome> = after
            .iter()
            .filter(|o| end.duration_since(o.at) < Duration::from_secs(1))
            .collect();
        Disruption {
            before: before.len(),
            after: after.len(),
            failed_before: before.iter().filter(|o| o.error.is_some()).count(),
            failed_after: failed_after.len(),
            last_failure: failed_after
                .last()
                .map(|o| o.at.duration_since(event))
                .unwrap_or_default(),
            slowest: after.iter().map(|o| o.took).max().unwrap_or_default(),
            healthy_at_end: !last_second.is_empty()
                && last_second.iter().all(|o| o.error.is_none()),
            last_error: failed_after.last().and_then(|o| o.error.clone()),
        }
    }
}
