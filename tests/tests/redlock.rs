//! Redlock (`redlock/`, crate pattern-redlock) on 5 independent masters,
//! each a real redis-server with the module and the `lock` library: the
//! quorum test of redsync over every mask of masters held by someone else,
//! expiry, extension, dead masters, retries, and fencing tokens refusing a
//! stale holder.

use pattern_redlock::{Error, Lock, Options, Redlock};
use pattern_tests::{call, Server};
use std::time::{Duration, Instant};

const MASTERS: usize = 5;

/// Five masters with the lock library.
fn masters() -> Vec<Server> {
    (0..MASTERS)
        .map(|_| {
            let server = Server::start();
            server.load("lock");
            server
        })
        .collect()
}

/// A client over `servers` making `tries` attempts.
fn client(servers: &[Server], tries: u32) -> Redlock {
    let urls: Vec<String> = servers.iter().map(Server::url).collect();
    let options = Options {
        tries,
        retry_delay: Duration::from_millis(100),
        retry_jitter: Duration::from_millis(20),
        master_timeout: Duration::from_millis(500),
    };
    Redlock::new(&urls, options).unwrap()
}

fn lock_key(resource: &str) -> String {
    format!("redlock:{{{resource}}}")
}

fn fence_key(resource: &str) -> String {
    format!("redlock:{{{resource}}}:fence")
}

/// Takes `resource` on one master for another owner (what redsync's test
/// calls clogging a pool).
fn clog(server: &Server, resource: &str, ttl_ms: u64) {
    let token: Option<i64> = call(
        &mut server.connection(),
        "lock.acquire",
        &[&lock_key(resource), &fence_key(resource)],
        &["someone-else", &ttl_ms.to_string()],
    )
    .unwrap();
    assert!(token.is_some(), "clogging {resource}");
}

fn holder(server: &Server, resource: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(lock_key(resource))
        .query(&mut server.connection())
        .unwrap()
}

use pattern_tests::redis;

/// redsync's TestMutexQuorum: for every one of the 2^5 masks, the masters
/// in the mask are held by someone else; the lock is granted iff a quorum
/// is free, held on every free master when granted, and left on none of
/// them when refused (released everywhere).
#[tokio::test(flavor = "multi_thread")]
async fn quorum_over_every_mask_of_five_masters() {
    let servers = masters();
    let redlock = client(&servers, 1);
    assert_eq!(redlock.quorum(), 3);
    for mask in 0u32..1 << MASTERS {
        let resource = format!("quorum-{mask}");
        let clogged: Vec<usize> = (0..MASTERS).filter(|i| mask & (1 << i) != 0).collect();
        for &i in &clogged {
            clog(&servers[i], &resource, 60_000);
        }
        let free = MASTERS - clogged.len();
        let outcome = redlock
            .try_acquire(&resource, Duration::from_secs(10))
            .await;
        for (i, server) in servers.iter().enumerate() {
            let now = holder(server, &resource);
            if clogged.contains(&i) {
                assert_eq!(now.as_deref(), Some("someone-else"), "mask {mask:05b}");
            } else {
                let expected = outcome.as_ref().ok().map(|lock| lock.owner.clone());
                assert_eq!(now, expected, "mask {mask:05b}, master {i}");
            }
        }
        match outcome {
            Ok(_) => assert!(
                free >= 3,
                "granted with {free} free masters: mask {mask:05b}"
            ),
            Err(Error::NotAcquired { granted, .. }) => {
                assert!(
                    free < 3,
                    "refused with {free} free masters: mask {mask:05b}"
                );
                assert_eq!(granted, free, "mask {mask:05b}");
            }
            Err(e) => panic!("mask {mask:05b}: {e}"),
        }
    }
}

/// Validity = TTL − elapsed − drift; the lock is exclusive until it
/// expires and free after.
#[tokio::test(flavor = "multi_thread")]
async fn validity_accounts_for_drift_and_the_lock_expires() {
    let servers = masters();
    let redlock = client(&servers, 1);
    let ttl = Duration::from_secs(10);
    let lock = redlock.acquire("expiry", ttl).await.unwrap();
    assert!(
        lock.validity <= ttl - Redlock::drift(ttl),
        "{:?}",
        lock.validity
    );
    assert!(
        lock.validity > ttl - Duration::from_secs(1),
        "{:?}",
        lock.validity
    );
    assert!(lock.is_valid());
    let other = redlock.try_acquire("expiry", ttl).await;
    assert!(
        matches!(other, Err(Error::NotAcquired { granted: 0, .. })),
        "{other:?}"
    );

    // Short, yet long enough for a loaded machine to acquire, then release,
    // the next lock before it expires.
    let short = Duration::from_millis(1000);
    let lock = redlock.acquire("short", short).await.unwrap();
    assert!(lock.validity < short - Redlock::drift(short) + Duration::from_millis(1));
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    assert!(!lock.is_valid());
    let next = redlock.acquire("short", short).await.unwrap();
    assert_ne!(next.owner, lock.owner);
    assert!(next.token > lock.token, "{} > {}", next.token, lock.token);
    // The first holder can no longer release what is not its own.
    assert_eq!(redlock.release("short", &lock.owner).await, 0);
    assert_eq!(redlock.release("short", &next.owner).await, MASTERS);
}

