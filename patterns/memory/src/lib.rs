//! `memory`: a read-only memory report.
//!
//! `memory.report N <key>...` → a map: `keys` (for each declared key its
//! type, encoding, `MEMORY USAGE` bytes and TTL in ms), `server` (used memory,
//! RSS, fragmentation ratio, maxmemory and its policy, from `INFO memory`),
//! and `advice`: the seed library's best practices applied to what was found
//! (maxmemory unset, fragmentation, swapping, keys without TTL, aggregates
//! that lost their compact encoding). It never writes.

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis;
use pattern_guest::{export_library, Args, Error, Library, Reply};

/// What the report found about one key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyReport {
    pub key: String,
    pub kind: String,
    pub encoding: Option<String>,
    pub bytes: Option<i64>,
    /// -2: missing, -1: no TTL.
    pub ttl_ms: i64,
}

/// What `INFO memory` says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerMemory {
    pub used: u64,
    pub rss: u64,
    pub fragmentation_ratio: f64,
    pub maxmemory: u64,
    pub policy: String,
}

/// Fragmentation worth acting on: the ratio, and enough wasted bytes that
/// it is not just the fixed overhead of a small instance.
const FRAGMENTATION_RATIO: f64 = 1.5;
const FRAGMENTATION_WASTE_BYTES: u64 = 64 * 1024 * 1024;

/// The advice for what was found (pure; tested at fixed inputs).
pub fn advise(server: &ServerMemory, keys: &[KeyReport]) -> Vec<String> {
    let mut advice = Vec::new();
    if server.maxmemory == 0 {
        advice.push(
            "maxmemory is not set: Redis grows until the OOM killer stops it; set it (60-70% of RAM for a cache) with an eviction policy".into(),
        );
    } else if server.policy == "noeviction" {
        advice.push("maxmemory-policy is noeviction: writes fail once memory is full; for a pure cache prefer allkeys-lru".into());
    }
    if server.fragmentation_ratio > FRAGMENTATION_RATIO
        && server.rss.saturating_sub(server.used) > FRAGMENTATION_WASTE_BYTES
    {
        advice.push(format!(
            "memory fragmentation ratio {:.2} (RSS {} bytes for {} used): enable activedefrag, or restart in a maintenance window",
            server.fragmentation_ratio, server.rss, server.used
        ));
    }
    if server.fragmentation_ratio > 0.0 && server.fragmentation_ratio < 1.0 {
        advice.push(format!(
            "memory fragmentation ratio {:.2} is below 1: part of the data set is swapped out",
            server.fragmentation_ratio
        ));
    }
    for k in keys {
        if k.ttl_ms == -1 {
            advice.push(format!(
                "key '{}' has no TTL: keys without expiry accumulate forever; set EX/PX unless it must persist",
                k.key
            ));
        }
        let compact = match (k.kind.as_str(), k.encoding.as_deref()) {
            ("hash", Some("hashtable")) => {
                Some("hash-max-listpack-entries fields of at most hash-max-listpack-value bytes")
            }
            ("zset", Some("skiplist")) => {
                Some("zset-max-listpack-entries members of at most zset-max-listpack-value bytes")
            }
            ("set", Some("hashtable")) => Some("set-max-intset-entries integer members"),
            _ => None,
        };
        if let Some(limit) = compact {
            advice.push(format!(
                "{} '{}' uses the {} encoding: keep it under {limit} for the compact encoding, or split it into smaller keys",
                k.kind,
                k.key,
                k.encoding.as_deref().unwrap_or_default()
            ));
        }
    }
    advice
}

/// Parses the fields of `INFO memory` the report uses.
pub fn parse_info(info: &str) -> ServerMemory {
    let mut server = ServerMemory::default();
    for line in info.lines() {
        let Some((name, value)) = line.trim().split_once(':') else {
            continue;
        };
        match name {
            "used_memory" => server.used = value.parse().unwrap_or(0),
            "used_memory_rss" => server.rss = value.parse().unwrap_or(0),
            "mem_fragmentation_ratio" => server.fragmentation_ratio = value.parse().unwrap_or(0.0),
            "maxmemory" => server.maxmemory = value.parse().unwrap_or(0),
            "maxmemory_policy" => server.policy = value.to_string(),
            _ => {}
        }
    }
    server
}

fn text(reply: Reply) -> Option<String> {
    match reply {
        Reply::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Reply::Status(s) => Some(s),
        Reply::Verbatim { text, .. } => Some(String::from_utf8_lossy(&text).into_owned()),
        _ => None,
    }
}

fn key_report(key: &[u8]) -> Result<KeyReport, Error> {
    let kind = redis::key_type(key)?;
    let encoding = text(redis::call("OBJECT", &[b"ENCODING", key])?);
    let bytes = match redis::call("MEMORY", &[b"USAGE", key])? {
        Reply::Int(n) => Some(n),
        _ => None,
    };
    Ok(KeyReport {
        key: String::from_utf8_lossy(key).into_owned(),
        kind,
        encoding,
        bytes,
        ttl_ms: redis::pttl(key)?,
    })
}

