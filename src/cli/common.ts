// What every subcommand shares: --kubeconfig, -o, the exit-code help, connecting to a context, turning
// Kubernetes errors into CliErrors a person can act on, and progress lines on stderr.
import { Command, Option, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import {
  KubeClient,
  loadKubeConfig,
  KubeConfigError,
  KubeUnreachableError,
  KubeApiError,
  isAuthError,
  isNotFound,
  errorMessage,
  type KubeObject,
} from '../kube/index.js';
import { CliError, ExitCode } from './errors.js';
import { OutputFormatSchema, type OutputFormat } from './output.js';

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  failure: a check failed, a cluster was unreachable, a permission was missing, a wait timed out
  2  usage: unknown flag or context, missing argument, invalid value`;

/** Adds Long and Example help and the exit codes to a command. */
export function helpText(cmd: Command, long: string, examples: string[]): Command {
  return cmd.addHelpText('after', `\n${long.trim()}\n\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n${EXIT_CODES_HELP}\n`);
}

export function kubeconfigOption(): Option {
  return new Option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)');
}

export function outputOption(defaultFormat: OutputFormat = 'table'): Option {
  return new Option('-o, --output <format>', 'output format').choices(OutputFormatSchema.options).default(defaultFormat);
}

/** A commander argParser from a zod schema: bad values are usage errors (exit 2) with zod's message. */
export function zodArg<T>(schema: z.ZodType<T>): (value: string) => T {
  return (value: string) => {
    const r = schema.safeParse(value);
    if (!r.success) throw new InvalidArgumentError(r.error.issues.map((i) => i.message).join('; '));
    return r.data;
  };
}

export const durationSeconds = zodArg(
  z.string().regex(/^\d+(s|m)?$/, 'must be a duration such as 90s or 5m').transform((s) => (s.endsWith('m') ? Number(s.slice(0, -1)) * 60 : Number(s.replace(/s$/, '')))),
);

/** Validates a command's parsed options; a mismatch is a usage error. */
export function parseOptions<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new CliError(r.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '), ExitCode.Usage);
  }
  return r.data;
}

/** One cluster, named by its kubeconfig context. */
export interface Cluster {
  context: string;
  client: KubeClient;
  /** API server URL as this kubeconfig reaches it. */
  server: string;
  /** The API server's CA (PEM) from the kubeconfig, if it names one. */
  caPem?: string;
  insecure: boolean;
}

export async function connect(context: string, kubeconfig: string | undefined, timeoutMs = 15_000): Promise<Cluster> {
  let kc;
  try {
    kc = loadKubeConfig({ kubeconfig, context });
  } catch (err) {
    if (err instanceof KubeConfigError) {
      const unknown = /context .* not found/.test(err.message);
      throw new CliError(err.message, unknown ? ExitCode.Usage : ExitCode.Failure, unknown ? 'list the contexts with: kubectl config get-contexts' : 'pass --kubeconfig or set KUBECONFIG');
    }
    throw err;
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new CliError(`context ${context} has no cluster`, ExitCode.Usage);
  const client = await KubeClient.create(kc, { timeoutMs });
  let caPem: string | undefined;
  if (cluster.caData) caPem = Buffer.from(cluster.caData, 'base64').toString('utf8');
  return { context, client, server: cluster.server, caPem, insecure: cluster.skipTLSVerify === true };
}

/** A Kubernetes error as the person at the terminal needs it: which cluster, what failed, what to do. */
export function kubeError(err: unknown, cluster: string, doing: string): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof KubeUnreachableError) {
    return new CliError(`${cluster}: cannot reach the API server while ${doing}: ${err.message}`, ExitCode.Failure, `is the cluster up? try: kubectl --context ${cluster} get --raw /readyz`);
  }
  if (isAuthError(err)) {
    return new CliError(`${cluster}: permission denied while ${doing}: ${errorMessage(err)}`, ExitCode.Failure, `the credentials of context ${cluster} lack this permission (cluster-admin is needed for install/link)`);
  }
  if (err instanceof KubeApiError) return new CliError(`${cluster}: ${doing} failed: ${err.message}`, ExitCode.Failure);
  return new CliError(`${cluster}: ${doing} failed: ${errorMessage(err)}`, ExitCode.Failure);
}

/** Progress for anything that waits or writes: human lines on stderr, never on stdout. */
export interface Progress {
  step(msg: string): void;
  ok(msg: string): void;
  warn(msg: string): void;
  /** Something the person must know or do that is not a failure (e.g. what the network must provide). */
  note(msg: string): void;
}

export function stderrProgress(quiet = false): Progress {
  const w = (s: string) => {
    if (!quiet) process.stderr.write(s + '\n');
  };
  return { step: (m) => w(`… ${m}`), ok: (m) => w(`✔ ${m}`), warn: (m) => w(`✘ ${m}`), note: (m) => w(`note: ${m}`) };
}

export const silentProgress: Progress = { step: () => {}, ok: () => {}, warn: () => {}, note: () => {} };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The object at `path`, or null when it does not exist; other errors are thrown. */
export async function getOrNull(client: KubeClient, path: string): Promise<KubeObject | null> {
  try {
    return await client.get(path);
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
