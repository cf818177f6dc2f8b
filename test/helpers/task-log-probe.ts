/**
 * Run in a child process by test/integration/engine/task-log.test.ts: a TaskLog on the
 * database argv[2] gets a line and a process group (each would be written after a short
 * wait), then a transition that takes both; once the store is closed, prints what still
 * holds the process open (process.getActiveResourcesInfo(), as JSON).
 */
import { randomUUID } from 'node:crypto';
import { TaskLog } from '../../src/engine/task-log.ts';
import { Store } from '../../src/store/store.ts';

const store = new Store({ connectionString: process.argv[2] as string, application_name: 'taskhost/test' });
const log = new TaskLog(store, null, process.argv[3] as string);
log.line('step', 'stdout', 'a line');
log.recordProcess({ id: randomUUID(), pgid: 2 ** 22 + 1, pgid_start: null });
await log.commit([{ type: 'step', step: 'step', state: 'DONE' }], null);
await store.close();
process.stdout.write(JSON.stringify(process.getActiveResourcesInfo()));
