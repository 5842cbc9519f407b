// The `mesh` program: every subcommand, registered lazily. Apart from main.ts (which runs it on import)
// so that tests can parse a command line with the real program.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * Subcommands by the names they register. Only the module of the command being run is loaded: loading
 * every component costs seconds and ~150 MB per process, and pods (demo apps, gateways) start often.
 */
const commands: Array<{ names: string[]; load: () => Promise<(program: Command) => void> }> = [
  { names: ['apiserver'], load: async () => (await import('./cmd-apiserver.js')).registerApiserver },
  { names: ['dns'], load: async () => (await import('./cmd-dns.js')).registerDns },
  { names: ['demo'], load: async () => (await import('./cmd-demo.js')).registerDemo },
  { names: ['sandbox'], load: async () => (await import('./cmd-sandbox.js')).registerSandbox },
  { names: ['install'], load: async () => (await import('./cmd-install.js')).registerInstall },
  { names: ['uninstall'], load: async () => (await import('./cmd-uninstall.js')).registerUninstall },
  { names: ['link'], load: async () => (await import('./cmd-link.js')).registerLink },
  { names: ['unlink'], load: async () => (await import('./cmd-unlink.js')).registerUnlink },
  { names: ['export', 'unexport'], load: async () => (await import('./cmd-export.js')).registerExport },
  { names: ['authz'], load: async () => (await import('./cmd-authz.js')).registerAuthz },
  { names: ['imports'], load: async () => (await import('./cmd-imports.js')).registerImports },
  { names: ['links'], load: async () => (await import('./cmd-links.js')).registerLinks },
  { names: ['gateways'], load: async () => (await import('./cmd-gateways.js')).registerGateways },
  { names: ['check'], load: async () => (await import('./cmd-check.js')).registerCheck },
  { names: ['dashboard'], load: async () => (await import('./cmd-dashboard.js')).registerDashboard },
  { names: ['controller'], load: async () => (await import('./cmd-controller.js')).registerController },
  { names: ['trust'], load: async () => (await import('./cmd-trust.js')).registerTrust },
  { names: ['app'], load: async () => (await import('./cmd-app.js')).registerApp },
  { names: ['gateway'], load: async () => (await import('./cmd-gateway.js')).registerGateway },
];

/** The program with the subcommand named in argv registered, or all of them (for help and errors). */
export async function buildProgram(argv: string[] = process.argv): Promise<Command> {
  const program = new Command('mesh')
    .description('Mesh federation: link Kubernetes clusters, mirror exported Services, carry traffic over mTLS')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  const named = argv.slice(2).find((a) => !a.startsWith('-'));
  const chosen = commands.filter((c) => named !== undefined && c.names.includes(named));
  for (const c of chosen.length ? chosen : commands) (await c.load())(program);
  return program;
}

