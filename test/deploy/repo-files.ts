/**
 * The deployment files under test, read from the repository: paths, YAML documents (multi-document,
 * `kind: List` flattened) and the objects of one kind. Shared by the tests in test/deploy/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

/** Absolute path of the repository root. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** A Kubernetes-style object as parsed from YAML; fields are read with the accessors below. */
export type KubeObject = Record<string, unknown>;

/** One parsed YAML document and where it came from. */
export interface YamlDoc {
  /** Repository-relative path. */
  readonly file: string;
  /** 1-based document number in the file. */
  readonly index: number;
  readonly value: unknown;
}

/** Repository-relative paths of every file under `dir` whose name matches `pattern`, sorted. */
export function filesUnder(dir: string, pattern: RegExp): string[] {
  const root = join(REPO, dir);
  const out: string[] = [];
  const walk = (abs: string): void => {
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(abs, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (pattern.test(name)) out.push(relative(REPO, p));
    }
  };
  walk(root);
  return out.sort();
}

/** Every YAML file the deploy tests cover: deploy/, examples/ and docker-compose.yml. */
export function yamlFiles(): string[] {
  const yaml = /\.ya?ml$/;
  return [...filesUnder('deploy', yaml), ...filesUnder('examples', yaml), 'docker-compose.yml'];
}

/** Text of a repository file. */
export function readRepoFile(file: string): string {
  return readFileSync(join(REPO, file), 'utf8');
}

/**
 * Parse every document of a YAML file; throws naming the file, document and error on the first
 * problem. Merge keys (`<<`) are resolved, as Docker Compose does.
 */
export function parseYamlFile(file: string): YamlDoc[] {
  const docs = parseAllDocuments(readRepoFile(file), { merge: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  return docs.map((d, i) => {
    const err = d.errors[0];
    if (err) throw new Error(`${file}, document ${i + 1}: ${err.message}`);
    return { file, index: i + 1, value: d.toJS({ maxAliasCount: 100 }) as unknown };
  });
}

/** The Kubernetes objects in a file, with the items of `kind: List` documents in their place. */
export function kubeObjects(file: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseYamlFile(file)) {
    if (!isRecord(doc.value)) continue;
    if (doc.value['kind'] === 'List' && Array.isArray(doc.value['items'])) {
      for (const item of doc.value['items']) if (isRecord(item)) out.push(item);
    } else out.push(doc.value);
  }
  return out;
}

/** Every object under deploy/ (one list over all its YAML files). */
export function deployObjects(): KubeObject[] {
  return filesUnder('deploy', /\.ya?ml$/)
    .filter((f) => !f.endsWith('kustomization.yaml'))
    .flatMap(kubeObjects);
}

/** Whether a value is a plain mapping. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at a dotted path (`spec.template.spec`), or undefined where any step is missing. */
export function at(v: unknown, path: string): unknown {
  let cur: unknown = v;
  for (const key of path.split('.')) {
    if (!isRecord(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** The one object of `kind` named `name`; fails the test when there is not exactly one. */
export function theObject(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.filter((o) => o['kind'] === kind && at(o, 'metadata.name') === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}
