// Pattern Engine JavaScript SDK: the Rust SDK's ergonomics for JS guests.
//
// - `library(name, version, [fn(...)...], { keyPrefixes, budgets })` and
//   `fn(name, summary).key(...).arg(...).optionalArg(...).readOnly()`
//   describe a library (key prefixes and budgets are optional).
// - `exportLibrary(info, handlers)` builds the `library` export: it
//   dispatches `call` to `handlers[function](keys, args)`, wraps the raw
//   arguments in `Args`, flattens the returned reply into the WIT node list
//   and turns a thrown `PatternError` into the WIT error variant.
// - `Args` parses arguments with the Rust SDK's one-line errors, word for
//   word, so a library replies the same whatever its language.
// - `redis` re-exports the typed imports, which throw a `PatternError` when
//   Redis answers an error, plus `nowMs()`; `log` writes to the Redis log.
//
// Replies: a number or bigint is an integer, a boolean the integer 1 or 0
// (as in the Rust SDK), a string or Uint8Array a bulk string, null nil, an
// array an array; `status("OK")`, `double(x)` and `errorReply("ERR ...")`
// build the other node types.

import * as imports from 'pattern:engine/redis@0.1.0';
import { log as hostLog } from 'pattern:engine/log@0.1.0';

/** An error returned to the caller as a WIT error variant. */
export class PatternError extends Error {
  constructor(tag, message) {
    super(typeof message === 'string' ? message : String(message));
    this.tag = tag;
    this.val = message;
  }
}

/** An error of the guest itself; by convention it starts with "ERR ". */
export function guestError(message) {
  return new PatternError('guest', message);
}

/** Redis's typed imports; each throws a PatternError when Redis refuses. */
export const redis = {};
for (const [name, f] of Object.entries(imports)) {
  redis[name] = (...a) => {
    try {
      return f(...a);
    } catch (e) {
      const payload = e && e.payload !== undefined ? e.payload : e;
      if (payload && typeof payload.tag === 'string') {
        throw new PatternError(payload.tag, payload.val);
      }
      throw e;
    }
  };
}

/** The server's clock in milliseconds since the Unix epoch (a Number). */
redis.nowMs = () => {
  const t = redis.time();
  return Number(t.seconds) * 1000 + Math.floor(Number(t.microseconds) / 1000);
};

