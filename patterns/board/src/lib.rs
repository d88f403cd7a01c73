//! `board`: leaderboards on one sorted set, best first, ties broken by who
//! reached the score first. Ranks are 1-based; scores are integers from
//! −2^31 to 2^31 − 1.
//!
//! | function | reply |
//! |---|---|
//! | `submit 1 <board> <member> <score> <best\|sum\|latest>` | `[score, rank, changed (1\|0)]` |
//! | `rank 1 <board> <member>` (read-only) | `[rank, score]`, or nil when absent |
//! | `page 1 <board> <page> <page-size>` (read-only) | `[[rank, member, score], ...]` |
//! | `top 1 <board> <n>` (read-only) | `[[rank, member, score], ...]` |
//! | `around 1 <board> <member> <n>` (read-only) | the member and up to `n` on each side, as `page`; empty when absent |
//! | `count 1 <board>` (read-only) | number of members |
//! | `remove 1 <board> <member>...` | number removed |
//!
//! [`score`] packs a score and its tie-break into one exact double; [`mode`]
//! is the merge rule of a submit. Both are pure and table-tested; the rest is
//! a thin layer over `ZSCORE`, `ZRANGE`, `ZADD` and `ZREVRANK`.
//!
//! A board is kept on purpose: it has no TTL, and submits keep any TTL an
//! operator sets (seasonal boards: `EXPIREAT` on the season's key).

pub mod mode;
pub mod score;

use mode::{merge, Merge, Mode};
use pattern_guest::describe::{function, library, LibraryInfo};
use pattern_guest::redis::{self, ZaddOptions, ZrangeBy, ZrangeOptions};
use pattern_guest::{expect_keys, export_library, Args, Error, Library, Reply};
use score::{bucket, crowded, decode, encode, next_slot, renumbered, Crowded};

/// Most entries a page, a top or one side of an around may ask for.
pub const MAX_SPAN: u64 = 1000;

pub struct Board;

impl Library for Board {
    fn describe() -> LibraryInfo {
        let board = |name, summary| {
            function(name, summary).key("board", "the leaderboard (a sorted set); no TTL")
        };
        library(
            "board",
            env!("CARGO_PKG_VERSION"),
            vec![
                board(
                    "submit",
                    "Submit a score: [score, rank, changed]; equal scores rank by who reached them first",
                )
                .arg("member", "who scored")
                .arg("score", "integer from -2147483648 to 2147483647 (an increment in sum mode)")
                .arg("mode", "best (keep the higher), sum (add) or latest (replace)"),
                board("rank", "A member's [rank, score] (rank 1 is the best), or nil")
                    .read_only()
                    .arg("member", "the member"),
                board("page", "One page of the board: [[rank, member, score], ...]")
                    .read_only()
                    .arg("page", "page number, from 1")
                    .arg("page-size", "entries per page, 1 to 1000"),
                board("top", "The best n: [[rank, member, score], ...]")
                    .read_only()
                    .arg("n", "how many, 1 to 1000"),
                board(
                    "around",
                    "A member and up to n above and n below: [[rank, member, score], ...]; empty when absent",
                )
                .read_only()
                .arg("member", "the member in the middle")
                .arg("n", "entries on each side, 0 to 1000"),
                board("count", "Number of members on the board")
                    .read_only(),
                board("remove", "Remove members: the number removed")
                    .arg("member", "one or more members"),
            ],
        )
    }

    fn call(function: &str, keys: Vec<Vec<u8>>, args: Args) -> Result<Reply, Error> {
        let [board] = expect_keys(&keys, "<board>")?;
        match function {
            "submit" => submit(board, &args),
            "rank" => rank(board, &args),
            "page" => page(board, &args),
            "top" => top(board, &args),
            "around" => around(board, &args),
            "count" => count(board, &args),
            "remove" => remove(board, &args),
            other => Err(Error::guest(format!("ERR unknown function '{other}'"))),
        }
    }
}

/// Argument `i` as an integer in `min..=max`.
fn bounded(args: &Args, i: usize, name: &str, min: u64, max: u64) -> Result<u64, Error> {
    let n = args.u64(i, name)?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(Error::guest(format!(
            "ERR <{name}> must be between {min} and {max}, got '{n}'"
        )))
    }
}

/// `(score, slot)` of a stored value, or an error for a value that
/// `board.submit` did not write (a foreign `ZADD` on the key).
fn decode_stored(member: &[u8], encoded: f64) -> Result<(i64, u32), Error> {
    decode(encoded).ok_or_else(|| {
        Error::guest(format!(
            "ERR member '{}' has sorted-set score {encoded}, which board.submit did not write",
            String::from_utf8_lossy(member)
        ))
    })
}

