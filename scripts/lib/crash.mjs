// Hard crashes for the fault tests: what a power cut does to Redis' append-only file.
//
//   const aof = newestIncrAof(redisDir)         // the file Redis appends to right now
//   const size = fs.statSync(aof).size           // remember it when the burst starts
//   … SIGKILL Redis …
//   loseAofTail(redisDir, { from: size })       // cut half of what was appended since, then
//                                               // redis-check-aof --fix, as after a power cut
// Under `appendfsync everysec` a power cut loses up to a second of writes from the END of the file;
// a SIGKILL alone loses nothing (the kernel still has the pages), so the tail is cut by hand.
import fs from 'node:fs'
import path from 'node:path'
import { run } from './util.mjs'
import { findBin } from './system.mjs'

/** The newest `*.incr.aof` of a Redis data dir (multi-part AOF, Redis ≥ 7). */
export function newestIncrAof(redisDir) {
  const dir = path.join(redisDir, 'appendonlydir')
  const incr = fs.readdirSync(dir).filter((f) => f.endsWith('.incr.aof'))
  if (!incr.length) throw new Error(`no *.incr.aof in ${dir}`)
  const seq = (f) => Number(/\.(\d+)\.incr\.aof$/.exec(f)?.[1] ?? 0)
  return path.join(dir, incr.sort((a, b) => seq(b) - seq(a))[0])
}

/**
 * Truncates the newest incr AOF (Redis must be dead) so that `fraction` of what was appended after
 * byte `from` is gone, then lets `redis-check-aof --fix` cut the half-written command at the end.
 * Returns { file, appended, cut, sizeAfter }.
 */
export async function loseAofTail(redisDir, { from, fraction = 0.5 }) {
  const file = newestIncrAof(redisDir)
  const size = fs.statSync(file).size
  const appended = size - from
  if (appended <= 0) throw new Error(`nothing was appended to ${file} after byte ${from}`)
  fs.truncateSync(file, size - Math.max(1, Math.floor(appended * fraction)))
  const manifest = path.join(
    redisDir,
    'appendonlydir',
    fs.readdirSync(path.join(redisDir, 'appendonlydir')).find((f) => f.endsWith('.manifest')),
  )
  // it asks "Continue? [y/N]" before truncating; exits 0 whether it had to fix or not
  await run(findBin('redis-check-aof'), ['--fix', manifest], { input: 'y\n', timeoutMs: 30_000 })
  const sizeAfter = fs.statSync(file).size
  return { file, appended, cut: size - sizeAfter, sizeAfter }
}
