/**
 * N2 and N4: a worker that keeps working after the world moved on.
 *  - N2 worker → MySQL black hole (replies only) during a settlement's COMMIT: the COMMIT reaches
 *    MariaDB and is carried out, its answer never arrives (an ambiguous commit). The worker must find
 *    the batch settled when it tries again, and charge nobody twice.
 *  - N4 one worker cut from Kafka (not from MySQL or Redis) past its session timeout while it holds a
 *    batch: its partitions move to the other worker, which settles the same events; the first one
 *    then settles its batch anyway (a zombie). Neither a second settlement nor a stale follow-up may
 *    come of it, and it rejoins the group once the link heals.
 * Each test starts its own workers, with a failpoint that makes the moment exact (failpoints.ts).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { kafkaDrained, sleep, type StackProc } from '../support'
import { failpointDir, fired } from '../hard/support'
import { consuming, groupMembers, membersUntil } from './harness'
import { faultMidBurst, networkSale, WORKERS } from './support'

const fixture = networkSale({ workers: false })

/** Polls until the failpoint `name` has fired in `dir` (the worker is at that point now). */
async function firedIn(dir: string, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!fired(dir, name)) {
    if (Date.now() > deadline) throw new Error(`failpoint ${name} did not fire within ${timeoutMs / 1000} s`)
    await sleep(10)
  }
}

/** Both workers for one test: the first with `failpoints` armed; stopped when `test` ends. */
async function withWorkers(failpoints: string, test: (dir: string, workers: StackProc[]) => Promise<void>) {
  const dir = failpointDir()
  const workers = await Promise.all([
    fixture.startWorker(0, { FLASH_SALE_FAILPOINTS: failpoints, FLASH_SALE_FAILPOINT_DIR: dir }),
    fixture.startWorker(1),
  ])
  try {
    // both hold partitions before the burst: the armed one must get events to settle
    await membersUntil((m) => consuming(m, WORKERS), 60_000)
    await test(dir, workers)
    await kafkaDrained(30_000) // nothing left for whoever consumes next
  } finally {
    await Promise.all(workers.map((w) => w.stop(15_000).catch(() => {})))
  }
}

describe('a worker that keeps working after the world moved on', () => {
  it('N2: worker → MySQL replies black-holed at COMMIT — the ambiguous commit is found settled, nobody charged twice', async () => {
    await withWorkers('worker.before-commit=pause:1500*1', async (dir, [zombie]) => {
      const mysql = fixture.workerParts[0]!.mysql
      await faultMidBurst('N2 worker → MySQL black hole at COMMIT', fixture, async () => {
        await firedIn(dir, 'worker.before-commit')
        // replies held, requests through: the COMMIT the failpoint is about to send is carried out unanswered
        await mysql.latency(3_600_000, 0, { stream: 'downstream' })
        let proof: string
        try {
          proof = await mysql.proveBlackHole()
          await sleep(8_000)
        } finally {
          await mysql.heal()
        }
        return { resumedAt: Date.now(), happened: `failpoint before COMMIT fired; ${proof}` }
      })
      // the statement that went unanswered was the COMMIT (the worker's log names it)
      expect(readFileSync(zombie!.log, 'utf8')).toContain('"unanswered":"commit"')
    })
  }, 360_000)

  it('N4: one worker cut from Kafka past its session while it holds a batch — its partitions move, its late settlement changes nothing', async () => {
    await withWorkers('worker.before-settle=pause:20000*1', async (dir) => {
      const kafka = fixture.workerParts[0]!.kafka
      const [zombie, other] = WORKERS
      await faultMidBurst('N4 worker cut from Kafka holding a batch', fixture, async () => {
        await firedIn(dir, 'worker.before-settle')
        const cutAt = Date.now()
        await kafka.blackHole()
        let happened: string
        try {
          const proof = await kafka.proveBlackHole()
          // Kafka itself says the partitions moved while the first worker still holds its batch
          const moved = await membersUntil((m) => m.length === 1 && m[0]!.clientId === other && m[0]!.partitions === 6, 30_000)
          happened = `${zombie} paused in a batch; ${proof}; ${((Date.now() - cutAt) / 1000).toFixed(1)} s later Kafka listed ${moved[0]!.clientId} alone with all 6 partitions`
          // the zombie wakes up (20 s after the failpoint) and settles its batch while still cut off
          await sleep(Math.max(0, 25_000 - (Date.now() - cutAt)))
        } finally {
          await kafka.heal()
        }
        return { resumedAt: Date.now(), happened }
      })
      expect((await groupMembers()).map((m) => m.clientId).sort()).toEqual([...WORKERS].sort())
    })
  }, 360_000)
})
