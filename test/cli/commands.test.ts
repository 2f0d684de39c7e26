/**
 * Which subcommand modules the CLI imports for an argument list (bin/commands.ts): only the named
 * command's, none for a bare `--version`, and every one where yargs lists them all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMMAND_LOADERS, commandsFor } from '../../bin/commands.ts';
import { commandNames } from '../../bin/env-options.ts';

const ALL = Object.keys(COMMAND_LOADERS);

async function names(args: string[]): Promise<string[]> {
  return (await commandsFor(args)).flatMap((c) => commandNames(c));
}

describe('commandsFor', () => {
  it('imports only the command the first word names', async () => {
    assert.deepEqual(await names(['plan', '--config', 'examples/demo.yaml']), ['plan']);
    assert.deepEqual(await names(['status', '--url', 'http://127.0.0.1:9470']), ['status']);
  });

  it('imports none for a bare --version', async () => {
    assert.deepEqual(await names(['--version']), []);
  });

  it('imports every command for root help, no command, or a word that names none', async () => {
    assert.deepEqual(await names(['--help']), ALL);
    assert.deepEqual(await names(['--version', '--help']), ALL);
    assert.deepEqual(await names([]), ALL);
    assert.deepEqual(await names(['bogus']), ALL);
    assert.deepEqual(await names(['toString']), ALL, 'an Object.prototype name is no command');
  });

  it('has a loader under each command’s own name, in --help order', async () => {
    for (const [name, load] of Object.entries(COMMAND_LOADERS)) {
      assert.deepEqual(commandNames(await load()), [name]);
    }
  });
});
