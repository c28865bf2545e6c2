import { createConfigForNuxt } from '@nuxt/eslint-config/flat'

export default createConfigForNuxt({
  features: { stylistic: false, typescript: true },
}).append({
  ignores: ['.output/**', '.nuxt/**', '.stack/**', '.bench/**', 'node_modules/**', 'test-results/**'],
}).append({
  rules: {
    'vue/multi-word-component-names': 'off',
  },
})