/// Extension succeeds only while a majority still holds the lock for this
/// owner, and resets the TTL on each of them.
#[tokio::test(flavor = "multi_thread")]
async fn extension_needs_a_majority() {
    let servers = masters();
    let redlock = client(&servers, 1);
    let lock = redlock
        .acquire("ext", Duration::from_millis(1000))
        .await
        .unwrap();
    let ttl = Duration::from_secs(20);
    let validity = redlock.extend("ext", &lock.owner, ttl).await.unwrap();
    assert!(validity <= ttl - Redlock::drift(ttl));
    for server in &servers {
        let pttl: i64 = redis::cmd("PTTL")
            .arg(lock_key("ext"))
            .query(&mut server.connection())
            .unwrap();
        assert!(pttl > 10_000, "{pttl}");
    }
    // Two masters lose the lock (say, they restarted without persistence)
    // and someone else takes it there: three still hold it, enough.
    let steal = |server: &Server| {
        let _: i64 = redis::cmd("DEL")
            .arg(lock_key("ext"))
            .query(&mut server.connection())
            .unwrap();
        clog(server, "ext", 60_000);
    };
    steal(&servers[0]);
    steal(&servers[1]);
    assert!(redlock.extend("ext", &lock.owner, ttl).await.is_ok());
    // A third: a minority holds it, the extension is refused.
    steal(&servers[2]);
    let refused = redlock.extend("ext", &lock.owner, ttl).await;
    assert!(
        matches!(
            refused,
            Err(Error::NotExtended {
                held: 2,
                quorum: 3,
                ..
            })
        ),
        "{refused:?}"
    );
    // An expired lock cannot be extended.
    let gone = redlock
        .acquire("ext-expired", Duration::from_millis(500))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let late = redlock
        .extend("ext-expired", &gone.owner, Duration::from_secs(5))
        .await;
    assert!(
        matches!(late, Err(Error::NotExtended { held: 0, .. })),
        "{late:?}"
    );
}

/// Two dead masters of five: still granted; three: refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_minority_of_dead_masters_is_tolerated() {
    let mut servers = masters();
    let redlock = client(&servers, 1);
    drop(servers.pop());
    drop(servers.pop());
    let lock = redlock
        .acquire("down", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(redlock.release("down", &lock.owner).await, 3);
    drop(servers.pop());
    let refused = redlock.acquire("down", Duration::from_secs(5)).await;
    assert!(
        matches!(refused, Err(Error::NotAcquired { granted: 2, .. })),
        "{refused:?}"
    );
}

