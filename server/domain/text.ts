import { z } from 'zod'

/**
 * A string of at most `max` characters counted as code points, as JSON Schema's maxLength (so the API
 * document states the bound exactly) and a utf8mb4 column count them; zod's own .max counts UTF-16
 * units, in which an emoji is two.
 */
export function chars(max: number) {
  return z.string().refine((s) => s.length <= max || [...s].length <= max, `at most ${max} characters`).meta({ maxLength: max })
}

/**
 * The characters String.prototype.trim removes (ECMAScript's WhiteSpace and LineTerminator), spelled
 * out so that a pattern made of them means the same in every regex dialect that reads the API document.
 */
const TRIMMED = '\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff'

/** Up to `max` characters with at least one that trim keeps; stored trimmed. */
export function visibleText(max: number) {
  return chars(max).regex(new RegExp(`[^${TRIMMED}]`), 'must not be blank').trim()
}
