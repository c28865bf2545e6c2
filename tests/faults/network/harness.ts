/**
 * The network-fault harness: web instances and payment workers whose every connection to Redis,
 * MariaDB, Kafka and Keycloak goes through a Toxiproxy proxy of their own, faults on those links,
 * process pauses, and Kafka's own view of the consumer group. Each fault comes with a way to prove it
 * happened. `harness.test.ts` proves every tool works.
 *
 * ## Processes behind their own proxies
 *   const net = await networkFaults()            // the test stack's Toxiproxy (started once per stack)
 *   const webs = await net.part('webs')          // proxies webs→redis, webs→mysql, webs→kafka, webs→keycloak
 *   const web1 = await net.startWeb(webs)        // = stack.startWeb({ env: webs.env }); several may share a part
 *   const w1 = await net.part('worker-1')        // one part per worker: cut one worker, not the other
 *   const worker1 = await net.startWorker(w1, { env: { … } })
 *   afterAll(() => net.close())                  // after stopping the parts' processes: removes the
 *                                                // proxies this file made (a later file gets the Kafka slots)
 * A part's `env` points REDIS_URL, DATABASE_URL, KAFKA_BROKERS and OIDC_INTERNAL_URL at its proxies and
 * sets KAFKA_CLIENT_ID to the part's name (so a worker is recognisable in the group's membership).
 * Kafka: each part takes one of the broker's proxied listeners (6 per test stack, see
 * scripts/lib/stack.mjs KAFKA_PROXY_SLOTS), advertised at the proxy's port, so the client's bootstrap
 * and every later connection (leader, group coordinator) go through the part's proxy. Keycloak: the
 * web's discovery and key (JWKS) fetches go through it; tokens keep the public issuer.
 *
 * ## Faults on a link: part.redis, part.mysql, part.kafka, part.keycloak (each a Link)
 *   await link.blackHole()               // nothing gets through either way; connections stay open;
 *                                        // on heal the held bytes arrive (TCP retransmitting after a
 *                                        // link comes back). Toxiproxy `latency` of 1 h, both streams.
 *   await link.blackHole({ drop: true }) // bytes vanish for good (`timeout` toxic, 0); on heal Toxiproxy
 *                                        // closes the connections it held (their streams are torn)
 *   await link.latency(200, 100)         // every reply 200 ms ± 100 ms late (`latency`, downstream;
 *                                        // { stream: 'both' } delays requests too)
 *   await link.bandwidth(64)             // replies at most 64 KB/s (`bandwidth`, downstream)
 *   await link.resetPeer()               // each connection reset (RST) at its next byte (`reset_peer`)
 *   await link.cut()                     // proxy disabled: open connections closed, new ones refused
 *   await link.heal()                    // every toxic removed, proxy enabled
 *   await link.heal('blackhole')         // only that fault's toxics ('blackhole', 'latency', 'bandwidth', 'reset')
 *   await net.everyLink((l) => l.latency(200, 100)); await net.healAll()
 * Toxics apply to open connections and new ones alike.
 *
 * ## Proof that the fault happened (Toxiproxy counts no bytes: a probe speaks the service's protocol)
 *   await link.probe(1000)         // { answered, ms }: Redis PING, MySQL greeting, Kafka ApiVersions,
 *   await link.probeDirect(1000)   // Keycloak discovery — through the proxy, or straight to the service
 *   row.happened = await link.proveBlackHole()   // throws unless no answer through it in 1 s while the
 *                                               // direct path answers; returns the evidence as text
 *   const ms = await link.proveLatency(150)     // throws unless a round trip through it takes ≥ 150 ms
 *
 * ## Pauses (SIGSTOP / SIGCONT of the whole process group)
 *   const p = await pause(worker1.pid)   // resolves once /proc/<pid>/stat says 'T' (throws otherwise)
 *   const p = await pauseService('mariadb')           // a stack service by name
 *   const stoppedMs = await p.resume()   // SIGCONT, resolves once it runs again
 *
 * ## Who is really consuming: Kafka's view (ConsumerGroupCommand --describe --members)
 *   await groupMembers()                 // [{ clientId: 'worker-1', partitions: 3, assignment: [...] }]
 *   await membersUntil((m) => consuming(m, ['worker-1', 'worker-2']), 60_000)
 */
import { readdirSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { testStack, type StackProc } from '../support'

export const stack = testStack()

type Service = 'redis' | 'mysql' | 'kafka' | 'keycloak'
type Stream = 'upstream' | 'downstream' | 'both'
const SERVICES: Service[] = ['redis', 'mysql', 'kafka', 'keycloak']

// ---------------------------------------------------------------------------------------------
// Toxiproxy's HTTP API

interface ProxyInfo { name: string, listen: string, upstream: string, enabled: boolean, toxics: { name: string }[] }

async function api<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`Toxiproxy ${method} ${path}: ${res.status} ${text}`)
  return (text ? JSON.parse(text) : undefined) as T
}

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1))

// ---------------------------------------------------------------------------------------------
// Probes: a request in the service's own protocol, answered or not within a bound

export interface ProbeResult {
  answered: boolean
  /** until the answer, the error, or the bound */
  ms: number
  /** the socket's error code when it failed (ECONNRESET, ECONNREFUSED, …) */
  error?: string
}

/** Kafka ApiVersions v0, correlation id 1, client id "probe": any broker answers it. */
function kafkaApiVersions(): Buffer {
  const clientId = Buffer.from('probe')
  const body = Buffer.alloc(10 + clientId.length)
  body.writeInt16BE(18, 0) // ApiVersions
  body.writeInt16BE(0, 2)
  body.writeInt32BE(1, 4)
  body.writeInt16BE(clientId.length, 8)
  clientId.copy(body, 10)
  const size = Buffer.alloc(4)
  size.writeInt32BE(body.length)
  return Buffer.concat([size, body])
}

const PROBES: Record<Service, { send?: () => Buffer, answered: (got: Buffer) => boolean }> = {
  redis: { send: () => Buffer.from('PING\r\n'), answered: (b) => b.includes('+PONG') },
  // the server speaks first: its handshake packet
  mysql: { answered: (b) => b.length >= 4 && b.length >= 4 + b.readUIntLE(0, 3) },
  kafka: { send: kafkaApiVersions, answered: (b) => b.length >= 8 && b.readInt32BE(4) === 1 },
  keycloak: {
    send: () => Buffer.from('GET /realms/flash-sale/.well-known/openid-configuration HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'),
    answered: (b) => /^HTTP\/1\.1 \d{3}/.test(b.toString('latin1')),
  },
}

/**
 * Opens a connection to 127.0.0.1:port, sends `send` (if any) and waits until `answered(received)`,
 * an error or `timeoutMs`. The low-level probe; Link.probe() uses the service's own request.
 */
export function roundTrip(
  port: number,
  send: Buffer | undefined,
  answered: (got: Buffer) => boolean,
  timeoutMs: number,
): Promise<ProbeResult> {
  const t0 = performance.now()
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let got = Buffer.alloc(0)
    const finish = (result: Omit<ProbeResult, 'ms'>) => {
      clearTimeout(timer)
      socket.destroy()
      resolve({ ...result, ms: performance.now() - t0 })
    }
    const timer = setTimeout(() => finish({ answered: false }), timeoutMs)
    socket.on('connect', () => {
      if (send) socket.write(send)
    })
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      if (answered(got)) finish({ answered: true })
    })
    socket.on('error', (e: NodeJS.ErrnoException) => finish({ answered: false, error: e.code ?? e.message }))
    socket.on('close', () => finish({ answered: false, error: 'CLOSED' }))
  })
}

// ---------------------------------------------------------------------------------------------
// Links

export class Link {
  constructor(
    private readonly base: string,
    /** 'webs→redis' */
    readonly name: string,
    /** the Toxiproxy proxy's name, 'webs-redis' */
    readonly proxy: string,
    readonly service: Service,
    /** where the part's processes connect */
    readonly port: number,
    /** where the proxy forwards to */
    readonly upstreamPort: number,
  ) {}

