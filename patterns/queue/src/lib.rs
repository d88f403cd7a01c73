//! `queue`: a work queue on a Redis stream, consumed through consumer
//! groups, with acknowledgement, redelivery of stalled work and a
//! dead-letter stream.
//!
//! | function | reply |
//! |---|---|
//! | `push 1 <stream> <payload> [<maxlen>]` | the new entry's id |
//! | `consume 1 <stream> <group> <consumer> <count>` | `[[id, payload, deliveries], ...]` (deliveries is 1), empty when nothing is waiting |
//! | `ack 1 <stream> <group> <id> [<id> ...]` | the number of entries acknowledged |
//! | `pending 1 <stream> <group>` (read-only) | `[count, smallest-id, largest-id, [[consumer, count], ...]]` |
//! | `reclaim 2 <stream> <dead-letter> <group> <consumer> <min-idle-ms> <count> <max-deliveries> [<dead-letter-maxlen>]` | `[[[id, payload, deliveries], ...], [dead-lettered id, ...], [vanished id, ...]]` |
//!
//! A job is an entry with the field `payload`. `consume` creates the group
//! (at id `0`, with the stream) the first time it meets it missing, so jobs
//! pushed before any worker started are delivered. Nothing blocks inside a
//! call: callers poll with a backoff, or block outside the engine with a
//! plain `XREADGROUP ... BLOCK` (see the docs).
//!
//! `ack` acknowledges, then deletes each entry no group needs any more
//! ([`cleanup`]): the stream holds only unfinished work, so it stays as
//! long as the backlog without a cap, and several groups can share it.
//! `reclaim` takes over entries idle for `min-idle-ms` (XAUTOCLAIM); an
//! entry whose delivery would exceed `max-deliveries` goes to the
//! dead-letter stream instead and is acknowledged ([`reclaim`]).
//!
//! Streams are kept on purpose (no TTL): the work queue's stream is the
//! backlog itself, the dead-letter stream is kept for inspection and capped
//! (`MAXLEN ~ 10000` by default).

#[path = "../../events/src/stream.rs"]
pub mod stream;

pub mod cleanup;
pub mod reclaim;

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis::{
    self, PendingEntry, PendingSummary, XaddOptions, XpendingQuery, XreadgroupOptions,
};
use pattern_guest::{expect_keys, export_library, Args, Error, Library, Reply};
use stream::{field, name_arg, MaxLen, StreamId};

/// The field holding a job's payload.
pub const PAYLOAD: &[u8] = b"payload";

pub struct Queue;

