import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveCallback, taskDocument, type TaskDocument } from '../../../src/engine/engine.ts';
import {
  assertExit,
  cliEnv,
  stdoutJson,
  taskhost,
  type CliResult,
  type ListedPlugin,
} from '../../helpers/cli.ts';
import { pythonFirstPath } from '../../helpers/plugin-fixtures.ts';
import { createTestDatabase } from '../../helpers/store.ts';

/**
 * Issue 12, item 7, acceptance: µTask's three real-world examples of templates/ run end to
 * end with `taskhost run` on this machine. The real CLI, in the repository's root (so
 * templates/ and templates/functions/ are found by name), on a database where the plugins
 * of tasks/ are registered under the names `taskhost serve` gives them; the real plugins
 * (generate-csr with openssl, fraud-score in python); real HTTP servers on 127.0.0.1
 * standing in for the issuer, the secret store, the key registry, the accounts API, the
 * team's webhook, the antifraud SaaS and the payments API, given to the tasks as inputs.
 *
 * Each test asserts the final task document (`--json`): every step's state, PRUNE of the
 * branches not taken included, the outputs that matter, the result (result_format), and
 * what each server received (method, path, JSON body).
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const database = await createTestDatabase();
// pythonFirstPath: the interpreter rather than a version manager's shim (fraud-score).
const env = cliEnv({ DATABASE_URL: database.url, TASKHOST_USER: 'alice', PATH: pythonFirstPath() });

/** `taskhost ARGS...` in the repository's root. */
function cli(args: readonly string[]): Promise<CliResult> {
  return taskhost(args, { env, cwd: ROOT, timeoutMs: 90_000 });
}

/** `taskhost run ARGS... --json`: the exit code it must have, and the task document it prints. */
async function run(args: readonly string[], exit: number): Promise<TaskDocument> {
  const result = await cli(['run', ...args, '--json']);
  assertExit(result, exit);
  return stdoutJson<TaskDocument>(result);
}

/** `--input k=v` for each entry; a list repeats its key (a collection input). */
function inputs(values: Record<string, string | readonly string[]>): string[] {
  return Object.entries(values).flatMap(([key, value]) =>
    (typeof value === 'string' ? [value] : value).flatMap((item) => ['--input', `${key}=${item}`]),
  );
}

function statesOf(document: TaskDocument): Record<string, string> {
  return Object.fromEntries(Object.entries(document.steps).map(([name, step]) => [name, step.state]));
}

function stepOf(document: TaskDocument, name: string): TaskDocument['steps'][string] {
  const step = document.steps[name];
  assert.ok(step, `no step ${name} in ${JSON.stringify(Object.keys(document.steps))}`);
  return step;
}

// The plugins of tasks/, registered with the CLI under the names `serve` gives them (the
// names their self-descriptions give, which the templates use as action types).
for (const [name, file] of [
  ['generate-csr', 'tasks/generate-csr.sh'],
  ['fraud-score', 'tasks/fraud-score.py'],
]) {
  const result = await cli(['register', '-name', name as string, '-location', file as string]);
  assertExit(result, 0);
}
{
  const listed = stdoutJson<ListedPlugin[]>(await cli(['list', '--json']));
  assert.deepEqual(listed.map((plugin) => [plugin.name, plugin.description.name, plugin.location]).sort(), [
    ['fraud-score', 'fraud-score', path.join(ROOT, 'tasks', 'fraud-score.py')],
    ['generate-csr', 'generate-csr', path.join(ROOT, 'tasks', 'generate-csr.sh')],
  ]);
}

/** A request a local server received. */
interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  /** The body parsed as JSON; the text when it is not JSON; null when empty. */
  body: unknown;
}

interface Answer {
  status: number;
  json?: unknown;
}

interface LocalServer {
  url: string;
  received: Received[];
}

/**
 * A real HTTP server on 127.0.0.1 (a free port) that records every request and answers
 * what `answer` says, as JSON. Closed after the test.
 */
