/** Messages between the outer process and the serving Worker. */
import type { StoreCommand } from "../cli/grammar.ts";
import type { ServeConfig } from "../config.ts";
import type { ForwardCommand } from "../cli/forward_args.ts";

/** Outer process to Worker. */
export type ToWorker =
  | {
    type: "start";
    config: ServeConfig;
    version: string;
    /** The PEM texts of `--tls-cert` and `--tls-key`, read here so the Worker need not. */
    tls: { cert: string; key: string } | null;
    /** The PEM text of `--db-ca`, likewise. */
    dbCa: string | null;
  }
  | {
    type: "command";
    command: StoreCommand;
    config: ServeConfig;
    dbCa: string | null;
    json: boolean;
    colour: boolean;
  }
  | {
    type: "forward";
    command: ForwardCommand;
    /** The local store; its `dbCa` and `dbPassword` are the `--to-db` PostgreSQL's. */
    config: ServeConfig;
    /** The collector's bearer token, read by the outer process. */
    token: string | null;
    dbCa: string | null;
  }
  | { type: "stop" };

/** Worker to outer process. */
export type FromWorker =
  | { type: "ready" }
  | { type: "fatal"; message: string }
  | { type: "stopped"; code?: number; error?: string };
