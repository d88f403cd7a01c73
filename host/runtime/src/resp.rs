//! A command's reply read from the RESP3 bytes Redis wrote for it (the
//! module passes `RedisModule_CallReplyProto`'s), into pre-order [`Nodes`].
//!
//! Why not `RedisModule_CallReplyType` and the other accessors: the first
//! accessor makes Redis parse the whole reply into a tree of `CallReply`
//! objects (`callReplyParse`, one allocation per element), and each node
//! then costs a call through the module API. RESP already lists a reply in
//! pre-order, the order [`Nodes`] keep, so one pass over the bytes yields
//! the nodes. Measured in the tenth pass of BENCHMARKS.md.
//!
//! The bytes come from Redis, never from a guest; anything malformed
//! still becomes an error node, never a panic (a panic here would abort
//! Redis): fuzzed as [`crate::fuzz::resp_reply`].

use crate::bindings::pattern::engine::types::Verbatim;
use crate::{Node, Nodes};

/// Deepest nesting of values read only to be dropped: attributes (RESP3
/// `|`, metadata Redis may put before a reply, which the nodes leave out as
/// the module API does) and pushes. Redis's commands send neither: the
/// bound only keeps the reader's recursion finite.
const MAX_SKIPPED_DEPTH: usize = 4;

/// Appends the reply `proto` holds to `out`; on malformed bytes `out` is
/// left with one error node instead.
pub fn read_reply(proto: &[u8], out: &mut Nodes) {
    let start = out.len();
    if let Some(text) = unterminated_error(proto) {
        out.push(Node::Error(self::text(text)));
        return;
    }
    match read_value(proto, out, 0) {
        Ok([]) => {}
        Ok(_) => malformed(out, start, "bytes after the reply"),
        Err(why) => malformed(out, start, why),
    }
}

/// The text of an error reply missing its CRLF. Redis documents the errors
/// it makes itself before running a command (`callReplyCreateError`) as
/// either plain text, to which it adds the dash and the CRLF, or protocol
/// that already has both; should one ever come with the dash and without
/// the CRLF, its text still reaches the guest instead of a read error.
fn unterminated_error(proto: &[u8]) -> Option<&[u8]> {
    let text = proto.strip_prefix(b"-")?;
    (!text.contains(&b'\r')).then_some(text)
}

fn malformed(out: &mut Nodes, start: usize, why: &str) {
    out.truncate(start);
    out.push(Node::Error(format!(
        "ERR could not read Redis's reply: {why}"
    )));
}

type Read<'a> = Result<&'a [u8], &'static str>;

/// Reads one complete value (an aggregate with all its children) from
/// `input` into `out`; returns what follows it.
fn read_value<'a>(mut input: &'a [u8], out: &mut Nodes, depth: usize) -> Read<'a> {
    // Values still to read: each aggregate adds its children.
    let mut pending: u64 = 1;
    while pending > 0 {
        let (&kind, rest) = input.split_first().ok_or("the reply ends early")?;
        let (line, rest) = line(rest)?;
        input = rest;
        if kind == b'|' {
            // An attribute: read its pairs and drop them; the value it
            // describes follows and is still pending.
            input = skip(input, count(line)?.saturating_mul(2), depth)?;
            continue;
        }
        pending -= 1;
        let node = match kind {
            b'$' | b'=' | b'!' => {
                let Some(len) = length(line)? else {
                    out.push(Node::Nil);
                    continue;
                };
                let (blob, rest) = input.split_at_checked(len).ok_or("a string ends early")?;
                input = rest.strip_prefix(b"\r\n").ok_or("a string ends early")?;
                match kind {
                    b'$' => Node::Bulk(blob.to_vec()),
                    b'!' => Node::Error(text(blob)),
                    _ => verbatim(blob)?,
                }
            }
            b'*' | b'~' | b'%' => {
                let Some(n) = length(line)? else {
                    out.push(Node::Nil);
                    continue;
                };
                let n = u32::try_from(n).map_err(|_| "an aggregate is too long")?;
                pending += match kind {
                    b'%' => 2 * u64::from(n),
                    _ => u64::from(n),
                };
                match kind {
                    b'*' => Node::Array(n),
                    b'~' => Node::Set(n),
                    _ => Node::Map(n),
                }
            }
            b'+' => Node::Status(text(line)),
            b'-' => Node::Error(text(line)),
            b':' => Node::Integer(number(line)?),
            b',' => Node::Double(number(line)?),
            b'(' => Node::BigNumber(text(line)),
            b'_' => Node::Nil,
            b'#' => match line {
                b"t" => Node::Boolean(true),
                b"f" => Node::Boolean(false),
                _ => return Err("a boolean is neither t nor f"),
            },
            b'>' => {
                // Out-of-band data: never in a command's reply.
                input = skip(input, count(line)?, depth)?;
                Node::Error("ERR reply type push is not supported".into())
            }
            _ => return Err("an unknown reply type"),
        };
        out.push(node);
    }
    Ok(input)
}

