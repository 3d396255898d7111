/**
 * How the tests and benchmarks resolve their own packages (the SDK's client, fast-check,
 * the reference peer, ...): an import map and a lock of their own, so that the product's
 * deno.lock, which Deno installs whole on a first run, holds only what the product uses.
 * The `test`, `check` and `bench` tasks of deno.json pass the same flags.
 */
const ROOT = new URL("../../", import.meta.url).pathname;

/** `--import-map` and `--lock` of the tooling, as absolute paths, the lock frozen. */
export const DEV_FLAGS: string[] = [
  "--frozen",
  `--import-map=${ROOT}tests/imports.json`,
  `--lock=${ROOT}tests/deno.lock`,
];