/** Writes `message` to the Redis log at `level` (debug, info, warn, error). */
export function log(level, message) {
  hostLog(level, message);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Text as the bytes Redis stores. */
export function bytes(text) {
  return encoder.encode(text);
}

/** Bytes as text (throws on invalid UTF-8). */
export function text(b) {
  return decoder.decode(b);
}

/** Fails unless exactly `n` keys were declared; `usage` names them. */
export function expectKeys(keys, n, usage) {
  if (keys.length !== n) {
    throw guestError(`ERR expected ${n} key(s): ${usage}`);
  }
  return keys;
}

const INTEGER = /^\+?[0-9]+$/;
const SIGNED = /^[+-]?[0-9]+$/;
const FLOAT = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(inf|infinity|nan)$/i;
const U64_MAX = 18446744073709551615n;
const I64_MIN = -9223372036854775808n;
const I64_MAX = 9223372036854775807n;

/** A call's arguments, parsed with one-line errors that name the argument. */
export class Args {
  constructor(list) {
    this.list = list;
  }

  get length() {
    return this.list.length;
  }

  /** Fails unless there are between `min` and `max` arguments. */
  expectCount(min, max, usage) {
    if (this.list.length < min || this.list.length > max) {
      throw guestError(`ERR wrong number of arguments: expected ${usage}`);
    }
  }

  /** The raw bytes of argument `i`. */
  bytes(i, name) {
    if (i >= this.list.length) throw guestError(`ERR missing argument <${name}>`);
    return this.list[i];
  }

  /** Argument `i` as UTF-8 text. */
  str(i, name) {
    try {
      return text(this.bytes(i, name));
    } catch (e) {
      if (e instanceof PatternError) throw e;
      throw guestError(`ERR <${name}> must be UTF-8 text`);
    }
  }

  parse(i, name, what, pattern, check) {
    const t = this.str(i, name);
    if (!pattern.test(t) || !check(t)) {
      throw guestError(`ERR <${name}> must be ${what}, got '${t}'`);
    }
    return t;
  }

  /** Argument `i` as a non-negative integer (a BigInt: u64 range). */
  u64(i, name) {
    return BigInt(this.parse(i, name, 'a non-negative integer', INTEGER, (t) => BigInt(t) <= U64_MAX));
  }

  /** Argument `i` as a positive integer (a BigInt). */
  positive(i, name) {
    const n = this.u64(i, name);
    if (n === 0n) throw guestError(`ERR <${name}> must be a positive integer, got '0'`);
    return n;
  }

  /** Argument `i` as a signed integer (a BigInt: i64 range). */
  i64(i, name) {
    return BigInt(this.parse(i, name, 'an integer', SIGNED, (t) => BigInt(t) >= I64_MIN && BigInt(t) <= I64_MAX));
  }

  /** Argument `i` as a finite number. */
  f64(i, name) {
    const value = parseFloatLikeRust(this.parse(i, name, 'a number', FLOAT, () => true));
    if (!Number.isFinite(value)) throw guestError(`ERR <${name}> must be a finite number`);
    return value;
  }

  /** Optional argument `i`, parsed with `parse(args, i)` when present. */
  optional(i, parse) {
    return i < this.list.length ? parse(this, i) : undefined;
  }
}

function parseFloatLikeRust(t) {
  const lower = t.toLowerCase().replace(/^\+/, '');
  if (lower === 'nan' || lower === '-nan') return NaN;
  if (lower.endsWith('inf') || lower.endsWith('infinity')) return lower.startsWith('-') ? -Infinity : Infinity;
  return Number(t);
}

/** A status reply ("+OK"). */
export function status(s) {
  return { $node: 'status', val: s };
}

/** A double reply. */
export function double(x) {
  return { $node: 'double', val: x };
}

/** An error reply node inside a reply (not a failed call). */
export function errorReply(s) {
  return { $node: 'error', val: s };
}

/** Flattens a reply value into the WIT node list, in pre-order. */
export function flatten(reply, nodes = []) {
  if (reply === null || reply === undefined) {
    nodes.push({ tag: 'nil' });
  } else if (typeof reply === 'boolean') {
    nodes.push({ tag: 'integer', val: reply ? 1n : 0n });
  } else if (typeof reply === 'bigint') {
    nodes.push({ tag: 'integer', val: reply });
  } else if (typeof reply === 'number') {
    if (!Number.isSafeInteger(reply)) throw new TypeError(`reply ${reply} is not an integer: use double()`);
    nodes.push({ tag: 'integer', val: BigInt(reply) });
  } else if (typeof reply === 'string') {
    nodes.push({ tag: 'bulk', val: bytes(reply) });
  } else if (reply instanceof Uint8Array) {
    nodes.push({ tag: 'bulk', val: reply });
  } else if (Array.isArray(reply)) {
    nodes.push({ tag: 'array', val: reply.length });
    for (const item of reply) flatten(item, nodes);
  } else if (reply.$node) {
    nodes.push({ tag: reply.$node, val: reply.val });
  } else {
    throw new TypeError(`cannot reply with ${typeof reply}`);
  }
  return nodes;
}

/** Describes a function; chain `.key()`, `.arg()`, `.optionalArg()`, `.readOnly()`. */
export function fn(name, summary) {
  const info = { name, summary, readOnly: false, dynamicKeys: false, keys: [], args: [] };
  const builder = {
    info,
    key(n, doc) { info.keys.push({ name: n, doc, optional: false }); return builder; },
    arg(n, doc) { info.args.push({ name: n, doc, optional: false }); return builder; },
    optionalArg(n, doc) { info.args.push({ name: n, doc, optional: true }); return builder; },
    readOnly() { info.readOnly = true; return builder; },
    dynamicKeys() { info.dynamicKeys = true; return builder; },
  };
  return builder;
}

/** The budgets a library may ask for, as `library`'s options name them. */
const BUDGETS = ['deadlineMs', 'fuel', 'memoryBytes', 'maxHostCalls', 'maxReplyBytes'];

/**
 * Describes a library. `options` (all optional):
 * - `keyPrefixes`: the key prefixes it may touch, e.g. `['rate:']`; every
 *   key of its calls must start with one (none: any key).
 * - `budgets`: per-call budgets it asks for in place of the operator's
 *   defaults (within the operator's ceilings): `deadlineMs`, `fuel`,
 *   `memoryBytes`, `maxHostCalls`, `maxReplyBytes` (numbers or bigints).
 */
export function library(name, version, functions, options = {}) {
  const { keyPrefixes = [], budgets = {} } = options;
  const unknown = Object.keys(budgets).filter((b) => !BUDGETS.includes(b));
  if (unknown.length > 0) {
    throw new TypeError(`unknown budget ${unknown[0]} (known: ${BUDGETS.join(', ')})`);
  }
  const requested = {};
  for (const b of BUDGETS) {
    requested[b] = budgets[b] === undefined ? undefined : BigInt(budgets[b]);
  }
  return {
    name,
    version,
    functions: functions.map((f) => f.info),
    keyPrefixes: [...keyPrefixes],
    budgets: requested,
  };
}

/**
 * The `library` export: `describe` returns `info`; `call` runs
 * `handlers[function](keys, args)` and returns its reply flattened.
 */
export function exportLibrary(info, handlers) {
  return {
    describe() {
      return info;
    },
    call(name, keys, args) {
      const handler = handlers[name];
      if (!handler) {
        throw { tag: 'guest', val: `ERR unknown function '${name}'` };
      }
      try {
        return flatten(handler(keys, new Args(args)));
      } catch (e) {
        if (e instanceof PatternError) throw { tag: e.tag, val: e.val };
        throw e;
      }
    },
  };
}