/// A lock held elsewhere on a majority is retried, with delay and jitter,
/// until that holder's TTL runs out.
#[tokio::test(flavor = "multi_thread")]
async fn acquisition_retries_until_the_holder_expires() {
    let servers = masters();
    // Long enough that the first try, even on a loaded machine, finds them;
    // 20 tries (~100 ms apart) outlast them.
    for server in &servers[..3] {
        clog(server, "retry", 600);
    }
    let redlock = client(&servers, 20);
    let started = Instant::now();
    let lock = redlock
        .acquire("retry", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    // A majority holds it; which masters is a race between the clogs'
    // expiries and the retries (master 0's clog may outlive the others').
    let holding = servers
        .iter()
        .filter(|server| holder(server, "retry").as_ref() == Some(&lock.owner))
        .count();
    assert!(holding >= 3, "only {holding} of 5 masters hold the lock");
}

/// A resource that accepts a write only with a fencing token at least as
/// high as any it has seen.
#[derive(Default)]
struct FencedResource {
    highest: i64,
    value: String,
}

impl FencedResource {
    fn write(&mut self, token: i64, value: &str) -> Result<(), String> {
        if token < self.highest {
            return Err(format!(
                "stale token {token}: {} already seen",
                self.highest
            ));
        }
        self.highest = token;
        self.value = value.into();
        Ok(())
    }
}

/// A holder paused past its lock's expiry writes with a token smaller than
/// the next holder's: the resource refuses it. Tokens grow even when the
/// next grant comes from another majority whose counters lagged (the
/// client raises every counter to the token it hands out).
#[tokio::test(flavor = "multi_thread")]
async fn fencing_tokens_refuse_a_stale_holder() {
    let servers = masters();
    let redlock = client(&servers, 1);
    // Master 0's counter is far ahead of the others'.
    let raised: i64 = call(
        &mut servers[0].connection(),
        "lock.fence",
        &[&fence_key("fenced")],
        &["100"],
    )
    .unwrap();
    assert_eq!(raised, 100);
    let lowered: i64 = call(
        &mut servers[0].connection(),
        "lock.fence",
        &[&fence_key("fenced")],
        &["7"],
    )
    .unwrap();
    assert_eq!(lowered, 100, "lock.fence never lowers a counter");

    // First grant from masters 0, 1, 2 (3 and 4 held elsewhere).
    // 1 s: a loaded machine still acquires well within it.
    let ttl = Duration::from_millis(1000);
    for server in &servers[3..] {
        clog(server, "fenced", ttl.as_millis() as u64);
    }
    let stale: Lock = redlock.acquire("fenced", ttl).await.unwrap();
    assert_eq!(stale.token, 101);
    let mut resource = FencedResource::default();
    resource
        .write(stale.token, "from the first holder")
        .unwrap();

    // The first holder pauses (GC, network) past its validity; the next
    // grant comes from masters 2, 3, 4 (0 and 1 unreachable for it).
    tokio::time::sleep(ttl + Duration::from_millis(50)).await;
    assert!(!stale.is_valid());
    for server in &servers[..2] {
        clog(server, "fenced", 60_000);
    }
    let next = redlock.acquire("fenced", ttl).await.unwrap();
    assert!(next.token > stale.token, "{} > {}", next.token, stale.token);
    resource
        .write(next.token, "from the second holder")
        .unwrap();

    // The first holder wakes up and writes: refused.
    let refused = resource.write(stale.token, "stale");
    assert!(refused.unwrap_err().contains("stale token 101"));
    assert_eq!(resource.value, "from the second holder");
}

/// The gateway's Redlock routes over three masters.
#[test]
fn the_gateway_offers_redlock_over_http() {
    use pattern_tests::http::Gateway;
    use serde_json::json;
    let servers: Vec<Server> = masters().into_iter().take(3).collect();
    let urls: Vec<String> = servers.iter().map(|s| format!("\"{}\"", s.url())).collect();
    let masters_env = format!("[{}]", urls.join(", "));
    let start = |env: &[(&str, &str)]| {
        Gateway::start(
            &[
                "serve",
                "--redis-url",
                &servers[0].url(),
                "--listen",
                "127.0.0.1:0",
            ],
            env,
        )
    };
    let gateway = start(&[
        ("PATTERN_ENGINE_REDLOCK_MASTERS", &masters_env),
        ("PATTERN_ENGINE_REDLOCK_TRIES", "1"),
        // The first call on each master connects too: the default 100 ms
        // is short for that on a loaded machine.
        ("PATTERN_ENGINE_REDLOCK_MASTER_TIMEOUT_MS", "2000"),
    ]);
    let post = |path: &str, body: serde_json::Value| {
        gateway.request("POST", path, None, body.to_string().as_bytes())
    };
    let acquired = post(
        "/v1/redlock/acquire",
        json!({"resource": "invoice:7", "ttl_ms": 10000}),
    );
    assert_eq!(acquired.status, 200, "{}", acquired.text());
    let lock = acquired.json();
    let owner = lock["owner"].as_str().unwrap().to_string();
    assert!(lock["token"].as_i64().unwrap() >= 1);
    assert!(lock["validity_ms"].as_u64().unwrap() <= 10000 - 102);
    for server in &servers {
        assert_eq!(holder(server, "invoice:7").as_deref(), Some(owner.as_str()));
    }

    let taken = post(
        "/v1/redlock/acquire",
        json!({"resource": "invoice:7", "ttl_ms": 10000}),
    );
    assert_eq!((taken.status, taken.kind()), (409, "not_acquired".into()));
    let extended = post(
        "/v1/redlock/extend",
        json!({"resource": "invoice:7", "owner": owner, "ttl_ms": 20000}),
    );
    assert_eq!(extended.status, 200, "{}", extended.text());
    assert!(extended.json()["validity_ms"].as_u64().unwrap() > 10000);
    let wrong = post(
        "/v1/redlock/extend",
        json!({"resource": "invoice:7", "owner": "not-me", "ttl_ms": 20000}),
    );
    assert_eq!((wrong.status, wrong.kind()), (409, "not_extended".into()));
    let released = post(
        "/v1/redlock/release",
        json!({"resource": "invoice:7", "owner": owner}),
    );
    assert_eq!(released.json(), json!({"released": 3}));
    assert_eq!(holder(&servers[0], "invoice:7"), None);

    for (body, reason) in [
        (json!({"resource": "r"}), "\"ttl_ms\" is required"),
        (json!({"resource": "", "ttl_ms": 5}), "must not be empty"),
        (json!({"resource": "r", "ttl_ms": 0}), "must be positive"),
        (json!({"resource": "r", "ttl": 5}), "unknown field"),
    ] {
        let bad = post("/v1/redlock/acquire", body);
        assert_eq!(bad.status, 400);
        let message = bad.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(message.contains(reason), "{reason}: {message}");
    }

    let without = start(&[]);
    let off = without.request("POST", "/v1/redlock/acquire", None, b"{}");
    assert_eq!(
        (off.status, off.kind()),
        (404, "redlock_not_configured".into())
    );
}
