/**
 * The Redis password never leaves the process: the real CLI runs against a real redis-server with
 * requirepass, the password coming from $SWITCHYARD_REDIS_PASSWORD or --redis-password-file, in the
 * right, wrong, unreachable and misconfigured cases, at debug log level. Every byte of stdout and
 * stderr (and the speaker's /metrics text, with the secret in its environment) is searched for the
 * secret, in plain, URL-encoded and base64 forms.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { within } from '../speaker/loopback.ts';
import { report } from './scale.ts';
import { NODE, startSpeakerProcess } from './speaker-process.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/switchyard.mjs');
/** The secret, with characters that URL and shell quoting would change. */
const SECRET = `Sw1tch-${randomBytes(6).toString('hex')}/+@:%`;
const WRONG = `wrong-${randomBytes(6).toString('hex')}`;

/** Every form in which the secret could leak. */
function forms(secret: string): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString('base64'),
    JSON.stringify(secret).slice(1, -1),
  ];
}

interface Run {
  readonly code: number | null;
  readonly output: string;
}

/**
 * Run the CLI with `env`, stop it with SIGTERM soon after its output matches `stopOn` (or after
 * `runMs`) if it is still running, and return its exit code and everything it wrote.
 */
async function cli(
  args: readonly string[],
  env: Record<string, string>,
  runMs: number,
  stopOn?: RegExp,
): Promise<Run> {
  const child = spawn(NODE, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, SWITCHYARD_LOG_LEVEL: 'trace' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
    // Connected and running: let it run a moment longer (a first publish, more log lines), then stop.
    if (stopOn?.test(output)) setTimeout(() => child.kill('SIGTERM'), 300);
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const timer = setTimeout(() => child.kill('SIGTERM'), runMs);
  try {
    return { code: await within(runMs + 20_000, `switchyard ${args[0]}`, exited), output };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('the Redis password never appears in output', { timeout: 180_000 }, () => {
  let redis: TestRedis;
  let dir: string;
  let rightFile: string;
  let wrongFile: string;
  const seen: { name: string; code: number | null; bytes: number }[] = [];

  before(async () => {
    redis = await startRedis({ password: SECRET });
    dir = await mkdtemp(join(tmpdir(), 'switchyard-secrets-'));
    rightFile = join(dir, 'password');
    wrongFile = join(dir, 'wrong');
    await writeFile(rightFile, `${SECRET}\n`);
    await writeFile(wrongFile, `${WRONG}\n`);
  });

  after(async () => {
    report('secrets', {
      runs: seen.length,
      cases: seen.map((s) => `${s.name}:${s.code}:${s.bytes}B`).join(','),
    });
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const controller = (redisUrl: string, extra: string[] = []) => [
    'controller',
    '--config',
    'examples/demo.yaml',
    '--kube-proxy-health-port',
    '0',
    // Not the default port, which other test files' controllers may hold at the same moment.
    '--metrics-address',
    '127.0.0.1:0',
    '--redis-url',
    redisUrl,
    ...extra,
  ];

  const cases: {
    name: string;
    args: () => string[];
    env: () => Record<string, string>;
    /** The exit code it must end with (0: it connected and stopped on SIGTERM). */
    code: number;
    /** Text the output must contain, to prove the case did what it says. */
    expect: RegExp;
    secrets: () => string[];
  }[] = [
    {
      name: 'right password from the environment',
      args: () => controller(redis.url),
      env: () => ({ SWITCHYARD_REDIS_PASSWORD: SECRET }),
      code: 0,
      expect: /controller-started/,
      secrets: () => [SECRET],
    },
    {
      name: 'right password from a file',
      args: () => controller(redis.url, ['--redis-password-file', rightFile]),
      env: () => ({}),
      code: 0,
      expect: /controller-started/,
      secrets: () => [SECRET],
    },
    {
      name: 'wrong password from the environment',
      args: () => controller(redis.url),
      env: () => ({ SWITCHYARD_REDIS_PASSWORD: WRONG }),
      code: 1,
      expect: /Redis does not answer/,
      secrets: () => [SECRET, WRONG],
    },
    {
      name: 'wrong password from a file',
      args: () => controller(redis.url, ['--redis-password-file', wrongFile]),
      env: () => ({}),
      code: 1,
      expect: /Redis does not answer/,
      secrets: () => [SECRET, WRONG],
    },
    {
      name: 'no password where one is required',
      args: () => controller(redis.url),
      env: () => ({}),
      code: 1,
      expect: /Redis does not answer/,
      secrets: () => [SECRET],
    },
    {
      name: 'unreachable Redis',
      args: () => controller('redis://127.0.0.1:1'),
      env: () => ({ SWITCHYARD_REDIS_PASSWORD: SECRET }),
      code: 1,
      expect: /Redis does not answer/,
      secrets: () => [SECRET],
    },
    {
      name: 'password written into the URL',
      args: () => controller(`redis://user:${encodeURIComponent(SECRET)}@127.0.0.1:${redis.port}`),
      env: () => ({}),
      code: 2,
      expect: /password-in-url/,
      secrets: () => [SECRET],
    },
    {
      name: 'both a file and the environment',
      args: () => controller(redis.url, ['--redis-password-file', rightFile]),
      env: () => ({ SWITCHYARD_REDIS_PASSWORD: WRONG }),
      code: 2,
      expect: /ambiguous-password/,
      secrets: () => [SECRET, WRONG],
    },
    {
      name: 'a command-line mistake with the secret in the environment',
      args: () => controller(redis.url, ['--bogus-flag']),
      env: () => ({ SWITCHYARD_REDIS_PASSWORD: SECRET, SWITCHYARD_REDIS_SENTINEL_PASSWORD: WRONG }),
      code: 2,
      expect: /bogus-flag/,
      secrets: () => [SECRET, WRONG],
    },
  ];

  for (const c of cases) {
    it(`${c.name}: exit ${c.code}, and the secret appears nowhere in the output`, async () => {
      // A run that must fail exits on its own (Redis gets 5 s to answer); one that connects is stopped.
      const r = await cli(
        c.args(),
        c.env(),
        c.code === 0 ? 10_000 : 15_000,
        c.code === 0 ? c.expect : undefined,
      );
      seen.push({ name: c.name.replaceAll(' ', '-'), code: r.code, bytes: r.output.length });
      assert.equal(r.code, c.code, r.output.slice(-2000));
      assert.match(r.output, c.expect);
      for (const secret of c.secrets()) {
        for (const f of forms(secret))
          assert.ok(!r.output.includes(f), `the output holds the secret (${f}):\n${r.output.slice(0, 2000)}`);
      }
    });
  }

  it('the speaker with the secret in its environment: not in its logs or its /metrics text', async () => {
    const sp = await startSpeakerProcess({
      tablePath: join(dir, 'table.json'),
      table: { version: 1, listeners: [] },
      workers: 1,
      logLevel: 'trace',
      env: { SWITCHYARD_REDIS_PASSWORD: SECRET },
    });
    try {
      const metrics = await sp.metrics();
      assert.match(metrics, /switchyard_table_version 1/);
      assert.equal(await sp.stop(), 0);
      const everything = `${metrics}\n${JSON.stringify(sp.lines)}\n${sp.stderr()}`;
      seen.push({ name: 'speaker-metrics-and-logs', code: 0, bytes: everything.length });
      for (const f of forms(SECRET))
        assert.ok(!everything.includes(f), 'the speaker output holds the secret');
    } finally {
      sp.kill();
    }
  });
});
