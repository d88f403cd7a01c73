/// <reference path="./interfaces/pattern-engine-library.d.ts" />
/// <reference path="./interfaces/pattern-engine-log.d.ts" />
/// <reference path="./interfaces/pattern-engine-redis.d.ts" />
/// <reference path="./interfaces/pattern-engine-types.d.ts" />
declare module 'pattern:engine/pattern@0.1.0' {
  export type * as PatternEngineLog010 from 'pattern:engine/log@0.1.0'; // import pattern:engine/log@0.1.0
  export type * as PatternEngineRedis010 from 'pattern:engine/redis@0.1.0'; // import pattern:engine/redis@0.1.0
  export type * as PatternEngineTypes010 from 'pattern:engine/types@0.1.0'; // import pattern:engine/types@0.1.0
  export * as library from 'pattern:engine/library@0.1.0'; // export pattern:engine/library@0.1.0
}
