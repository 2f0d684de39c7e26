/**
 * The docs cannot drift from the code: every `switchyard` command line written in README.md or
 * docs/ names a real subcommand and only flags it accepts, every YAML block parses, and every
 * Kubernetes manifest block (one with `kind:`) is accepted by the manifest parser.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { GLOBAL_OPTIONS, loadAllCommands } from '../../bin/commands.ts';
import { commandNames, optionNames } from '../../bin/env-options.ts';
import { parseManifest } from '../../controller/sources/manifest/parse.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const COMMANDS = await loadAllCommands();
const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** `switchyard <command> ...` invocations in a text, up to the end of the line or code span. */
function invocations(text: string): { line: number; words: string[] }[] {
  const out: { line: number; words: string[] }[] = [];
  text.split('\n').forEach((raw, i) => {
    for (const m of raw.matchAll(
      /(?:^|[\s`(])(?:npx |node bin\/switchyard\.mjs |docker compose exec \S+ )?switchyard ([a-z][^`|#\\]*)/g,
    )) {
      out.push({ line: i + 1, words: m[1]!.trim().split(/\s+/) });
    }
  });
  return out;
}

/** Fenced code blocks of a language. */
function blocks(text: string, lang: RegExp): { line: number; body: string }[] {
  const out: { line: number; body: string }[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```/gm;
  for (const m of text.matchAll(re)) {
    if (lang.test(m[1] ?? '')) out.push({ line: text.slice(0, m.index).split('\n').length, body: m[2]! });
  }
  return out;
}

describe('docs: command lines', () => {
  for (const file of FILES) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const calls = invocations(text).filter(
      (c) => !/^(is|and|does|gives|runs|can|has|was|needs)$/.test(c.words[0]!),
    );
    if (calls.length === 0) continue;
    it(`${file}: every switchyard command and flag exists`, () => {
      for (const { line, words } of calls) {
        const name = words[0]!;
        const cmd = COMMANDS.find((c) => commandNames(c).includes(name));
        assert.ok(cmd, `${file}:${line}: "switchyard ${name}" is not a command`);
        const known = optionNames(cmd);
        for (const g of GLOBAL_OPTIONS) known.add(g);
        for (const w of words.slice(1)) {
          const flag = /^--(?:no-)?([a-z0-9-]+)/.exec(w)?.[1];
          if (flag) assert.ok(known.has(flag), `${file}:${line}: switchyard ${name} has no --${flag}`);
        }
      }
    });
  }

  it('a wrong flag in a doc would be caught (the check can fail)', () => {
    const [call] = invocations('run `switchyard plan --config x.yaml --colour red`');
    const known = optionNames(COMMANDS.find((c) => commandNames(c).includes(call!.words[0]!)));
    assert.equal(known.has('colour'), false);
    assert.equal(known.has('config'), true);
  });
});

describe('docs: YAML blocks', () => {
  for (const file of FILES) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const yamlBlocks = blocks(text, /^ya?ml$/);
    if (yamlBlocks.length === 0) continue;
    it(`${file}: every YAML block parses, and every manifest block is accepted`, () => {
      for (const { line, body } of yamlBlocks) {
        for (const doc of parseAllDocuments(body)) {
          assert.deepEqual(doc.errors.map(String), [], `${file}:${line}: YAML error`);
        }
        const isManifest = /^kind: (IPAddressPool|Service|Node|Namespace|EndpointSlice|List)\s*$/m.test(body);
        if (!isManifest || !/^apiVersion:/m.test(body)) continue;
        const r = parseManifest(body, `${file}:${line}`);
        assert.deepEqual(r.problems, [], `${file}:${line}: manifest problems`);
      }
    });
  }
});
