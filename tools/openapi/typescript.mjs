// What the TypeScript compiler knows about the router that zod does not: each procedure's output type
// (inferRouterOutputs<AppRouter>) as JSON Schema, and the /** … */ comment written above it.
import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

/** { [path]: { output: JSON Schema, description: string } } for the given procedure paths. */
export function readProcedureTypes(root, paths) {
  const entry = path.join(root, 'tools', 'openapi', '.outputs.ts')
  fs.writeFileSync(entry, `import type { inferRouterOutputs } from '@trpc/server'\nimport type { AppRouter } from '../../server/trpc/routers/_app'\nexport type Outputs = inferRouterOutputs<AppRouter>\n`)
  try {
    const program = ts.createProgram([entry], {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
    })
    const checker = program.getTypeChecker()
    const alias = program.getSourceFile(entry).statements.find((s) => ts.isTypeAliasDeclaration(s))
    const outputs = checker.getTypeAtLocation(alias.name)
    return Object.fromEntries(paths.map((p) => {
      // the mapped output type keeps each procedure's declaration, and with it the comment above it
      let type = outputs
      let symbol
      for (const key of p.split('.')) {
        symbol = type.getProperty(key)
        type = checker.getTypeOfSymbol(symbol)
      }
      // a comment wrapped over several lines is one paragraph
      const description = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim().replace(/\s*\n\s*/g, ' ')
      return [p, { output: toSchema(checker, yielded(checker, type) ?? type, new Set()), description }]
    }))
  } finally {
    fs.rmSync(entry, { force: true })
  }
}

/** What a subscription's stream yields (its output type is an AsyncIterable of it), else undefined. */
function yielded(checker, type) {
  const iterator = type.getProperties().find((p) => p.escapedName.startsWith('__@asyncIterator'))
  if (!iterator) return undefined
  const next = checker.getReturnTypeOfSignature(checker.getSignaturesOfType(checker.getTypeOfSymbol(iterator), ts.SignatureKind.Call)[0])
  const result = checker.getAwaitedType(
    checker.getReturnTypeOfSignature(
      checker.getSignaturesOfType(checker.getTypeOfSymbol(next.getProperty('next')), ts.SignatureKind.Call)[0],
    ),
  )
  // IteratorResult: a yield (done?: false) or the return (done: true)
  const done = result.isUnion()
    ? result.types.find((t) => !checker.typeToString(checker.getTypeOfSymbol(t.getProperty('done'))).includes('true'))
    : result
  return done && checker.getTypeOfSymbol(done.getProperty('value'))
}

function toSchema(checker, type, seen) {
  const F = ts.TypeFlags
  if (type.flags & F.String) return { type: 'string' }
  if (type.flags & F.Number) return { type: 'number' }
  if (type.flags & F.Boolean) return { type: 'boolean' }
  if (type.flags & F.Null) return { type: 'null' }
  if (type.isStringLiteral()) return { const: type.value }
  if (type.isNumberLiteral()) return { const: type.value }
  if (type.flags & F.BooleanLiteral) return { const: checker.typeToString(type) === 'true' }
  if (type.isUnion()) {
    const parts = type.types.filter((t) => !(t.flags & F.Undefined))
    const bools = parts.filter((t) => t.flags & F.BooleanLiteral)
    const rest = parts.filter((t) => !(t.flags & F.BooleanLiteral))
    const schemas = [
      ...rest.map((t) => toSchema(checker, t, seen)),
      ...(bools.length === 2 ? [{ type: 'boolean' }] : bools.map((t) => toSchema(checker, t, seen))),
    ]
    if (schemas.every((s) => 'const' in s)) return { enum: schemas.map((s) => s.const) }
    return schemas.length === 1 ? schemas[0] : { anyOf: schemas }
  }
  if (checker.isArrayType(type)) return { type: 'array', items: toSchema(checker, checker.getTypeArguments(type)[0], seen) }
  if (type.flags & F.Object) {
    if (seen.has(type)) return {}
    seen.add(type)
    const properties = {}
    const required = []
    for (const prop of checker.getPropertiesOfType(type)) {
      properties[prop.name] = toSchema(checker, checker.getTypeOfSymbol(prop), seen)
      if (!(prop.flags & ts.SymbolFlags.Optional)) required.push(prop.name)
    }
    seen.delete(type)
    return { type: 'object', properties, required, additionalProperties: false }
  }
  return {}
}
