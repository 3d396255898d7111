/**
 * The serving Worker's entry. The serving code (`serving.ts`) is loaded here, behind a
 * catch, so that a module that cannot be loaded (on a first run without the package
 * registry, say) becomes the outer process's one line, not the runtime's trace.
 */
/// <reference lib="deno.worker" />
import type { FromWorker, ToWorker } from "./protocol.ts";

const serving = import("./serving.ts").catch((error: unknown) =>
  error instanceof Error ? error : new Error(String(error))
);

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const loaded = await serving;
  if (loaded instanceof Error) {
    const failed: FromWorker = {
      type: "fatal",
      message: `cannot load the server: ${loaded.message}`,
    };
    self.postMessage(failed);
    return;
  }
  loaded.receive(event.data);
};
