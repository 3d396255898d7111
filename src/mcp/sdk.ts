/**
 * The MCP SDK pieces we use, with their types. The SDK's `.js` subpath imports reach Deno
 * untyped, so types are derived here from the typed `server` entry point.
 */
import { Server } from "@modelcontextprotocol/sdk/server";

export { Server };
/** A transport the SDK's `Server.connect` accepts. */
export type Transport = Parameters<Server["connect"]>[0];
/** One JSON-RPC message as the SDK passes it to and from a transport. */
export type JsonRpcMessage = Parameters<Transport["send"]>[0];
