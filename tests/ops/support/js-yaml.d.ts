// js-yaml is present as a dependency of ESLint but ships no types; these are the two calls the ops
// tests make. Drop this file once js-yaml and @types/js-yaml are devDependencies.
declare module 'js-yaml' {
  export function load(text: string): unknown
  export function loadAll(text: string): unknown[]
  const yaml: { load: typeof load, loadAll: typeof loadAll }
  export default yaml
}
