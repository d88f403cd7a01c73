#!/usr/bin/env node
// Builds a JavaScript (or TypeScript compiled to JavaScript) Pattern Engine
// library into a component with componentize-js.
//
//   node guest-sdk/js/build.mjs <library.js> <out.wasm> [--wit <dir>]
//
// The WIT defaults to the repository's wit/ (a scaffolded project carries
// its own copy in ./wit). WASI features: stdio (console.log goes to the
// Redis log), random and clocks stay; http and fetch-event are disabled
// (the host offers no network).
import { componentize } from '@bytecodealliance/componentize-js';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const witFlag = args.indexOf('--wit');
let wit = resolve(dirname(fileURLToPath(import.meta.url)), '../../wit');
if (witFlag >= 0) {
  wit = resolve(args[witFlag + 1]);
  args.splice(witFlag, 2);
}
if (args.length !== 2) {
  console.error('usage: node build.mjs <library.js> <out.wasm> [--wit <dir>]');
  process.exit(2);
}
const [source, out] = args;
if (!existsSync(source)) {
  console.error(`no such file: ${source}`);
  process.exit(1);
}
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: wit,
  worldName: 'pattern',
  disableFeatures: ['http', 'fetch-event'],
});
writeFileSync(out, component);
console.log(`${out}: ${component.length} bytes`);