fn submit(board: &[u8], args: &Args) -> Result<Reply, Error> {
    args.expect_count(3, 3, "<member> <score> <best|sum|latest>")?;
    let member = args.bytes(0, "member")?;
    let value = args.i64(1, "score")?;
    let mode = args.bytes(2, "mode")?;
    let mode = Mode::parse(mode).ok_or_else(|| {
        Error::guest(format!(
            "ERR <mode> must be best, sum or latest, got '{}'",
            String::from_utf8_lossy(mode)
        ))
    })?;
    let current = match redis::zscore(board, member)? {
        Some(encoded) => Some(decode_stored(member, encoded)?.0),
        None => None,
    };
    let merged = merge(mode, current, value).map_err(|e| Error::guest(e.to_string()))?;
    let (score, changed) = match merged {
        Merge::Kept(score) => (score, false),
        Merge::Moved(score) => {
            let slot = arrival_slot(board, score)?;
            redis::zadd(
                board,
                &[(encode(score, slot), member.to_vec())],
                ZaddOptions::default(),
            )?;
            (score, true)
        }
    };
    let rank = redis::zrevrank(board, member)?
        .ok_or_else(|| Error::guest("ERR the member vanished during submit"))?;
    Ok(Reply::Array(vec![
        Reply::Int(score),
        Reply::from(rank + 1),
        Reply::from(changed),
    ]))
}

/// The slot of a member arriving at `score` now: below everyone holding it.
fn arrival_slot(board: &[u8], score: i64) -> Result<u32, Error> {
    let (low, high) = bucket(score);
    let lowest = redis::zrange_withscores(
        board,
        &ZrangeBy::Score((low.clone(), high.clone())),
        ZrangeOptions {
            reverse: false,
            limit: Some((0, 1)),
        },
    )?;
    let lowest = match lowest.first() {
        Some((member, encoded)) => Some(decode_stored(member, *encoded)?.1),
        None => None,
    };
    if let Some(slot) = next_slot(lowest) {
        return Ok(slot);
    }
    match crowded(redis::zcount(board, &low, &high)?) {
        Crowded::Share => Ok(0),
        Crowded::Renumber { newcomer } => {
            // With REV, ZRANGE BYSCORE takes the high bound first.
            let tied = redis::zrange(
                board,
                &ZrangeBy::Score((high, low)),
                ZrangeOptions {
                    reverse: true,
                    limit: None,
                },
            )?;
            let moved: Vec<(f64, Vec<u8>)> = tied
                .into_iter()
                .enumerate()
                .map(|(i, member)| (encode(score, renumbered(i)), member))
                .collect();
            redis::zadd(board, &moved, ZaddOptions::default())?;
            Ok(newcomer)
        }
    }
}

fn rank(board: &[u8], args: &Args) -> Result<Reply, Error> {
    args.expect_count(1, 1, "<member>")?;
    let member = args.bytes(0, "member")?;
    let Some(rank) = redis::zrevrank(board, member)? else {
        return Ok(Reply::Nil);
    };
    let encoded = redis::zscore(board, member)?
        .ok_or_else(|| Error::guest("ERR the member vanished during rank"))?;
    let (score, _) = decode_stored(member, encoded)?;
    Ok(Reply::Array(vec![Reply::from(rank + 1), Reply::Int(score)]))
}

/// Entries from 0-based descending position `start` to `stop` inclusive, as
/// `[[rank, member, score], ...]`.
fn entries(board: &[u8], start: u64, stop: u64) -> Result<Reply, Error> {
    let (Ok(first), Ok(last)) = (i64::try_from(start), i64::try_from(stop)) else {
        return Ok(Reply::Array(vec![]));
    };
    let found = redis::zrange_withscores(
        board,
        &ZrangeBy::Rank((first, last)),
        ZrangeOptions {
            reverse: true,
            limit: None,
        },
    )?;
    let rows = found
        .into_iter()
        .zip(start + 1..)
        .map(|((member, encoded), rank)| {
            let (score, _) = decode_stored(&member, encoded)?;
            Ok(Reply::Array(vec![
                Reply::from(rank),
                Reply::Bulk(member),
                Reply::Int(score),
            ]))
        })
        .collect::<Result<_, Error>>()?;
    Ok(Reply::Array(rows))
}

fn page(board: &[u8], args: &Args) -> Result<Reply, Error> {
    args.expect_count(2, 2, "<page> <page-size>")?;
    let page = args.positive(0, "page")?;
    let size = bounded(args, 1, "page-size", 1, MAX_SPAN)?;
    match (page - 1).checked_mul(size) {
        Some(start) => entries(board, start, start + size - 1),
        // Far beyond any board.
        None => Ok(Reply::Array(vec![])),
    }
}

fn top(board: &[u8], args: &Args) -> Result<Reply, Error> {
    args.expect_count(1, 1, "<n>")?;
    let n = bounded(args, 0, "n", 1, MAX_SPAN)?;
    entries(board, 0, n - 1)
}

fn around(board: &[u8], args: &Args) -> Result<Reply, Error> {
    args.expect_count(2, 2, "<member> <n>")?;
    let member = args.bytes(0, "member")?;
    let n = bounded(args, 1, "n", 0, MAX_SPAN)?;
    match redis::zrevrank(board, member)? {
        Some(position) => entries(board, position.saturating_sub(n), position + n),
        None => Ok(Reply::Array(vec![])),
    }
}

fn count(board: &[u8], args: &Args) -> Result<Reply, Error> {
    args.expect_count(0, 0, "no arguments")?;
    Ok(Reply::from(redis::zcard(board)?))
}

fn remove(board: &[u8], args: &Args) -> Result<Reply, Error> {
    args.expect_count(1, usize::MAX, "<member>...")?;
    let members: Vec<Vec<u8>> = (0..args.len())
        .map(|i| args.bytes(i, "member").map(<[u8]>::to_vec))
        .collect::<Result<_, _>>()?;
    Ok(Reply::from(redis::zrem(board, &members)?))
}

export_library!(Board);
