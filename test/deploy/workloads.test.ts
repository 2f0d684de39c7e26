import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGREED_FLAGS, commandLine, flagOfEnv } from './cli-flags.ts';
import { at, deployObjects, type KubeObject, readRepoFile, theObject } from './repo-files.ts';

const objects = deployObjects();
const version = (JSON.parse(readRepoFile('package.json')) as { version: string }).version;

function containers(workload: KubeObject): KubeObject[] {
  return (at(workload, 'spec.template.spec.containers') as KubeObject[] | undefined) ?? [];
}

function onlyContainer(workload: KubeObject): KubeObject {
  const list = containers(workload);
  assert.equal(list.length, 1, `${at(workload, 'metadata.name')} has one container`);
  return list[0]!;
}

const workloads = objects.filter((o) =>
  ['Deployment', 'DaemonSet', 'StatefulSet'].includes(String(o['kind'])),
);
const speaker = theObject(objects, 'DaemonSet', 'speaker');
const controller = theObject(objects, 'Deployment', 'controller');

describe('speaker DaemonSet', () => {
  const c = onlyContainer(speaker);
  const sc = (c['securityContext'] ?? {}) as KubeObject;

  it('runs on the host network so it can own VIPs on the node', () => {
    assert.equal(at(speaker, 'spec.template.spec.hostNetwork'), true);
    assert.equal(at(speaker, 'spec.template.spec.dnsPolicy'), 'ClusterFirstWithHostNet');
  });

  it('drops every capability and adds back exactly NET_ADMIN, NET_RAW and NET_BIND_SERVICE', () => {
    assert.deepEqual(at(sc, 'capabilities.drop'), ['ALL']);
    assert.deepEqual([...(at(sc, 'capabilities.add') as string[])].sort(), [
      'NET_ADMIN',
      'NET_BIND_SERVICE',
      'NET_RAW',
    ]);
    assert.notEqual(sc['privileged'], true);
  });

  it('has a read-only root filesystem and no privilege escalation', () => {
    assert.equal(sc['readOnlyRootFilesystem'], true);
    assert.equal(sc['allowPrivilegeEscalation'], false);
  });

  it('announces in l2 mode on a named interface, as its node', () => {
    const args = (c['args'] as string[]).map(String);
    assert.ok(args.includes('--announce=l2'));
    assert.ok(args.some((a) => /^--interface=\S+$/.test(a)));
    assert.ok(args.includes('--node-name=$(NODE_NAME)'));
    const env = (c['env'] as KubeObject[]).find((e) => e['name'] === 'NODE_NAME');
    assert.equal(at(env, 'valueFrom.fieldRef.fieldPath'), 'spec.nodeName');
  });

  it('has --interface where the overlay patch in docs/operations.md replaces it', () => {
    const m = /path: \/spec\/template\/spec\/containers\/0\/args\/(\d+)\n\s*value: --interface=/.exec(
      readRepoFile('docs/operations.md'),
    );
    assert.ok(m, 'docs/operations.md has the --interface patch');
    assert.match(String((c['args'] as unknown[])[Number(m[1])]), /^--interface=/);
  });

  it('leaves time to drain connections on a rolling update, one node at a time', () => {
    assert.ok(Number(at(speaker, 'spec.template.spec.terminationGracePeriodSeconds')) >= 30);
    assert.equal(at(speaker, 'spec.updateStrategy.rollingUpdate.maxUnavailable'), 1);
  });
});

describe('speaker liveness', () => {
  it('restarts a speaker whose /livez fails: its VIP ownership loop stopped ticking', () => {
    const probe = at(onlyContainer(speaker), 'livenessProbe') as KubeObject;
    assert.equal(at(probe, 'httpGet.path'), '/livez');
    assert.equal(at(probe, 'httpGet.port'), 'metrics');
    // The speaker's metrics endpoint must listen beyond loopback for the kubelet to reach it.
    assert.ok((onlyContainer(speaker)['args'] as string[]).includes('--metrics-address=0.0.0.0:9470'));
  });
});

