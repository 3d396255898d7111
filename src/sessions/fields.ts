/**
 * Zod building blocks whose failures read as the contract's reasons: they name the field
 * and quote the value, so the first issue of a failed parse is the error an operator sees.
 */
import { z } from "zod";

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

/** An optional JSON object of at most `maxBytes` as compact JSON; `null` counts as absent. */
export function jsonObject(field: string, maxBytes: number, description: string) {
  return z.record(z.string(), z.unknown(), {
    error: (iss) => `Invalid ${field}: expected a JSON object, got ${jsonType(iss.input)}`,
  })
    .superRefine((value, ctx) => {
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
