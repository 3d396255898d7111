/** The verifier's problems as found, at most so many of one kind, the rest summed up. */
import type { Problem, ProblemKind } from "./verify.ts";

/** Problems of one kind beyond this many are summed up in one more. */
const MAX_PER_KIND = 1000;

/** Collects problems in the order found; {@link Problems.summarise} adds what was left out. */
export class Problems {
  readonly list: Problem[] = [];
  #counts = new Map<ProblemKind, number>();

  add(p: Problem): void {
    const n = (this.#counts.get(p.kind) ?? 0) + 1;
    this.#counts.set(p.kind, n);
    if (n <= MAX_PER_KIND) this.list.push(p);
  }

  summarise(): void {
    for (const [kind, n] of this.#counts) {
      if (n > MAX_PER_KIND) {
        this.list.push({
          kind,
          message: `... and ${n - MAX_PER_KIND} more problems of kind ${kind}`,
        });
      }
    }
  }
}
