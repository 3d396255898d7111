/**
 * Fakes for testing one step of the HTTP edge alone: a `next` that records what reached it,
 * and a log that collects its lines.
 */
import type { Exchange, Next } from "../../src/http/compose.ts";
import type { Log } from "../../src/log.ts";

/** A `next` that answers `answer()` (200 "next" by default) and records each exchange. */
export function fakeNext(
  answer: () => Response | Promise<Response> = () => new Response("next"),
): Next & { seen: Exchange[] } {
  const seen: Exchange[] = [];
  const next = async (exchange: Exchange) => {
    seen.push(exchange);
    return await answer();
  };
  return Object.assign(next, { seen });
}

/** A log whose lines land in `lines`, as `LEVEL message`. */
export function collectLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`DEBUG ${m}`),
    info: (m) => lines.push(`INFO ${m}`),
    warning: (m) => lines.push(`WARNING ${m}`),
    error: (m) => lines.push(`ERROR ${m}`),
  };
}

/** A request to the loopback origin tests use. */
export function request(path: string, init: RequestInit = {}): Request {
  return new Request(`http://127.0.0.1:8080${path}`, init);
}
