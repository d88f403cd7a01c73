//! What a call may not do, which keys its library may touch, and where keys
//! live in a cluster.

/// Commands refused inside an atomic call, upper-case. They block, nest
/// transactions or scripts, change the connection or the server, or would
/// let a guest escape its declared keys wholesale.
const REFUSED_COMMANDS: &[&str] = &[
    // Blocking: a call must never wait on other clients.
    "BLPOP",
    "BRPOP",
    "BRPOPLPUSH",
    "BLMOVE",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
    "WAIT",
    "WAITAOF",
    // Transactions and scripting: the call already is the atomic unit.
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
    "UNWATCH",
    "EVAL",
    "EVALSHA",
    "EVAL_RO",
    "EVALSHA_RO",
    "FCALL",
    "FCALL_RO",
    "SCRIPT",
    "FUNCTION",
    // Pub/sub subscriptions and connection state.
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SSUBSCRIBE",
    "SUNSUBSCRIBE",
    "MONITOR",
    "CLIENT",
    "HELLO",
    "AUTH",
    "SELECT",
    "RESET",
    "QUIT",
    // Whole-keyspace or server administration.
    "FLUSHALL",
    "FLUSHDB",
    "SWAPDB",
    "MOVE",
    "COPY",
    "KEYS",
    "SCAN",
    "RANDOMKEY",
    "CONFIG",
    "SHUTDOWN",
    "DEBUG",
    "MODULE",
    "ACL",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "REPLICAOF",
    "SLAVEOF",
    "FAILOVER",
    "SYNC",
    "PSYNC",
    "REPLCONF",
    "CLUSTER",
    "MIGRATE",
    "RESTORE-ASKING",
    "ASKING",
    "READONLY",
    "READWRITE",
    "LATENCY",
    "SLOWLOG",
    "LASTSAVE",
    "SORT",
    "SORT_RO",
];

/// Why `name` may not run inside a call, or `None` when it may. Any
/// `PATTERN.*` command is refused too: a call may not start another call.
pub fn refusal(name: &[u8]) -> Option<String> {
    let upper = String::from_utf8_lossy(name).to_ascii_uppercase();
    if upper.starts_with("PATTERN.") {
        return Some(format!(
            "{upper} may not be called from inside a pattern call"
        ));
    }
    REFUSED_COMMANDS
        .contains(&upper.as_str())
        .then(|| format!("{upper} is not allowed inside an atomic pattern call"))
}

/// Whether a library that declared `prefixes` may touch `key`: the key
/// starts with one of them, or the library declared none (any key).
pub fn within_prefixes(key: &[u8], prefixes: &[String]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| key.starts_with(p.as_bytes()))
}

/// The cluster hash slot of a key (CRC16/XMODEM of the hash tag, mod 16384),
/// as Redis Cluster computes it.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16_xmodem(tagged) % 16384
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        (0..8).fold(crc ^ ((byte as u16) << 8), |crc, _| {
            if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dangerous_commands_case_insensitively() {
        for name in [
            "flushall",
            "BLPOP",
            "Multi",
            "eval",
            "subscribe",
            "pattern.call",
            "PATTERN.LOAD",
        ] {
            assert!(
                refusal(name.as_bytes()).is_some(),
                "{name} should be refused"
            );
        }
        for name in ["GET", "set", "XADD", "zadd", "PUBLISH", "TIME"] {
            assert_eq!(refusal(name.as_bytes()), None, "{name} should be allowed");
        }
    }

    #[test]
    fn keys_must_start_with_a_declared_prefix() {
        let prefixes = ["rate:".to_string(), "{q}:".to_string()];
        for key in [&b"rate:user:1"[..], b"rate:", b"{q}:jobs"] {
            assert!(within_prefixes(key, &prefixes));
        }
        for key in [&b"rate"[..], b"user:rate:1", b"", b"RATE:1", b"{q}jobs"] {
            assert!(!within_prefixes(key, &prefixes));
        }
        assert!(within_prefixes(b"anything", &[]), "no prefixes: any key");
    }

    /// Vectors from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    #[test]
    fn key_slots_match_redis() {
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        for (key, slot) in [
            (&b"foo"[..], 12182),
            (b"bar", 5061),
            (b"{user1000}.following", 3443),
            (b"{user1000}.followers", 3443),
            (b"foo{}{bar}", 8363),
            (b"foo{{bar}}zap", 4015),
            (b"foo{bar}{zap}", 5061),
            (b"", 0),
        ] {
            assert_eq!(key_slot(key), slot, "{}", String::from_utf8_lossy(key));
        }
    }
}
