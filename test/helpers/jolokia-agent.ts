/**
 * The real Jolokia JVM agent (from Maven Central, pinned by version and SHA-1, cached in .tools/) attached to
 * a tiny JVM whose MBeans look like a Corda node's (test/fixtures/jolokia), listening on loopback only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './paths';

const VERSION = '2.5.1';
const SHA1 = '77ef34c6895306397b3397fd28c27b2154655c15';
const JAR = `jolokia-agent-jvm-${VERSION}-javaagent.jar`;
const URL_ = `https://repo1.maven.org/maven2/org/jolokia/jolokia-agent-jvm/${VERSION}/${JAR}`;

async function agentJar(): Promise<string> {
  const dir = path.join(PROJECT_ROOT, '.tools', 'jolokia');
  const file = path.join(dir, JAR);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const response = await fetch(URL_);
  if (!response.ok) throw new Error(`cannot download the Jolokia agent from ${URL_}: HTTP ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const sha1 = createHash('sha1').update(bytes).digest('hex');
  if (sha1 !== SHA1) throw new Error(`${URL_}: SHA-1 ${sha1}, expected ${SHA1}`);
  writeFileSync(`${file}.partial`, bytes);
  renameSync(`${file}.partial`, file);
  return file;
}

export async function startRealJolokia(workDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const jar = await agentJar();
  mkdirSync(workDir, { recursive: true });
  execFileSync('javac', [
    '-d',
    workDir,
    path.join(PROJECT_ROOT, 'test', 'fixtures', 'jolokia', 'CordaLikeMBeans.java'),
  ]);
  // port=0: the agent picks a free port and prints its URL; discovery off: no multicast from a test.
  const java = spawn(
    'java',
    [`-javaagent:${jar}=port=0,host=127.0.0.1,discoveryEnabled=false`, '-cp', workDir, 'CordaLikeMBeans'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  java.stdout.on('data', (c: Buffer) => (output += c.toString()));
  java.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => java.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const url = /started with URL (http:\/\/127\.0\.0\.1:\d+\/jolokia)/.exec(output)?.[1];
    if (url && output.includes('mbeans registered')) {
      return {
        url: `${url}/`,
        async stop() {
          java.kill('SIGKILL');
          await exited;
        },
      };
    }
    if (java.exitCode !== null || Date.now() > deadline) {
      java.kill('SIGKILL');
      throw new Error(`the Jolokia JVM did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
