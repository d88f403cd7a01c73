//! The flattened reply tree: validation, and typed decoding for imports.
//!
//! A reply crosses the WIT boundary as nodes in pre-order (see `wit/`). The
//! host validates every tree a guest returns before writing it to a client,
//! and decodes the trees Redis returns into each typed import's result.

use crate::limits::MAX_REPLY_NODES;
use crate::{GuestError, Node};

/// Checks that `nodes` is exactly one complete tree: every aggregate has as
/// many children as it announces, nothing is left over, and it is not larger
/// than [`MAX_REPLY_NODES`].
pub fn validate(nodes: &[Node]) -> Result<(), String> {
    if nodes.is_empty() {
        return Err("empty reply (expected one root node)".into());
    }
    if nodes.len() > MAX_REPLY_NODES {
        return Err(format!(
            "{} nodes, over the limit of {MAX_REPLY_NODES}",
            nodes.len()
        ));
    }
    // Number of subtrees still expected; starts with the root.
    let mut expected: u64 = 1;
    for (index, node) in nodes.iter().enumerate() {
        if expected == 0 {
            return Err(format!(
                "{} extra node(s) after the root's tree",
                nodes.len() - index
            ));
        }
        expected = expected - 1 + children(node);
        if expected > (nodes.len() - index - 1) as u64 {
            return Err(format!(
                "node {index} announces more children than the reply holds"
            ));
        }
    }
    match expected {
        0 => Ok(()),
        missing => Err(format!("{missing} child node(s) missing")),
    }
}

/// Bytes of string data a node carries (its share of a reply's size).
pub fn string_bytes(node: &Node) -> usize {
    match node {
        Node::Bulk(b) => b.len(),
        Node::Status(s) | Node::Error(s) | Node::BigNumber(s) => s.len(),
        Node::Verbatim(v) => v.text.len(),
        _ => 0,
    }
}

/// Number of direct subtrees that follow an aggregate node.
pub fn children(node: &Node) -> u64 {
    match node {
        Node::Array(n) | Node::Set(n) => u64::from(*n),
        Node::Map(n) => 2 * u64::from(*n),
        _ => 0,
    }
}

/// Maps a Redis error reply to the guest-visible error variant.
pub fn classify_error(text: &str) -> GuestError {
    if text.starts_with("WRONGTYPE") {
        GuestError::WrongType(text.to_string())
    } else if text.contains("Write command") && text.contains("write is not allowed")
        || text.starts_with("READONLY")
    {
        GuestError::WriteInReadOnly(text.to_string())
    } else if text.contains("not allowed from script") || text.contains("not allowed from scripts")
    {
        GuestError::CommandNotAllowed(text.to_string())
    } else {
        GuestError::Redis(text.to_string())
    }
}

/// Reads a reply tree front to back into typed values. It borrows the
/// nodes where the reply was parsed and takes each one out as it is read
/// (leaving nil), so a decoded string is moved, never copied.
pub struct Cursor<'a> {
    nodes: &'a mut [Node],
    /// Index of the next node.
    at: usize,
    /// The command's name as the guest gave it, for error messages.
    command: &'a [u8],
}

type Decoded<T> = Result<T, GuestError>;

/// `node`, leaving nil (which owns nothing) in its place.
fn take(node: &mut Node) -> Node {
    std::mem::replace(node, Node::Nil)
}

impl<'a> Cursor<'a> {
    pub fn new(nodes: &'a mut [Node], command: &'a [u8]) -> Self {
        Self {
            nodes,
            at: 0,
            command,
        }
    }

    /// The next node, without consuming it.
    pub fn peek(&mut self) -> Option<&Node> {
        self.nodes.get(self.at)
    }

    /// Every node not consumed yet.
    pub fn rest(&mut self) -> Vec<Node> {
        let rest = self.nodes[self.at..].iter_mut().map(take).collect();
        self.at = self.nodes.len();
        rest
    }

    fn unexpected(&self, what: &str, node: Option<&Node>) -> GuestError {
        GuestError::Redis(format!(
            "unexpected reply to {}: expected {what}, got {node:?}",
            String::from_utf8_lossy(self.command).to_uppercase()
        ))
    }

    pub fn node(&mut self) -> Decoded<Node> {
        match self.nodes.get_mut(self.at) {
            Some(node) => {
                self.at += 1;
                Ok(take(node))
            }
            None => Err(self.unexpected("a value", None)),
        }
    }

    pub fn int(&mut self) -> Decoded<i64> {
        match self.node()? {
            Node::Integer(n) => Ok(n),
            other => Err(self.unexpected("an integer", Some(&other))),
        }
    }

    pub fn uint(&mut self) -> Decoded<u64> {
        let n = self.int()?;
        u64::try_from(n)
            .map_err(|_| self.unexpected("a non-negative integer", Some(&Node::Integer(n))))
    }

    pub fn boolean(&mut self) -> Decoded<bool> {
        match self.node()? {
            Node::Integer(n) => Ok(n != 0),
            Node::Boolean(b) => Ok(b),
            other => Err(self.unexpected("an integer or boolean", Some(&other))),
        }
    }

    pub fn float(&mut self) -> Decoded<f64> {
        match self.node()? {
            Node::Double(d) => Ok(d),
            Node::Integer(n) => Ok(n as f64),
            Node::Bulk(b) => {
                parse_float(&b).ok_or_else(|| self.unexpected("a float", Some(&Node::Bulk(b))))
            }
            other => Err(self.unexpected("a float", Some(&other))),
        }
    }

