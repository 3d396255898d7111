/**
 * session-buddy: the entry point. Reads the command line and its own environment
 * variables, then either answers at once (help, version, usage errors) or hands the
 * configuration to the serving Worker.
 */
import denoJson from "./deno.json" with { type: "json" };
import { parseInvocation } from "./src/cli/invocation.ts";
import { StartupError } from "./src/config.ts";
import { UsageError } from "./src/usage_error.ts";
import { helpText } from "./src/cli/help.ts";
import { launchCommand, launchForward, launchServer } from "./src/serve/launch.ts";

/** The only environment variables this program reads. */
const ENV_NAMES = [
  "SESSION_BUDDY_SECRET",
  "SESSION_BUDDY_SECRET_FILE",
  "SESSION_BUDDY_REQUIRE_AUTH",
  "SESSION_BUDDY_ALLOWED_HOSTS",
  "SESSION_BUDDY_DB",
  "SESSION_BUDDY_DB_PASSWORD",
  "SESSION_BUDDY_DB_CA",
  "SESSION_BUDDY_LOG_FILE",
  "SESSION_BUDDY_LOG_LEVEL",
  "SESSION_BUDDY_STALE_AFTER",
  "SESSION_BUDDY_HTTP",
  "SESSION_BUDDY_TLS_CERT",
  "SESSION_BUDDY_TLS_KEY",
  "SESSION_BUDDY_ALLOWED_ORIGINS",
  "SESSION_BUDDY_FORWARD_TOKEN",
  "SESSION_BUDDY_SEAL_KEY_FILE",
  "SESSION_BUDDY_SEAL_EVERY",
  "HOME",
  "XDG_DATA_HOME",
  "NO_COLOR",
];

function readEnv(): Record<string, string | undefined> {
  return Object.fromEntries(ENV_NAMES.map((name) => [name, Deno.env.get(name)]));
}

async function main(args: string[]): Promise<number> {
  const env = readEnv();
  let invocation;
  try {
    invocation = parseInvocation(args, env, {
      os: Deno.build.os,
      cwd: Deno.cwd(),
      now: new Date(),
      readTextFile: (path) => Deno.readTextFileSync(path),
    });
  } catch (error) {
    if (error instanceof StartupError) {
      console.error(`session-buddy: ${error.message}`);
      return 1;
    }
    if (!(error instanceof UsageError)) throw error;
    console.error(`session-buddy: ${error.message} (see session-buddy --help)`);
    return 2;
  }
  switch (invocation.kind) {
    case "help":
      console.log(helpText(denoJson.version, invocation.defaultDb));
      return 0;
    case "version":
      console.log(`session-buddy ${denoJson.version}`);
      return 0;
    case "secret": {
      // Loaded on demand so that serving never pays for the token code.
      const { newSecret } = await import("./src/cli/token.ts");
      console.log(newSecret());
      return 0;
    }
    case "seal-init": {
      // Loaded on demand: only this command and the serving Worker use the sealing code.
      const { createKeyFile } = await import("./src/seal/key_file.ts");
      try {
        console.log(await createKeyFile(invocation.keyFile, Date.now()));
      } catch (error) {
        console.error(`session-buddy: ${error instanceof Error ? error.message : error}`);
        return 1;
      }
      console.error(
        `session-buddy: sealing key written to ${invocation.keyFile} (mode 0600). ` +
          "Keep the verification key printed above somewhere this host cannot write: " +
          "sessions verify --verification-key needs it, and it is not shown again.",
      );
      return 0;
    }
    case "token": {
      const { mintToken } = await import("./src/cli/token.ts");
      console.log(
        await mintToken(invocation.secret, invocation.user, invocation.ttlMs, new Date()),
      );
      return 0;
    }
  }
  try {
    if (invocation.kind === "serve") return await launchServer(invocation.config, denoJson.version);
    if (invocation.kind === "forward") {
      return await launchForward(invocation.config, invocation.command, invocation.token);
    }
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    const colour = Deno.stdout.isTerminal() && !env.NO_COLOR;
    return await launchCommand(invocation.config, invocation.command, invocation.json, colour);
  } catch (error) {
    console.error(`session-buddy: ${error instanceof Error ? error.message : error}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
