// Kafka and Keycloak from Maven Central, cached per user outside the clone.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { log, ok, run, secs, mkdirp } from './util.mjs'
import { ensureJava } from './system.mjs'

export const KAFKA_VERSION = '4.1.2'
export const LOG4J_VERSION = '2.24.3'
export const KEYCLOAK_VERSION = '26.7.3'

export function cacheDir() {
  const base = process.env.FLASH_SALE_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'flash-sale')
  return mkdirp(base)
}

/** Builds `final` through `build(tmpDir)` in a sibling temp dir, then renames: never half-finished. */
export async function atomicDir(final, build) {
  if (fs.existsSync(path.join(final, '.complete'))) return final
  const tmp = `${final}.tmp-${process.pid}-${Date.now()}`
  fs.rmSync(tmp, { recursive: true, force: true })
  mkdirp(tmp)
  try {
    await build(tmp)
    fs.writeFileSync(path.join(tmp, '.complete'), new Date().toISOString())
    fs.rmSync(final, { recursive: true, force: true })
    try {
      fs.renameSync(tmp, final)
    } catch (e) {
      // another process finished first
      if (!fs.existsSync(path.join(final, '.complete'))) throw e
      fs.rmSync(tmp, { recursive: true, force: true })
    }
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true })
    throw e
  }
  return final
}

function mvnEnv(java) {
  return { ...process.env, JAVA_HOME: java.home }
}

const dep = (g, a, v, extra = '') => `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version>${extra}</dependency>`

const once = (fn) => {
  let p
  return () => (p ??= fn().catch((e) => {
    p = undefined
    throw e
  }))
}

/** Kafka broker + tools + log4j2 jars in one folder; returns its path (use as `<dir>/*`). */
export const ensureKafka = once(async () => {
  const final = path.join(cacheDir(), `kafka-${KAFKA_VERSION}`)
  if (fs.existsSync(path.join(final, '.complete'))) {
    ok(`Kafka ${KAFKA_VERSION} cached (${final})`)
    return path.join(final, 'libs')
  }
  const t0 = Date.now()
  log(`downloading Kafka ${KAFKA_VERSION} jars with Maven into ${final}`)
  const java = (await ensureJava()).kafka
  await atomicDir(final, async (tmp) => {
    const pom = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.flash-sale</groupId><artifactId>kafka-libs</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
${dep('org.apache.kafka', 'kafka_2.13', KAFKA_VERSION)}
${dep('org.apache.kafka', 'kafka-tools', KAFKA_VERSION, '<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>')}
${dep('org.apache.logging.log4j', 'log4j-core', LOG4J_VERSION)}
${dep('org.apache.logging.log4j', 'log4j-api', LOG4J_VERSION)}
${dep('org.apache.logging.log4j', 'log4j-slf4j-impl', LOG4J_VERSION)}
  </dependencies>
</project>
`
    const work = mkdirp(path.join(tmp, 'pom'))
    fs.writeFileSync(path.join(work, 'pom.xml'), pom)
    await run('mvn', ['-q', '-B', 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${path.join(tmp, 'libs')}`], {
      cwd: work,
      env: mvnEnv(java),
    })
    fs.rmSync(work, { recursive: true, force: true })
    const jars = fs.readdirSync(path.join(tmp, 'libs'))
    for (const want of [`kafka_2.13-${KAFKA_VERSION}.jar`, `kafka-tools-${KAFKA_VERSION}.jar`, `log4j-slf4j-impl-${LOG4J_VERSION}.jar`]) {
      if (!jars.includes(want)) throw new Error(`Kafka download is missing ${want}`)
    }
  })
  ok(`Kafka ${KAFKA_VERSION} ready in ${secs(t0)}`)
  return path.join(final, 'libs')
})

/** The unpacked Keycloak distribution (read-only template; each stack gets its own home). */
export const ensureKeycloak = once(async () => {
  const final = path.join(cacheDir(), `keycloak-${KEYCLOAK_VERSION}`)
  const home = path.join(final, `keycloak-${KEYCLOAK_VERSION}`)
  if (fs.existsSync(path.join(final, '.complete'))) {
    ok(`Keycloak ${KEYCLOAK_VERSION} cached (${home})`)
    return home
  }
  const t0 = Date.now()
  log(`downloading Keycloak ${KEYCLOAK_VERSION} with Maven into ${final}`)
  const java = (await ensureJava()).keycloak
  await atomicDir(final, async (tmp) => {
    const work = mkdirp(path.join(tmp, 'dl'))
    await run(
      'mvn',
      ['-q', '-B', 'dependency:copy', `-Dartifact=org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip`, `-DoutputDirectory=${work}`],
      { cwd: work, env: mvnEnv(java) },
    )
    const zip = path.join(work, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip`)
    await run('unzip', ['-q', zip, '-d', tmp])
    fs.rmSync(work, { recursive: true, force: true })
    if (!fs.existsSync(path.join(tmp, `keycloak-${KEYCLOAK_VERSION}`, 'bin', 'kc.sh'))) throw new Error('Keycloak zip has no bin/kc.sh')
  })
  ok(`Keycloak ${KEYCLOAK_VERSION} ready in ${secs(t0)}`)
  return home
})

export async function ensureDownloads() {
  const [kafkaLibs, keycloakDist] = await Promise.all([ensureKafka(), ensureKeycloak()])
  return { kafkaLibs, keycloakDist }
}
