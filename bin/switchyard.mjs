#!/usr/bin/env node
// The `switchyard` executable. It runs the compiled JavaScript in dist/ when present (the container
// image), else the TypeScript sources through tsx, so a fresh clone works after `npm ci`.
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `switchyard needs Node.js 24 or newer, but this is ${process.version}.\n` +
      'Run it through npm (`npx switchyard ...`, `npm start`), which uses the Node 24 installed by `npm ci`.\n',
  );
  process.exit(1);
}

const compiled = new URL('../dist/bin/cli.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
}
