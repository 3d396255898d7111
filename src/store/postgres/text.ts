/**
 * Text that PostgreSQL cannot hold as it is. A `text` value may not contain U+0000, and
 * UTF-8 has no form for a lone surrogate (the driver would send U+FFFD instead, and
 * `jsonb` refuses the escape); yet the contract accepts both in any text field, and Deno
 * KV stores them. Records are stored as JSON text, whose escapes keep them exact; only the
 * columns that listings filter on need this: one injective spelling, the same for what is
 * stored and what is looked for, which leaves every ordinary string unchanged.
 */

const ESCAPE = "\uFFFD";

/**
 * The column spelling of `value`: U+FFFD doubled, U+0000 as U+FFFD `0`, a lone surrogate
 * as U+FFFD `s` and its four hex digits. Distinct strings stay distinct.
 */
export function columnText(value: string): string {
  if (sendable(value) && !value.includes(ESCAPE)) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0) out += `${ESCAPE}0`;
    else if (c === 0xfffd) out += ESCAPE + ESCAPE;
    else if (c >= 0xd800 && c <= 0xdbff && isLow(value.charCodeAt(i + 1))) {
      out += value[i]! + value[i + 1]!;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) out += `${ESCAPE}s${c.toString(16)}`;
    else out += value[i]!;
  }
  return out;
}

function isLow(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * Whether `value` can be sent as a query parameter as it is. An id that cannot is one no
 * session has (ids are built from a component name and a time), so it is not looked up.
 */
export function sendable(value: string): boolean {
  return !value.includes("\u0000") && value.isWellFormed();
}
