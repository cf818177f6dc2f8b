import { BlockList, isIPv4, isIPv6 } from 'node:net';
import basicAuth from '@fastify/basic-auth';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TaskhostError, isTaskhostError } from '../../errors.ts';
import { localCaller, type Caller } from '../identity.ts';
import type { AuthModes, SecurityConfig } from './security.ts';
import { UserDirectory } from './user-directory.ts';

/** The challenge of every 401 (SPEC section 8). */
export const CHALLENGE = 'Basic realm="taskhost"';

/** Routes anyone may call (SPEC section 8): monitoring, the spec, callbacks. */
function isUnsecured(url: string): boolean {
  return url.startsWith('/unsecured/');
}

/** The peers a trusted header is believed from, as a node:net BlockList. */
export function trustedPeers(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [address = '', prefix] = range.split('/');
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
    if (type === null) {
      throw new TaskhostError(
        'TH_CONFIG_INVALID',
        `auth.trusted_proxies: ${range} is not an IP address or CIDR range`,
      );
    }
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** Whether a socket's peer is in `list` (an IPv4 peer seen as ::ffff:a.b.c.d counts as IPv4). */
export function isPeerIn(list: BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return list.check(mapped, 'ipv4');
  return list.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim() || undefined;
}

function unauthenticated(reply: FastifyReply, message: string): TaskhostError {
  void reply.header('www-authenticate', CHALLENGE);
  return new TaskhostError('TH_AUTH_REQUIRED', message);
}

/**
 * Gives every request its caller (identity.ts reads it). Without auth, the local user as
 * an admin. With auth, every route but /unsecured/* needs an identity: a trusted header
 * from a trusted proxy, or basic auth against the users file (@fastify/basic-auth); none
 * or a wrong password answers 401 with the Basic challenge, WebSocket upgrades included.
 * Failed logins are counted per client (@fastify/rate-limit); past the limit, logins
 * answer 429 until the window ends.
 */
export async function installAuthentication(
  app: FastifyInstance,
  security: SecurityConfig,
  modes: AuthModes,
): Promise<void> {
  if (!modes.basic && !modes.trustedHeader) {
    const caller = localCaller();
    app.addHook('onRequest', async (request) => {
      request.caller = caller;
    });
    return;
  }
  const admins = new Set(security.admins);
  const callerNamed = (username: string, groups: string[]): Caller => ({
    username,
    groups,
    admin: admins.has(username),
  });

  await app.register(rateLimit, { global: false });
  const failures = app.createRateLimit({
    max: security.loginFailures.max,
    timeWindow: security.loginFailures.windowMs,
  });
  const refuseIfLimited = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const state = await failures(request, { increment: false });
    if (!state.isAllowed && state.remaining === 0) {
      void reply.header('retry-after', String(state.ttlInSeconds));
      throw new TaskhostError(
        'TH_AUTH_RATE_LIMITED',
        `too many failed logins from ${request.ip}; try again in ${state.ttlInSeconds} s`,
      );
    }
  };

  const users = modes.basic && security.usersFile ? new UserDirectory(security.usersFile) : null;
  if (users) {
    await app.register(basicAuth, {
      authenticate: false,
      utf8: true,
      async validate(username, password, request, reply) {
        await refuseIfLimited(request, reply);
        const found = await users.authenticate(username, password);
        if (!found) {
          await failures(request);
          throw unauthenticated(reply, 'wrong user name or password');
        }
        request.caller = callerNamed(username, found.groups);
      },
    });
  }
  const checkBasic = (request: FastifyRequest, reply: FastifyReply): Promise<void> =>
    new Promise((resolve, reject) => {
      const hook = app.basicAuth as (
        request: FastifyRequest,
        reply: FastifyReply,
        done: (error?: Error) => void,
      ) => void;
      hook.call(app, request, reply, (error) => (error ? reject(error) : resolve()));
    });

  const proxies = trustedPeers(security.trustedProxies);
  app.addHook('onRequest', async (request, reply) => {
    if (isUnsecured(request.url)) return;
    if (security.trustedHeader && isPeerIn(proxies, request.socket.remoteAddress)) {
      const username = headerValue(request, security.trustedHeader);
      if (username) {
        const groups = security.trustedGroupsHeader
          ? headerValue(request, security.trustedGroupsHeader)
          : undefined;
        request.caller = callerNamed(
          username,
          (groups ?? '')
            .split(',')
            .map((group) => group.trim())
            .filter((group) => group !== ''),
        );
        return;
      }
    }
    if (!users) throw unauthenticated(reply, 'authentication required: no identity from a trusted proxy');
    if (request.headers.authorization === undefined) {
      throw unauthenticated(reply, 'authentication required: basic auth (user name and password)');
    }
    try {
      await checkBasic(request, reply);
    } catch (error) {
      if (isTaskhostError(error)) throw error;
      // @fastify/basic-auth's own refusal: a malformed Authorization header.
      await refuseIfLimited(request, reply);
      await failures(request);
      throw unauthenticated(reply, 'authentication required: the Authorization header is not basic auth');
    }
  });
}