impl Library for Queue {
    fn describe() -> LibraryInfo {
        let queue = |name, summary| {
            function(name, summary).key("stream", "the queue; kept (no TTL), holds unfinished jobs")
        };
        library(
            "queue",
            env!("CARGO_PKG_VERSION"),
            vec![
                queue("push", "Add a job; returns its id")
                    .arg("payload", "the job (any bytes), stored in field `payload`")
                    .optional_arg("maxlen", "cap: n or ~n approximate, =n exact (default: none)"),
                queue(
                    "consume",
                    "Take up to count new jobs for a consumer: [[id, payload, deliveries], ...]",
                )
                .arg("group", "consumer group, created at id 0 when missing")
                .arg("consumer", "this worker's stable name")
                .arg("count", "most jobs to take (positive integer)"),
                queue("ack", "Acknowledge jobs; returns how many were pending")
                    .arg("group", "consumer group")
                    .arg("id", "one or more entry ids"),
                queue(
                    "pending",
                    "Pending summary: [count, smallest-id, largest-id, [[consumer, count], ...]]",
                )
                .read_only()
                .arg("group", "consumer group"),
                queue(
                    "reclaim",
                    "Take over idle jobs; dead-letter those delivered too often: [jobs, dead-lettered ids, vanished ids]",
                )
                .key("dead-letter", "receives jobs past max-deliveries; same hash slot in a cluster")
                .arg("group", "consumer group")
                .arg("consumer", "the worker taking the jobs over")
                .arg("min-idle-ms", "only jobs idle at least this long")
                .arg("count", "most jobs to examine (positive integer)")
                .arg("max-deliveries", "deliveries allowed per job (positive integer)")
                .optional_arg("dead-letter-maxlen", "dead-letter cap (default ~10000)"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "push" => push(&keys, &args),
            "consume" => consume(&keys, &args),
            "ack" => ack(&keys, &args),
            "pending" => pending(&keys, &args),
            "reclaim" => reclaim::call(&keys, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

/// Whether `error` says the group (or the whole stream) does not exist.
pub fn missing_group(error: &Error) -> bool {
    matches!(error, Error::Redis(text) if text.starts_with("NOGROUP"))
}

/// `[id, payload, deliveries]`; nil payload for an entry pushed without
/// the `payload` field.
pub fn job_reply(id: &str, fields: &[(Vec<u8>, Vec<u8>)], deliveries: u64) -> Reply {
    Reply::Array(vec![
        Reply::from(id),
        Reply::from(field(fields, PAYLOAD).map(<[u8]>::to_vec)),
        Reply::from(deliveries),
    ])
}

/// The group's pending-entries-list record of `id`, if it is pending.
pub fn pending_entry(stream: &[u8], group: &str, id: &str) -> Result<Option<PendingEntry>, Error> {
    let query = XpendingQuery {
        min_idle_ms: None,
        start: id.to_string(),
        end: id.to_string(),
        count: 1,
        consumer: None,
    };
    Ok(redis::xpending_range(stream, group, &query)?
        .into_iter()
        .next())
}

fn push(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(1, 2, "<payload> [<maxlen>]")?;
    let payload = args.bytes(0, "payload")?;
    let options = XaddOptions {
        no_mkstream: false,
        trim: MaxLen::arg(args, 1, "maxlen")?.map(MaxLen::trim),
    };
    let fields = [(PAYLOAD.to_vec(), payload.to_vec())];
    let id = redis::xadd(stream, "*", &fields, &options)?
        .ok_or_else(|| Error::Redis("ERR XADD returned no id".into()))?;
    Ok(id.into())
}

fn consume(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(3, 3, "<group> <consumer> <count>")?;
    let group = name_arg(args, 0, "group")?;
    let consumer = name_arg(args, 1, "consumer")?;
    let options = XreadgroupOptions {
        count: Some(args.positive(2, "count")?),
        no_ack: false,
    };
    let streams = [(stream.clone(), ">".to_string())];
    let read = || redis::xreadgroup(group, consumer, &streams, options);
    // Creating the group only on NOGROUP keeps the usual call to one command.
    let batches = match read() {
        Err(e) if missing_group(&e) => {
            redis::xgroup_create(stream, group, "0", true)?;
            read()?
        }
        other => other?,
    };
    let jobs = batches
        .iter()
        .flat_map(|(_, entries)| entries)
        .map(|entry| job_reply(&entry.id, &entry.fields, 1))
        .collect();
    Ok(Reply::Array(jobs))
}

fn ack(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(2, usize::MAX, "<group> <id> [<id> ...]")?;
    let group = name_arg(args, 0, "group")?;
    let ids = (1..args.len())
        .map(|i| StreamId::arg(args, i, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    let texts: Vec<String> = ids.iter().map(StreamId::to_string).collect();
    let acked = redis::xack(stream, group, &texts)?;
    if acked > 0 {
        cleanup::delete_finished(stream, &ids)?;
    }
    Ok(acked.into())
}

fn pending(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream] = expect_keys(keys, "<stream>")?;
    args.expect_count(1, 1, "<group>")?;
    let group = name_arg(args, 0, "group")?;
    let summary = match redis::xpending(stream, group) {
        Err(e) if missing_group(&e) => PendingSummary {
            count: 0,
            smallest_id: None,
            largest_id: None,
            consumers: Vec::new(),
        },
        other => other?,
    };
    let consumers = summary
        .consumers
        .into_iter()
        .map(|(name, count)| Reply::Array(vec![name.into(), count.into()]))
        .collect();
    Ok(Reply::Array(vec![
        summary.count.into(),
        summary.smallest_id.into(),
        summary.largest_id.into(),
        Reply::Array(consumers),
    ]))
}

export_library!(Queue);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_missing_groups_only() {
        let cases = [
            (
                Error::Redis("NOGROUP No such key 'q' or consumer group 'g'".into()),
                true,
            ),
            (Error::Redis("ERR Invalid stream ID".into()), false),
            (Error::WrongType("WRONGTYPE".into()), false),
            (Error::Guest("NOGROUP from a guest".into()), false),
        ];
        for (error, want) in cases {
            assert_eq!(missing_group(&error), want, "{error:?}");
        }
    }

    #[test]
    fn job_replies_carry_id_payload_and_deliveries() {
        let fields = vec![(PAYLOAD.to_vec(), b"resize 42".to_vec())];
        assert_eq!(
            job_reply("3-1", &fields, 2),
            Reply::Array(vec![
                Reply::from("3-1"),
                Reply::from("resize 42"),
                Reply::Int(2)
            ])
        );
        assert_eq!(
            job_reply("4-0", &[], 1),
            Reply::Array(vec![Reply::from("4-0"), Reply::Nil, Reply::Int(1)])
        );
    }
}
