import stylistic from '@stylistic/eslint-plugin'
import { createConfigForNuxt } from '@nuxt/eslint-config/flat'

/**
 * A line may run past the limit only for a long literal on it (a message, a test's name, SQL): a
 * quoted string or template of 40 characters or more, which breaking would not make clearer.
 */
const literal = (quote) => `(?<!\\w)${quote}(?:[^${quote}\\\\\\n]|\\\\.){40,}${quote}(?!\\w)`
const LONG_LITERAL = [literal("'"), literal('"'), literal('`')].join('|')

export default createConfigForNuxt({
  features: { stylistic: false, typescript: true },
}).append({
  ignores: ['.output/**', '.nuxt/**', '.stack/**', '.bench/**', 'node_modules/**', 'test-results/**'],
}).append({
  rules: {
    'vue/multi-word-component-names': 'off',
  },
}).append({
  plugins: { '@stylistic': stylistic },
  rules: {
    '@stylistic/max-len': ['error', { code: 140, tabWidth: 2, ignoreUrls: true, ignoreRegExpLiterals: true, ignorePattern: LONG_LITERAL }],
  },
})
