//! Deleting finished jobs on `ack`.
//!
//! XACK only removes an entry from one group's pending list; the entry stays
//! in the stream. `ack` then deletes (XDEL) each acknowledged entry that no
//! group needs any more: every group of the stream has been delivered past
//! it (its last-delivered id is at or after the entry) and holds it in no
//! pending list. One group, the usual work queue, deletes at once; with
//! several groups (fan-out) the last group to acknowledge deletes it. The
//! stream thus holds only unfinished work and needs no cap.

use crate::pending_entry;
use crate::stream::StreamId;
use pattern_guest::{redis, Error, Reply};

/// What `ack` needs to know of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub last_delivered: StreamId,
}

fn text(reply: &Reply) -> Option<&str> {
    match reply {
        Reply::Bulk(b) => std::str::from_utf8(b).ok(),
        Reply::Status(s) => Some(s),
        _ => None,
    }
}

/// The groups in an `XINFO GROUPS` reply: an array with one map per group
/// (RESP3), or one flat `field, value, ...` array per group (RESP2).
pub fn parse_groups(reply: &Reply) -> Option<Vec<Group>> {
    let Reply::Array(groups) = reply else {
        return None;
    };
    groups
        .iter()
        .map(|group| {
            let pairs: Vec<(&Reply, &Reply)> = match group {
                Reply::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
                Reply::Array(flat) => flat
                    .chunks(2)
                    .filter_map(|p| Some((p.first()?, p.get(1)?)))
                    .collect(),
                _ => return None,
            };
            let get = |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| text(k) == Some(name))
                    .and_then(|(_, v)| text(v))
            };
            Some(Group {
                name: get("name")?.to_string(),
                last_delivered: StreamId::parse(get("last-delivered-id")?)?,
            })
        })
        .collect()
}

/// Whether no group needs entry `id`: each was delivered past it and
/// `pending_in(group)` says it is not pending there. `pending_in` is asked
/// only of groups delivered past `id`, and not at all once one needs it.
pub fn finished(
    id: StreamId,
    groups: &[Group],
    mut pending_in: impl FnMut(&str) -> Result<bool, Error>,
) -> Result<bool, Error> {
    for group in groups {
        if id > group.last_delivered || pending_in(&group.name)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Deletes those of `ids` no group needs; returns how many were deleted.
pub fn delete_finished(stream: &[u8], ids: &[StreamId]) -> Result<u64, Error> {
    let reply = redis::call("XINFO", &[b"GROUPS", stream])?;
    let groups = parse_groups(&reply)
        .ok_or_else(|| Error::Redis(format!("ERR unexpected XINFO GROUPS reply {reply:?}")))?;
    let mut done = Vec::new();
    for &id in ids {
        let text = id.to_string();
        if finished(id, &groups, |group| {
            Ok(pending_entry(stream, group, &text)?.is_some())
        })? {
            done.push(text);
        }
    }
    if done.is_empty() {
        return Ok(0);
    }
    redis::xdel(stream, &done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> StreamId {
        StreamId::parse(text).unwrap()
    }

    fn group(name: &str, last: &str) -> Group {
        Group {
            name: name.into(),
            last_delivered: id(last),
        }
    }

    #[test]
    fn parses_xinfo_groups_in_both_protocols() {
        let bulk = |s: &str| Reply::from(s);
        let resp3 = Reply::Array(vec![
            Reply::Map(vec![
                (bulk("name"), bulk("workers")),
                (bulk("consumers"), Reply::Int(2)),
                (bulk("pending"), Reply::Int(1)),
                (bulk("last-delivered-id"), bulk("5-1")),
                (bulk("entries-read"), Reply::Nil),
            ]),
            Reply::Map(vec![
                (bulk("last-delivered-id"), bulk("0-0")),
                (bulk("name"), bulk("audit")),
            ]),
        ]);
        assert_eq!(
            parse_groups(&resp3),
            Some(vec![group("workers", "5-1"), group("audit", "0-0")])
        );
        let resp2 = Reply::Array(vec![Reply::Array(vec![
            bulk("name"),
            bulk("g"),
            bulk("last-delivered-id"),
            bulk("7-0"),
        ])]);
        assert_eq!(parse_groups(&resp2), Some(vec![group("g", "7-0")]));
        assert_eq!(parse_groups(&Reply::Array(vec![])), Some(vec![]));
        for bad in [
            Reply::Nil,
            Reply::Array(vec![Reply::Int(1)]),
            Reply::Array(vec![Reply::Map(vec![(bulk("name"), bulk("g"))])]),
            Reply::Array(vec![Reply::Map(vec![
                (bulk("name"), bulk("g")),
                (bulk("last-delivered-id"), bulk("x")),
            ])]),
        ] {
            assert_eq!(parse_groups(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_entry_is_finished_when_every_group_is_done_with_it() {
        let groups = [group("a", "10-0"), group("b", "5-0")];
        // (entry, groups holding it pending) -> finished, groups asked
        let cases: [(&str, &[&str], bool, &[&str]); 6] = [
            ("3-0", &[], true, &["a", "b"]),
            ("3-0", &["b"], false, &["a", "b"]),
            ("3-0", &["a"], false, &["a"]),
            // Not yet delivered to b: kept, b's list never consulted.
            ("7-0", &[], false, &["a"]),
            ("5-0", &[], true, &["a", "b"]),
            ("11-0", &[], false, &[]),
        ];
        for (entry, pending, want, asked_want) in cases {
            let mut asked = Vec::new();
            let got = finished(id(entry), &groups, |g| {
                asked.push(g.to_string());
                Ok(pending.contains(&g))
            })
            .unwrap();
            assert_eq!(got, want, "{entry} pending in {pending:?}");
            assert_eq!(asked, asked_want, "{entry}");
        }
        assert!(
            finished(id("1-0"), &[], |_| Ok(true)).unwrap(),
            "no group needs it"
        );
    }
}
