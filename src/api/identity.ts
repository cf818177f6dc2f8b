import os from 'node:os';
import type { FastifyRequest } from 'fastify';
import { TaskhostError } from '../errors.ts';

/** Who is calling, as the routes see it. */
export interface Caller {
  username: string;
  groups: string[];
  admin: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by auth/authenticate.ts before any route runs; unset on /unsecured/* with auth on. */
    caller?: Caller;
  }
}

let localUser: string | undefined;

/** The local user: `TASKHOST_USER`, else the OS user name (SPEC section 8, without auth). */
function localUsername(): string {
  localUser ??= process.env.TASKHOST_USER || os.userInfo().username;
  return localUser;
}

/** Every caller without authentication: the local user, with admin rights. */
export function localCaller(): Caller {
  return { username: localUsername(), groups: [], admin: true };
}

/**
 * The caller of a request, as auth/authenticate.ts established it: the authenticated
 * identity (admin when named in `admins` or TASKHOST_ADMINS), or without authentication
 * the local user with admin rights. Every route takes its caller from here.
 */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller) return request.caller;
  throw new TaskhostError('TH_AUTH_REQUIRED', 'authentication required');
}
