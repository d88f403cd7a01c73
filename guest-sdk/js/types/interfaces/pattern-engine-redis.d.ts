/// <reference path="./pattern-engine-types.d.ts" />
declare module 'pattern:engine/redis@0.1.0' {
  /**
   * ---------------------------------------------------------------- generic
   * Runs any command allowed inside a call, `name` followed by `args`.
   * Keys are found with Redis's own key specs and must be declared.
   */
  export function command(name: string, args: Array<Bytes>): Reply;
  /**
   * GET. None when the key does not exist.
   */
  export function get(key: Bytes): Bytes | undefined;
  /**
   * SET. True when the value was written (false when NX/XX prevented it).
   */
  export function set(key: Bytes, value: Bytes, options: SetOptions): boolean;
  /**
   * SET ... GET: writes as `set` does and returns the previous value.
   */
  export function setGet(key: Bytes, value: Bytes, options: SetOptions): Bytes | undefined;
  /**
   * GETDEL.
   */
  export function getdel(key: Bytes): Bytes | undefined;
  /**
   * INCRBY; returns the new value.
   */
  export function incrby(key: Bytes, increment: bigint): bigint;
  /**
   * INCRBYFLOAT; returns the new value.
   */
  export function incrbyfloat(key: Bytes, increment: number): number;
  /**
   * DECRBY; returns the new value.
   */
  export function decrby(key: Bytes, decrement: bigint): bigint;
  /**
   * MGET.
   */
  export function mget(keys: Array<Bytes>): Array<Bytes | undefined>;
  /**
   * MSET.
   */
  export function mset(pairs: Array<[Bytes, Bytes]>): void;
  /**
   * DEL; number of keys removed.
   */
  export function del(keys: Array<Bytes>): bigint;
  /**
   * EXISTS; number of the given keys that exist.
   */
  export function exists(keys: Array<Bytes>): bigint;
  /**
   * TYPE: "string", "list", "set", "zset", "hash", "stream" or "none".
   */
  export function keyType(key: Bytes): string;
  /**
   * EXPIRE key seconds; true when the timeout was set.
   */
  export function expire(key: Bytes, seconds: bigint, condition: ExpireCondition): boolean;
  /**
   * PEXPIRE key milliseconds.
   */
  export function pexpire(key: Bytes, milliseconds: bigint, condition: ExpireCondition): boolean;
  /**
   * EXPIREAT key unix-seconds.
   */
  export function expireat(key: Bytes, unixSeconds: bigint, condition: ExpireCondition): boolean;
  /**
   * PEXPIREAT key unix-milliseconds.
   */
  export function pexpireat(key: Bytes, unixMilliseconds: bigint, condition: ExpireCondition): boolean;
  /**
   * TTL in seconds: -2 when the key does not exist, -1 when it has no TTL.
   */
  export function ttl(key: Bytes): bigint;
  /**
   * PTTL in milliseconds: -2 when the key does not exist, -1 when it has no TTL.
   */
  export function pttl(key: Bytes): bigint;
  /**
   * PERSIST; true when a TTL was removed.
   */
  export function persist(key: Bytes): boolean;
  /**
   * ----------------------------------------------------------------- hashes
   */
  export function hget(key: Bytes, field: Bytes): Bytes | undefined;
  /**
   * HSET; number of fields added (not updated).
   */
  export function hset(key: Bytes, pairs: Array<[Bytes, Bytes]>): bigint;
  export function hdel(key: Bytes, fields: Array<Bytes>): bigint;
  export function hgetall(key: Bytes): Array<[Bytes, Bytes]>;
  export function hmget(key: Bytes, fields: Array<Bytes>): Array<Bytes | undefined>;
  export function hincrby(key: Bytes, field: Bytes, increment: bigint): bigint;
  export function hincrbyfloat(key: Bytes, field: Bytes, increment: number): number;
  export function hexists(key: Bytes, field: Bytes): boolean;
  export function hlen(key: Bytes): bigint;
  /**
   * ------------------------------------------------------------------- sets
   */
  export function sadd(key: Bytes, members: Array<Bytes>): bigint;
  export function srem(key: Bytes, members: Array<Bytes>): bigint;
  export function sismember(key: Bytes, member: Bytes): boolean;
  export function smembers(key: Bytes): Array<Bytes>;
  export function scard(key: Bytes): bigint;
  /**
   * ZADD; members added (or changed, with `changed`).
   */
  export function zadd(key: Bytes, members: Array<[number, Bytes]>, options: ZaddOptions): bigint;
  /**
   * ZADD ... INCR; the new score, or none when a condition prevented it.
   */
  export function zaddIncr(key: Bytes, increment: number, member: Bytes, options: ZaddOptions): number | undefined;
  export function zincrby(key: Bytes, increment: number, member: Bytes): number;
  export function zrem(key: Bytes, members: Array<Bytes>): bigint;
  export function zscore(key: Bytes, member: Bytes): number | undefined;
  export function zmscore(key: Bytes, members: Array<Bytes>): Array<number | undefined>;
  export function zrank(key: Bytes, member: Bytes): bigint | undefined;
  export function zrevrank(key: Bytes, member: Bytes): bigint | undefined;
  /**
   * ZRANGE without scores.
   */
  export function zrange(key: Bytes, by: ZrangeBy, options: ZrangeOptions): Array<Bytes>;
  /**
   * ZRANGE ... WITHSCORES.
   */
  export function zrangeWithscores(key: Bytes, by: ZrangeBy, options: ZrangeOptions): Array<[Bytes, number]>;
  export function zcount(key: Bytes, min: string, max: string): bigint;
  export function zcard(key: Bytes): bigint;
  export function zremrangebyscore(key: Bytes, min: string, max: string): bigint;
  export function zremrangebyrank(key: Bytes, start: bigint, stop: bigint): bigint;
  /**
   * ------------------------------------------------------------------ lists
   */
  export function lpush(key: Bytes, values: Array<Bytes>): bigint;
  export function rpush(key: Bytes, values: Array<Bytes>): bigint;
  /**
   * LPOP key [count]; empty when the list does not exist.
   */
  export function lpop(key: Bytes, count: bigint | undefined): Array<Bytes>;
  export function rpop(key: Bytes, count: bigint | undefined): Array<Bytes>;
  export function lrange(key: Bytes, start: bigint, stop: bigint): Array<Bytes>;
  export function llen(key: Bytes): bigint;
  export function ltrim(key: Bytes, start: bigint, stop: bigint): void;
  /**
   * XADD; the new entry's id, or none with `no-mkstream` on a missing stream.
   */
  export function xadd(key: Bytes, id: string, fields: Array<[Bytes, Bytes]>, options: XaddOptions): string | undefined;
  export function xrange(key: Bytes, start: string, end: string, count: bigint | undefined): Array<StreamEntry>;
  export function xrevrange(key: Bytes, end: string, start: string, count: bigint | undefined): Array<StreamEntry>;
  /**
   * XREADGROUP GROUP group consumer [COUNT n] [NOACK] STREAMS key... id...
   * (never BLOCK). One element per stream that returned entries.
   */
  export function xreadgroup(group: string, consumer: string, streams: Array<[Bytes, string]>, options: XreadgroupOptions): Array<[Bytes, Array<StreamEntry>]>;
  export function xack(key: Bytes, group: string, ids: Array<string>): bigint;
  /**
   * XPENDING key group (summary form).
   */
  export function xpending(key: Bytes, group: string): PendingSummary;
  /**
   * XPENDING key group [IDLE ms] start end count [consumer] (extended form).
   */
  export function xpendingRange(key: Bytes, group: string, query: XpendingQuery): Array<PendingEntry>;
  export function xautoclaim(key: Bytes, group: string, consumer: string, minIdleMs: bigint, start: string, count: bigint | undefined): AutoclaimResult;
  export function xclaim(key: Bytes, group: string, consumer: string, minIdleMs: bigint, ids: Array<string>): Array<StreamEntry>;
  /**
   * XGROUP CREATE key group id [MKSTREAM]; false when the group already exists.
   */
  export function xgroupCreate(key: Bytes, group: string, id: string, mkstream: boolean): boolean;
  export function xlen(key: Bytes): bigint;
  export function xtrim(key: Bytes, trim: Trim): bigint;
  export function xdel(key: Bytes, ids: Array<string>): bigint;
  /**
   * ------------------------------------------------------- pub/sub, server
   * PUBLISH; number of clients that received the message.
   */
  export function publish(channel: Bytes, message: Bytes): bigint;
  /**
   * TIME: the server's clock.
   */
  export function time(): ServerTime;
  /**
   * `len` bytes from the host's CSPRNG (ChaCha12 seeded and reseeded
   * from the operating system's).
   */
  export function randomBytes(len: number): Bytes;
  export type Bytes = import('pattern:engine/types@0.1.0').Bytes;
  export type Reply = import('pattern:engine/types@0.1.0').Reply;
  export type Error = import('pattern:engine/types@0.1.0').Error;
  /**
   * ----------------------------------------------------- strings, counters
   * Expiry to set with SET.
   */
  export type Expiry = ExpiryNone | ExpiryEx | ExpiryPx | ExpiryExat | ExpiryPxat | ExpiryKeepTtl;
  /**
   * No expiry option: a SET removes any existing TTL.
   */
  export interface ExpiryNone {
    tag: 'none',
  }
  /**
   * EX seconds.
   */
  export interface ExpiryEx {
    tag: 'ex',
    val: bigint,
  }
  /**
   * PX milliseconds.
   */
  export interface ExpiryPx {
    tag: 'px',
    val: bigint,
  }
  /**
   * EXAT unix seconds.
   */
  export interface ExpiryExat {
    tag: 'exat',
    val: bigint,
  }
  /**
   * PXAT unix milliseconds.
   */
  export interface ExpiryPxat {
    tag: 'pxat',
    val: bigint,
  }
  /**
   * KEEPTTL: keep the key's current TTL.
   */
  export interface ExpiryKeepTtl {
    tag: 'keep-ttl',
  }
  /**
   * Condition of a write: always, only if the key/member is new (NX), only
   * if it exists (XX).
   * # Variants
   * 
   * ## `"always"`
   * 
   * ## `"nx"`
   * 
   * ## `"xx"`
   */
  export type Condition = 'always' | 'nx' | 'xx';
  export interface SetOptions {
    condition: Condition,
    expiry: Expiry,
  }
  /**
   * ------------------------------------------------------- keys and expiry
   * Condition of EXPIRE and friends (Redis 7).
   * # Variants
   * 
   * ## `"always"`
   * 
   * ## `"nx"`
   * 
   * ## `"xx"`
   * 
   * ## `"gt"`
   * 
   * ## `"lt"`
   */
  export type ExpireCondition = 'always' | 'nx' | 'xx' | 'gt' | 'lt';
  /**
   * ------------------------------------------------------------ sorted sets
   * GT / LT comparison of ZADD.
   * # Variants
   * 
   * ## `"any"`
   * 
   * ## `"gt"`
   * 
   * ## `"lt"`
   */
  export type ScoreComparison = 'any' | 'gt' | 'lt';
  export interface ZaddOptions {
    condition: Condition,
    comparison: ScoreComparison,
    /**
     * CH: count changed members, not only added ones.
     */
    changed: boolean,
  }
  /**
   * What ZRANGE selects.
   */
  export type ZrangeBy = ZrangeByRank | ZrangeByScore | ZrangeByLex;
  /**
   * Ranks, inclusive, negative from the end.
   */
  export interface ZrangeByRank {
    tag: 'rank',
    val: [bigint, bigint],
  }
  /**
   * Score bounds as Redis writes them: "1", "(1", "-inf", "+inf".
   */
  export interface ZrangeByScore {
    tag: 'score',
    val: [string, string],
  }
  /**
   * Lexicographic bounds as Redis writes them: "[a", "(a", "-", "+".
   */
  export interface ZrangeByLex {
    tag: 'lex',
    val: [Bytes, Bytes],
  }
  export interface ZrangeOptions {
    /**
     * REV.
     */
    reverse: boolean,
    /**
     * LIMIT offset count (score and lex ranges only).
     */
    limit?: [bigint, bigint],
  }
  /**
   * ---------------------------------------------------------------- streams
   * One stream entry. `fields` is empty for an entry that was deleted while
   * pending (Redis returns nil fields for it; XADD never stores zero fields).
   */
  export interface StreamEntry {
    id: string,
    fields: Array<[Bytes, Bytes]>,
  }
  /**
   * How XADD and XTRIM trim.
   */
  export type TrimStrategy = TrimStrategyMaxLen | TrimStrategyMinId;
  /**
   * MAXLEN n.
   */
  export interface TrimStrategyMaxLen {
    tag: 'max-len',
    val: bigint,
  }
  /**
   * MINID id.
   */
  export interface TrimStrategyMinId {
    tag: 'min-id',
    val: string,
  }
  export interface Trim {
    strategy: TrimStrategy,
    /**
     * `~`: let Redis trim at node boundaries (cheaper, inexact).
     */
    approximate: boolean,
    /**
     * LIMIT n (approximate trimming only).
     */
    limit?: bigint,
  }
  export interface XaddOptions {
    /**
     * NOMKSTREAM.
     */
    noMkstream: boolean,
    trim?: Trim,
  }
  export interface XreadgroupOptions {
    count?: bigint,
    /**
     * NOACK.
     */
    noAck: boolean,
  }
  export interface PendingSummary {
    count: bigint,
    smallestId?: string,
    largestId?: string,
    /**
     * Consumer name and its number of pending entries.
     */
    consumers: Array<[string, bigint]>,
  }
  export interface XpendingQuery {
    /**
     * IDLE min-idle-time in milliseconds.
     */
    minIdleMs?: bigint,
    start: string,
    end: string,
    count: bigint,
    consumer?: string,
  }
  export interface PendingEntry {
    id: string,
    consumer: string,
    idleMs: bigint,
    deliveries: bigint,
  }
  export interface AutoclaimResult {
    /**
     * Cursor for the next XAUTOCLAIM ("0-0" when the scan is complete).
     */
    nextStart: string,
    entries: Array<StreamEntry>,
    /**
     * Ids that were pending but no longer exist in the stream.
     */
    deletedIds: Array<string>,
  }
  export interface ServerTime {
    seconds: bigint,
    microseconds: bigint,
  }
}
