import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BIN, runCli } from './run-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'sy-plan-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function manifest(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const POOL = (name: string, addresses: string) =>
  `apiVersion: switchyard.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: ${name}, namespace: switchyard-system}\nspec: {addresses: [${addresses}]}\n`;
const SVC = (name: string, extra = '') =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default${extra}}\nspec: {type: LoadBalancer, ports: [{port: 80, nodePort: 30080}]}\n`;

describe('switchyard plan', () => {
  it('prints the demo allocation as JSON in the documented shape', async () => {
    const r = await runCli(['plan', '--config', 'examples/demo.yaml', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ['pools', 'services']);
    const web = out.services.find((s: { name: string }) => s.name === 'web');
    assert.deepEqual(web, { namespace: 'demo', name: 'web', ips: ['127.0.10.1'], pool: 'demo', error: null });
    assert.deepEqual(Object.keys(out.pools[0]).sort(), [
      'assignedIPv4',
      'assignedIPv6',
      'availableIPv4',
      'availableIPv6',
      'name',
    ]);
  });

  it('reports a Service that gets no IP as a result with its reason, exit 0', async () => {
    const path = manifest('full.yaml', `${POOL('one', '192.0.2.1/32')}---\n${SVC('a')}---\n${SVC('b')}`);
    const r = await runCli(['plan', '--config', path, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const failed = out.services.filter((s: { error: string | null }) => s.error !== null);
    assert.equal(failed.length, 1);
    assert.deepEqual(failed[0].ips, []);
    assert.match(failed[0].error, /no (free|available)/i);
    assert.equal(out.pools[0].assignedIPv4, 1);
  });

  it('exits 2 naming the file, document and field for a malformed document', async () => {
    const path = manifest(
      'bad.yaml',
      `${POOL('one', '192.0.2.0/30')}---\napiVersion: v1\nkind: Service\nmetadata: {namespace: default}\nspec: {}\n`,
    );
    const r = await runCli(['plan', '--config', path]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml document 2/);
    assert.match(r.stderr, /metadata\.name/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('exits 2 naming both pools when two pools overlap', async () => {
    const path = manifest(
      'overlap.yaml',
      `${POOL('a', '192.0.2.0/28')}---\n${POOL('b', '192.0.2.8-192.0.2.20')}`,
    );
    const r = await runCli(['plan', '--config', path]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /overlap/i);
    assert.match(r.stderr, /\ba\b/);
    assert.match(r.stderr, /\bb\b/);
  });

  it('exits 2 with one clear line when the file does not exist', async () => {
    const r = await runCli(['plan', '--config', join(dir, 'missing.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: .*missing\.yaml.*no such file/m);
  });
});

describe('SWITCHYARD_* environment twins', () => {
  it('take effect for the command they name and are ignored with a warning otherwise', async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, 'plan', '--config', 'examples/demo.yaml'],
        {
          env: { ...process.env, SWITCHYARD_OUTPUT: 'json', SWITCHYARD_NODE_NAME: 'n1' },
          encoding: 'utf8',
          timeout: 30_000,
        },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      );
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(JSON.parse(r.stdout).services, 'SWITCHYARD_OUTPUT=json selected JSON output');
    assert.match(r.stderr, /ignoring SWITCHYARD_NODE_NAME/);
  });
});
