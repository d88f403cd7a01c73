//! Fuzz target bodies, shared by the libFuzzer harnesses of `fuzz/` (run
//! with `cargo +nightly fuzz run <target>`) and by the smoke test that CI
//! runs on stable (`tests/tests/fuzz_smoke.rs`). Each takes arbitrary bytes
//! and panics only on a real defect: a crash, or an answer that contradicts
//! a simpler reference.
//!
//! - [`reply_tree`]: reply validation and typed decoding of any node list.
//! - [`call_request`]: parsing `PATTERN.CALL <lib>.<fn> numkeys ...`.
//! - [`packed_reply`]: reading any bytes as a guest's packed reply.
//! - [`resp_reply`]: reading any bytes as Redis's RESP3 reply to a command.
//! - [`component`]: validating and loading any bytes as a component.

use crate::reply::{self, Cursor};
use crate::{Engine, EngineConfig, Node};
use std::sync::{Arc, OnceLock};

/// Decodes fuzz bytes into reply nodes: a tag byte, then the node's payload.
/// Aggregate sizes are small (0–7) so that valid trees are common.
fn nodes(data: &[u8]) -> Vec<Node> {
    let mut out = Vec::new();
    let mut bytes = data.iter().copied();
    while let Some(tag) = bytes.next() {
        let small = u32::from(tag >> 5);
        let mut take = |n: u8| bytes.by_ref().take(usize::from(n)).collect::<Vec<u8>>();
        let text = |raw: Vec<u8>| String::from_utf8_lossy(&raw).into_owned();
        out.push(match tag % 12 {
            0 => Node::Nil,
            1 => Node::Integer(i64::from(small) - 3),
            2 => Node::Double(f64::from(small) / 2.0),
            3 => Node::Boolean(small % 2 == 1),
            4 => Node::BigNumber(text(take(small as u8))),
            5 => Node::Status(text(take(small as u8))),
            6 => Node::Bulk(take(small as u8)),
            7 => Node::Verbatim(crate::bindings::pattern::engine::types::Verbatim {
                format: text(take(3)),
                text: take(small as u8),
            }),
            8 => Node::Error(text(take(small as u8))),
            9 => Node::Array(small),
            10 => Node::Map(small),
            _ => Node::Set(small),
        });
    }
    out
}

/// The reference: whether `nodes` is exactly one tree, by recursion.
fn is_one_tree(nodes: &[Node]) -> bool {
    fn subtree(nodes: &[Node], at: usize) -> Option<usize> {
        let node = nodes.get(at)?;
        let mut next = at + 1;
        for _ in 0..reply::children(node) {
            next = subtree(nodes, next)?;
        }
        Some(next)
    }
    !nodes.is_empty() && subtree(nodes, 0) == Some(nodes.len())
}

/// Reply validation agrees with the reference on every node list, and
/// decoding any valid tree with any sequence of typed readers never panics.
pub fn reply_tree(data: &[u8]) {
    let (readers, tree) = data.split_at(data.len().min(4));
    let mut nodes = nodes(tree);
    let valid = reply::validate(&nodes).is_ok();
    assert_eq!(
        valid,
        is_one_tree(&nodes),
        "validate disagrees on {nodes:?}"
    );
    if !valid {
        return;
    }
    let mut cursor = Cursor::new(&mut nodes, b"FUZZ");
    for reader in readers {
        // Errors are expected (a reader meets a node of another type);
        // only panics are defects.
        let _ = match reader % 8 {
            0 => cursor.int().map(drop),
            1 => cursor.float().map(drop),
            2 => cursor.bytes().map(drop),
            3 => cursor.opt_bytes().map(drop),
            4 => cursor.pairs().map(drop),
            5 => cursor.array().map(drop),
            6 => cursor.skip(),
            _ => cursor.boolean().map(drop),
        };
    }
}

/// Parsing a call request never panics, and what it accepts is coherent:
/// a non-empty library and function, and no more keys than words.
pub fn call_request(data: &[u8]) {
    let words: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    if let Ok(parsed) = crate::request::parse(&words) {
        assert!(!parsed.library.is_empty() && !parsed.function.is_empty());
        assert!(parsed.numkeys <= words.len() - 3);
        assert!(parsed.numkeys <= crate::limits::MAX_NUMKEYS);
    }
}

/// Reading any bytes as a packed reply never panics, and what it accepts
/// is coherent: each node took at least its tag byte, and each string is
/// within the buffer.
pub fn packed_reply(data: &[u8]) {
    if let Ok(nodes) = crate::packed::unpack_reply(data) {
        assert!(nodes.len() <= data.len());
        let strings: usize = nodes.iter().map(reply::string_bytes).sum();
        assert!(strings <= data.len());
    }
}

/// Reading any bytes as a command's RESP3 reply never panics, and what it
/// gives is one well-formed tree, or one error node for bytes it refuses.
pub fn resp_reply(data: &[u8]) {
    let mut nodes = crate::Nodes::new();
    crate::resp::read_reply(data, &mut nodes);
    if let Err(why) = reply::validate(&nodes) {
        panic!("{why}: {nodes:?} from {}", data.escape_ascii());
    }
}

/// Loading any bytes as a component never panics: it loads, or it is
/// refused with a one-line reason.
pub fn component(data: &[u8]) {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| Engine::new(EngineConfig::default()).expect("engine"));
    if let Err(e) = engine.load(Arc::from(data)) {
        let line = e.to_string();
        assert!(!line.contains('\n'), "a load error spans lines: {line}");
    }
}
