//! `events`: an event log on a Redis stream (append, replay from an id) and
//! pub/sub notifications.
//!
//! | function | reply |
//! |---|---|
//! | `append 1 <stream> <type> <data> [<maxlen>]` | the new entry's id |
//! | `append_publish 1 <stream> <channel> <type> <data> [<maxlen>]` | `[id, receivers]`; the message published is the id |
//! | `read 1 <stream> <after-id> <count> [<type>]` (read-only) | `[next-after-id, [[id, type, data], ...]]` |
//! | `last 1 <stream>` (read-only) | `[id, type, data]`, or nil for an empty stream |
//! | `publish 0 <channel> <message>` | the number of subscribers that received it |
//!
//! An event is a stream entry with the fields `type` and `data`; its id
//! (`<ms>-<seq>`, from the server's clock) orders it and dates it. The
//! stream is kept on purpose (it is the log: no TTL) and bounded by a cap,
//! `MAXLEN ~ 10000` unless `<maxlen>` says otherwise (`n` or `~n`
//! approximate, `=n` exact).
//!
//! `read` is exclusive of `<after-id>` (`0` or `-` read from the start) and
//! returns the id to pass next. With a type filter it examines at most
//! [`SCAN_LIMIT`] entries per call (or `count`, if larger), so a rare type
//! in a long stream costs several calls, never an overrun budget: the
//! caller is caught up when `next-after-id` comes back equal to the
//! `after-id` it sent. Selection is the pure [`select`].

pub mod stream;

use pattern_guest::describe::{function, library, FunctionInfo, LibraryInfo};
use pattern_guest::redis::{self, StreamEntry, XaddOptions};
use pattern_guest::{expect_keys, export_library, Args, Error, Library, Reply};
use stream::{field, MaxLen, StreamId};

/// The cap when `<maxlen>` is left out (approximate).
pub const DEFAULT_MAXLEN: MaxLen = MaxLen {
    len: 10_000,
    exact: false,
};

/// Entries a filtered `read` examines per call at most (unless `count` is
/// larger), so a call's cost is bounded whatever the stream's length.
pub const SCAN_LIMIT: u64 = 1000;

/// Entries fetched per XRANGE while filtering.
const SCAN_BATCH: u64 = 200;

pub struct Events;

