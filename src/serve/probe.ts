/**
 * A short-lived Worker that asks a KV Connect server which hosts its data lives on, with
 * network access to that server only and the token variable only, so that the serving
 * Worker can then be granted exactly those hosts. The outer process itself talks to no one.
 */
/// <reference lib="deno.worker" />
import { dataHosts, TOKEN_VARIABLE } from "../store/kv/connect.ts";
import type { KvConnectLocation } from "../store/location.ts";

self.onmessage = async (event: MessageEvent<{ location: KvConnectLocation }>) => {
  let token: string | undefined;
  try {
    token = Deno.env.get(TOKEN_VARIABLE);
  } catch {
    token = undefined;
  }
  self.postMessage(await dataHosts(event.data.location, token));
};
