import stylistic from '@stylistic/eslint-plugin'
import { createConfigForNuxt } from '@nuxt/eslint-config/flat'

/** A line holding a long literal (a message, a test's name, SQL, a URL) may run past the limit. */
const LONG_LITERAL = ["'[^']{40,}'", '"[^"]{40,}"', '`[^`]{40,}`'].join('|')

export default createConfigForNuxt({
  features: { stylistic: false, typescript: true },
}).append({
  ignores: ['.output/**', '.nuxt/**', '.stack/**', '.bench/**', 'node_modules/**', 'test-results/**'],
}).append({
  rules: {
    'vue/multi-word-component-names': 'off',
  },
}).append({
  // bench/ is not held to it yet.
  ignores: ['bench/**'],
  plugins: { '@stylistic': stylistic },
  rules: {
    '@stylistic/max-len': ['error', { code: 140, tabWidth: 2, ignoreUrls: true, ignoreRegExpLiterals: true, ignorePattern: LONG_LITERAL }],
  },
})
