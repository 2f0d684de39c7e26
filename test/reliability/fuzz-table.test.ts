/**
 * Fuzzing the forwarding table as the speaker reads it from a file: arbitrary text, arbitrary YAML
 * and JSON documents, byte strings, hostile YAML (aliases that build cycles, alias bombs, deep
 * nesting) and valid tables with one field replaced by anything. parseTableText must return typed
 * problems or a table that is valid through and through, and never throw; the real speaker fed the
 * same files keeps serving its last good table.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';
import type { Result } from '../../shared/errors.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { MAX_DURATION_MS, parseTable, parseTableText } from '../../shared/table-parse.ts';
import { renderListener } from '../../shared/table-render.ts';
import type { Speaker } from '../../speaker/speaker.ts';
import { startTestSpeaker } from '../harness/speaker.ts';
import { type Backend, freePort, loopbackAddress, roundTrip, startBackend } from '../speaker/loopback.ts';
import { RecordingHealth } from '../speaker/recording-health.ts';
import { assertProblem, fuzzParameters, fuzzSeed } from './fuzz.ts';
import { scaled } from './scale.ts';

const seed = fuzzSeed('fuzz-table');

/** A valid table document to mutate. */
const GOOD = {
  version: 4,
  defaults: { timeouts: { connect: '1s' }, healthCheck: { interval: '2s' }, connectAttempts: 2 },
  listeners: [
    {
      service: 'default/web',
      portName: 'http',
      vip: '192.0.2.10',
      port: 80,
      backends: [
        { node: 'a', address: '10.0.0.1', nodePort: 30080 },
        { node: 'b', address: '10.0.0.2', nodePort: 30080 },
      ],
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 31000,
      algorithm: 'least-connections',
      proxyProtocol: 'v2',
      loadBalancerSourceRanges: ['203.0.113.0/24'],
      maxConnections: 100,
      timeouts: { idle: '5m', drain: '10s' },
    },
    {
      service: 'shop/api',
      vip: '2001:db8::5',
      port: 443,
      backends: [{ address: 'fd00::1', nodePort: 30443 }],
    },
  ],
};

