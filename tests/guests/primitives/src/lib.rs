//! `primitives.run 6 <string> <hash> <set> <zset> <list> <stream>`: calls
//! every typed import on the declared keys and returns what each returned,
//! as a map from a step's name to its result, so a test can check each
//! import's encoding and decoding against real Redis.
//! - `primitives.clock 0 [arg...]`: the SDK's call clock read twice, then
//!   the `time` import, each in microseconds.
//! - `primitives.random 0`: two 16-byte draws of the SDK's generator.

use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis::*;
use pattern_guest::{export_library, Args, Error, Library, Reply};

pub struct Primitives;

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(b.to_vec())
}

fn opt(b: Option<Vec<u8>>) -> Reply {
    b.into()
}

fn float(f: f64) -> Reply {
    Reply::Double(f)
}

fn entries(list: Vec<StreamEntry>) -> Reply {
    Reply::Array(
        list.into_iter()
            .map(|e| {
                Reply::Array(vec![
                    Reply::from(e.id),
                    Reply::Array(
                        e.fields
                            .into_iter()
                            .flat_map(|(f, v)| [bulk(&f), bulk(&v)])
                            .collect(),
                    ),
                ])
            })
            .collect(),
    )
}

fn run(keys: &[Vec<u8>]) -> Result<Reply, Error> {
    let [s, h, st, z, l, x] = keys else {
        return Err(Error::guest("ERR expected 6 keys"));
    };
    let mut out: Vec<(Reply, Reply)> = Vec::new();
    let mut step = |name: &str, value: Reply| out.push((Reply::from(name), value));
    let set_opts = |condition, expiry| SetOptions { condition, expiry };

    // Strings and counters.
    step("set", set(s, b"v1", SetOptions::default())?.into());
    step(
        "set_nx",
        set(s, b"v2", set_opts(Condition::Nx, Expiry::None))?.into(),
    );
    step(
        "set_get",
        opt(set_get(
            s,
            b"v3",
            set_opts(Condition::Xx, Expiry::Px(60_000)),
        )?),
    );
    step("pttl", Reply::from(pttl(s)? > 0));
    step(
        "set_keepttl",
        set(s, b"v4", set_opts(Condition::Always, Expiry::KeepTtl))?.into(),
    );
    step("ttl_kept", Reply::from(ttl(s)? > 0));
    step("get", opt(get(s)?));
    step("getdel", opt(getdel(s)?));
    step("get_missing", opt(get(s)?));
    step("incrby", incrby(s, 5)?.into());
    step("decrby", decrby(s, 2)?.into());
    // A step of 1 goes to Redis as INCR / DECR.
    step("incr", incrby(s, 1)?.into());
    step("decr", decrby(s, 1)?.into());
    step("incrbyfloat", float(incrbyfloat(s, 0.5)?));
    mset(&[(s.clone(), b"m".to_vec())])?;
    step(
        "mget",
        Reply::Array(
            mget(std::slice::from_ref(s))?
                .into_iter()
                .map(opt)
                .collect(),
        ),
    );
    // Keys and expiry.
    step("exists", exists(&[s.clone(), h.clone()])?.into());
    step("key_type", key_type(s)?.into());
    step("expire", expire(s, 100, ExpireCondition::Always)?.into());
    step("expire_nx", expire(s, 200, ExpireCondition::Nx)?.into());
    step(
        "pexpire_gt",
        pexpire(s, 500_000, ExpireCondition::Gt)?.into(),
    );
    step(
        "expireat",
        expireat(s, 4_000_000_000, ExpireCondition::Always)?.into(),
    );
    step(
        "pexpireat_lt",
        pexpireat(s, 3_000_000_000_000, ExpireCondition::Lt)?.into(),
    );
    step("persist", persist(s)?.into());
    step("ttl_none", ttl(s)?.into());
    // Hashes.
    step(
        "hset",
        hset(
            h,
            &[
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec()),
            ],
        )?
        .into(),
    );
    step("hget", opt(hget(h, b"a")?));
    step("hincrby", hincrby(h, b"a", 10)?.into());
    step("hincrbyfloat", float(hincrbyfloat(h, b"f", 1.25)?));
    step(
        "hmget",
        Reply::Array(
            hmget(h, &[b"a".to_vec(), b"zz".to_vec()])?
                .into_iter()
                .map(opt)
                .collect(),
        ),
    );
    step("hexists", hexists(h, b"b")?.into());
    step("hlen", hlen(h)?.into());
    let mut all = hgetall(h)?;
    all.sort();
    step(
        "hgetall",
        Reply::Array(
            all.into_iter()
                .flat_map(|(k, v)| [bulk(&k), bulk(&v)])
                .collect(),
        ),
    );
    step("hdel", hdel(h, &[b"b".to_vec()])?.into());
    // Sets.
    step("sadd", sadd(st, &[b"x".to_vec(), b"y".to_vec()])?.into());
    step("sismember", sismember(st, b"x")?.into());
    step("srem", srem(st, &[b"y".to_vec()])?.into());
    step(
        "smembers",
        Reply::Array(smembers(st)?.iter().map(|m| bulk(m)).collect()),
    );
    step("scard", scard(st)?.into());
    // Sorted sets.
    let zopts = ZaddOptions::default();
    step(
        "zadd",
        zadd(
            z,
            &[
                (1.0, b"a".to_vec()),
                (2.0, b"b".to_vec()),
                (3.0, b"c".to_vec()),
            ],
            zopts,
        )?
        .into(),
    );
    let gt = ZaddOptions {
        comparison: ScoreComparison::Gt,
        changed: true,
        ..ZaddOptions::default()
    };
    step(
        "zadd_gt_ch",
        zadd(z, &[(0.5, b"a".to_vec()), (5.0, b"b".to_vec())], gt)?.into(),
    );
    let nx = ZaddOptions {
        condition: Condition::Nx,
        ..ZaddOptions::default()
    };
    step(
        "zadd_incr_nx",
        zadd_incr(z, 1.0, b"a", nx)?.map_or(Reply::Nil, float),
    );
    step(
        "zadd_incr",
        zadd_incr(z, 1.0, b"a", ZaddOptions::default())?.map_or(Reply::Nil, float),
    );
    step("zincrby", float(zincrby(z, 0.5, b"c")?));
    step("zscore", zscore(z, b"c")?.map_or(Reply::Nil, float));
    step(
        "zmscore",
        Reply::Array(
            zmscore(z, &[b"a".to_vec(), b"nope".to_vec()])?
                .into_iter()
                .map(|s| s.map_or(Reply::Nil, float))
                .collect(),
        ),
    );
    step("zrank", zrank(z, b"c")?.map_or(Reply::Nil, Reply::from));
    step(
        "zrevrank",
        zrevrank(z, b"c")?.map_or(Reply::Nil, Reply::from),
    );
    let all_ranks = ZrangeBy::Rank((0, -1));
    step(
        "zrange",
        Reply::Array(
            zrange(z, &all_ranks, ZrangeOptions::default())?
                .iter()
                .map(|m| bulk(m))
                .collect(),
        ),
    );
    let rev = ZrangeOptions {
        reverse: true,
        limit: None,
    };
    step(
        "zrange_rev",
        Reply::Array(
            zrange(z, &all_ranks, rev)?
                .iter()
                .map(|m| bulk(m))
                .collect(),
        ),
    );
    let by_score = ZrangeBy::Score(("(2".into(), "+inf".into()));
    let limited = ZrangeOptions {
        reverse: false,
        limit: Some((0, 1)),
    };
    step(
        "zrange_score_limit",
        Reply::Array(
            zrange(z, &by_score, limited)?
                .iter()
                .map(|m| bulk(m))
                .collect(),
        ),
    );
    let with = zrange_withscores(z, &all_ranks, ZrangeOptions::default())?;
    step(
        "zrange_withscores",
        Reply::Array(
            with.into_iter()
                .flat_map(|(m, s)| [bulk(&m), float(s)])
                .collect(),
        ),
    );
    step("zcount", zcount(z, "3", "+inf")?.into());
    step("zcard", zcard(z)?.into());
    step("zrem", zrem(z, &[b"a".to_vec()])?.into());
    step(
        "zremrangebyscore",
        zremrangebyscore(z, "-inf", "3.5")?.into(),
    );
    step("zremrangebyrank", zremrangebyrank(z, 0, 0)?.into());
    step(
        "zrange_lex_empty",
        Reply::Array(
            zrange(
                z,
                &ZrangeBy::Lex((b"-".to_vec(), b"+".to_vec())),
                ZrangeOptions::default(),
            )?
            .iter()
            .map(|m| bulk(m))
            .collect(),
        ),
    );
    // Lists.
    step(
        "rpush",
        rpush(l, &[b"1".to_vec(), b"2".to_vec(), b"3".to_vec()])?.into(),
    );
    step("lpush", lpush(l, &[b"0".to_vec()])?.into());
    step(
        "lrange",
        Reply::Array(lrange(l, 0, -1)?.iter().map(|m| bulk(m)).collect()),
    );
    step(
        "lpop",
        Reply::Array(lpop(l, None)?.iter().map(|m| bulk(m)).collect()),
    );
    step(
        "rpop_count",
        Reply::Array(rpop(l, Some(2))?.iter().map(|m| bulk(m)).collect()),
    );
    step("llen", llen(l)?.into());
    ltrim(l, 1, -1)?;
    step("llen_trimmed", llen(l)?.into());
    // Streams.
    step("xgroup_create", xgroup_create(x, "g", "0", true)?.into());
    step("xgroup_exists", xgroup_create(x, "g", "0", true)?.into());
    let field = |v: &[u8]| vec![(b"f".to_vec(), v.to_vec())];
    step(
        "xadd",
        opt(xadd(x, "1-1", &field(b"a"), &XaddOptions::default())?.map(String::into_bytes)),
    );
    xadd(x, "2-1", &field(b"b"), &XaddOptions::default())?;
    let trim = Trim {
        strategy: TrimStrategy::MaxLen(3),
        approximate: false,
        limit: None,
    };
    xadd(
        x,
        "3-1",
        &field(b"c"),
        &XaddOptions {
            no_mkstream: false,
            trim: Some(trim),
        },
    )?;
    step("xlen", xlen(x)?.into());
    step("xrange", entries(xrange(x, "-", "+", Some(2))?));
    step("xrevrange", entries(xrevrange(x, "+", "-", Some(1))?));
    let read = xreadgroup(
        "g",
        "c1",
        &[(x.clone(), ">".into())],
        XreadgroupOptions {
            count: Some(2),
            no_ack: false,
        },
    )?;
    step(
        "xreadgroup",
        Reply::Array(
            read.into_iter()
                .map(|(k, e)| Reply::Array(vec![bulk(&k), entries(e)]))
                .collect(),
        ),
    );
    let summary = xpending(x, "g")?;
    step(
        "xpending",
        Reply::Array(vec![
            summary.count.into(),
            summary.smallest_id.into(),
            summary.largest_id.into(),
            Reply::Array(
                summary
                    .consumers
                    .into_iter()
                    .map(|(c, n)| Reply::Array(vec![c.into(), n.into()]))
                    .collect(),
            ),
        ]),
    );
    let query = XpendingQuery {
        min_idle_ms: None,
        start: "-".into(),
        end: "+".into(),
        count: 10,
        consumer: Some("c1".into()),
    };
    let pending = xpending_range(x, "g", &query)?;
    step(
        "xpending_range",
        Reply::Array(
            pending
                .into_iter()
                .map(|p| Reply::Array(vec![p.id.into(), p.consumer.into(), p.deliveries.into()]))
                .collect(),
        ),
    );
    let claimed = xautoclaim(x, "g", "c2", 0, "0-0", Some(1))?;
    step(
        "xautoclaim",
        Reply::Array(vec![
            claimed.next_start.into(),
            entries(claimed.entries),
            claimed.deleted_ids.into(),
        ]),
    );
    step(
        "xclaim",
        entries(xclaim(x, "g", "c3", 0, &["2-1".to_string()])?),
    );
    step("xack", xack(x, "g", &["1-1".to_string()])?.into());
    step("xdel", xdel(x, &["3-1".to_string()])?.into());
    let trim = Trim {
        strategy: TrimStrategy::MinId("2-0".into()),
        approximate: false,
        limit: None,
    };
    step("xtrim", xtrim(x, &trim)?.into());
    // Pub/sub, server.
    step("publish", publish(b"nobody-listens", b"hi")?.into());
    let t = time()?;
    step(
        "time",
        Reply::from(t.seconds > 1_700_000_000 && t.microseconds < 1_000_000),
    );
    let random = random_bytes(32)?;
    step(
        "random_bytes",
        Reply::from(random.len() == 32 && random != random_bytes(32)?),
    );
    step(
        "del",
        del(&[
            s.clone(),
            h.clone(),
            st.clone(),
            z.clone(),
            l.clone(),
            x.clone(),
        ])?
        .into(),
    );
    Ok(Reply::Map(out))
}

impl Library for Primitives {
    fn describe() -> LibraryInfo {
        library(
            "primitives",
            "1",
            vec![
                function(
                    "run",
                    "Calls every typed import; returns step name → result",
                )
                .key("string", "a string key")
                .key("hash", "a hash key")
                .key("set", "a set key")
                .key("zset", "a sorted-set key")
                .key("list", "a list key")
                .key("stream", "a stream key"),
                function(
                    "clock",
                    "[now_us, now_us again, time import] in microseconds",
                )
                .read_only(),
                function("random", "Two 16-byte draws of the SDK's generator").read_only(),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, _args: Args) -> Result<Reply, Error> {
        match function {
            "run" => run(&keys),
            "clock" => {
                let first = now_us()?;
                let second = now_us()?;
                let live = time()?;
                let live = live.seconds * 1_000_000 + live.microseconds;
                Ok(Reply::Array(
                    [first, second, live]
                        .map(|us| Reply::Int(us as i64))
                        .to_vec(),
                ))
            }
            "random" => Ok(Reply::Array(vec![
                Reply::Bulk(pattern_guest::random::bytes(16)?),
                Reply::Bulk(pattern_guest::random::bytes(16)?),
            ])),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

export_library!(Primitives);