/// Reads `values` complete values from `input` and drops them.
fn skip(mut input: &[u8], values: usize, depth: usize) -> Read<'_> {
    if depth >= MAX_SKIPPED_DEPTH {
        return Err("attributes or pushes nested too deep");
    }
    let mut ignored = Nodes::new();
    for _ in 0..values {
        input = read_value(input, &mut ignored, depth + 1)?;
        ignored.clear();
    }
    Ok(input)
}

/// The line `input` starts with, without its CRLF, and what follows.
fn line(input: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let end = input
        .iter()
        .position(|&b| b == b'\r')
        .ok_or("a line has no end")?;
    let rest = input[end..]
        .strip_prefix(b"\r\n")
        .ok_or("a line has no end")?;
    Ok((&input[..end], rest))
}

/// A string's or an aggregate's length; `None` for RESP2's null (`-1`).
fn length(line: &[u8]) -> Result<Option<usize>, &'static str> {
    match number::<i64>(line)? {
        -1 => Ok(None),
        n => usize::try_from(n)
            .map(Some)
            .map_err(|_| "a negative length"),
    }
}

/// The number of an attribute's pairs or of a push's values (never null).
fn count(line: &[u8]) -> Result<usize, &'static str> {
    length(line)?.ok_or("an attribute or a push without length")
}

