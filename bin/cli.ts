/**
 * The root of the `switchyard` command line: global flags and the subcommands. Each subcommand is a
 * yargs module exported by its binary's `main.ts`; logic lives in the modules those wire together.
 */
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { planCommand } from '../controller/plan-command.ts';
import { formatProblem, UserError } from '../shared/errors.ts';
import { speakerCommand } from '../speaker/main.ts';

// biome-ignore lint/suspicious/noExplicitAny: yargs command modules differ in their argument types.
const commands: CommandModule<any, any>[] = [planCommand, speakerCommand];

try {
  await yargs(hideBin(process.argv))
    .scriptName('switchyard')
    .env('SWITCHYARD')
    .option('log-level', {
      type: 'string',
      default: 'info',
      choices: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
      describe: 'Least severe log level written',
    })
    .option('log-format', {
      type: 'string',
      default: 'json',
      choices: ['json', 'pretty'],
      describe: 'NDJSON for machines, or colourised lines for people',
    })
    .command(commands)
    .demandCommand(1, 'Name a command: see `switchyard --help`.')
    .strict()
    .help()
    .alias('help', 'h')
    .version()
    .parseAsync();
} catch (err) {
  // A user error is one clear line per problem and a non-zero exit, never a stack trace.
  if (err instanceof UserError) {
    for (const p of err.problems) process.stderr.write(`error: ${formatProblem(p)}\n`);
    process.exit(err.exitCode);
  }
  throw err;
}
