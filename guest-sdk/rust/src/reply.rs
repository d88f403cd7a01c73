//! The reply tree: what a function returns and what `redis::call` yields.

use crate::bindings::pattern::engine::types::{Node, Verbatim};
use crate::Error;

/// Nodes room is made for before flattening a reply: the bundled
/// libraries' replies have fewer, so one allocation serves (the call arena
/// makes a larger one free) where growing would take three.
const USUAL_REPLY_NODES: usize = 8;

/// Bytes room is made for before packing a reply (WIT `packed.call`): the
/// bundled libraries' usual replies fit.
const USUAL_PACKED_REPLY_BYTES: usize = 64;

/// A Redis reply, nested.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Double(f64),
    Bool(bool),
    BigNumber(String),
    Status(String),
    Bulk(Vec<u8>),
    Verbatim { format: String, text: Vec<u8> },
    Error(String),
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
}

/// Where [`Reply::pack`] writes: a vector, or the inline entry's fixed
/// buffer (`crate::inline`).
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Reply {
    /// Rebuilds a tree from pre-order nodes.
    pub fn from_nodes(nodes: Vec<Node>) -> Result<Reply, Error> {
        let mut nodes = nodes.into_iter();
        let reply = Self::read(&mut nodes)?;
        match nodes.next() {
            None => Ok(reply),
            Some(_) => Err(Error::Redis("ERR reply has nodes after its root".into())),
        }
    }

    fn read(nodes: &mut impl Iterator<Item = Node>) -> Result<Reply, Error> {
        let node = nodes
            .next()
            .ok_or_else(|| Error::Redis("ERR reply ends early".into()))?;
        let items = |n: u32, nodes: &mut dyn Iterator<Item = Node>| -> Result<Vec<Reply>, Error> {
            let mut nodes = nodes;
            (0..n).map(|_| Self::read(&mut nodes)).collect()
        };
        Ok(match node {
            Node::Nil => Reply::Nil,
            Node::Integer(n) => Reply::Int(n),
            Node::Double(d) => Reply::Double(d),
            Node::Boolean(b) => Reply::Bool(b),
            Node::BigNumber(s) => Reply::BigNumber(s),
            Node::Status(s) => Reply::Status(s),
            Node::Bulk(b) => Reply::Bulk(b),
            Node::Verbatim(v) => Reply::Verbatim {
                format: v.format,
                text: v.text,
            },
            Node::Error(e) => Reply::Error(e),
            Node::Array(n) => Reply::Array(items(n, nodes)?),
            Node::Set(n) => Reply::Set(items(n, nodes)?),
            Node::Map(n) => {
                let flat = items(n.saturating_mul(2), nodes)?;
                let mut flat = flat.into_iter();
                let mut pairs = Vec::with_capacity(n as usize);
                while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                    pairs.push((k, v));
                }
                Reply::Map(pairs)
            }
        })
    }

    /// Flattens the tree into pre-order nodes.
    pub fn into_nodes(self) -> Vec<Node> {
        let mut out = Vec::with_capacity(USUAL_REPLY_NODES);
        self.write(&mut out);
        out
    }

    fn write(self, out: &mut Vec<Node>) {
        match self {
            Reply::Nil => out.push(Node::Nil),
            Reply::Int(n) => out.push(Node::Integer(n)),
            Reply::Double(d) => out.push(Node::Double(d)),
            Reply::Bool(b) => out.push(Node::Boolean(b)),
            Reply::BigNumber(s) => out.push(Node::BigNumber(s)),
            Reply::Status(s) => out.push(Node::Status(s)),
            Reply::Bulk(b) => out.push(Node::Bulk(b)),
            Reply::Verbatim { format, text } => out.push(Node::Verbatim(Verbatim { format, text })),
            Reply::Error(e) => out.push(Node::Error(e)),
            Reply::Array(items) => {
                out.push(Node::Array(items.len() as u32));
                items.into_iter().for_each(|i| i.write(out));
            }
            Reply::Set(items) => {
                out.push(Node::Set(items.len() as u32));
                items.into_iter().for_each(|i| i.write(out));
            }
            Reply::Map(pairs) => {
                out.push(Node::Map(pairs.len() as u32));
                for (k, v) in pairs {
                    k.write(out);
                    v.write(out);
                }
            }
        }
    }

    /// The reply in the layout of WIT `packed.call` (see `wit/engine.wit`):
    /// the same pre-order nodes as [`Self::into_nodes`], each a tag byte
    /// and its payload, in one buffer.
    pub fn packed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(USUAL_PACKED_REPLY_BYTES);
        self.pack(&mut out);
        out
    }

    /// Writes [`Self::packed`]'s bytes into `out`.
    pub(crate) fn pack(&self, out: &mut impl Sink) {
        fn bytes(out: &mut impl Sink, tag: u8, bytes: &[u8]) {
            out.put(&[tag]);
            out.put(&crate::packed::length(bytes.len()));
            out.put(bytes);
        }
        match self {
            Reply::Nil => out.put(&[0]),
            Reply::Int(n) => {
                out.put(&[1]);
                out.put(&n.to_le_bytes());
            }
            Reply::Double(d) => {
                out.put(&[2]);
                out.put(&d.to_le_bytes());
            }
            Reply::Bool(b) => out.put(&[3, u8::from(*b)]),
            Reply::BigNumber(s) => bytes(out, 4, s.as_bytes()),
            Reply::Status(s) => bytes(out, 5, s.as_bytes()),
            Reply::Bulk(b) => bytes(out, 6, b),
            Reply::Verbatim { format, text } => {
                bytes(out, 7, format.as_bytes());
                out.put(&crate::packed::length(text.len()));
                out.put(text);
            }
            Reply::Error(e) => bytes(out, 8, e.as_bytes()),
            Reply::Array(items) | Reply::Set(items) => {
                out.put(&[if matches!(self, Reply::Array(_)) {
                    9
                } else {
                    11
                }]);
                out.put(&crate::packed::length(items.len()));
                items.iter().for_each(|item| item.pack(out));
            }
            Reply::Map(pairs) => {
                out.put(&[10]);
                out.put(&crate::packed::length(pairs.len()));
                for (k, v) in pairs {
                    k.pack(out);
                    v.pack(out);
                }
            }
        }
    }

    /// The status reply "OK".
    pub fn ok() -> Reply {
        Reply::Status("OK".into())
    }
}