  /** Toxics are named `<fault>-<stream>`, so a black hole can join a latency already on the link. */
  private async toxic(fault: string, type: string, stream: Stream, attributes: Record<string, number>) {
    const streams: Stream[] = stream === 'both' ? ['upstream', 'downstream'] : [stream]
    for (const s of streams) {
      await api(this.base, 'POST', `/proxies/${this.proxy}/toxics`, { name: `${fault}-${s}`, type, stream: s, toxicity: 1, attributes })
    }
  }

  /**
   * Nothing gets through, either way; connections stay open and new ones are accepted (then hear
   * nothing). Default: bytes are held and arrive when healed, as TCP delivers after a link that lost
   * every packet comes back. `drop`: bytes vanish for good, and healing closes the connections.
   */
  blackHole({ drop = false }: { drop?: boolean } = {}) {
    return drop
      ? this.toxic('blackhole', 'timeout', 'both', { timeout: 0 })
      : this.toxic('blackhole', 'latency', 'both', { latency: 3_600_000, jitter: 0 })
  }

  /** Every byte `ms` ± `jitter` late (default: replies only, so a round trip takes that much longer). */
  latency(ms: number, jitter = 0, { stream = 'downstream' }: { stream?: Stream } = {}) {
    return this.toxic('latency', 'latency', stream, { latency: ms, jitter })
  }

  /** At most `kbPerSecond` KB/s (default: replies only). */
  bandwidth(kbPerSecond: number, { stream = 'downstream' }: { stream?: Stream } = {}) {
    return this.toxic('bandwidth', 'bandwidth', stream, { rate: kbPerSecond })
  }

  /** Each connection is reset (RST, unsent data discarded) at its next byte, or `afterMs` after it. */
  resetPeer(afterMs = 0) {
    return this.toxic('reset', 'reset_peer', 'upstream', { timeout: afterMs })
  }

  /** The link goes down: open connections closed, new ones refused. */
  async cut() {
    await api(this.base, 'POST', `/proxies/${this.proxy}`, { enabled: false })
  }

  /** Every toxic removed and the proxy enabled; or only the toxics of one `fault`. */
  async heal(fault?: 'blackhole' | 'latency' | 'bandwidth' | 'reset') {
    const info = await api<ProxyInfo>(this.base, 'GET', `/proxies/${this.proxy}`)
    for (const t of info.toxics) {
      if (!fault || t.name.startsWith(`${fault}-`)) await api(this.base, 'DELETE', `/proxies/${this.proxy}/toxics/${t.name}`)
    }
    if (!fault && !info.enabled) await api(this.base, 'POST', `/proxies/${this.proxy}`, { enabled: true })
  }

  /** The service's own request (PING, greeting, ApiVersions, discovery) through this link. */
  probe(timeoutMs = 1_000): Promise<ProbeResult> {
    const p = PROBES[this.service]
    return roundTrip(this.port, p.send?.(), p.answered, timeoutMs)
  }

  /** The same request straight to the service, past the proxy. */
  probeDirect(timeoutMs = 1_000): Promise<ProbeResult> {
    const p = PROBES[this.service]
    return roundTrip(this.upstreamPort, p.send?.(), p.answered, timeoutMs)
  }

  /** Throws unless the link answers nothing within `boundMs` while the service itself answers. */
  async proveBlackHole(boundMs = 1_000): Promise<string> {
    const [through, direct] = await Promise.all([this.probe(boundMs), this.probeDirect(boundMs)])
    if (!direct.answered) throw new Error(`${this.name}: the ${this.service} itself did not answer in ${boundMs} ms (${direct.error ?? 'no reply'}): not a black hole of the link`)
    if (through.answered || through.error) throw new Error(`${this.name}: not black-holed: the probe through it ${through.answered ? `was answered in ${through.ms.toFixed(0)} ms` : `failed (${through.error})`}`)
    return `${this.name}: no answer through it in ${boundMs} ms, the ${this.service} itself answered in ${direct.ms.toFixed(0)} ms`
  }

