import fs from 'node:fs';

/**
 * What the server needs to know of taskhost.yaml's `admins`, `auth` and `allowed_hosts`
 * (SPEC section 8), as `serve` reads them (cli/config.ts).
 */
export interface SecurityConfig {
  /** Users with every right (`admins`, TASKHOST_ADMINS). */
  admins: readonly string[];
  /** The basic-auth users file; basic auth is on when it exists at start. */
  usersFile: string | null;
  /** The header a reverse proxy sets to the user it authenticated; off when null. */
  trustedHeader: string | null;
  /** That user's groups, comma-separated. */
  trustedGroupsHeader: string | null;
  /** The peers (addresses or CIDR ranges) whose trusted headers are believed. */
  trustedProxies: readonly string[];
  /** Host header values accepted besides the loopback names. */
  allowedHosts: readonly string[];
  /** Failed logins a client may make per window before it is answered 429. */
  loginFailures: { max: number; windowMs: number };
}

export const DEFAULT_SECURITY: SecurityConfig = {
  admins: [],
  usersFile: null,
  trustedHeader: null,
  trustedGroupsHeader: null,
  trustedProxies: ['127.0.0.1/32', '::1/128'],
  allowedHosts: [],
  loginFailures: { max: 10, windowMs: 60_000 },
};

/** Which ways of authenticating are on: auth is on when either is (SPEC section 8). */
export interface AuthModes {
  basic: boolean;
  trustedHeader: boolean;
}

export function authModesOf(security: SecurityConfig): AuthModes {
  return {
    basic: security.usersFile !== null && fs.existsSync(security.usersFile),
    trustedHeader: security.trustedHeader !== null,
  };
}

export function isAuthOn(modes: AuthModes): boolean {
  return modes.basic || modes.trustedHeader;
}