/** Hostile YAML written by hand: cycles through aliases, an alias bomb, deep nesting, odd tags. */
const HOSTILE = [
  '&a [*a]',
  '&a {listeners: *a}',
  'listeners: &a [*a]',
  'listeners: [&l {service: default/web, vip: 192.0.2.1, port: 80, backends: [*l]}]',
  'version: &v {a: *v}\nlisteners: []',
  'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
  `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
  `listeners: ${'['.repeat(3000)}${']'.repeat(3000)}`,
  `listeners:\n  - ${'{a: '.repeat(2000)}1${'}'.repeat(2000)}`,
  'version: !!binary aGVsbG8=\nlisteners: []',
  'version: 99999999999999999999999999\nlisteners: []',
  'listeners: [{service: a/b, vip: 192.0.2.1, port: 80, healthCheck: {interval: 99999999999h, timeout: 1e30}}]',
  'defaults: {timeouts: {idle: 2147483648}}\nlisteners: []',
  'listeners: [{service: default/web, vip: 192.0.2.1, port: 80, __proto__: {polluted: true}}]',
  '{"listeners": [{"service": "default/web", "vip": "192.0.2.1", "port": 80, "constructor": {"prototype": {"x": 1}}}]}',
  '--- !!set\n? a\n? b',
  'listeners: !!omap [a: 1, b: 2]',
  '<<: {listeners: []}',
  '\u0000\u0001\u0002',
  '\uFEFFlisteners: []',
];

/** Every listener of an accepted table survives a round trip through the documented format. */
function assertSound(r: Result<ForwardingTable>): void {
  // Nothing, parser or test, may have added keys to the shared prototypes.
  assert.deepEqual(Object.keys(Object.prototype), [], 'Object.prototype untouched');
  assert.deepEqual(Object.keys(Array.prototype), [], 'Array.prototype untouched');
  if (!r.ok) {
    assert.ok(r.problems.length > 0, 'a refused table names at least one problem');
    for (const p of r.problems) assertProblem(p, ['table.']);
    return;
  }
  assert.ok(Number.isSafeInteger(r.value.version) && r.value.version >= 0);
  for (const l of r.value.listeners) {
    const t = l.timeouts;
    const h = l.healthTiming;
    for (const ms of [t.connectMs, t.idleMs, t.halfClosedMs, t.drainMs, h.intervalMs, h.timeoutMs]) {
      assert.ok(ms >= 0 && ms <= MAX_DURATION_MS, `duration ${ms} fits a timer`);
    }
    for (const n of [l.maxConnections, l.connectAttempts, h.rise, h.fall]) assert.ok(Number.isSafeInteger(n));
  }
  const again = parseTable({ version: r.value.version, listeners: r.value.listeners.map(renderListener) });
  assert.ok(again.ok, `an accepted table re-parses: ${again.ok ? '' : JSON.stringify(again.problems)}`);
  assert.deepEqual(again.value, r.value);
}

/** A path into GOOD and a value to put there. */
const mutation = fc.record({
  path: fc.array(
    fc.oneof(
      fc.constantFrom('listeners', 'defaults', 'backends', 'timeouts', 'healthCheck', 'version'),
      fc.nat(3),
      fc.string({ maxLength: 12 }),
    ),
    { minLength: 1, maxLength: 5 },
  ),
  value: fc.anything({ maxDepth: 3, withBigInt: false, withNullPrototype: true, withObjectString: true }),
});

/** Set an own property, as JSON.parse would: `__proto__` becomes a key, never a prototype change. */
function setOwn(o: object, key: string | number, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** GOOD with the value at `path` replaced; only own properties are walked, so the test cannot pollute prototypes. */
function mutate(path: readonly (string | number)[], value: unknown): unknown {
  const doc = structuredClone(GOOD) as Record<string | number, unknown>;
  let at: Record<string | number, unknown> = doc;
  for (const [i, key] of path.entries()) {
    // A parsed document cannot give an array another length; that mutation stands for nothing real.
    if (Array.isArray(at) && key === 'length') break;
    const next = Object.hasOwn(at, key) ? at[key] : undefined;
    if (i === path.length - 1 || typeof next !== 'object' || next === null) {
      setOwn(at, key, value);
      break;
    }
    at = next as Record<string | number, unknown>;
  }
  return doc;
}

describe(`fuzz: the forwarding table file (seed ${seed})`, { timeout: scaled(120_000, 3_600_000) }, () => {
  it('the hostile YAML examples are refused with problems, never a throw', () => {
    for (const text of HOSTILE) assertSound(parseTableText(text, 'hostile.yaml'));
  });

  it('arbitrary text never throws and is refused or accepted soundly', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => assertSound(parseTableText(text))),
      fuzzParameters(seed),
    );
  });

  it('arbitrary byte strings (UTF-8 and Latin-1 decoded) never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const buf = Buffer.from(bytes);
        assertSound(parseTableText(buf.toString('utf8')));
        assertSound(parseTableText(buf.toString('latin1')));
      }),
      fuzzParameters(seed),
    );
  });

  it('arbitrary YAML and JSON documents never throw', () => {
    const doc = fc.anything({
      maxDepth: 4,
      withBigInt: false,
      withObjectString: true,
      withNullPrototype: true,
    });
    fc.assert(
      fc.property(doc, fc.boolean(), (d, asJson) => {
        let text: string;
        try {
          text = asJson ? (JSON.stringify(d) ?? 'null') : toYaml(d);
        } catch {
          return; // not representable; nothing to feed
        }
        assertSound(parseTableText(text));
        assertSound(parseTable(d));
      }),
      fuzzParameters(seed),
    );
  });

  it('a valid table with one field replaced by anything is refused with problems or still sound', () => {
    fc.assert(
      fc.property(mutation, ({ path, value }) => {
        const doc = mutate(path, value);
        assertSound(parseTable(doc));
        let text: string | undefined;
        try {
          text = JSON.stringify(doc);
        } catch {
          text = undefined;
        }
        if (text !== undefined) assertSound(parseTableText(text));
      }),
      fuzzParameters(seed),
    );
  });
});

describe('the speaker keeps its last good table through hostile table files', { timeout: 120_000 }, () => {
  let dir: string;
  let backend: Backend;
  let speaker: Speaker;
  let path: string;
  let vip: string;
  let port: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-fuzzfile-'));
    backend = await startBackend();
    vip = loopbackAddress();
    port = await freePort(vip);
    path = join(dir, 'table.yaml');
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        listeners: [
          {
            service: 'default/web',
            vip,
            port,
            healthCheck: { type: 'tcp' },
            backends: [{ address: backend.address, nodePort: backend.port }],
          },
        ],
      }),
    );
    speaker = await startTestSpeaker({
      tablePath: path,
      health: new RecordingHealth(),
      // Reloads are driven by the test; the watcher must not race it.
      debounceMs: 60_000,
    });
  });

  after(async () => {
    await speaker?.stop();
    await backend?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses each hostile or fuzzed file whole, keeps serving, and applies a good file after them', async () => {
    const files = [...HOSTILE];
    fc.assert(
      fc.property(mutation, ({ path: p, value }) => {
        try {
          files.push(toYaml(mutate(p, value)));
        } catch {
          // not representable as YAML
        }
      }),
      fuzzParameters(seed, scaled(50, 2000)),
    );
    let refused = 0;
    for (const text of files) {
      await writeFile(path, text);
      const served = speaker.table;
      const outcome = await speaker.reload('fuzz', true);
      assert.equal(outcome, parseTableText(text).ok ? 'applied' : 'refused');
      if (outcome === 'refused') {
        refused++;
        assert.equal(speaker.table, served, 'the served table is untouched by a refused file');
      }
    }
    assert.ok(refused > files.length / 2, `${refused} of ${files.length} refused`);
    // A good table restores the VIP (the last accepted fuzz table may have moved it).
    await writeFile(
      path,
      JSON.stringify({
        version: 2,
        listeners: [
          {
            service: 'default/web',
            vip,
            port,
            healthCheck: { type: 'tcp' },
            backends: [{ address: backend.address, nodePort: backend.port }],
          },
        ],
      }),
    );
    assert.equal(await speaker.reload('fuzz', true), 'applied');
    const got = await roundTrip(vip, port, 'still here');
    assert.equal(got.data.toString(), 'still here');
  });
});
