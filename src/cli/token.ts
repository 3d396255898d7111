/** `session-buddy token` and `session-buddy secret`. */
import { SignJWT } from "jose";
import { ISSUER } from "../auth/verify.ts";

/**
 * Mints a token with the seed's claims (user_id, exp, iat, type "access", iss), signed
 * HS256 with the secret's UTF-8 bytes.
 */
export async function mintToken(
  secret: string,
  user: string,
  ttlMs: number,
  now: Date,
): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return await new SignJWT({
    user_id: user,
    exp: iat + Math.floor(ttlMs / 1000),
    iat,
    type: "access",
    iss: ISSUER,
  }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode(secret));
}

/** A new random secret: 32 bytes from the system's CSPRNG, base64url without padding. */
export function newSecret(
  random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b),
): string {
  const bytes = random(new Uint8Array(32));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
