//! The fuzz targets' smoke run, on stable, in every CI run: each target of
//! `fuzz/` (bodies in `pattern_runtime::fuzz`) gets pseudo-random inputs
//! from a fixed seed and mutations of its seeds. The long runs are
//! libFuzzer's (`cargo +nightly fuzz run <target>`, see SECURITY.md).

use pattern_runtime::fuzz;
use std::path::{Path, PathBuf};

/// Inputs per cheap target: a second or two in a debug build.
const CHEAP_INPUTS: usize = 20_000;

/// Inputs for `component`: each one that parses is compiled, which takes
/// milliseconds, so fewer.
const COMPONENT_INPUTS: usize = 200;

/// xorshift64*: reproducible inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        (0..self.below(max_len + 1))
            .map(|_| self.next() as u8)
            .collect()
    }

    /// `seed` truncated, with bytes flipped or spliced in.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut out = seed[..self.below(seed.len() + 1).max(seed.len() / 2)].to_vec();
        for _ in 0..1 + self.below(8) {
            match self.below(3) {
                0 if !out.is_empty() => {
                    let at = self.below(out.len());
                    out[at] ^= 1 << self.below(8);
                }
                1 if !out.is_empty() => {
                    let at = self.below(out.len());
                    out[at] = self.next() as u8;
                }
                _ => {
                    let at = self.below(out.len() + 1);
                    let extra = self.bytes(16);
                    out.splice(at..at, extra);
                }
            }
        }
        out
    }
}

/// Runs `target` on each seed, then on [`CHEAP_INPUTS`] inputs: random
/// bytes (up to `random_len`) and mutated seeds, alternately.
fn smoke(rng_seed: u64, seeds: &[&[u8]], random_len: usize, target: fn(&[u8])) {
    let mut rng = Rng(rng_seed);
    for seed in seeds {
        target(seed);
    }
    for i in 0..CHEAP_INPUTS {
        let input = if i % 2 == 0 {
            rng.bytes(random_len)
        } else {
            let seed = seeds[rng.below(seeds.len())];
            rng.mutate(seed)
        };
        target(&input);
    }
}

#[test]
fn reply_tree_smoke() {
    let seeds: [&[u8]; 3] = [
        &[0, 9, 1, 1],
        &[0, 0, 0, 0, 41, 6, b'x', 1],
        &[7, 7, 7, 7, 10, 1, 1],
    ];
    smoke(0x5eed_0001, &seeds, 64, fuzz::reply_tree);
}

#[test]
fn call_request_smoke() {
    let seeds: [&[u8]; 3] = [
        b"PATTERN.CALL\nlock.acquire\n2\na\nb\nowner\n100",
        b"PATTERN.CALL_RO\nboard.top\n1\nb\n10",
        b"PATTERN.CALL\nx.y\n0",
    ];
    fuzz::call_request(b"");
    smoke(0x5eed_0002, &seeds, 48, fuzz::call_request);
}

#[test]
fn packed_reply_smoke() {
    let seeds: [&[u8]; 3] = [
        &[
            9, 3, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0, 0, 0, b'o', b'k', 0,
        ],
        &[7, 3, 0, 0, 0, b't', b'x', b't', 1, 0, 0, 0, b'x'],
        &[10, 1, 0, 0, 0, 3, 1, 6, 0, 0, 0, 0],
    ];
    smoke(0x5eed_0003, &seeds, 64, fuzz::packed_reply);
}

#[test]
fn resp_reply_smoke() {
    let seeds: [&[u8]; 4] = [
        b"*2\r\n$3\r\nabc\r\n%1\r\n+k\r\n:7\r\n",
        b"~2\r\n,1.5\r\n#t\r\n",
        b"|1\r\n+a\r\n_\r\n=7\r\ntxt:abc\r\n",
        b"*1\r\n*1\r\n(12345\r\n",
    ];
    smoke(0x5eed_0004, &seeds, 48, fuzz::resp_reply);
}

#[test]
fn component_smoke() {
    // Where `cargo xtask components` put them: the target directory.
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("components");
    let seeds: Vec<Vec<u8>> = ["ratelimit", "lock"]
        .iter()
        .map(|name| {
            let path = dir.join(format!("{name}.wasm"));
            std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}: build it with `cargo xtask components`",
                    path.display()
                )
            })
        })
        .collect();
    let mut rng = Rng(0x5eed_0003);
    for i in 0..COMPONENT_INPUTS {
        let input = match i % 4 {
            0 => rng.bytes(256),
            // A valid header then garbage: past the header check into the
            // parser.
            1 => [b"\0asm\x0d\0\x01\0".as_slice(), &rng.bytes(256)].concat(),
            _ => {
                let seed = rng.below(seeds.len());
                rng.mutate(&seeds[seed])
            }
        };
        fuzz::component(&input);
    }
}
