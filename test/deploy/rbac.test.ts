import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { at, deployObjects, type KubeObject, theObject } from './repo-files.ts';

const objects = deployObjects();
const NS = 'switchyard-system';

/** One permission per line, `group resource verb` ("core" for the empty group), sorted. */
function permissions(role: KubeObject): string[] {
  const out: string[] = [];
  for (const rule of (role['rules'] as KubeObject[] | undefined) ?? []) {
    assert.equal(rule['resourceNames'], undefined, 'the allowlist has no resourceNames rules');
    assert.equal(rule['nonResourceURLs'], undefined, 'the allowlist has no nonResourceURLs rules');
    for (const group of rule['apiGroups'] as string[])
      for (const resource of rule['resources'] as string[])
        for (const verb of rule['verbs'] as string[]) out.push(`${group || 'core'} ${resource} ${verb}`);
  }
  return out.sort();
}

function expand(spec: [groups: string[], resources: string[], verbs: string[]][]): string[] {
  return spec
    .flatMap(([groups, resources, verbs]) =>
      groups.flatMap((g) => resources.flatMap((r) => verbs.map((v) => `${g} ${r} ${v}`))),
    )
    .sort();
}

/** The controller's cluster-wide allowlist: exactly this, nothing more. */
const CONTROLLER_CLUSTER = expand([
  [['core'], ['services'], ['get', 'list', 'watch', 'patch']],
  [['core'], ['services/status'], ['patch']],
  [['core'], ['nodes', 'namespaces'], ['list', 'watch']],
  [['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']],
  [['core', 'events.k8s.io'], ['events'], ['create', 'patch']],
  [['switchyard.io'], ['ipaddresspools'], ['get', 'list', 'watch']],
  [['switchyard.io'], ['ipaddresspools/status'], ['patch']],
]);

/** Leader election, in the controller's namespace only. */
const CONTROLLER_LEADER_ELECTION = expand([
  [['coordination.k8s.io'], ['leases'], ['get', 'create', 'update']],
]);

const bindings = objects.filter((o) => o['kind'] === 'ClusterRoleBinding' || o['kind'] === 'RoleBinding');

function subjectsOf(binding: KubeObject): string[] {
  return ((binding['subjects'] as KubeObject[] | undefined) ?? []).map(
    (s) => `${s['kind']} ${s['namespace'] ?? at(binding, 'metadata.namespace')}/${s['name']}`,
  );
}

describe('RBAC', () => {
  it('grants the controller ClusterRole exactly the allowlist', () => {
    const role = theObject(objects, 'ClusterRole', 'switchyard-controller');
    assert.deepEqual(permissions(role), CONTROLLER_CLUSTER);
  });

  it('grants leader election exactly get/create/update on leases, in switchyard-system only', () => {
    const role = theObject(objects, 'Role', 'switchyard-controller-leader-election');
    assert.equal(at(role, 'metadata.namespace'), NS);
    assert.deepEqual(permissions(role), CONTROLLER_LEADER_ELECTION);
  });

  it('defines no other Role or ClusterRole', () => {
    const roles = objects
      .filter((o) => o['kind'] === 'Role' || o['kind'] === 'ClusterRole')
      .map((o) => `${o['kind']} ${at(o, 'metadata.name')}`)
      .sort();
    assert.deepEqual(roles, [
      'ClusterRole switchyard-controller',
      'Role switchyard-controller-leader-election',
    ]);
  });

  it('binds each controller role to the controller ServiceAccount and to nothing else', () => {
    const bound = bindings
      .map(
        (b) =>
          `${b['kind']} ${at(b, 'roleRef.kind')}/${at(b, 'roleRef.name')} -> ${subjectsOf(b).join(', ')}`,
      )
      .sort();
    assert.deepEqual(bound, [
      `ClusterRoleBinding ClusterRole/switchyard-controller -> ServiceAccount ${NS}/controller`,
      `RoleBinding Role/switchyard-controller-leader-election -> ServiceAccount ${NS}/controller`,
    ]);
  });

  it('gives the speaker no binding and no token', () => {
    for (const b of bindings)
      assert.ok(
        !subjectsOf(b).some((s) => s.endsWith('/speaker')),
        `${at(b, 'metadata.name')} binds the speaker`,
      );
    const sa = theObject(objects, 'ServiceAccount', 'speaker');
    assert.equal(sa['automountServiceAccountToken'], false);
    const ds = theObject(objects, 'DaemonSet', 'speaker');
    assert.equal(at(ds, 'spec.template.spec.serviceAccountName'), 'speaker');
    assert.equal(at(ds, 'spec.template.spec.automountServiceAccountToken'), false);
  });
});
