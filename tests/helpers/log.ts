/** A log that collects its lines, `LEVEL message`, into an array for a test to read. */
import type { Log } from "../../src/log.ts";

/** A fresh collecting log and the lines it has been told. */
export function collectingLog(): { log: Log; lines: string[] } {
  const lines: string[] = [];
  const log: Log = {
    debug: (m) => lines.push(`DEBUG ${m}`),
    info: (m) => lines.push(`INFO ${m}`),
    warning: (m) => lines.push(`WARNING ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
  };
  return { log, lines };
}
