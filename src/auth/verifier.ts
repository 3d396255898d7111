/** The shape of a token check, apart from jose, so that serving without a secret never loads it. */

/** What a token check found. */
export type AuthOutcome =
  | { ok: true; trackedBy: string | null }
  | { ok: false; reason: string };

/** Checks the `token` argument of a call. */
export type Verifier = (token: unknown, now?: Date) => Promise<AuthOutcome>;

/** With no secret configured, every token value (null included) is accepted. */
export const acceptAll: Verifier = () => Promise.resolve({ ok: true, trackedBy: null });
