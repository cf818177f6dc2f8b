import os from 'node:os';
import type { FastifyRequest } from 'fastify';

/** Who is calling, as the routes see it. */
export interface Caller {
  username: string;
  groups: string[];
  admin: boolean;
}

let localUser: string | undefined;

/** The local user: `TASKHOST_USER`, else the OS user name (SPEC section 8, without auth). */
function localUsername(): string {
  localUser ??= process.env.TASKHOST_USER || os.userInfo().username;
  return localUser;
}

/**
 * The caller of a request. Without authentication (SPEC section 8) every caller is the local
 * user, with admin rights; every route takes its caller from here, so authentication only
 * has to change this function.
 */
export function callerOf(_request: FastifyRequest): Caller {
  return { username: localUsername(), groups: [], admin: true };
}
