/** A failure the user can act on: a message, a hint, and the exit code documented in --help. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.Failure,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const ExitCode = {
  Ok: 0,
  /** The command ran and something failed (a check, an unreachable cluster, a timeout). */
  Failure: 1,
  /** The command line itself was wrong: unknown flag, missing argument, bad value. */
  Usage: 2,
} as const;
