#!/usr/bin/env node
// Builds a JavaScript or TypeScript Pattern Engine library into a component
// with componentize-js.
//
//   node guest-sdk/js/build.mjs <library.js|library.ts> <out.wasm> [--wit <dir>]
//
// A TypeScript library: every .ts file of its directory (not *.test.ts) is
// transpiled with the TypeScript compiler to a .js file beside it, as `tsc`
// without an outDir would (imports name the .js files, the ESM convention),
// then the .js entry is built. Types are not checked here: run `tsc
// --noEmit` for that (the kit's types/ declare the WIT world).
//
// The WIT defaults to the repository's wit/ (a scaffolded project carries
// its own copy in ./wit). WASI features: stdio (console.log goes to the
// Redis log), random and clocks stay; http and fetch-event are disabled
// (the host offers no network).
import { componentize } from '@bytecodealliance/componentize-js';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
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
let [source, out] = args;
if (!existsSync(source)) {
  console.error(`no such file: ${source}`);
  process.exit(1);
}
if (source.endsWith('.ts')) {
  source = await transpileDirectory(source);
}
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: wit,
  worldName: 'pattern',
  disableFeatures: ['http', 'fetch-event'],
});
writeFileSync(out, component);
console.log(`${out}: ${component.length} bytes`);

/** Transpiles the .ts files beside `entry` to .js; returns the .js entry. */
async function transpileDirectory(entry) {
  const { default: ts } = await import('typescript');
  const dir = dirname(resolve(entry));
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.ts') || name.endsWith('.d.ts') || name.endsWith('.test.ts')) continue;
    const file = join(dir, name);
    const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    if (diagnostics.length > 0) {
      const first = ts.flattenDiagnosticMessageText(diagnostics[0].messageText, ' ');
      console.error(`${file}: ${first}`);
      process.exit(1);
    }
    writeFileSync(file.replace(/\.ts$/, '.js'), outputText);
  }
  return entry.replace(/\.ts$/, '.js');
}
