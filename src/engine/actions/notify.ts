import { ConfigReader, parseRendered, problemIn, type ConfigStage } from './config.ts';
import { bodySnippet, exchange, parseHttpUrl } from './http-request.ts';
import { ActionError, type ActionRunner } from './types.ts';

/**
 * µTask's `notify` builtin, as one webhook call. µTask's step names `backends` from the
 * server's configuration (Slack, Opsgenie, webhooks); taskhost has no notifier
 * configuration, so the step carries what µTask's `webhook` backend is configured with,
 * and the message is the one µTask's webhook backend POSTs:
 *
 *   url       the webhook (µTask's webhook_url); http or https
 *   message   the notification's text
 *   fields    a map of strings added to the message (µTask's extra fields)
 *   headers   a map of request headers (as in µTask's webhook configuration)
 *   username, password
 *             HTTP basic authentication (both or neither); it replaces an Authorization
 *             header, as in µTask
 *   timeout   a Go duration, 10s by default (µTask's webhook client)
 *
 * The request is `POST url` with the JSON object {"message": …, "notification_type": "",
 * …fields} (a field may replace message, as in µTask; notification_type is empty for a
 * step's notification there too). Redirects are followed. A 2xx answer is DONE with
 * metadata {HTTPStatus}; any other answer, or none in time, is a SERVER_ERROR, retried
 * (µTask only logs a failed notification; a step that says it notified should have).
 * `backends` is refused, naming url instead.
 */

const FIELDS = [
  'url',
  'message',
  'fields',
  'headers',
  'username',
  'password',
  'timeout',
  'backends',
] as const;
const DEFAULT_TIMEOUT_MS = 10_000;

interface NotifyConfig {
  /** Unknown before rendering when it is a template. */
  url: URL | undefined;
  payload: Record<string, string>;
  headers: Record<string, string>;
  /** The Authorization header of `username` and `password`. */
  basicAuth: string | undefined;
  timeoutMs: number;
}

function parseNotifyConfig(configuration: unknown, stage: ConfigStage): NotifyConfig {
  const read = new ConfigReader(configuration, FIELDS, stage);
  if (read.has('backends')) {
    throw read.problem('backends', "taskhost has no named notifiers: give the webhook's url instead");
  }
  const url = read.text('url', { required: true }) as string;
  const headers = read.textMap('headers') ?? {};
  const username = read.text('username');
  const password = read.text('password');
  if ((username === undefined) !== (password === undefined)) {
    throw read.problem(
      username === undefined ? 'username' : 'password',
      'is missing (basic auth needs both)',
    );
  }
  return {
    url: read.pending(url) ? undefined : parseHttpUrl('url', url),
    payload: { message: read.text('message') ?? '', notification_type: '', ...read.textMap('fields') },
    headers,
    basicAuth:
      username === undefined
        ? undefined
        : `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`,
    timeoutMs: read.durationMs('timeout', DEFAULT_TIMEOUT_MS),
  };
}

/** JSON, unless a configured header says otherwise; basic auth last, as µTask sets it. */
function requestHeaders(config: NotifyConfig): Headers {
  const headers = new Headers({ 'Content-Type': 'application/json' });
  for (const [name, value] of Object.entries(config.headers)) headers.set(name, value);
  if (config.basicAuth) headers.set('Authorization', config.basicAuth);
  return headers;
}

export const notifyAction: ActionRunner = {
  type: 'notify',

  validateConfig(configuration) {
    return problemIn(() => parseNotifyConfig(configuration, 'unrendered'));
  },

  async run(configuration, context) {
    const config = parseRendered(() => parseNotifyConfig(configuration, 'rendered'));
    const url = config.url as URL;
    const { response, body } = await exchange(
      url,
      {
        method: 'POST',
        headers: requestHeaders(config),
        body: JSON.stringify(config.payload),
      },
      { timeoutMs: config.timeoutMs, signal: context.signal, what: `notify ${url.origin}${url.pathname}` },
    );
    const metadata = { HTTPStatus: response.status };
    if (response.status < 200 || response.status > 299) {
      throw new ActionError(
        'server',
        `notify: the webhook answered ${response.status}: ${bodySnippet(body)}`,
        {
          metadata,
        },
      );
    }
    return { metadata };
  },
};
