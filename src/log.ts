/**
 * The one module that knows LogTape. Other modules ask {@linkcode getLog} for a logger;
 * the serving Worker calls {@linkcode setupLogging} once, at its entry.
 */
import {
  configure,
  dispose,
  getLogger,
  type LogLevel as TapeLevel,
  type LogRecord,
  type Sink,
} from "@logtape/logtape";
import type { LogLevel } from "./config.ts";

/** What modules log through: plain, already formatted messages. */
export interface Log {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
}

/** Where log lines go. */
export interface LogSetup {
  level: LogLevel;
  /** Also append lines to this file; stderr always gets them. */
  file?: string | null;
  /** How long a line may wait before it reaches the file, in milliseconds. */
  flushIntervalMs?: number;
}

const LEVEL_NAMES: Record<TapeLevel, string> = {
  trace: "DEBUG",
  debug: "DEBUG",
  info: "INFO",
  warning: "WARNING",
  error: "ERROR",
  fatal: "CRITICAL",
};

// A value quoted into a message may carry line breaks; one record stays one line.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;

function escapeControl(ch: string): string {
  if (ch === "\n") return "\\n";
  if (ch === "\r") return "\\r";
  if (ch === "\t") return "\\t";
  return `\\x${ch.charCodeAt(0).toString(16).padStart(2, "0")}`;
}

/** Formats a record as `2026-02-06T12:34:56.789Z INFO - message`. */
export function formatLine(record: LogRecord): string {
  const message = record.message.map((part) => String(part)).join("");
  const time = new Date(record.timestamp).toISOString();
  return `${time} ${LEVEL_NAMES[record.level]} - ${message.replace(CONTROL, escapeControl)}\n`;
}

const encoder = new TextEncoder();

// Debug and info lines wait up to STDERR_DELAY_MS, so that the lines of many calls cost one
// write (a write to a pipe wakes its reader, which on a busy machine competes with the next
// call); a warning or an error is written at once, with the lines before it. Waiting lines
// are kept as UTF-8 bytes in one reused buffer: kept as objects they outlived V8's young
// generation and grew the old one.
const STDERR_DELAY_MS = 20;
const waiting = new Uint8Array(64 * 1024);
let used = 0;
let flushTimer: ReturnType<typeof setTimeout> | null = null;

function writeAll(bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/** Writes the lines still waiting for stderr; the Worker calls it before it reports an end. */
export function flushStderr(): void {
  if (flushTimer !== null) clearTimeout(flushTimer);
  flushTimer = null;
  if (used === 0) return;
  writeAll(waiting.subarray(0, used));
  used = 0;
}

function stderrSink(record: LogRecord): void {
  const line = formatLine(record);
  let { read, written } = encoder.encodeInto(line, waiting.subarray(used));
  if (read < line.length) {
    // It does not fit behind what waits: that goes first (a line longer than the whole
    // buffer is written on its own).
    flushStderr();
    ({ read, written } = encoder.encodeInto(line, waiting));
    if (read < line.length) {
      writeAll(encoder.encode(line));
      written = 0;
    }
  }
  used += written;
  if (record.level !== "debug" && record.level !== "info" && record.level !== "trace") {
    flushStderr();
  } else flushTimer ??= setTimeout(flushStderr, STDERR_DELAY_MS);
}

/**
 * Configures logging for the process. The log file, if any, is created readable by its
 * owner only and is appended to, never truncated.
 */
export async function setupLogging(setup: LogSetup): Promise<void> {
  const sinks: Record<string, Sink> = { stderr: stderrSink };
  if (setup.file) {
    Deno.openSync(setup.file, { create: true, append: true, mode: 0o600 }).close();
    // Loaded only when a log file is configured: it is a large share of start-up time.
    const { getFileSink } = await import("@logtape/file");
    sinks.file = getFileSink(setup.file, {
      formatter: formatLine,
      nonBlocking: true,
      bufferSize: 64 * 1024,
      flushInterval: setup.flushIntervalMs ?? 200,
    });
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["session-buddy"], sinks: Object.keys(sinks), lowestLevel: setup.level },
      { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
    ],
  });
}

/** Flushes and closes every sink; call before the process ends. */
export async function shutdownLogging(): Promise<void> {
  flushStderr();
  await dispose();
}

/** A logger for one part of the program. */
export function getLog(name: string): Log {
  const logger = getLogger(["session-buddy", name]);
  return {
    debug: (m) => logger.debug(m),
    info: (m) => logger.info(m),
    warning: (m) => logger.warn(m),
    error: (m) => logger.error(m),
  };
}