fn report(keys: &[Vec<u8>]) -> Result<Reply, Error> {
    let reports = keys
        .iter()
        .map(|k| key_report(k))
        .collect::<Result<Vec<_>, _>>()?;
    let info = text(redis::call("INFO", &[b"memory"])?).unwrap_or_default();
    let server = parse_info(&info);
    let advice = advise(&server, &reports);
    let field = |name: &str, value: Reply| (Reply::from(name), value);
    let keys = reports
        .into_iter()
        .map(|k| {
            Reply::Map(vec![
                field("key", k.key.into()),
                field("type", k.kind.into()),
                field("encoding", k.encoding.into()),
                field("memory_usage", k.bytes.into()),
                field("ttl_ms", k.ttl_ms.into()),
            ])
        })
        .collect();
    Ok(Reply::Map(vec![
        field("keys", Reply::Array(keys)),
        field(
            "server",
            Reply::Map(vec![
                field("used_memory", server.used.into()),
                field("used_memory_rss", server.rss.into()),
                field(
                    "mem_fragmentation_ratio",
                    Reply::Double(server.fragmentation_ratio),
                ),
                field("maxmemory", server.maxmemory.into()),
                field("maxmemory_policy", server.policy.into()),
            ]),
        ),
        field("advice", advice.into()),
    ]))
}

pub struct Memory;

impl Library for Memory {
    fn describe() -> LibraryInfo {
        library(
            "memory",
            env!("CARGO_PKG_VERSION"),
            vec![function(
                "report",
                "Type, encoding, size and TTL of the declared keys, server memory, and advice",
            )
            .read_only()
            .key("key...", "any number of keys to inspect (numkeys may be 0)")],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        match function {
            "report" => {
                args.expect_count(0, 0, "no arguments after the keys")?;
                report(&keys)
            }
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

export_library!(Memory);

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, kind: &str, encoding: &str, ttl_ms: i64) -> KeyReport {
        KeyReport {
            key: name.into(),
            kind: kind.into(),
            encoding: Some(encoding.into()),
            bytes: Some(64),
            ttl_ms,
        }
    }

    #[test]
    fn parses_info_memory() {
        let info = "# Memory\r\nused_memory:1000\r\nused_memory_rss:3000\r\nmem_fragmentation_ratio:3.00\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n";
        assert_eq!(
            parse_info(info),
            ServerMemory {
                used: 1000,
                rss: 3000,
                fragmentation_ratio: 3.0,
                maxmemory: 0,
                policy: "noeviction".into()
            }
        );
    }

    #[test]
    fn advice_follows_the_findings() {
        let healthy = ServerMemory {
            used: 1 << 30,
            rss: (1 << 30) + (1 << 20),
            fragmentation_ratio: 1.05,
            maxmemory: 2 << 30,
            policy: "allkeys-lru".into(),
        };
        assert!(advise(&healthy, &[key("k", "string", "embstr", 5000)]).is_empty());

        let cases: &[(ServerMemory, Vec<KeyReport>, &[&str])] = &[
            (
                ServerMemory {
                    maxmemory: 0,
                    ..healthy.clone()
                },
                vec![],
                &["maxmemory is not set"],
            ),
            (
                ServerMemory {
                    policy: "noeviction".into(),
                    ..healthy.clone()
                },
                vec![],
                &["noeviction"],
            ),
            (
                ServerMemory {
                    rss: 3 << 30,
                    fragmentation_ratio: 3.0,
                    ..healthy.clone()
                },
                vec![],
                &["fragmentation ratio 3.00"],
            ),
            // A small instance's high ratio is fixed overhead, not fragmentation.
            (
                ServerMemory {
                    used: 1 << 20,
                    rss: 8 << 20,
                    fragmentation_ratio: 8.0,
                    ..healthy.clone()
                },
                vec![],
                &[],
            ),
            (
                ServerMemory {
                    fragmentation_ratio: 0.8,
                    ..healthy.clone()
                },
                vec![],
                &["swapped out"],
            ),
            (
                healthy.clone(),
                vec![key("forever", "string", "int", -1)],
                &["'forever' has no TTL"],
            ),
            (
                healthy.clone(),
                vec![key("h", "hash", "hashtable", 10)],
                &["hash 'h' uses the hashtable encoding"],
            ),
            (
                healthy.clone(),
                vec![
                    key("h", "hash", "listpack", 10),
                    key("gone", "none", "", -2),
                ],
                &[],
            ),
        ];
        for (server, keys, expected) in cases {
            let advice = advise(server, keys);
            assert_eq!(advice.len(), expected.len(), "{advice:?}");
            for (line, needle) in advice.iter().zip(*expected) {
                assert!(line.contains(needle), "{line} should mention {needle}");
            }
        }
    }
}
