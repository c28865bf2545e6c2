import { refuse } from '../../trpc/errors'

/** Paths under /api/trpc with more than one segment are outside the procedure path rule (PROCEDURE_PATH). */
export default defineEventHandler((event) => refuse(event, 'INVALID_INPUT', 'Bad procedure path'))
