//! Bad uploads, generated: truncations, bit flips, garbage behind a valid
//! header and absurd declared section sizes of a real component. Each is
//! refused with a one-line reason (or, if the mutation left a valid
//! component, loaded), Redis never crashes, and the real library still
//! loads and works afterwards. A deterministic generator keeps failures
//! reproducible.

use pattern_tests::redis::{self, Value};
use pattern_tests::{call, component, error_text, Server};

/// splitmix64: a fixed, well-mixed sequence.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One mutant of `original`, by kind.
fn mutate(original: &[u8], kind: usize, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = original.to_vec();
    match kind {
        // Truncated anywhere after the header.
        0 => bytes.truncate(8 + rng.below(bytes.len() - 8)),
        // A few random bytes changed.
        1 => {
            for _ in 0..1 + rng.below(8) {
                let at = 8 + rng.below(bytes.len() - 8);
                bytes[at] = rng.next() as u8;
            }
        }
        // Garbage behind a valid component header.
        2 => {
            let len = rng.below(4096);
            bytes.truncate(8);
            bytes.extend((0..len).map(|_| rng.next() as u8));
        }
        // The first section claims about 4 GiB.
        _ => {
            bytes.splice(9..10, [0xff, 0xff, 0xff, 0xff, 0x0f]);
        }
    }
    bytes
}

#[test]
fn mutated_components_are_refused_or_loaded_never_a_crash() {
    let server = Server::start();
    let mut con = server.connection();
    let lock = component("lock");
    let mut rng = Rng(0x5eed);
    let (mut refused, mut loaded) = (0, 0);
    for i in 0..160 {
        let mutant = mutate(&lock, i % 4, &mut rng);
        match redis::cmd("PATTERN.LOAD")
            .arg("REPLACE")
            .arg(&mutant)
            .query::<Value>(&mut con)
        {
            Ok(_) => loaded += 1,
            Err(e) => {
                let text = error_text(&e);
                assert!(text.starts_with("ERR "), "mutant {i}: {text}");
                assert!(!text.contains('\n'), "mutant {i}: {text}");
                refused += 1;
            }
        }
        let pong: String = redis::cmd("PING").query(&mut con).unwrap();
        assert_eq!(pong, "PONG", "after mutant {i}");
    }
    assert!(
        refused > 100,
        "most mutants are refused: {refused} refused, {loaded} loaded"
    );
    let _: Value = redis::cmd("PATTERN.LOAD")
        .arg("REPLACE")
        .arg(&lock)
        .query(&mut con)
        .unwrap();
    let token: Option<i64> = call(&mut con, "lock.acquire", &["l", "f"], &["me", "1000"]).unwrap();
    assert!(token.is_some());
}