fn number<T: std::str::FromStr>(line: &[u8]) -> Result<T, &'static str> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or("a number does not parse")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A verbatim string's body: a three-letter format, a colon, the text.
fn verbatim(blob: &[u8]) -> Result<Node, &'static str> {
    match blob.split_at_checked(4) {
        Some((&[a, b, c, b':'], body)) => Ok(Node::Verbatim(Verbatim {
            format: text(&[a, b, c]),
            text: body.to_vec(),
        })),
        _ => Err("a verbatim string without its format"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(proto: &[u8]) -> Vec<Node> {
        let mut out = Nodes::new();
        read_reply(proto, &mut out);
        out.into_vec()
    }

    fn bulk(s: &str) -> Node {
        Node::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_every_resp3_type() {
        let cases: Vec<(&[u8], Vec<Node>)> = vec![
            (b"$5\r\nhello\r\n", vec![bulk("hello")]),
            (b"$0\r\n\r\n", vec![bulk("")]),
            (b"$4\r\na\r\nb\r\n", vec![bulk("a\r\nb")]),
            (b"$-1\r\n", vec![Node::Nil]),
            (b"*-1\r\n", vec![Node::Nil]),
            (b"_\r\n", vec![Node::Nil]),
            (b"+OK\r\n", vec![Node::Status("OK".into())]),
            (
                b"-WRONGTYPE Operation against a key\r\n",
                vec![Node::Error("WRONGTYPE Operation against a key".into())],
            ),
            (
                b"!9\r\nERR blobs\r\n",
                vec![Node::Error("ERR blobs".into())],
            ),
            (b":-42\r\n", vec![Node::Integer(-42)]),
            (b":9223372036854775807\r\n", vec![Node::Integer(i64::MAX)]),
            (b",1.5\r\n", vec![Node::Double(1.5)]),
            (b",1e+300\r\n", vec![Node::Double(1e300)]),
            (b",inf\r\n", vec![Node::Double(f64::INFINITY)]),
            (b",-inf\r\n", vec![Node::Double(f64::NEG_INFINITY)]),
            (b"#t\r\n", vec![Node::Boolean(true)]),
            (b"#f\r\n", vec![Node::Boolean(false)]),
            (
                b"(3492890328409238509324850943850943825024385\r\n",
                vec![Node::BigNumber(
                    "3492890328409238509324850943850943825024385".into(),
                )],
            ),
            (
                b"=15\r\ntxt:Some string\r\n",
                vec![Node::Verbatim(Verbatim {
                    format: "txt".into(),
                    text: b"Some string".to_vec(),
                })],
            ),
            (
                b"=4\r\nmkd:\r\n",
                vec![Node::Verbatim(Verbatim {
                    format: "mkd".into(),
                    text: vec![],
                })],
            ),
            (b"*0\r\n", vec![Node::Array(0)]),
            (
                // XRANGE: [[id, [field, value]]]
                b"*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
                vec![
                    Node::Array(1),
                    Node::Array(2),
                    bulk("1-1"),
                    Node::Array(2),
                    bulk("f"),
                    bulk("v"),
                ],
            ),
            (
                b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n_\r\n",
                vec![
                    Node::Map(2),
                    bulk("a"),
                    Node::Integer(1),
                    bulk("b"),
                    Node::Nil,
                ],
            ),
            (
                b"~2\r\n$1\r\nx\r\n$1\r\ny\r\n",
                vec![Node::Set(2), bulk("x"), bulk("y")],
            ),
            (
                // An attribute before a value, and one inside an array.
                b"|1\r\n+ttl\r\n:3\r\n*2\r\n:1\r\n|1\r\n+a\r\n*1\r\n:0\r\n:2\r\n",
                vec![Node::Array(2), Node::Integer(1), Node::Integer(2)],
            ),
        ];
        for (proto, nodes) in cases {
            assert_eq!(
                format!("{:?}", read(proto)),
                format!("{nodes:?}"),
                "{}",
                proto.escape_ascii()
            );
        }
    }

    #[test]
    fn a_push_is_an_error_node_and_the_rest_still_reads() {
        assert_eq!(
            format!("{:?}", read(b"*2\r\n>2\r\n:5\r\n*1\r\n:6\r\n:1\r\n")),
            format!(
                "{:?}",
                [
                    Node::Array(2),
                    Node::Error("ERR reply type push is not supported".into()),
                    Node::Integer(1)
                ]
            )
        );
    }

    #[test]
    fn malformed_bytes_become_one_error_node() {
        let whole: &[u8] = b"*2\r\n$3\r\nabc\r\n%1\r\n+k\r\n:7\r\n";
        assert_eq!(read(whole).len(), 5);
        // Cut anywhere: an error, never a panic, and no partial nodes.
        for end in 0..whole.len() {
            let nodes = read(&whole[..end]);
            assert!(
                matches!(&nodes[..], [Node::Error(e)] if e.starts_with("ERR could not read")),
                "cut at {end}: {nodes:?}"
            );
        }
        assert!(matches!(&read(b"-ERR no end")[..], [Node::Error(e)] if e == "ERR no end"));
        for proto in [
            &b":12x\r\n"[..],
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"#x\r\n",
            b"=2\r\nab\r\n",
            b"=5\r\ntxtx1\r\n",
            b"+OK\r\n+again\r\n",
            b"*4294967296\r\n",
            b"+no end\n",
            b"?1\r\n",
            b"|1\r\n|1\r\n|1\r\n|1\r\n|1\r\n+k\r\n+v\r\n+k\r\n+v\r\n+k\r\n+v\r\n+k\r\n+v\r\n+k\r\n+v\r\n:1\r\n",
        ] {
            let nodes = read(proto);
            assert!(
                matches!(&nodes[..], [Node::Error(e)] if e.starts_with("ERR could not read")),
                "{}: {nodes:?}",
                proto.escape_ascii()
            );
        }
    }

    #[test]
    fn appends_after_what_out_holds() {
        let mut out = Nodes::new();
        out.push(Node::Nil);
        read_reply(b"+x\r\n", &mut out);
        read_reply(b"$1", &mut out);
        assert_eq!(out.len(), 3);
        assert!(matches!(&out[1], Node::Status(s) if s == "x"));
        assert!(matches!(&out[2], Node::Error(_)));
    }
}
