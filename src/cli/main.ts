// The `mesh` binary. Each subcommand lives in its own cmd-<name>.ts and registers itself here; a command
// returns data or throws CliError, and this file turns that into output and an exit code.
import { Command, CommanderError } from 'commander';
import { CliError, ExitCode } from './errors.js';
import { readFileSync } from 'node:fs';
import { registerApiserver } from './cmd-apiserver.js';
import { registerDemo } from './cmd-demo.js';
import { registerSandbox } from './cmd-sandbox.js';
import { registerInstall } from './cmd-install.js';
import { registerLink } from './cmd-link.js';
import { registerExport } from './cmd-export.js';
import { registerLinks } from './cmd-links.js';
import { registerGateways } from './cmd-gateways.js';
import { registerCheck } from './cmd-check.js';
import { registerController } from './cmd-controller.js';
import { registerTrust } from './cmd-trust.js';
import { registerApp } from './cmd-app.js';
import { registerGateway } from './cmd-gateway.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('mesh')
    .description('Mesh federation: link Kubernetes clusters, mirror exported Services, carry traffic over mTLS')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  // Subcommands register below, one line each.
  registerApiserver(program);
  registerDemo(program);
  registerSandbox(program);
  registerInstall(program);
  registerLink(program);
  registerExport(program);
  registerLinks(program);
  registerGateways(program);
  registerCheck(program);
  registerController(program);
  registerTrust(program);
  registerApp(program);
  registerGateway(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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