impl Library for Events {
    fn describe() -> LibraryInfo {
        let appender = |name, summary| {
            function(name, summary).key("stream", "the event log; kept (no TTL), capped by MAXLEN")
        };
        let event_args = |f: FunctionInfo| {
            f.arg("type", "event type (non-empty), stored in field `type`")
                .arg("data", "event payload (any bytes), stored in field `data`")
                .optional_arg(
                    "maxlen",
                    "cap: n or ~n approximate, =n exact (default ~10000)",
                )
        };
        library(
            "events",
            env!("CARGO_PKG_VERSION"),
            vec![
                event_args(appender("append", "Append an event; returns its id")),
                event_args(
                    appender(
                        "append_publish",
                        "Append an event and publish its id on a channel: [id, receivers]",
                    )
                    .arg("channel", "pub/sub channel notified with the new id"),
                ),
                function(
                    "read",
                    "Replay events after an id: [next-after-id, [[id, type, data], ...]]",
                )
                .read_only()
                .key("stream", "the event log")
                .arg("after-id", "exclusive start id; 0 or - from the beginning")
                .arg("count", "most events to return (positive integer)")
                .optional_arg("type", "only events of this type"),
                function("last", "The newest event [id, type, data], or nil")
                    .read_only()
                    .key("stream", "the event log"),
                function(
                    "publish",
                    "Publish a message; returns the number of receivers",
                )
                .arg("channel", "pub/sub channel (not a key)")
                .arg("message", "any bytes"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "append" => append(&keys, &args),
            "append_publish" => append_publish(&keys, &args),
            "read" => read(&keys, &args),
            "last" => last(&keys, &args),
            "publish" => publish(&keys, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

/// An event to append, validated before anything is written.
struct NewEvent<'a> {
    kind: &'a [u8],
    data: &'a [u8],
    cap: MaxLen,
}

impl<'a> NewEvent<'a> {
    /// `<type> <data> [<maxlen>]` from argument `first` on.
    fn parse(args: &'a Args, first: usize) -> Result<Self, Error> {
        let kind = args.bytes(first, "type")?;
        if kind.is_empty() {
            return Err(Error::guest("ERR <type> must not be empty"));
        }
        Ok(NewEvent {
            kind,
            data: args.bytes(first + 1, "data")?,
            cap: MaxLen::arg(args, first + 2, "maxlen")?.unwrap_or(DEFAULT_MAXLEN),
        })
    }

    /// XADD with a server-generated id; returns the id.
    fn append(&self, stream: &[u8]) -> Result<String, Error> {
        let fields = [
            (b"type".to_vec(), self.kind.to_vec()),
            (b"data".to_vec(), self.data.to_vec()),
        ];
        let options = XaddOptions {
            no_mkstream: false,
            trim: Some(self.cap.trim()),
        };
        redis::xadd(stream, "*", &fields, &options)?
            .ok_or_else(|| Error::Redis("ERR XADD returned no id".into()))
    }
}

fn append(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(2, 3, "<type> <data> [<maxlen>]")?;
    Ok(NewEvent::parse(args, 0)?.append(stream)?.into())
}

fn append_publish(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(3, 4, "<channel> <type> <data> [<maxlen>]")?;
    let channel = args.bytes(0, "channel")?;
    let id = NewEvent::parse(args, 1)?.append(stream)?;
    let receivers = redis::publish(channel, id.as_bytes())?;
    Ok(Reply::Array(vec![id.into(), receivers.into()]))
}

fn publish(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    expect_keys::<0>(keys, "none (a channel is not a key)")?;
    args.expect_count(2, 2, "<channel> <message>")?;
    let receivers = redis::publish(args.bytes(0, "channel")?, args.bytes(1, "message")?)?;
    Ok(receivers.into())
}

/// What one batch of a replay gives: the events kept, in order, and the id
/// of the last entry consumed (examined and either kept or skipped), from
/// which the next batch starts.
#[derive(Debug)]
pub struct Selection {
    pub kept: Vec<StreamEntry>,
    pub last: Option<String>,
}

/// Keeps the entries of `batch` whose `type` is `filter` (all of them
/// without a filter), in order, stopping once `want` are kept; entries
/// after that one are not consumed, so the next read starts at them.
pub fn select(batch: Vec<StreamEntry>, filter: Option<&[u8]>, want: usize) -> Selection {
    let mut selection = Selection {
        kept: Vec::new(),
        last: None,
    };
    for entry in batch {
        if selection.kept.len() >= want {
            break;
        }
        selection.last = Some(entry.id.clone());
        if filter.is_none_or(|kind| field(&entry.fields, b"type") == Some(kind)) {
            selection.kept.push(entry);
        }
    }
    selection
}

/// `[id, type, data]`; a field the entry lacks (written without `events`)
/// is nil.
fn event_reply(entry: StreamEntry) -> Reply {
    let value = |name: &[u8]| Reply::from(field(&entry.fields, name).map(<[u8]>::to_vec));
    Reply::Array(vec![
        Reply::from(entry.id.as_str()),
        value(b"type"),
        value(b"data"),
    ])
}

fn read(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(2, 3, "<after-id> <count> [<type>]")?;
    let after_text = args.str(0, "after-id")?;
    let mut after = match after_text {
        "-" => None,
        _ => {
            Some(StreamId::arg(args, 0, "after-id")?).filter(|id| *id != StreamId { ms: 0, seq: 0 })
        }
    };
    let count = args.positive(1, "count")?;
    let filter = (args.len() > 2)
        .then(|| args.bytes(2, "type"))
        .transpose()?;
    let limit = match filter {
        Some(_) => count.max(SCAN_LIMIT),
        None => count,
    };
    let batch_size = match filter {
        Some(_) => SCAN_BATCH,
        None => count,
    };
    let want = usize::try_from(count).unwrap_or(usize::MAX);
    let mut events = Vec::new();
    let mut next = after_text.to_string();
    let mut examined = 0;
    while examined < limit && events.len() < want {
        let size = batch_size.min(limit - examined);
        let start = after.map_or_else(|| "-".to_string(), |id| format!("({id}"));
        let batch = redis::xrange(stream, &start, "+", Some(size))?;
        let fetched = batch.len() as u64;
        let selection = select(batch, filter, want - events.len());
        events.extend(selection.kept);
        if let Some(last) = selection.last {
            after = StreamId::parse(&last);
            next = last;
        }
        examined += fetched;
        if fetched < size {
            break; // the end of the stream
        }
    }
    Ok(Reply::Array(vec![
        next.into(),
        Reply::Array(events.into_iter().map(event_reply).collect()),
    ]))
}

fn last(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(0, 0, "no arguments")?;
    let newest = redis::xrevrange(stream, "+", "-", Some(1))?;
    Ok(newest.into_iter().next().map_or(Reply::Nil, event_reply))
}

export_library!(Events);

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, kind: &str) -> StreamEntry {
        StreamEntry {
            id: id.into(),
            fields: vec![
                (b"type".to_vec(), kind.as_bytes().to_vec()),
                (b"data".to_vec(), b"{}".to_vec()),
            ],
        }
    }

    fn ids(entries: &[StreamEntry]) -> Vec<&str> {
        entries.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn select_keeps_matches_and_reports_where_to_resume() {
        let batch = || {
            vec![
                entry("1-0", "a"),
                entry("2-0", "b"),
                entry("3-0", "a"),
                entry("4-0", "b"),
                StreamEntry {
                    id: "5-0".into(),
                    fields: vec![(b"other".to_vec(), b"x".to_vec())],
                },
            ]
        };
        // (filter, want) -> (kept ids, resume after)
        type Case = (
            Option<&'static str>,
            usize,
            &'static [&'static str],
            Option<&'static str>,
        );
        let cases: [Case; 7] = [
            (None, 10, &["1-0", "2-0", "3-0", "4-0", "5-0"], Some("5-0")),
            (None, 2, &["1-0", "2-0"], Some("2-0")),
            // Skipped entries are consumed: the cursor moves past them...
            (Some("a"), 10, &["1-0", "3-0"], Some("5-0")),
            // ...but not past the first entry after the last one kept.
            (Some("a"), 1, &["1-0"], Some("1-0")),
            (Some("b"), 1, &["2-0"], Some("2-0")),
            (Some("c"), 10, &[], Some("5-0")),
            (Some("a"), 0, &[], None),
        ];
        for (filter, want, kept, last) in cases {
            let s = select(batch(), filter.map(str::as_bytes), want);
            assert_eq!(ids(&s.kept), kept, "{filter:?} {want}");
            assert_eq!(s.last.as_deref(), last, "{filter:?} {want}");
        }
        let empty = select(Vec::new(), None, 5);
        assert!(empty.kept.is_empty() && empty.last.is_none());
    }

    #[test]
    fn event_replies_carry_id_type_and_data() {
        assert_eq!(
            event_reply(entry("7-1", "created")),
            Reply::Array(vec![
                Reply::from("7-1"),
                Reply::from("created"),
                Reply::from("{}"),
            ])
        );
        let foreign = StreamEntry {
            id: "8-0".into(),
            fields: vec![(b"x".to_vec(), b"y".to_vec())],
        };
        assert_eq!(
            event_reply(foreign),
            Reply::Array(vec![Reply::from("8-0"), Reply::Nil, Reply::Nil])
        );
    }
}