  /** Throws unless a round trip through the link takes at least `minMs`; returns the time it took. */
  async proveLatency(minMs: number): Promise<number> {
    const r = await this.probe(minMs * 10 + 5_000)
    if (!r.answered) throw new Error(`${this.name}: no answer through it (${r.error ?? 'timeout'})`)
    if (r.ms < minMs) throw new Error(`${this.name}: a round trip took ${r.ms.toFixed(0)} ms, less than ${minMs} ms`)
    return r.ms
  }
}

// ---------------------------------------------------------------------------------------------
// Parts: a process group's links

export interface Part {
  name: string
  redis: Link
  mysql: Link
  kafka: Link
  keycloak: Link
  links: Link[]
  /** what a process of this part needs in its environment */
  env: Record<string, string>
}

interface StartOptions { env?: Record<string, string>, wrap?: string[] }

export interface NetworkFaults {
  /** Toxiproxy's API, http://127.0.0.1:port */
  url: string
  /** Proxies for a process group named `name` (letters, digits, '-'); an old group of that name is replaced. */
  part(name: string): Promise<Part>
  startWeb(part: Part, o?: StartOptions): Promise<StackProc & { url: string, port: number }>
  startWorker(part: Part, o?: StartOptions): Promise<StackProc>
  /** `fault` on every link of every part made here */
  everyLink(fault: (link: Link) => Promise<unknown>): Promise<void>
  /** every link of every part made here healed */
  healAll(): Promise<void>
  /** removes every proxy made here */
  close(): Promise<void>
}

function upstreamPort(service: Service): number {
  const ports = stack.ports as Record<string, number>
  return { redis: ports.redis!, mysql: ports.mysql!, keycloak: ports.keycloak!, kafka: 0 }[service]
}

/** The test stack's Toxiproxy (started on first use) and the parts this caller makes with it. */
export async function networkFaults(): Promise<NetworkFaults> {
  const { url: base } = await stack.startToxiproxy()
  const parts = new Map<string, Part>()

  async function proxy(name: string, listen: number, upstream: number): Promise<number> {
    await api(base, 'DELETE', `/proxies/${name}`).catch(() => {})
    const made = await api<ProxyInfo>(base, 'POST', '/proxies', {
      name,
      listen: `127.0.0.1:${listen}`,
      upstream: `127.0.0.1:${upstream}`,
      enabled: true,
    })
    return portOf(made.listen)
  }

  /** A Kafka listener of the broker no proxy listens in front of yet. */
  async function freeKafkaSlot(name: string) {
    const existing = await api<Record<string, ProxyInfo>>(base, 'GET', '/proxies')
    const taken = new Set(Object.values(existing).filter((p) => p.name !== `${name}-kafka`).map((p) => portOf(p.listen)))
    const slot = stack.kafkaProxySlots.find((s) => !taken.has(s.advertisedPort))
    if (!slot) throw new Error(`every one of the broker's ${stack.kafkaProxySlots.length} proxied listeners is taken (proxies: ${Object.keys(existing).join(', ')}): close() the parts of earlier files`)
    return slot
  }

  async function part(name: string): Promise<Part> {
    if (!/^[A-Za-z0-9-]+$/.test(name)) throw new Error(`part name ${name}: letters, digits and '-' only`)
    const links = {} as Record<Service, Link>
    for (const service of SERVICES) {
      const proxyName = `${name}-${service}`
      let listen = 0
      let upstream = upstreamPort(service)
      if (service === 'kafka') {
        const slot = await freeKafkaSlot(name)
        ;[listen, upstream] = [slot.advertisedPort, slot.port]
      }
      const port = await proxy(proxyName, listen, upstream)
      links[service] = new Link(base, `${name}→${service}`, proxyName, service, port, upstream)
    }
    const db = new URL(stack.env.DATABASE_URL!)
    db.host = `127.0.0.1:${links.mysql.port}`
    const made: Part = {
      name,
      ...links,
      links: Object.values(links),
      env: {
        REDIS_URL: `redis://127.0.0.1:${links.redis.port}`,
        DATABASE_URL: db.href,
        KAFKA_BROKERS: `127.0.0.1:${links.kafka.port}`,
        OIDC_INTERNAL_URL: `http://127.0.0.1:${links.keycloak.port}`,
        KAFKA_CLIENT_ID: name,
      },
    }
    parts.set(name, made)
    return made
  }

  const allLinks = () => [...parts.values()].flatMap((p) => p.links)
  return {
    url: base,
    part,
    startWeb: (p, o = {}) => stack.startWeb({ ...o, env: { ...p.env, ...o.env } }),
    startWorker: (p, o = {}) => stack.startWorker({ ...o, env: { ...p.env, ...o.env } }),
    everyLink: async (fault) => { await Promise.all(allLinks().map(fault)) },
    healAll: async () => { await Promise.all(allLinks().map((l) => l.heal())) },
    close: async () => {
      await Promise.all(allLinks().map((l) => api(base, 'DELETE', `/proxies/${l.proxy}`).catch(() => {})))
      parts.clear()
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Pauses

/** The process state letter of /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z', …), null when gone. */
export function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0]!
  } catch {
    return null
  }
}

