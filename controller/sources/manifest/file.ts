/** Reading a manifest file at the CLI boundary: its objects, or a UserError a person can act on. */
import { readFileSync } from 'node:fs';
import type { Problem } from '../../../shared/errors.ts';
import { UserError } from '../../../shared/errors.ts';
import type { ClusterObjects } from '../../loop/reconcile.ts';
import { parseManifest } from './parse.ts';

/** A loaded manifest: its objects and the warnings worth logging. */
export interface LoadedManifest {
  readonly objects: ClusterObjects;
  readonly warnings: readonly Problem[];
}

/** Read and parse `path`; a missing file or any structural problem is a UserError (exit 2). */
export function loadManifestFile(path: string): LoadedManifest {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new UserError([
      {
        code: 'manifest.unreadable',
        object: path,
        field: '--config',
        value: JSON.stringify(path),
        message: `cannot read the manifest (${why}); pass a YAML file of IPAddressPools, Services and Nodes, e.g. examples/demo.yaml`,
      },
    ]);
  }
  const parsed = parseManifest(text, path);
  if (parsed.problems.length > 0) throw new UserError(parsed.problems);
  return { objects: parsed.objects, warnings: parsed.warnings };
}
