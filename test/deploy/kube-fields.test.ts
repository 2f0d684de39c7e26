import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldProblems, modelFor } from './kube-fields.ts';
import { kubeObjects, yamlFiles } from './repo-files.ts';

const files = yamlFiles().filter((f) => f.startsWith('deploy/') || f.startsWith('examples/'));

describe('built-in Kubernetes objects', () => {
  it('covers the deploy manifests: workloads, RBAC, the CRD, Services', () => {
    const kinds = new Set(
      files
        .flatMap(kubeObjects)
        .filter((o) => modelFor(String(o['apiVersion']), String(o['kind'])))
        .map((o) => String(o['kind'])),
    );
    for (const k of ['Deployment', 'DaemonSet', 'ClusterRole', 'CustomResourceDefinition', 'Service', 'Node'])
      assert.ok(kinds.has(k), k);
  });

  for (const file of files) {
    it(`${file}: every built-in object uses only fields of its type, with the right JSON types`, () => {
      for (const o of kubeObjects(file)) {
        const model = modelFor(String(o['apiVersion']), String(o['kind']));
        if (!model) continue;
        assert.deepEqual(fieldProblems(o, model), [], `${o['kind']} ${JSON.stringify(o['metadata'])}`);
      }
    });
  }

  it('reports a misplaced field, a number where a string belongs and a wrong list', () => {
    const daemonSet = {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'x' },
      spec: {
        selector: { matchLabels: { a: 'b' } },
        template: {
          spec: {
            hostNetwrok: true,
            containers: [{ name: 'c', env: [{ name: 'PORT', value: 8080 }], args: 'speaker' }],
          },
        },
      },
    };
    assert.deepEqual(fieldProblems(daemonSet, modelFor('apps/v1', 'DaemonSet')!), [
      'spec.template.spec.hostNetwrok: unknown field of V1PodSpec',
      'spec.template.spec.containers[0].env[0].value: expected a string, got 8080',
      'spec.template.spec.containers[0].args: expected a list',
    ]);
  });
});
