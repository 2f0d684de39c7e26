/**
 * The manifest file as an object source: read at start, re-read when the file changes (including
 * an editor's rename-over) or on demand. A file that stops parsing is refused with its problems
 * logged, and the last good objects keep being served.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { formatProblem, UserError } from '../../../shared/errors.ts';
import type { Logger } from '../../../shared/log.ts';
import type { ObjectSource } from '../../loop/controller-loop.ts';
import type { ClusterObjects } from '../../loop/reconcile.ts';
import { loadManifestFile } from './file.ts';

/** Reads objects from a multi-document YAML file and follows its changes. */
export class ManifestSource implements ObjectSource {
  private readonly path: string;
  private readonly logger: Logger;
  private objects: ClusterObjects | undefined;
  private readonly listeners: (() => void)[] = [];
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor(path: string, logger: Logger) {
    this.path = path;
    this.logger = logger;
  }

  /** Read the file; a bad file at start is a UserError (the caller exits 2). */
  async start(): Promise<void> {
    const loaded = loadManifestFile(this.path);
    for (const w of loaded.warnings)
      this.logger.warn({ event: 'manifest-warning', reason: w.code }, formatProblem(w));
    this.objects = loaded.objects;
    // Watch the directory, not the file: editors and `mv` replace the file, which ends a file watch.
    this.watcher = watch(dirname(this.path), (_event, name) => {
      if (name !== null && name !== basename(this.path)) return;
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.reload(), 100);
    });
    this.watcher.on('error', (err) =>
      this.logger.error({ event: 'manifest-watch-failed', err }, 'cannot watch the manifest'),
    );
  }

  snapshot(): ClusterObjects {
    if (!this.objects) throw new Error('ManifestSource.snapshot() before start()');
    return this.objects;
  }

  onChange(listener: () => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Re-read the file now (also used for SIGHUP). Keeps the last good objects on any problem. */
  reload(): void {
    try {
      const loaded = loadManifestFile(this.path);
      this.objects = loaded.objects;
      this.logger.info({ event: 'manifest-reloaded', file: this.path }, 'manifest reloaded');
      for (const l of this.listeners) l();
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      for (const p of err.problems) {
        this.logger.error(
          { event: 'manifest-refused', reason: p.code },
          `${formatProblem(p)} (keeping the last good manifest)`,
        );
      }
    }
  }

  async stop(): Promise<void> {
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