describe('Redis Deployment', () => {
  const redis = theObject(objects, 'Deployment', 'redis');
  const args = ((onlyContainer(redis)['args'] as unknown[]) ?? []).map(String);
  const flag = (name: string) => args[args.indexOf(`--${name}`) + 1];

  it('keeps its data across a container restart (append-only file), so leases and registrations survive', () => {
    assert.equal(flag('appendonly'), 'yes');
    const mounts = (at(onlyContainer(redis), 'volumeMounts') as KubeObject[]).map((m) => m['mountPath']);
    assert.ok(mounts.includes('/data'), 'the append-only file lives on a volume, not the read-only root');
  });

  it('refuses writes rather than evicting keys when memory runs out, under its memory limit', () => {
    assert.equal(flag('maxmemory-policy'), 'noeviction');
    assert.match(flag('maxmemory') ?? '', /^\d+mb$/);
  });

  it('never runs two Redis pods at once (Recreate), so speakers cannot split between two stores', () => {
    assert.equal(at(redis, 'spec.strategy.type'), 'Recreate');
    assert.equal(at(redis, 'spec.replicas'), 1);
  });
});

describe('controller Deployment', () => {
  const c = onlyContainer(controller);

  it('runs two replicas with leader election on', () => {
    assert.equal(at(controller, 'spec.replicas'), 2);
    const args = (c['args'] as string[]).map(String);
    assert.ok(
      args.includes('--leader-elect') || args.includes('--leader-elect=true'),
      'controller args turn on --leader-elect',
    );
    assert.equal(at(controller, 'spec.template.spec.serviceAccountName'), 'controller');
  });

  it('runs as non-root with every capability dropped and a read-only root filesystem', () => {
    assert.equal(at(controller, 'spec.template.spec.securityContext.runAsNonRoot'), true);
    assert.deepEqual(at(c, 'securityContext.capabilities.drop'), ['ALL']);
    assert.equal(at(c, 'securityContext.readOnlyRootFilesystem'), true);
    assert.equal(at(c, 'securityContext.allowPrivilegeEscalation'), false);
  });
});

describe('every workload', () => {
  it('passes only agreed flags and no SWITCHYARD_* variable the CLI does not know', () => {
    for (const w of workloads)
      for (const c of containers(w)) {
        if (!String(c['image']).includes('/switchyard:')) continue;
        const { command, flags } = commandLine((c['args'] as unknown[] | undefined) ?? []);
        const agreed = AGREED_FLAGS[command];
        assert.ok(agreed, `${at(w, 'metadata.name')}: unknown subcommand ${command}`);
        for (const f of flags)
          assert.ok(agreed.includes(f), `${at(w, 'metadata.name')}: --${f} is not a ${command} flag`);
        for (const e of (c['env'] as KubeObject[] | undefined) ?? []) {
          const flag = flagOfEnv(String(e['name']));
          if (flag !== null)
            assert.ok(agreed.includes(flag), `${at(w, 'metadata.name')}: ${e['name']} is not a flag`);
        }
      }
  });

  it(`runs the Switchyard image of this release (${version}) and sets requests and a memory limit`, () => {
    const images = new Set<string>();
    for (const w of workloads)
      for (const c of containers(w)) {
        if (String(c['image']).includes('/switchyard:')) images.add(String(c['image']));
        assert.ok(at(c, 'resources.requests.cpu'), `${at(w, 'metadata.name')}/${c['name']}: cpu request`);
        assert.ok(at(c, 'resources.limits.memory'), `${at(w, 'metadata.name')}/${c['name']}: memory limit`);
      }
    assert.deepEqual([...images], [`ghcr.io/switchyard/switchyard:${version}`]);
  });

  it('lives in switchyard-system', () => {
    for (const w of workloads) assert.equal(at(w, 'metadata.namespace'), 'switchyard-system');
  });
});