/** The live processes of process group `pgid` (a stack process leads its own group). */
function groupPids(pgid: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') pids.push(Number(entry))
    } catch { /* gone meanwhile */ }
  }
  return pids
}

export interface Paused {
  pid: number
  /** every process of its group that was stopped */
  pids: number[]
  stoppedAt: number
  /** SIGCONT; resolves with how long it was stopped, once it runs again */
  resume(): Promise<number>
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 3_000) {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(what)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * SIGSTOP to `pid`'s process group (just `pid` when it leads none): the process freezes with its
 * connections open. Resolves once every process of the group is in state 'T'.
 */
export async function pause(pid: number): Promise<Paused> {
  const leader = groupPids(pid).includes(pid)
  const pids = leader ? groupPids(pid) : [pid]
  process.kill(leader ? -pid : pid, 'SIGSTOP')
  await waitFor(`pid ${pid} not stopped after SIGSTOP (states: ${pids.map((p) => `${p}:${procState(p)}`).join(' ')})`, () => pids.every((p) => procState(p) === 'T' || procState(p) === null))
  if (procState(pid) !== 'T') throw new Error(`pid ${pid} is gone, not paused`)
  const stoppedAt = Date.now()
  return {
    pid,
    pids,
    stoppedAt,
    resume: async () => {
      process.kill(leader ? -pid : pid, 'SIGCONT')
      await waitFor(`pid ${pid} still stopped after SIGCONT`, () => pids.every((p) => procState(p) !== 'T'))
      return Date.now() - stoppedAt
    },
  }
}

/** pause() of a stack service by name ('redis', 'mariadb', 'kafka', 'keycloak', 'toxiproxy', …). */
export function pauseService(name: string): Promise<Paused> {
  const rec = stack.processes()[name]
  if (!rec) throw new Error(`${name} is not running in the stack`)
  return pause(rec.pid)
}

// ---------------------------------------------------------------------------------------------
// The consumer group as Kafka sees it

export interface GroupMember {
  consumerId: string
  host: string
  clientId: string
  partitions: number
  /** ['payment-requests-0', …] */
  assignment: string[]
}

/** The group's members with their partitions, from Kafka itself (ConsumerGroupCommand). */
export function groupMembers(group = 'payment-workers'): Promise<GroupMember[]> {
  return stack.groupMembers(group)
}

/** True when each of `clientIds` is a member holding at least one partition. */
export function consuming(members: GroupMember[], clientIds: string[]): boolean {
  return clientIds.every((id) => members.some((m) => m.clientId === id && m.partitions > 0))
}

/** Polls the membership until `check` holds; returns it, or throws with the last one seen after `timeoutMs`. */
export async function membersUntil(
  check: (members: GroupMember[]) => boolean,
  timeoutMs = 60_000,
  group = 'payment-workers',
): Promise<GroupMember[]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const members = await groupMembers(group)
    if (check(members)) return members
    if (Date.now() > deadline) {
      throw new Error(
        `consumer group ${group} after ${timeoutMs / 1000} s: ${JSON.stringify(members.map((m) => [m.clientId, m.partitions]))}`,
      )
    }
    await new Promise((r) => setTimeout(r, 500))
  }
}