impl From<i64> for Reply {
    fn from(n: i64) -> Self {
        Reply::Int(n)
    }
}

impl From<u64> for Reply {
    /// Saturates at `i64::MAX`.
    fn from(n: u64) -> Self {
        Reply::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// `true` is 1 and `false` is 0, as integer replies (RESP2 has no booleans).
impl From<bool> for Reply {
    fn from(b: bool) -> Self {
        Reply::Int(b as i64)
    }
}

impl From<&str> for Reply {
    fn from(s: &str) -> Self {
        Reply::Bulk(s.as_bytes().to_vec())
    }
}

impl From<String> for Reply {
    fn from(s: String) -> Self {
        Reply::Bulk(s.into_bytes())
    }
}

impl From<Vec<u8>> for Reply {
    fn from(b: Vec<u8>) -> Self {
        Reply::Bulk(b)
    }
}

impl<T: Into<Reply>> From<Option<T>> for Reply {
    fn from(value: Option<T>) -> Self {
        value.map_or(Reply::Nil, Into::into)
    }
}

impl<T: Into<Reply>> From<Vec<T>> for Reply {
    fn from(items: Vec<T>) -> Self {
        Reply::Array(items.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_nested_trees() {
        let tree = Reply::Array(vec![
            Reply::Int(1),
            Reply::Map(vec![(
                Reply::from("k"),
                Reply::Set(vec![Reply::Nil, Reply::Double(1.5)]),
            )]),
            Reply::Array(vec![]),
        ]);
        let nodes = tree.clone().into_nodes();
        assert_eq!(nodes.len(), 8);
        assert_eq!(Reply::from_nodes(nodes).unwrap(), tree);
    }

    #[test]
    fn refuses_incomplete_trees() {
        assert!(Reply::from_nodes(vec![Node::Array(2), Node::Nil]).is_err());
        assert!(Reply::from_nodes(vec![Node::Nil, Node::Nil]).is_err());
    }
}
