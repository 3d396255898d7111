/**
 * Reading a request body within bounds: `Deno.serve` itself reads a body of any size, and
 * waits for it as long as the client likes.
 */

/** What reading a body came to. */
export type BodyOutcome =
  | { kind: "ok"; bytes: Uint8Array }
  /** More than the limit was declared or sent; reading stopped there. */
  | { kind: "too_large" }
  /** The whole body had not arrived by the deadline. */
  | { kind: "timeout" }
  /** The client went away before its whole body arrived. */
  | { kind: "aborted" };

/**
 * Reads `request`'s body, stopping as soon as it passes `limit` bytes (a declared
 * `Content-Length` over the limit is refused before anything is read) or `deadlineMs`
 * has passed without its end.
 */
export async function readBody(
  request: Request,
  limit: number,
  deadlineMs: number,
): Promise<BodyOutcome> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) return { kind: "too_large" };
  if (!request.body) return { kind: "ok", bytes: new Uint8Array(0) };
  const reader = request.body.getReader();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    reader.cancel().catch(() => {});
  }, deadlineMs);
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (timedOut) return { kind: "timeout" };
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        return { kind: "too_large" };
      }
      parts.push(value);
    }
  } catch {
    // A read fails only when the connection went away under it (or the deadline cut it).
    return { kind: timedOut ? "timeout" : "aborted" };
  } finally {
    clearTimeout(timer);
  }
  if (parts.length === 1) return { kind: "ok", bytes: parts[0]! };
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return { kind: "ok", bytes };
}
