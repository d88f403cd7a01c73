//! Calls are atomic: concurrent clients never see a half-done call.

use pattern_tests::{call, Server};
use std::sync::{Arc, Barrier};

const CLIENTS: usize = 16;

#[test]
fn exactly_one_client_wins_each_lock_round() {
    let server = Arc::new(Server::start());
    server.load("lock");
    for round in 0..20 {
        let barrier = Arc::new(Barrier::new(CLIENTS));
        let winners: Vec<Option<i64>> = (0..CLIENTS)
            .map(|client| {
                let (server, barrier) = (server.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let mut con = server.connection();
                    barrier.wait();
                    let lock = format!("lock:{round}");
                    call::<Option<i64>>(
                        &mut con,
                        "lock.acquire",
                        &[&lock, "fence"],
                        &[&format!("c{client}"), "60000"],
                    )
                    .unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let granted: Vec<i64> = winners.into_iter().flatten().collect();
        assert_eq!(granted.len(), 1, "round {round}: {granted:?}");
        // Every grant of any lock sharing the fence gets the next token.
        assert_eq!(granted[0], round + 1);
    }
}

#[test]
fn fixed_window_never_exceeds_its_limit_under_concurrency() {
    let server = Arc::new(Server::start());
    server.load("ratelimit");
    const CALLS_PER_CLIENT: usize = 250;
    const LIMIT: usize = 100;
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let allowed: usize = (0..CLIENTS)
        .map(|_| {
            let (server, barrier) = (server.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut con = server.connection();
                barrier.wait();
                (0..CALLS_PER_CLIENT)
                    .filter(|_| {
                        let r: Vec<i64> = call(
                            &mut con,
                            "ratelimit.fixed_window",
                            &["hot"],
                            &[&LIMIT.to_string(), "60"],
                        )
                        .unwrap();
                        r[0] == 1
                    })
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(
        allowed,
        LIMIT,
        "{} calls in all",
        CLIENTS * CALLS_PER_CLIENT
    );
}
