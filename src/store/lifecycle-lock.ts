import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { TaskhostError } from '../errors.ts';

/**
 * Holds the lifecycle lock `name` while `fn` runs. The lock is an abstract Unix socket
 * (Linux): binding it is exclusive, and the kernel frees it when its holder dies, even by
 * SIGKILL, so a killed process never leaves a stale lock behind.
 */
export async function withLifecycleLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  let server: net.Server;
  for (;;) {
    // A fresh server per attempt: listeners of a failed listen() must not pile up.
    server = net.createServer();
    const attempt = server;
    const bound = await new Promise<boolean>((resolve, reject) => {
      attempt.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') resolve(false);
        else reject(error);
      });
      attempt.listen(name, () => resolve(true));
    });
    if (bound) break;
    if (Date.now() > deadline) {
      throw new TaskhostError(
        'TH_STORE_UNAVAILABLE',
        'timed out waiting for another taskhost process to start or stop the embedded PostgreSQL',
      );
    }
    await sleep(5);
  }
  try {
    return await fn();
  } finally {
    server.close();
  }
}