    pub fn opt_float(&mut self) -> Decoded<Option<f64>> {
        match self.node()? {
            Node::Nil => Ok(None),
            Node::Double(d) => Ok(Some(d)),
            Node::Integer(n) => Ok(Some(n as f64)),
            Node::Bulk(b) => parse_float(&b)
                .map(Some)
                .ok_or_else(|| self.unexpected("a float", Some(&Node::Bulk(b)))),
            other => Err(self.unexpected("a float or nil", Some(&other))),
        }
    }

    pub fn opt_uint(&mut self) -> Decoded<Option<u64>> {
        match self.node()? {
            Node::Nil => Ok(None),
            Node::Integer(n) if n >= 0 => Ok(Some(n as u64)),
            other => Err(self.unexpected("an integer or nil", Some(&other))),
        }
    }

    pub fn bytes(&mut self) -> Decoded<Vec<u8>> {
        match self.node()? {
            Node::Bulk(b) => Ok(b),
            Node::Status(s) => Ok(s.into_bytes()),
            Node::Verbatim(v) => Ok(v.text),
            Node::Integer(n) => Ok(n.to_string().into_bytes()),
            other => Err(self.unexpected("a string", Some(&other))),
        }
    }

    pub fn string(&mut self) -> Decoded<String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes)
            .map_err(|e| self.unexpected("UTF-8 text", Some(&Node::Bulk(e.into_bytes()))))
    }

    pub fn opt_bytes(&mut self) -> Decoded<Option<Vec<u8>>> {
        match self.node()? {
            Node::Nil => Ok(None),
            Node::Bulk(b) => Ok(Some(b)),
            Node::Status(s) => Ok(Some(s.into_bytes())),
            other => Err(self.unexpected("a string or nil", Some(&other))),
        }
    }

    pub fn opt_string(&mut self) -> Decoded<Option<String>> {
        self.opt_bytes()?
            .map(|b| {
                String::from_utf8(b)
                    .map_err(|e| self.unexpected("UTF-8 text", Some(&Node::Bulk(e.into_bytes()))))
            })
            .transpose()
    }

    /// An array or set header: the number of elements; nil counts as empty.
    pub fn array(&mut self) -> Decoded<usize> {
        match self.node()? {
            Node::Array(n) | Node::Set(n) => Ok(n as usize),
            Node::Nil => Ok(0),
            other => Err(self.unexpected("an array", Some(&other))),
        }
    }

    /// A map header, or an array of pairs: the number of pairs.
    pub fn map(&mut self) -> Decoded<usize> {
        match self.node()? {
            Node::Map(n) => Ok(n as usize),
            Node::Array(n) if n % 2 == 0 => Ok(n as usize / 2),
            Node::Nil => Ok(0),
            other => Err(self.unexpected("a map", Some(&other))),
        }
    }

    /// Skips one whole subtree.
    pub fn skip(&mut self) -> Decoded<()> {
        let mut pending = 1u64;
        while pending > 0 {
            pending = pending - 1 + children(&self.node()?);
        }
        Ok(())
    }

    /// `n` elements decoded with `item`.
    pub fn list<T>(&mut self, item: impl Fn(&mut Self) -> Decoded<T>) -> Decoded<Vec<T>> {
        let n = self.array()?;
        (0..n).map(|_| item(self)).collect()
    }

    /// Field/value pairs from a map or a flat array.
    pub fn pairs(&mut self) -> Decoded<Vec<(Vec<u8>, Vec<u8>)>> {
        let n = self.map()?;
        (0..n).map(|_| Ok((self.bytes()?, self.bytes()?))).collect()
    }
}

/// Parses a Redis float reply ("1.5", "inf", "-inf", "nan").
pub fn parse_float(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    match text {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_complete_trees_only() {
        let ok: &[&[Node]] = &[
            &[Node::Nil],
            &[Node::Array(0)],
            &[Node::Array(2), Node::Integer(1), Node::Array(1), Node::Nil],
            &[
                Node::Map(1),
                Node::Status("a".into()),
                Node::Set(1),
                Node::Boolean(true),
            ],
        ];
        for nodes in ok {
            assert_eq!(validate(nodes), Ok(()), "{nodes:?}");
        }
        let bad: &[&[Node]] = &[
            &[],
            &[Node::Nil, Node::Nil],
            &[Node::Array(2), Node::Nil],
            &[Node::Map(1), Node::Nil],
            &[Node::Array(u32::MAX)],
            &[Node::Array(1), Node::Array(1)],
        ];
        for nodes in bad {
            assert!(validate(nodes).is_err(), "{nodes:?}");
        }
    }

    #[test]
    fn cursor_decodes_nested_pairs_and_skips() {
        let mut nodes = vec![
            Node::Array(2),
            Node::Map(1),
            Node::Bulk(b"f".to_vec()),
            Node::Bulk(b"v".to_vec()),
            Node::Integer(7),
        ];
        let mut c = Cursor::new(&mut nodes, b"TEST");
        assert_eq!(c.array().unwrap(), 2);
        assert_eq!(c.pairs().unwrap(), vec![(b"f".to_vec(), b"v".to_vec())]);
        assert_eq!(c.int().unwrap(), 7);
        let mut nodes = vec![Node::Array(1), Node::Array(1), Node::Nil, Node::Integer(3)];
        let mut c = Cursor::new(&mut nodes, b"T");
        c.skip().unwrap();
        assert_eq!(c.int().unwrap(), 3);
        assert!(c.node().is_err(), "past the end");
    }

    #[test]
    fn errors_keep_their_kind() {
        assert!(matches!(
            classify_error("WRONGTYPE Operation against a key"),
            GuestError::WrongType(_)
        ));
        assert!(matches!(
            classify_error("ERR Write command 'set' was called while write is not allowed."),
            GuestError::WriteInReadOnly(_)
        ));
        assert!(matches!(
            classify_error("ERR syntax error"),
            GuestError::Redis(_)
        ));
    }
}
