import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ensureKafka } from '../../../scripts/lib/downloads.mjs'
import { ensureJava } from '../../../scripts/lib/system.mjs'
import { KAFKA_LOG4J as BROKER_LOG4J, TOOLS_LOG4J, kafkaServerProperties } from '../../../scripts/lib/services.mjs'
import { setTimeout as sleep } from 'node:timers/promises'

/*
 * A 3-node KRaft cluster (every node broker + controller, static controller.quorum.voters) from the
 * jars `npm test` caches (scripts/lib/downloads.mjs ensureKafka), on loopback ports chosen by the
 * caller, in a temp dir of its own. The broker config is the stack's own (scripts/lib/services.mjs
 * kafkaServerProperties) with a static quorum: replication factor 3 and min.insync.replicas 2.
 */

const run = promisify(execFile)

export interface KafkaNode {
  id: number
  port: number
  controllerPort: number
  logFile: string
  child: ChildProcess
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface KafkaCluster {
  dir: string
  nodes: KafkaNode[]
  brokers: string
  /** Runs org.apache.kafka.tools.TopicCommand against the live brokers. */
  topicCommand: (args: string[]) => Promise<string>
  /** SIGKILLs every node still running and removes the temp dir. */
  stop: () => Promise<void>
}

/** Like StorageTool random-uuid: a base64url random (v4) UUID that never starts with '-'. */
function clusterId(): string {
  for (;;) {
    const b = randomBytes(16)
    b[6] = (b[6]! & 0x0f) | 0x40
    b[8] = (b[8]! & 0x3f) | 0x80
    const id = b.toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.setTimeout(1000)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
}

/** ports: [broker, controller] per node, three nodes. */
export async function startKafkaCluster(ports: [number, number][], heap = '-Xmx384m'): Promise<KafkaCluster> {
  const libs: string = await ensureKafka()
  const java: string = (await ensureJava()).kafka.bin
  const classpath = join(libs, '*')
  const dir = mkdtempSync(join(tmpdir(), 'flash-kafka-cluster-'))
  const nodes: KafkaNode[] = []
  const stop = async () => {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL')
    await Promise.all(nodes.map((n) => n.exited))
    rmSync(dir, { recursive: true, force: true })
  }
  const toolsLog4j = join(dir, 'tools-log4j2.properties')
  writeFileSync(toolsLog4j, TOOLS_LOG4J)
  writeFileSync(join(dir, 'broker-log4j2.properties'), BROKER_LOG4J)
  const toolsConfig = join(dir, 'tools.properties')
  writeFileSync(toolsConfig, 'request.timeout.ms=5000\ndefault.api.timeout.ms=15000\n')
  const toolJava = ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', `-Dlog4j2.configurationFile=${toolsLog4j}`, '-cp', classpath]
  const voters = ports.map(([, c], i) => `${i + 1}@127.0.0.1:${c}`).join(',')
  const brokers = ports.map(([p]) => `127.0.0.1:${p}`).join(',')
  const id = clusterId()

  try {
    const propsFiles = ports.map(([port, cport], i) => {
      const nodeDir = join(dir, `node-${i + 1}`)
      mkdirSync(join(nodeDir, 'logs'), { recursive: true })
      const file = join(nodeDir, 'server.properties')
      writeFileSync(file, kafkaServerProperties({ nodeId: i + 1, port, controllerPort: cport, dataDir: join(nodeDir, 'data'), voters }))
      return file
    })

    await Promise.all(
      propsFiles.map((file) =>
        run(java, [...toolJava, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', file, '--ignore-formatted'], { timeout: 60_000 }),
      ),
    )

    ports.forEach(([port, cport], i) => {
      const nodeDir = join(dir, `node-${i + 1}`)
      const logFile = join(nodeDir, 'server.log')
      const fd = openSync(logFile, 'a')
      const child = spawn(java, [
        heap,
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-Djava.awt.headless=true',
        `-Dkafka.logs.dir=${join(nodeDir, 'logs')}`,
        `-Dlog4j2.configurationFile=${join(dir, 'broker-log4j2.properties')}`,
        '-cp', classpath,
        'kafka.Kafka', propsFiles[i]!,
      ], { stdio: ['ignore', fd, fd] })
      closeSync(fd)
      const exited = once(child, 'exit').then(([code, signal]) => ({
        code: code as number | null,
        signal: signal as NodeJS.Signals | null,
      }))
      nodes.push({ id: i + 1, port, controllerPort: cport, logFile, child, exited })
    })

    const deadline = Date.now() + 120_000
    for (const n of nodes) {
      while (!(await canConnect(n.port))) {
        if (n.child.exitCode !== null) throw new Error(`Kafka node ${n.id} exited (${n.child.exitCode}):\n${readFileSync(n.logFile, 'utf8').slice(-3000)}`)
        if (Date.now() > deadline) throw new Error(`Kafka node ${n.id} not listening on :${n.port} after 120 s:\n${readFileSync(n.logFile, 'utf8').slice(-3000)}`)
        await sleep(250)
      }
    }
  } catch (error) {
    await stop()
    throw error
  }

  const topicCommand = async (args: string[]) => {
    const { stdout } = await run(
      java,
      [...toolJava, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', brokers, '--command-config', toolsConfig, ...args],
      { timeout: 60_000 },
    )
    return stdout
  }
  return { dir, nodes, brokers, topicCommand, stop }
}
