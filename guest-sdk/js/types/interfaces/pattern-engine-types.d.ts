declare module 'pattern:engine/types@0.1.0' {
  /**
   * Binary-safe Redis string (key, value, field, member...).
   */
  export type Bytes = Uint8Array;
  /**
   * A RESP3 verbatim string (`=` type): a three-letter format and the text.
   */
  export interface Verbatim {
    format: string,
    text: Bytes,
  }
  /**
   * One node of a reply tree in pre-order.
   * 
   * WIT has no recursive types, so a nested reply crosses the boundary as a
   * flat list: an aggregate node carries the number of its direct children
   * (`map` carries the number of pairs, so 2 × n nodes follow), and its
   * children follow it, each a complete subtree. Every RESP3 type Redis 7
   * returns from a command has a node, so no reply is lost.
   */
  export type Node = NodeNil | NodeInteger | NodeDouble | NodeBoolean | NodeBigNumber | NodeStatus | NodeBulk | NodeVerbatim | NodeError | NodeArray | NodeMap | NodeSet;
  export interface NodeNil {
    tag: 'nil',
  }
  export interface NodeInteger {
    tag: 'integer',
    val: bigint,
  }
  export interface NodeDouble {
    tag: 'double',
    val: number,
  }
  export interface NodeBoolean {
    tag: 'boolean',
    val: boolean,
  }
  export interface NodeBigNumber {
    tag: 'big-number',
    val: string,
  }
  export interface NodeStatus {
    tag: 'status',
    val: string,
  }
  export interface NodeBulk {
    tag: 'bulk',
    val: Bytes,
  }
  export interface NodeVerbatim {
    tag: 'verbatim',
    val: Verbatim,
  }
  export interface NodeError {
    tag: 'error',
    val: string,
  }
  export interface NodeArray {
    tag: 'array',
    val: number,
  }
  export interface NodeMap {
    tag: 'map',
    val: number,
  }
  export interface NodeSet {
    tag: 'set',
    val: number,
  }
  /**
   * A complete reply: one root node and its subtrees, in pre-order.
   */
  export type Reply = Array<Node>;
  /**
   * An error a guest sees from an import, or returns from `call`.
   * 
   * Errors are values, never traps: a guest can inspect and recover from
   * them. The string is a human-readable one-line explanation.
   */
  export type Error = ErrorWrongType | ErrorUndeclaredKey | ErrorKeyOutsidePrefixes | ErrorWriteInReadOnly | ErrorCommandNotAllowed | ErrorBudgetExceeded | ErrorRedis | ErrorGuest;
  /**
   * The key holds a value of another type (Redis WRONGTYPE).
   */
  export interface ErrorWrongType {
    tag: 'wrong-type',
    val: string,
  }
  /**
   * The call touched a key it did not declare in `keys`.
   */
  export interface ErrorUndeclaredKey {
    tag: 'undeclared-key',
    val: Bytes,
  }
  /**
   * The call touched a key outside the prefixes its library declared
   * (`library-info.key-prefixes`). The call fails even if the guest
   * ignores this error.
   */
  export interface ErrorKeyOutsidePrefixes {
    tag: 'key-outside-prefixes',
    val: Bytes,
  }
  /**
   * A write was attempted in a read-only call (`PATTERN.CALL_RO`).
   */
  export interface ErrorWriteInReadOnly {
    tag: 'write-in-read-only',
    val: string,
  }
  /**
   * The command is refused inside an atomic call (blocking, MULTI,
   * administrative, scripting, pub/sub subscription...).
   */
  export interface ErrorCommandNotAllowed {
    tag: 'command-not-allowed',
    val: string,
  }
  /**
   * A per-call budget (deadline, host calls, reply size...) ran out.
   */
  export interface ErrorBudgetExceeded {
    tag: 'budget-exceeded',
    val: string,
  }
  /**
   * Any other error Redis returned, with its text (e.g. "ERR value is
   * not an integer or out of range").
   */
  export interface ErrorRedis {
    tag: 'redis',
    val: string,
  }
  /**
   * An error raised by the guest itself, such as bad arguments. By
   * convention it starts with an upper-case code word ("ERR ...").
   */
  export interface ErrorGuest {
    tag: 'guest',
    val: string,
  }
}
