/** The one error class for a command line or value the operator must correct. */

/** A bad command line or value: one line on stderr, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
