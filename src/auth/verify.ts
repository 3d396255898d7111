/**
 * Verification of the HS256 JWTs admin shells present, as SPEC section 4 sets out.
 * Outcomes are values; reasons never quote the token or a claim value.
 */
import { errors, jwtVerify } from "jose";
import type { Verifier } from "./verifier.ts";

export { acceptAll, type AuthOutcome, type Verifier } from "./verifier.ts";

/** Accepted clock skew, in seconds, for `exp`, `nbf` and `iat`. */
export const LEEWAY_SECONDS = 30;
/** The issuer every token must name. */
export const ISSUER = "session-buddy";

/** The reason shown when a secret is set and no token came. */
export const TOKEN_REQUIRED = "Token required (SESSION_BUDDY_SECRET is set)";

/**
 * Builds a verifier for `secret`. The key is derived once here, not per call; the secret's
 * UTF-8 bytes are the HMAC key, as PyJWT uses a `str` secret.
 */
export function createVerifier(secret: string): Verifier {
  const key = crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  return async (token, now = new Date()) => {
    if (token === undefined || token === null || token === "") {
      return { ok: false, reason: TOKEN_REQUIRED };
    }
    if (typeof token !== "string") return { ok: false, reason: "Token must be a string" };
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await key, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        clockTolerance: LEEWAY_SECONDS,
        requiredClaims: ["exp", "iss"],
        currentDate: now,
      }));
    } catch (error) {
      return { ok: false, reason: reasonOf(error) };
    }
    const nowSeconds = now.getTime() / 1000;
    if (payload.iat !== undefined) {
      if (typeof payload.iat !== "number") return { ok: false, reason: "Invalid iat claim" };
      if (payload.iat > nowSeconds + LEEWAY_SECONDS) {
        return { ok: false, reason: "Token issued in the future (iat)" };
      }
    }
    if (payload.type !== undefined && payload.type !== "access") {
      return { ok: false, reason: "Wrong token type (access token required)" };
    }
    return { ok: true, trackedBy: subjectOf(payload) };
  };
}

function subjectOf(payload: Record<string, unknown>): string | null {
  const who = payload.user_id ?? payload.sub;
  if (typeof who === "string") return who;
  if (typeof who === "number") return String(who);
  return null;
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "Token expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (error.reason === "missing") return `Token is missing the ${claim} claim`;
    if (claim === "iss") return "Invalid token issuer";
    if (claim === "nbf") return "Token not yet valid (nbf)";
    return `Invalid ${claim} claim`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return "Token algorithm not allowed (HS256 required)";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return "Invalid token signature";
  if (error instanceof errors.JOSENotSupported) return "Token algorithm not supported";
  return "Malformed token";
}
