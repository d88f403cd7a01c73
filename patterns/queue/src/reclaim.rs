//! `queue.reclaim 2 <stream> <dead-letter> <group> <consumer> <min-idle-ms>
//! <count> <max-deliveries> [<dead-letter-maxlen>]` →
//! `[[[id, payload, deliveries], ...], [dead-lettered id, ...], [vanished id, ...]]`.
//!
//! XAUTOCLAIM (from `0-0`, COUNT `count`) hands the jobs idle for at least
//! `min-idle-ms` to `consumer` and counts one more delivery for each. A job
//! whose count now exceeds `max-deliveries` is not handed out: it is
//! appended to the dead-letter stream (fields `id`, `stream`, `group`,
//! `deliveries`, `payload`), acknowledged and, when no group needs it any
//! more, deleted from the queue, all in the same atomic call. So a job is
//! delivered at most `max-deliveries` times. Pending jobs whose entries were
//! deleted meanwhile (trimmed by a cap, or XDEL) are dropped from the
//! pending list by XAUTOCLAIM itself and reported as vanished. A missing
//! group or stream has nothing to reclaim.

use crate::stream::{field, name_arg, MaxLen, StreamId};
use crate::{cleanup, job_reply, missing_group, pending_entry, PAYLOAD};
use pattern_guest::redis::{self, StreamEntry, XaddOptions};
use pattern_guest::{expect_keys, Args, Error, Reply};

/// The dead-letter stream's cap when `<dead-letter-maxlen>` is left out.
pub const DEFAULT_DEAD_LETTER_MAXLEN: MaxLen = MaxLen {
    len: 10_000,
    exact: false,
};

/// A claimed job and its delivery count, this delivery included.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub entry: StreamEntry,
    pub deliveries: u64,
}

/// Splits claimed jobs into those handed out again (delivered at most
/// `max_deliveries` times) and those to dead-letter, keeping their order.
pub fn partition(claimed: Vec<Claimed>, max_deliveries: u64) -> (Vec<Claimed>, Vec<Claimed>) {
    claimed
        .into_iter()
        .partition(|job| job.deliveries <= max_deliveries)
}

pub fn call(keys: &[Vec<u8>], args: &Args) -> Result<Reply, Error> {
    let [stream, dead] = expect_keys(keys, "<stream> <dead-letter>")?;
    args.expect_count(
        5,
        6,
        "<group> <consumer> <min-idle-ms> <count> <max-deliveries> [<dead-letter-maxlen>]",
    )?;
    let group = name_arg(args, 0, "group")?;
    let consumer = name_arg(args, 1, "consumer")?;
    let min_idle = args.u64(2, "min-idle-ms")?;
    let count = args.positive(3, "count")?;
    let max_deliveries = args.positive(4, "max-deliveries")?;
    let cap = MaxLen::arg(args, 5, "dead-letter-maxlen")?.unwrap_or(DEFAULT_DEAD_LETTER_MAXLEN);
    if stream == dead {
        return Err(Error::guest(
            "ERR <dead-letter> must be another stream than <stream>",
        ));
    }
    let claim = match redis::xautoclaim(stream, group, consumer, min_idle, "0-0", Some(count)) {
        Err(e) if missing_group(&e) => {
            let empty = || Reply::Array(Vec::new());
            return Ok(Reply::Array(vec![empty(), empty(), empty()]));
        }
        other => other?,
    };
    let claimed = claim
        .entries
        .into_iter()
        .map(|entry| {
            // XAUTOCLAIM does not say the count; the pending list does.
            let deliveries = pending_entry(stream, group, &entry.id)?.map_or(1, |p| p.deliveries);
            Ok(Claimed { entry, deliveries })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let (redeliver, dead_letter) = partition(claimed, max_deliveries);
    let buried = bury(stream, dead, group, &dead_letter, cap)?;
    let jobs = redeliver
        .iter()
        .map(|job| job_reply(&job.entry.id, &job.entry.fields, job.deliveries))
        .collect();
    Ok(Reply::Array(vec![
        Reply::Array(jobs),
        buried.into(),
        claim.deleted_ids.into(),
    ]))
}

/// Moves `jobs` to the dead-letter stream and finishes them in the queue;
/// returns their ids.
fn bury(
    stream: &[u8],
    dead: &[u8],
    group: &str,
    jobs: &[Claimed],
    cap: MaxLen,
) -> Result<Vec<String>, Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let options = XaddOptions {
        no_mkstream: false,
        trim: Some(cap.trim()),
    };
    for job in jobs {
        let payload = field(&job.entry.fields, PAYLOAD).unwrap_or_default();
        let fields = [
            (b"id".to_vec(), job.entry.id.clone().into_bytes()),
            (b"stream".to_vec(), stream.to_vec()),
            (b"group".to_vec(), group.as_bytes().to_vec()),
            (
                b"deliveries".to_vec(),
                job.deliveries.to_string().into_bytes(),
            ),
            (PAYLOAD.to_vec(), payload.to_vec()),
        ];
        redis::xadd(dead, "*", &fields, &options)?;
    }
    let ids: Vec<String> = jobs.iter().map(|job| job.entry.id.clone()).collect();
    redis::xack(stream, group, &ids)?;
    let parsed: Vec<_> = ids.iter().filter_map(|id| StreamId::parse(id)).collect();
    cleanup::delete_finished(stream, &parsed)?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, deliveries: u64) -> Claimed {
        Claimed {
            entry: StreamEntry {
                id: id.into(),
                fields: vec![(PAYLOAD.to_vec(), b"p".to_vec())],
            },
            deliveries,
        }
    }

    #[test]
    fn jobs_past_max_deliveries_are_dead_lettered() {
        let ids = |jobs: &[Claimed]| jobs.iter().map(|j| j.entry.id.clone()).collect::<Vec<_>>();
        // (deliveries of 1-0, 2-0, 3-0; max) -> (redelivered, dead-lettered)
        type Case = (
            [u64; 3],
            u64,
            &'static [&'static str],
            &'static [&'static str],
        );
        let cases: [Case; 5] = [
            ([2, 2, 2], 3, &["1-0", "2-0", "3-0"], &[]),
            ([3, 4, 2], 3, &["1-0", "3-0"], &["2-0"]),
            ([4, 5, 9], 3, &[], &["1-0", "2-0", "3-0"]),
            ([2, 1, 2], 1, &["2-0"], &["1-0", "3-0"]),
            ([u64::MAX, 1, 1], u64::MAX, &["1-0", "2-0", "3-0"], &[]),
        ];
        for (deliveries, max, again, dead) in cases {
            let claimed = ["1-0", "2-0", "3-0"]
                .iter()
                .zip(deliveries)
                .map(|(id, n)| job(id, n))
                .collect();
            let (redeliver, dead_letter) = partition(claimed, max);
            assert_eq!(ids(&redeliver), again, "{deliveries:?} max {max}");
            assert_eq!(ids(&dead_letter), dead, "{deliveries:?} max {max}");
        }
    }
}
