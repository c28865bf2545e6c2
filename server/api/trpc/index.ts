/** /api/trpc without a procedure path: outside the path rule, like [...path].ts. */
export { default } from './[...path]'
