/// <reference path="./pattern-engine-types.d.ts" />
declare module 'pattern:engine/library@0.1.0' {
  /**
   * Describes the library. Called once at load; it must not touch Redis.
   */
  export function describe(): LibraryInfo;
  /**
   * Runs `function` with the declared `keys` and `args`.
   */
  export function call(function_: string, keys: Array<Bytes>, args: Array<Bytes>): Reply;
  export type Bytes = import('pattern:engine/types@0.1.0').Bytes;
  export type Reply = import('pattern:engine/types@0.1.0').Reply;
  export type Error = import('pattern:engine/types@0.1.0').Error;
  /**
   * Documentation of one key or argument of a function.
   */
  export interface Param {
    name: string,
    doc: string,
    optional: boolean,
  }
  export interface FunctionInfo {
    /**
     * Called as `<library>.<name>`.
     */
    name: string,
    summary: string,
    /**
     * Read-only functions may run with PATTERN.CALL_RO and on replicas;
     * every write they attempt is refused.
     */
    readOnly: boolean,
    /**
     * The function touches keys it discovers at run time (beyond its
     * declared keys), like the Functions flag `allow-cross-slot-keys`.
     */
    dynamicKeys: boolean,
    keys: Array<Param>,
    args: Array<Param>,
  }
  /**
   * Per-call budgets a library asks for, each in place of the operator's
   * default (module arguments DEADLINE_MS, FUEL, MEMORY_MB, MAX_HOST_CALLS,
   * MAX_REPLY_BYTES). None keeps the default. A request above the
   * operator's ceiling refuses the library at load.
   */
  export interface BudgetRequest {
    /**
     * Wall-clock deadline of one call, in milliseconds.
     */
    deadlineMs?: bigint,
    /**
     * Fuel (about one unit per Wasm instruction) one call may burn;
     * ignored while the operator has fuel metering off.
     */
    fuel?: bigint,
    /**
     * Largest linear memory of the library's instance, in bytes.
     */
    memoryBytes?: bigint,
    /**
     * Most host calls (imports) in one call.
     */
    maxHostCalls?: bigint,
    /**
     * Largest reply of one call, in bytes of strings.
     */
    maxReplyBytes?: bigint,
  }
  export interface LibraryInfo {
    /**
     * Library name: [A-Za-z0-9_-], 1 to 64 characters.
     */
    name: string,
    /**
     * The library's own version string (the host names versions by sha256).
     */
    version: string,
    functions: Array<FunctionInfo>,
    /**
     * Capabilities: the key prefixes (e.g. "rate:") this library may
     * touch. Every key of its calls, declared or touched by a command
     * (dynamic keys included), must start with one of them. Empty: any
     * key. At most 16 prefixes of 1 to 128 bytes each.
     */
    keyPrefixes: Array<string>,
    /**
     * The budgets this library asks for.
     */
    budgets: BudgetRequest,
  }
}
