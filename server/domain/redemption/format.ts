/** `ABCD-EFGH-…`: a redemption code in groups of four, for people (the browser imports this too). */
export function groupCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code
}