async function localServer(t: TestContext, answer: (request: Received) => Answer): Promise<LocalServer> {
  const received: Received[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = null;
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      const entry: Received = {
        method: request.method ?? '',
        path: request.url ?? '',
        contentType: request.headers['content-type'],
        body,
      };
      received.push(entry);
      let reply: Answer;
      try {
        reply = answer(entry);
      } catch (error) {
        reply = { status: 500, json: { error: (error as Error).message } };
      }
      const payload = reply.json === undefined ? '' : JSON.stringify(reply.json);
      response.writeHead(reply.status, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(payload),
      });
      response.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** `[method, path, body]` of each request, in order. */
function calls(server: LocalServer): [string, string, unknown][] {
  return server.received.map((request) => [request.method, request.path, request.body]);
}

// ---------------------------------------------------------------------------------------
// certificate-provisioning
// ---------------------------------------------------------------------------------------

const CERTIFICATE = '-----BEGIN CERTIFICATE-----\nMIIBexample\n-----END CERTIFICATE-----\n';

/** SHA-256 (hex) of a public key's DER SubjectPublicKeyInfo, from a CSR (read by openssl). */
function csrPublicKeySha256(csr: string): string {
  const pem = execFileSync('openssl', ['req', '-noout', '-pubkey'], { input: csr, encoding: 'utf8' });
  return sha256(createPublicKey(pem).export({ type: 'spki', format: 'der' }));
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The CSR's subject as openssl reads it, once openssl has checked its signature. */
function csrSubject(csr: string): string {
  const out = execFileSync('openssl', ['req', '-noout', '-verify', '-subject', '-nameopt', 'RFC2253'], {
    input: csr,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const match = /^subject=(.*)$/m.exec(out);
  assert.ok(match, out);
  return (match[1] as string).trim();
}

test('certificate-provisioning: CSR by generate-csr, order, polling until issued (--once, then --resume), stored in the secret store', async (t) => {
  let issued = false;
  const issuer = await localServer(t, (request) => {
    if (request.method === 'POST' && request.path === '/orders') {
      return { status: 201, json: { id: 'order-7', status: 'pending' } };
    }
    if (request.method === 'GET' && request.path === '/orders/order-7') {
      return {
        status: 200,
        json: issued
          ? { id: 'order-7', status: 'issued', certificate: CERTIFICATE }
          : { id: 'order-7', status: 'pending' },
      };
    }
    return { status: 404, json: { error: 'no such route' } };
  });
  const secrets = await localServer(t, () => ({ status: 200, json: { stored: true } }));
  const args = [
    'certificate-provisioning',
    ...inputs({
      common_name: '*.apps.example.com',
      organization: 'Example Labs',
      country: 'DE',
      issuer_url: issuer.url,
      secret_url: `${secrets.url}/namespaces/ingress/secrets`,
    }),
  ];

  // First pass: the order is pending, the poll step ends TO_RETRY; --once stops there
  // instead of sleeping through the retry delay.
  const pending = await run([...args, '--once'], 1);
  assert.equal(pending.template_name, 'certificate-provisioning');
  assert.equal(pending.title, 'TLS certificate for *.apps.example.com');
  assert.equal(pending.resolution?.state, 'ERROR');
  assert.ok(pending.resolution?.next_retry, 'a retry is scheduled');
  assert.deepEqual(statesOf(pending), { csr: 'DONE', order: 'DONE', issued: 'TO_RETRY', install: 'TODO' });
  assert.equal(stepOf(pending, 'issued').error, 'Order order-7 is pending, not issued yet');
  assert.deepEqual(
    calls(issuer).map(([method, route]) => [method, route]),
    [
      ['POST', '/orders'],
      ['GET', '/orders/order-7'],
    ],
  );
  assert.deepEqual(secrets.received, []);

  // The issuer issues the certificate; the next pass polls it and stores it.
  issued = true;
  const document = await run(['--resume', pending.id], 0);
  assert.equal(document.id, pending.id);
  assert.equal(document.state, 'DONE');
  assert.equal(document.resolution?.state, 'DONE');
  assert.equal(document.resolution?.run_count, 2);
  assert.deepEqual(statesOf(document), { csr: 'DONE', order: 'DONE', issued: 'DONE', install: 'DONE' });

  // The CSR is real: openssl verifies its signature and reads the subject asked for; its
  // key is the one the plugin returned, whose hash is in the result.
  const csrOutput = stepOf(document, 'csr').output as Record<string, unknown>;
  const csr = csrOutput.csr as string;
  const privateKey = csrOutput.private_key as string;
  assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  assert.match(privateKey, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(csrSubject(csr), 'CN=*.apps.example.com,O=Example Labs,C=DE');
  const keySha256 = csrPublicKeySha256(csr);
  assert.equal(
    sha256(createPublicKey(createPrivateKey(privateKey)).export({ type: 'spki', format: 'der' })),
    keySha256,
  );
  assert.equal(csrOutput.key_type, 'ec');
  assert.deepEqual(csrOutput.subject_alt_names, ['*.apps.example.com']);

  // What the issuer received: the order (through base_configurations: JSON headers), then
  // one poll per pass.
  assert.deepEqual(calls(issuer), [
    ['POST', '/orders', { csr, common_name: '*.apps.example.com' }],
    ['GET', '/orders/order-7', null],
    ['GET', '/orders/order-7', null],
  ]);
  assert.equal(issuer.received[0]?.contentType, 'application/json');
  // The secret store: the certificate (coalesce: the poll's) and the key, under a name
  // without the wildcard's star.
  assert.deepEqual(calls(secrets), [
    [
      'PUT',
      '/namespaces/ingress/secrets',
      { name: 'tls-wildcard.apps.example.com', 'tls.crt': CERTIFICATE, 'tls.key': privateKey },
    ],
  ]);

  assert.deepEqual(document.result, {
    common_name: '*.apps.example.com',
    subject: csrOutput.subject,
    public_key_sha256: keySha256,
    order: 'order-7',
    certificate: CERTIFICATE,
    stored: 'DONE',
  });
  assert.match(String(csrOutput.subject), /CN=\*\.apps\.example\.com/);
});

test('certificate-provisioning: an issuer that answers the order issued skips the poll, and no secret store prunes install', async (t) => {
  const issuer = await localServer(t, (request) =>
    request.method === 'POST' && request.path === '/orders'
      ? { status: 200, json: { id: 'order-1', status: 'issued', certificate: CERTIFICATE } }
      : { status: 404, json: { error: 'no such route' } },
  );
  const document = await run(
    [
      'certificate-provisioning',
      ...inputs({ common_name: 'www.example.org', key_type: 'rsa', issuer_url: issuer.url }),
    ],
    0,
  );
  assert.equal(document.state, 'DONE');
  assert.deepEqual(statesOf(document), { csr: 'DONE', order: 'DONE', issued: 'DONE', install: 'PRUNE' });
  const csrOutput = stepOf(document, 'csr').output as Record<string, unknown>;
  assert.equal(csrOutput.key_type, 'rsa');
  assert.equal(createPrivateKey(csrOutput.private_key as string).asymmetricKeyType, 'rsa');
  // The inputs' defaults: organization Example Corp, country FR.
  assert.equal(csrSubject(csrOutput.csr as string), 'CN=www.example.org,O=Example Corp,C=FR');
  // One request: the poll was skipped, its step DONE without a run.
  assert.deepEqual(calls(issuer), [
    ['POST', '/orders', { csr: csrOutput.csr, common_name: 'www.example.org' }],
  ]);
  assert.equal(stepOf(document, 'issued').try_count, 0);
  assert.deepEqual(document.result, {
    common_name: 'www.example.org',
    subject: csrOutput.subject,
    public_key_sha256: csrPublicKeySha256(csrOutput.csr as string),
    order: 'order-1',
    certificate: CERTIFICATE,
    stored: 'PRUNE',
  });
});

// ---------------------------------------------------------------------------------------
// team-member-bootstrap (and its subtask ssh-access)
// ---------------------------------------------------------------------------------------

const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHm2vVb0XbJq3bq2m0v3dLk5Y0mF8Qf8mS8P3J3nA1xQ ada@laptop';

/** The key registry: 201 for a new key, 409 for a key it already holds. */
async function keyRegistry(t: TestContext): Promise<LocalServer> {
  const keys = new Set<string>();
  return localServer(t, (request) => {
    const key = (request.body as { key_sha256?: string } | null)?.key_sha256 ?? '';
    if (request.method !== 'POST' || request.path !== '/keys') return { status: 404, json: {} };
    if (keys.has(key)) return { status: 409, json: { error: 'key already registered' } };
    keys.add(key);
    return { status: 201, json: { registered: key } };
  });
}

/** The accounts API: an account per service, a VM from the PaaS. */
async function accountsApi(t: TestContext): Promise<LocalServer> {
  return localServer(t, (request) => {
    const service = /^\/(\w+)\/users$/.exec(request.path)?.[1];
    if (request.method === 'POST' && service) {
      return {
        status: 201,
        json: { account: `${service}:${(request.body as { username: string }).username}` },
      };
    }
    if (request.method === 'POST' && request.path === '/paas/vms') {
      return { status: 202, json: { vm: 'vm-42', state: 'provisioning' } };
    }
    return { status: 404, json: { error: 'no such route' } };
  });
}

function bootstrapArgs(
  servers: { registry: LocalServer; accounts: LocalServer; webhook: LocalServer },
  extra: Record<string, string | readonly string[]>,
): string[] {
  return [
    'team-member-bootstrap',
    ...inputs({
      username: 'ada',
      full_name: 'Ada Lovelace',
      email: 'ada@example.com',
      team: 'Compilers',
      key_registry_url: servers.registry.url,
      accounts_api_url: servers.accounts.url,
      welcome_webhook: `${servers.webhook.url}/hooks/compilers`,
      ...extra,
    }),
    '--resolver-input',
    `ssh_public_key=${SSH_KEY}`,
  ];
}

test('team-member-bootstrap: the resolver pastes the key, a subtask registers it, an account per service, no VM (PRUNE), a welcome notify', async (t) => {
  const servers = {
    registry: await keyRegistry(t),
    accounts: await accountsApi(t),
    webhook: await localServer(t, () => ({ status: 200, json: { ok: true } })),
  };
  const keySha256 = sha256(SSH_KEY);
  const document = await run(bootstrapArgs(servers, { services: ['code', 'ci'] }), 0);

  assert.equal(document.state, 'DONE');
  assert.equal(document.title, 'Welcome Ada Lovelace (ada) to Compilers');
  assert.deepEqual(document.input.services, ['code', 'ci']);
  assert.equal(document.input.dev_vm, false);
  assert.deepEqual(statesOf(document), {
    sshAccess: 'DONE',
    accounts: 'DONE',
    devVm: 'PRUNE',
    welcome: 'DONE',
  });

  // The subtask: a task of the ssh-access template, child of this one, run to its end by
  // the same process (no server), with the key from the resolver input.
  const sshAccess = stepOf(document, 'sshAccess').output as {
    id: string;
    state: string;
    result: unknown;
    requester_username: string;
  };
  const subtaskResult = {
    username: 'ada',
    key_type: 'ssh-ed25519',
    key_sha256: keySha256,
    registration: 'newly registered',
  };
  assert.deepEqual(sshAccess, {
    id: sshAccess.id,
    state: 'DONE',
    result: subtaskResult,
    requester_username: 'alice',
  });
  const child = await taskDocument(database.store, sshAccess.id);
  assert.ok(child, 'the subtask is stored');
  assert.equal(child.template_name, 'ssh-access');
  assert.equal(child.state, 'DONE');
  assert.equal(child.title, 'SSH access for ada');
  assert.deepEqual(child.input, { username: 'ada', public_key: SSH_KEY, registry_url: servers.registry.url });
  assert.deepEqual(statesOf(child), { key: 'DONE', register: 'DONE', summary: 'DONE' });
  assert.deepEqual(child.result, subtaskResult);
  assert.deepEqual(calls(servers.registry), [
    [
      'POST',
      '/keys',
      { username: 'ada', key_type: 'ssh-ed25519', public_key: SSH_KEY, key_sha256: keySha256 },
    ],
  ]);

  // The foreach: one account per service, in order (sequence), each output merged with
  // the service it was for.
  const body = {
    username: 'ada',
    full_name: 'Ada Lovelace',
    email: 'ada@example.com',
    ssh_key_sha256: keySha256,
  };
  assert.deepEqual(calls(servers.accounts), [
    ['POST', '/code/users', body],
    ['POST', '/ci/users', body],
  ]);
  const accounts = stepOf(document, 'accounts').children as { state: string; output: unknown }[];
  assert.deepEqual(
    accounts.map((item) => [item.state, item.output]),
    [
      ['DONE', { account: 'code:ada', service: 'code' }],
      ['DONE', { account: 'ci:ada', service: 'ci' }],
    ],
  );

  // The welcome: µTask's webhook message, the fields beside it.
  assert.deepEqual(calls(servers.webhook), [
    [
      'POST',
      '/hooks/compilers',
      {
        message: 'Please welcome Ada Lovelace to Compilers! Accounts are ready on code, ci.',
        notification_type: '',
        username: 'ada',
        team: 'Compilers',
        ssh_key_sha256: keySha256,
      },
    ],
  ]);

  assert.deepEqual(document.result, {
    username: 'ada',
    ssh_key: 'newly registered',
    ssh_access_task: sshAccess.id,
    accounts: sortedJson([
      { account: 'code:ada', service: 'code' },
      { account: 'ci:ada', service: 'ci' },
    ]),
    dev_vm: 'PRUNE',
  });
});

test('team-member-bootstrap: a key already registered (409) is ALREADY_REGISTERED in the subtask, and dev_vm asks the PaaS for a VM', async (t) => {
  const servers = {
    registry: await keyRegistry(t),
    accounts: await accountsApi(t),
    webhook: await localServer(t, () => ({ status: 204 })),
  };
  const keySha256 = sha256(SSH_KEY);
  const first = await run(bootstrapArgs(servers, { services: 'code' }), 0);
  assert.equal(first.state, 'DONE');

  const document = await run(bootstrapArgs(servers, { services: 'paas', dev_vm: 'true' }), 0);
  assert.equal(document.state, 'DONE');
  assert.equal(document.input.dev_vm, true);
  assert.deepEqual(statesOf(document), {
    sshAccess: 'DONE',
    accounts: 'DONE',
    devVm: 'DONE',
    welcome: 'DONE',
  });
  const sshAccess = stepOf(document, 'sshAccess').output as { id: string; result: unknown };
  assert.notEqual(sshAccess.id, (stepOf(first, 'sshAccess').output as { id: string }).id);
  const child = await taskDocument(database.store, sshAccess.id);
  assert.ok(child);
  assert.deepEqual(statesOf(child), { key: 'DONE', register: 'ALREADY_REGISTERED', summary: 'DONE' });
  assert.equal((stepOf(child, 'register').metadata as { HTTPStatus: number }).HTTPStatus, 409);
  assert.deepEqual(sshAccess.result, {
    username: 'ada',
    key_type: 'ssh-ed25519',
    key_sha256: keySha256,
    registration: 'already registered',
  });
  // Both runs registered the same key; the registry refused the second.
  assert.deepEqual(
    calls(servers.registry).map(([method, route, body]) => [
      method,
      route,
      (body as { key_sha256: string }).key_sha256,
    ]),
    [
      ['POST', '/keys', keySha256],
      ['POST', '/keys', keySha256],
    ],
  );

  const body = {
    username: 'ada',
    full_name: 'Ada Lovelace',
    email: 'ada@example.com',
    ssh_key_sha256: keySha256,
  };
  assert.deepEqual(calls(servers.accounts), [
    ['POST', '/code/users', body],
    ['POST', '/paas/users', body],
    ['POST', '/paas/vms', { owner: 'ada', flavor: 'dev-small' }],
  ]);
  assert.deepEqual(stepOf(document, 'devVm').output, { vm: 'vm-42', state: 'provisioning' });
  assert.deepEqual(calls(servers.webhook).at(-1), [
    'POST',
    '/hooks/compilers',
    {
      message:
        'Please welcome Ada Lovelace to Compilers! Accounts are ready on paas, and a development VM is on its way.',
      notification_type: '',
      username: 'ada',
      team: 'Compilers',
      ssh_key_sha256: keySha256,
    },
  ]);
  assert.deepEqual(document.result, {
    username: 'ada',
    ssh_key: 'already registered',
    ssh_access_task: sshAccess.id,
    accounts: sortedJson([{ account: 'paas:ada', service: 'paas' }]),
    dev_vm: 'DONE',
  });
});

// ---------------------------------------------------------------------------------------
// payments-antifraud
// ---------------------------------------------------------------------------------------

const BRANCHES = ['approveLowRisk', 'blockHighRisk', 'secondOpinion', 'approveCleared', 'blockFraudulent'];

/** Every step PRUNE but `taken` (their states) and the steps every path runs. */
function paymentStates(score: string, taken: Record<string, string>): Record<string, string> {
  const states: Record<string, string> = { score };
  for (const name of [...BRANCHES, 'reviewForm', 'review']) states[name] = taken[name] ?? 'PRUNE';
  return { ...states, verdict: 'DONE', notifyPayments: 'DONE' };
}

interface Payment {
  payment_id: string;
  amount: string;
  currency: string;
  card_country: string;
  ip_country: string;
  email: string;
}

/** The antifraud SaaS answering `score`, and the payments API. */
async function paymentServers(t: TestContext, score: number) {
  return {
    antifraud: await localServer(t, () => ({ status: 200, json: { score, model: 'v3' } })),
    payments: await localServer(t, () => ({ status: 202, json: { accepted: true } })),
  };
}

function paymentArgs(payment: Payment, servers: Awaited<ReturnType<typeof paymentServers>>): string[] {
  return [
    'payments-antifraud',
    ...inputs({
      ...payment,
      antifraud_url: `${servers.antifraud.url}/v1/score`,
      payments_events_url: `${servers.payments.url}/events/antifraud`,
    }),
  ];
}

/** What the antifraud SaaS receives: the payment variable, the amount a number. */
function paymentBody(payment: Payment): Record<string, unknown> {
  return { ...payment, amount: Number(payment.amount) };
}

/** JSON as `toJson` writes it (Go's encoding/json: the keys of an object sorted). */
function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

const RULES_ONLY = { antifraud_score: '', operator_comment: '' };

test('payments-antifraud, low risk: the rules approve, every other branch is pruned, the payments API gets the verdict', async (t) => {
  const servers = await paymentServers(t, 99);
  const payment = {
    payment_id: 'pay_low_1',
    amount: '25.5',
    currency: 'EUR',
    card_country: 'FR',
    ip_country: 'FR',
    email: 'jeanne@example.com',
  };
  const document = await run(paymentArgs(payment, servers), 0);
  assert.equal(document.state, 'DONE');
  assert.equal(document.title, 'Anti-fraud check of payment pay_low_1 (25.5 EUR)');
  assert.deepEqual(statesOf(document), paymentStates('LOW_RISK', { approveLowRisk: 'DONE' }));
  const score = stepOf(document, 'score').output as { score: number; decision: string; rules: unknown[] };
  assert.equal(score.score, 0);
  assert.equal(score.decision, 'approve');
  assert.deepEqual(score.rules, []);
  assert.deepEqual(stepOf(document, 'verdict').output, { verdict: 'approve', decided_by: 'rules' });

  assert.deepEqual(servers.antifraud.received, [], 'no second opinion asked');
  assert.deepEqual(calls(servers.payments), [
    [
      'POST',
      '/events/antifraud',
      {
        payment_id: 'pay_low_1',
        task_id: document.id,
        verdict: 'approve',
        decided_by: 'rules',
        rules_score: 0,
      },
    ],
  ]);
  assert.deepEqual(document.result, {
    payment_id: 'pay_low_1',
    verdict: 'approve',
    decided_by: 'rules',
    rules_score: '0',
    rules_fired: '[]',
    ...RULES_ONLY,
  });
});

test('payments-antifraud, high risk: the rules block (amount, countries, disposable e-mail), every other branch is pruned', async (t) => {
  const servers = await paymentServers(t, 0);
  const payment = {
    payment_id: 'pay_high_1',
    amount: '9000',
    currency: 'EUR',
    card_country: 'FR',
    ip_country: 'NG',
    email: 'buyer@mailinator.com',
  };
  const document = await run(paymentArgs(payment, servers), 0);
  assert.equal(document.state, 'DONE');
  assert.deepEqual(statesOf(document), paymentStates('HIGH_RISK', { blockHighRisk: 'DONE' }));
  const score = stepOf(document, 'score').output as {
    score: number;
    decision: string;
    rules: { rule: string; weight: number }[];
  };
  assert.equal(score.decision, 'block');
  assert.equal(score.score, 70);
  assert.deepEqual(
    score.rules.map((rule) => [rule.rule, rule.weight]),
    [
      ['amount_high', 35],
      ['disposable_email', 20],
      ['ip_card_country_mismatch', 15],
    ],
  );
  assert.deepEqual(servers.antifraud.received, []);
  assert.deepEqual(calls(servers.payments), [
    [
      'POST',
      '/events/antifraud',
      {
        payment_id: 'pay_high_1',
        task_id: document.id,
        verdict: 'block',
        decided_by: 'rules',
        rules_score: 70,
      },
    ],
  ]);
  assert.deepEqual(document.result, {
    payment_id: 'pay_high_1',
    verdict: 'block',
    decided_by: 'rules',
    rules_score: '70',
    rules_fired: sortedJson(score.rules),
    ...RULES_ONLY,
  });
});

/** A payment the rules find medium-risk: 3× the high amount (25) and an IP abroad (15), 40. */
const MEDIUM: Payment = {
  payment_id: 'pay_mid_1',
  amount: '2700',
  currency: 'EUR',
  card_country: 'FR',
  ip_country: 'US',
  email: 'paul@example.com',
};

test('payments-antifraud, medium risk: the antifraud SaaS clears one payment and finds another fraudulent', async (t) => {
  for (const [saas, state, step, verdict] of [
    [12, 'CLEARED', 'approveCleared', 'approve'],
    [91, 'FRAUDULENT', 'blockFraudulent', 'block'],
  ] as const) {
    const servers = await paymentServers(t, saas);
    const payment = { ...MEDIUM, payment_id: `pay_mid_${saas}` };
    const document = await run(paymentArgs(payment, servers), 0);
    assert.equal(document.state, 'DONE', state);
    assert.deepEqual(
      statesOf(document),
      paymentStates('MEDIUM_RISK', { secondOpinion: state, [step]: 'DONE' }),
      state,
    );
    assert.equal((stepOf(document, 'score').output as { score: number }).score, 40);
    assert.deepEqual(stepOf(document, 'secondOpinion').output, { score: saas, model: 'v3' });
    assert.deepEqual(calls(servers.antifraud), [['POST', '/v1/score', paymentBody(payment)]]);
    assert.equal(servers.antifraud.received[0]?.contentType, 'application/json');
    assert.deepEqual(calls(servers.payments), [
      [
        'POST',
        '/events/antifraud',
        {
          payment_id: payment.payment_id,
          task_id: document.id,
          verdict,
          decided_by: 'antifraud-saas',
          rules_score: 40,
        },
      ],
    ]);
    assert.deepEqual(document.result, {
      payment_id: payment.payment_id,
      verdict,
      decided_by: 'antifraud-saas',
      rules_score: '40',
      rules_fired: sortedJson((stepOf(document, 'score').output as { rules: unknown }).rules),
      antifraud_score: String(saas),
      operator_comment: '',
    });
  }
});

test('payments-antifraud, human investigation: a suspicious payment waits (WAITING) for the operator callback, then resumes to DONE', async (t) => {
  const servers = await paymentServers(t, 55);
  const waiting = await run(paymentArgs(MEDIUM, servers), 1);
  assert.equal(waiting.state, 'WAITING');
  assert.equal(waiting.resolution?.state, 'WAITING');
  assert.deepEqual(statesOf(waiting), {
    ...paymentStates('MEDIUM_RISK', { secondOpinion: 'SUSPICIOUS', reviewForm: 'DONE', review: 'WAITING' }),
    verdict: 'TODO',
    notifyPayments: 'TODO',
  });
  assert.deepEqual(calls(servers.antifraud), [['POST', '/v1/score', paymentBody(MEDIUM)]]);
  assert.deepEqual(servers.payments.received, [], 'no verdict before the operator');

  // The callback reviewForm made: its URL carries the id and the secret token.
  const form = stepOf(waiting, 'reviewForm').output as { id: string; url: string; schema: unknown };
  const url = new URL(form.url);
  assert.equal(url.pathname, `/unsecured/callback/${form.id}`);
  const token = url.searchParams.get('t');
  assert.ok(token, form.url);
  assert.deepEqual((form.schema as { required: string[] }).required, ['verdict', 'comment']);

  // The operator's answer is checked against the form's schema, and the token with it.
  await assert.rejects(
    resolveCallback(database.store, form.id, token, { verdict: 'maybe', comment: 'not sure' }),
    (error: { code?: string }) => error.code === 'TH_REQUEST_INVALID',
  );
  await assert.rejects(
    resolveCallback(database.store, form.id, `${token}x`, { verdict: 'block', comment: 'no' }),
    (error: { code?: string }) => error.code === 'TH_CALLBACK_NOT_FOUND',
  );
  const comment = 'The card holder disowns the payment';
  await resolveCallback(database.store, form.id, token, { verdict: 'block', comment });

  const document = await run(['--resume', waiting.id], 0);
  assert.equal(document.id, waiting.id);
  assert.equal(document.state, 'DONE');
  assert.deepEqual(
    statesOf(document),
    paymentStates('MEDIUM_RISK', { secondOpinion: 'SUSPICIOUS', reviewForm: 'DONE', review: 'DONE' }),
  );
  assert.deepEqual(stepOf(document, 'review').output, { verdict: 'block', comment, decided_by: 'operator' });
  assert.deepEqual(stepOf(document, 'verdict').output, { verdict: 'block', decided_by: 'operator' });
  // The SaaS was asked once: the second pass did not run secondOpinion again.
  assert.equal(servers.antifraud.received.length, 1);
  assert.deepEqual(calls(servers.payments), [
    [
      'POST',
      '/events/antifraud',
      {
        payment_id: 'pay_mid_1',
        task_id: waiting.id,
        verdict: 'block',
        decided_by: 'operator',
        rules_score: 40,
      },
    ],
  ]);
  assert.deepEqual(document.result, {
    payment_id: 'pay_mid_1',
    verdict: 'block',
    decided_by: 'operator',
    rules_score: '40',
    rules_fired: sortedJson((stepOf(document, 'score').output as { rules: unknown }).rules),
    antifraud_score: '55',
    operator_comment: comment,
  });
});
