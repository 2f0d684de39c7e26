/**
 * The .dockerignore rules as BuildKit applies them, for the patterns our file uses: `*`, `?` and `**`
 * globs, `!` exceptions, and a pattern that matches a directory excluding everything under it. The
 * last matching pattern wins.
 */

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The patterns of a .dockerignore text, comments and blank lines dropped. */
export function parseDockerignore(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Whether a context-relative path (`bin/cli.ts`) is left out of the build context. */
export function isIgnored(path: string, patterns: readonly string[]): boolean {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  let ignored = false;
  for (const raw of patterns) {
    const exception = raw.startsWith('!');
    const glob = (exception ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = globToRegExp(glob);
    for (let i = 1; i <= parts.length; i++) {
      if (re.test(parts.slice(0, i).join('/'))) {
        ignored = !exception;
        break;
      }
    }
  }
  return ignored;
}
