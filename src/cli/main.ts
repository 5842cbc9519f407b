// The `mesh` binary: parses the command line with the program of program.ts (where each cmd-<name>.ts is
// registered); a command returns data or throws CliError, and this file turns that into output and an exit code.
import { CommanderError } from 'commander';
import { CliError, ExitCode } from './errors.js';
import { buildProgram } from './program.js';

async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.Ok;
      return ExitCode.Usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`mesh: ${err.message}\n`);
      if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
      return err.exitCode;
    }
    process.stderr.write(`mesh: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return ExitCode.Failure;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
