import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import { at, filesUnder, isRecord, parseYamlFile, REPO, yamlFiles } from './repo-files.ts';

function exists(repoPath: string): boolean {
  return existsSync(join(REPO, repoPath));
}

describe('YAML files', () => {
  const files = yamlFiles();

  it('include the deploy manifests, the compose file and the compose example', () => {
    for (const f of ['deploy/kustomization.yaml', 'docker-compose.yml', 'examples/compose/cluster.yaml'])
      assert.ok(files.includes(f), f);
  });

  for (const file of files) {
    it(`${file} parses, every document a mapping (or empty, which kubectl skips)`, () => {
      const docs = parseYamlFile(file);
      assert.ok(docs.some((d) => isRecord(d.value)));
      for (const d of docs)
        assert.ok(d.value === null || isRecord(d.value), `${file} document ${d.index} is not a mapping`);
    });
  }
});

describe('deploy/kustomization.yaml', () => {
  const kustomization = parseYamlFile('deploy/kustomization.yaml')[0]!.value;
  const resources = (at(kustomization, 'resources') as string[]).map((r) => normalize(join('deploy', r)));

  it('names only files that exist', () => {
    for (const r of resources) assert.ok(exists(r), `${r} is missing`);
  });

  it('names every manifest under deploy/, so `kubectl apply -k deploy/` installs all of them', () => {
    const manifests = filesUnder('deploy', /\.ya?ml$/).filter((f) => f !== 'deploy/kustomization.yaml');
    assert.deepEqual([...resources].sort(), manifests);
  });
});

describe('docker-compose.yml', () => {
  const compose = parseYamlFile('docker-compose.yml')[0]!.value;
  const services = at(compose, 'services') as Record<string, Record<string, unknown>>;

  it('builds from a context that has a Dockerfile', () => {
    const contexts = new Set<string>();
    for (const svc of Object.values(services)) {
      const build = svc['build'];
      if (build === undefined) continue;
      const context = typeof build === 'string' ? build : String(at(build, 'context') ?? '.');
      const dockerfile =
        typeof build === 'string' ? 'Dockerfile' : String(at(build, 'dockerfile') ?? 'Dockerfile');
      contexts.add(normalize(join(context, dockerfile)));
    }
    assert.ok(contexts.size > 0, 'some service builds the image');
    for (const c of contexts) assert.ok(exists(c), `${c} is missing`);
  });

  it('mounts only host files that exist', () => {
    let mounts = 0;
    for (const [name, svc] of Object.entries(services))
      for (const v of (svc['volumes'] as unknown[] | undefined) ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0]! : String(at(v, 'source'));
        if (!source.startsWith('.') && !source.startsWith('/')) continue;
        mounts++;
        assert.ok(exists(source), `${name}: ${source} is missing`);
      }
    assert.ok(mounts >= 3);
  });

  it('passes the controller a manifest that exists, through a mount', () => {
    const controller = services['controller']!;
    const config = (controller['command'] as string[]).find((a) => a.startsWith('--config='));
    assert.ok(config, 'controller runs in manifest mode');
    const inContainer = config.slice('--config='.length);
    const mount = (controller['volumes'] as string[]).find((v) => v.split(':')[1] === inContainer);
    assert.ok(mount, `${inContainer} is mounted`);
    assert.ok(exists(mount.split(':')[0]!));
  });

  it('loads the dashboard that deploy/ ships into the demo Grafana', () => {
    const grafana = services['grafana']!;
    const sources = (grafana['volumes'] as string[]).map((v) => normalize(v.split(':')[0]!));
    assert.ok(sources.includes('deploy/grafana-dashboard.json'));
  });
});
