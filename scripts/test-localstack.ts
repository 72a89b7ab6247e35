/**
 * `npm run test:localstack`: starts LocalStack's open-source core (S3, SQS) and DynamoDB Local
 * on the host behind one loopback endpoint, runs the integration tests that make sense against
 * one endpoint and a short demo on it, and stops everything it started, also on failure.
 * Installed beforehand by scripts/setup-localstack.sh.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../local/emulator';
import { HostLocalStack } from '../local/localstack-host';

const TESTS_TIMEOUT_MS = 30 * 60_000;
const DEMO_TIMEOUT_MS = 5 * 60_000;
const DEMO_SECONDS = '15';

let running: ChildProcess | undefined;
let host: HostLocalStack | undefined;
let interrupted = false;

function run(what: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ code: number; ms: number }>((resolve, reject) => {
    if (interrupted) return resolve({ code: 130, ms: 0 });
    const t0 = Date.now();
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: 'inherit' });
    running = child;
    const timer = setTimeout(() => {
      console.error(`${what} did not finish in ${timeoutMs / 1000} s; stopping it`);
      child.kill('SIGTERM');
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      running = undefined;
      resolve({ code: code ?? (signal ? 1 : 0), ms: Date.now() - t0 });
    });
  });
}

async function main(): Promise<number> {
  const t0 = Date.now();
  host = await HostLocalStack.start();
  const started = Date.now() - t0;
  console.log(
    `LocalStack (S3, SQS) + DynamoDB Local up in ${(started / 1000).toFixed(1)} s ` +
      `(LocalStack ${(host.timings.localstackMs / 1000).toFixed(1)} s, DynamoDB Local ` +
      `${(host.timings.dynamodbMs / 1000).toFixed(1)} s), one endpoint: ${host.endpoint}`,
  );
  const env = { ...process.env, VOLMIRROR_LOCALSTACK_ENDPOINT: host.endpoint };
  const bin = (name: string) => join(ROOT, 'node_modules', '.bin', name);
  const tests = await run(
    'the tests',
    bin('vitest'),
    ['run', '-c', 'vitest.localstack.config.ts'],
    env,
    TESTS_TIMEOUT_MS,
  );
  if (interrupted) return 130;
  const demo = await run(
    'the demo',
    bin('tsx'),
    ['scripts/demo.ts', '--seconds', DEMO_SECONDS, '--endpoint', host.endpoint],
    env,
    DEMO_TIMEOUT_MS,
  );
  console.log(
    `\nLocalStack run: tests ${tests.code === 0 ? 'passed' : 'FAILED'} in ${(tests.ms / 1000).toFixed(0)} s, ` +
      `demo ${demo.code === 0 ? 'passed' : 'FAILED'} in ${(demo.ms / 1000).toFixed(0)} s`,
  );
  return tests.code === 0 && demo.code === 0 ? 0 : 1;
}

// An interrupt stops the step under way and starts no other; main() then stops the servers.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    running?.kill('SIGTERM');
  });
}

main()
  .catch((e) => {
    console.error(`test:localstack failed: ${e instanceof Error ? e.message : e}`);
    return 1;
  })
  .then(async (code) => {
    await host?.stop();
    process.exit(interrupted ? 130 : code);
  });
