import type { Instance } from '../runs/instance.ts';
import type { RunSupervisor } from '../runs/supervisor.ts';
import type { Store } from '../store/store.ts';
import type { EventHub } from '../stream/hub.ts';
import type { AuthModes, SecurityConfig } from './auth/security.ts';
import type { ServerMetrics } from './routes/metrics.ts';
import type { TemplateCatalog } from './template-catalog.ts';

export interface ServerConfig {
  /** Output a run delivers and stores (head and tail); the rest is dropped, and counted. */
  outputCapBytes: number;
  /** A stream subscriber with more than this unsent is closed with the resume code. */
  wsMaxBufferedBytes: number;
  wsPingIntervalMs: number;
  /** On close, how long cancelled runs get to end and be stored before the server stops anyway. */
  shutdownGraceMs: number;
  logLevel: string;
  /**
   * µTask's maintenance mode: every route that changes state answers 503 (reads go on), and
   * `serve` claims no work. Read at each request, so it can be switched while serving.
   */
  maintenanceMode: boolean;
  /**
   * The path prefix a reverse proxy serves taskhost under (`--base-path`, normalised: `/ops`,
   * or '' for none). Requests that still carry it are answered as if it were stripped, and the
   * dashboard's links and calls stay under it.
   */
  basePath: string;
}

export const DEFAULT_SERVER_CONFIG: ServerConfig = {
  outputCapBytes: 1024 * 1024,
  wsMaxBufferedBytes: 1024 * 1024,
  wsPingIntervalMs: 30_000,
  shutdownGraceMs: 15_000,
  logLevel: 'warn',
  maintenanceMode: false,
  basePath: '',
};

/**
 * What the routes share: the store, the event hub, the config, the templates, the server's instance (the
 * owner of its runs) and the supervisor of the runs it has in flight (cancelled and
 * awaited when it closes, so each ends stored).
 */
export interface ServerDeps {
  store: Store;
  hub: EventHub;
  config: ServerConfig;
  owner?: Instance | null;
  supervisor?: RunSupervisor;
  /** The templates new tasks are created from; none when absent. */
  templates?: TemplateCatalog;
  /** What this instance measures (its steps' durations); a fresh one when absent. */
  metrics?: ServerMetrics;
  /** Admins, authentication and allowed hosts; none (the local user is admin) when absent. */
  security?: SecurityConfig;
  /** Which authentication is on; read from `security` when absent (`serve` decides it once). */
  authModes?: AuthModes;
  /** Where the server's log (pino JSON lines) goes; stdout when absent. */
  logStream?: NodeJS.WritableStream;
  /** Values of `config` items marked `secret`: concealed as `***` in every log line. */
  secrets?: readonly string[];
}
