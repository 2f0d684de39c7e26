/**
 * The forwarding table from a file: read and parse it (YAML or JSON), and notice when it changes.
 * The directory is watched, not the file, so that an atomic replace (write a temporary file, rename
 * it over the table) and Kubernetes ConfigMap updates (a symlink swapped in the directory) are both
 * seen; events are debounced and the caller compares content, so spurious events cost one read.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Result } from '../shared/errors.ts';
import type { ForwardingTable } from '../shared/model.ts';
import { parseTableText } from '../shared/table-parse.ts';

/** Default quiet time after the last file event before the table is re-read. */
export const DEFAULT_DEBOUNCE_MS = 200;

/** The file's text (empty when unreadable) and the parse result. */
export interface TableRead {
  readonly text: string;
  readonly result: Result<ForwardingTable>;
}

/** Read and parse the table file; an unreadable file is a problem like any other. */
export async function readTableFile(path: string): Promise<TableRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return {
      text: '',
      result: {
        ok: false,
        problems: [
          {
            code: 'table.unreadable',
            object: path,
            field: '(file)',
            value: JSON.stringify(path),
            message: `cannot read the table file (${code}); check --table and the file's permissions`,
          },
        ],
      },
    };
  }
  return { text, result: parseTableText(text, path) };
}

/** A running watch; `close` stops it. */
export interface TableWatch {
  close(): void;
}

/** Call `onChange` (debounced) whenever anything in the table file's directory changes. */
export function watchTableFile(
  path: string,
  onChange: () => void,
  debounceMs = DEFAULT_DEBOUNCE_MS,
): TableWatch {
  let timer: NodeJS.Timeout | null = null;
  const fire = () => {
    timer = null;
    onChange();
  };
  const watcher: FSWatcher = watch(dirname(path), { persistent: false }, () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  });
  return {
    close() {
      if (timer) clearTimeout(timer);
      watcher.close();
    },
  };
}
