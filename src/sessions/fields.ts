/**
 * Zod building blocks whose failures read as the contract's reasons: they name the field
 * and quote the value, so the first issue of a failed parse is the error an operator sees.
 */
import { z } from "zod";
import { ISO_EXAMPLE, ISO_INSTANT_PATTERN, parseInstant } from "./timestamp.ts";

const QUOTE_LIMIT = 80;

/** Renders a received value for an error text, cut so a huge value cannot flood a log line. */
export function quote(value: unknown): string {
  let text: string;
  if (typeof value === "string") text = value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > QUOTE_LIMIT ? `${text.slice(0, QUOTE_LIMIT)}...` : text;
}

/** Whether a value is a JSON object: not null, not an array. */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Names a JSON value's type the way an operator thinks of it. */
export function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** The reason for a missing field or a value of the wrong JSON type. */
export function typeReason(field: string, expected: string, input: unknown): string {
  return input === undefined
    ? `Missing required field: ${field}`
    : `Invalid ${field}: expected ${expected}, got ${jsonType(input)}`;
}

/** UTF-8 size of a value's compact JSON, the contract's measure for JSON sizes. */
export function jsonBytes(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

/** A required string, trimmed, then held to `min`-`max` characters. */
export function text(field: string, min: number, max: number, description: string) {
  return z.string({ error: (iss) => typeReason(field, "a string", iss.input) })
    .trim()
    .min(min, { error: (iss) => lengthReason(field, iss.input, min, max) })
    .max(max, { error: (iss) => lengthReason(field, iss.input, min, max) })
    .describe(description);
}

function lengthReason(field: string, input: unknown, min: number, max: number): string {
  return `Invalid ${field} '${quote(input)}': must be ${min}-${max} characters`;
}

/**
 * How deeply a free-form JSON object may nest. V8 serialises JSON recursively when a value
 * holds non-Latin-1 text, and a few thousand levels (which fit in 16 KiB) overflow the
 * stack of the serving Worker; real metadata is a few levels deep.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Nesting depth of a parsed JSON value (a scalar is 0, `{}` is 1), counted without
 * recursion and given up past `limit`, so any input is safe to measure.
 */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    const here = depth + 1;
    if (here > deepest) deepest = here;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, here]);
  }
  return deepest;
}

/**
 * An optional JSON object of at most `maxBytes` as compact JSON and {@linkcode MAX_JSON_DEPTH}
 * levels; `null` counts as absent.
 */
export function jsonObject(field: string, maxBytes: number, description: string) {
  return z.record(z.string(), z.unknown(), {
    error: (iss) => `Invalid ${field}: expected a JSON object, got ${jsonType(iss.input)}`,
  })
    .superRefine((value, ctx) => {
      // Depth first: measuring the size serialises the value, which deep nesting breaks.
      if (jsonDepth(value) > MAX_JSON_DEPTH) {
        ctx.addIssue({
          code: "custom",
          message: `Invalid ${field}: nested more than ${MAX_JSON_DEPTH} levels deep`,
        });
        return;
      }
      const size = jsonBytes(value);
      if (size > maxBytes) {
        ctx.addIssue({
          code: "custom",
          message: `Invalid ${field}: ${size} bytes as JSON, at most ${maxBytes} allowed`,
        });
      }
    })
    .nullish()
    .describe(description);
}

/** A constant string such as `event_type`, defaulted when absent. */
export function constant<const T extends string>(field: string, value: T, description: string) {
  return z.literal(value, {
    error: (iss) => `Invalid ${field} '${quote(iss.input)}': expected '${value}'`,
  }).default(value).describe(description);
}

/** Formats the first issue of a failed parse as the reason the contract shows. */
export function firstReason(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "Invalid arguments";
  return issue.message;
}

/** Outcome of validating a call's arguments. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Validates a call's arguments (without their `token`) against a schema; the first issue
 * is the reason.
 */
export function parseArgs<S extends z.ZodType>(schema: S, args: unknown): Parsed<z.output<S>> {
  if (!isJsonObject(args)) {
    return { ok: false, reason: `Invalid arguments: expected an object, got ${jsonType(args)}` };
  }
  // The token is checked by authentication, before this, and is never part of the data:
  // with no secret configured any token value at all is accepted.
  const { token: _token, ...data } = args;
  const result = schema.safeParse(data);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, reason: firstReason(result.error) };
}

/** A required ISO 8601 instant as the contract accepts it (see `timestamp.ts`). */
export function instant(field: string, description: string) {
  const reason = (input: unknown) =>
    `Invalid ISO 8601 timestamp: ${quote(input)} (expected format: ${ISO_EXAMPLE})`;
  return z.string({ error: (iss) => typeReason(field, "a string", iss.input) })
    .trim()
    .regex(new RegExp(ISO_INSTANT_PATTERN), { error: (iss) => reason(iss.input) })
    .refine((value) => parseInstant(value) !== null, { error: (iss) => reason(iss.input) })
    .describe(description);
}
