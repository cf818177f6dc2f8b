/**
 * Host errors: what went wrong in taskhost itself or in what a user asked of it.
 * Step outcomes (a plugin failing) are values, never these (see plugins/run-plugin.ts).
 *
 * One table maps each code to its HTTP status and CLI exit code; `api/error-handler.ts`
 * and `cli/exit.ts` read it, nothing else decides a status.
 */

export const ERROR_CODES = {
  TH_CLI_USAGE: { http: 400, exit: 2 },
  TH_CONFIG_INVALID: { http: 500, exit: 2 },
  TH_REQUEST_INVALID: { http: 400, exit: 2 },
  TH_REQUEST_TOO_LARGE: { http: 413, exit: 2 },
  TH_AUTH_REQUIRED: { http: 401, exit: 1 },
  TH_AUTH_FORBIDDEN: { http: 403, exit: 1 },
  TH_AUTH_RATE_LIMITED: { http: 429, exit: 1 },
  TH_HOST_REFUSED: { http: 421, exit: 1 },
  TH_MEDIA_TYPE: { http: 415, exit: 2 },
  TH_PLUGIN_NOT_FOUND: { http: 404, exit: 2 },
  TH_PLUGIN_NAME_TAKEN: { http: 409, exit: 2 },
  TH_PLUGIN_NOT_EXECUTABLE: { http: 400, exit: 2 },
  TH_PLUGIN_DESCRIBE_FAILED: { http: 400, exit: 2 },
  TH_PLUGIN_DATA_INVALID: { http: 400, exit: 2 },
  TH_RUN_NOT_FOUND: { http: 404, exit: 2 },
  TH_TEMPLATE_INVALID: { http: 400, exit: 2 },
  TH_TEMPLATE_NOT_FOUND: { http: 404, exit: 2 },
  TH_FUNCTION_NOT_FOUND: { http: 404, exit: 2 },
  TH_TASK_INPUT_INVALID: { http: 400, exit: 2 },
  TH_TASK_NOT_FOUND: { http: 404, exit: 2 },
  TH_TASK_STATE: { http: 409, exit: 2 },
  TH_COMMENT_NOT_FOUND: { http: 404, exit: 2 },
  TH_BATCH_NOT_FOUND: { http: 404, exit: 2 },
  TH_RESOLUTION_STATE: { http: 409, exit: 2 },
  TH_RESOLUTION_BUSY: { http: 409, exit: 1 },
  TH_RESOLUTION_LOST: { http: 409, exit: 1 },
  TH_CALLBACK_NOT_FOUND: { http: 404, exit: 2 },
  TH_CALLBACK_RESOLVED: { http: 409, exit: 2 },
  TH_STORE_UNAVAILABLE: { http: 503, exit: 1 },
  TH_MAINTENANCE: { http: 503, exit: 1 },
  TH_KEY_MISSING: { http: 500, exit: 2 },
  TH_KEY_NOT_FOUND: { http: 404, exit: 2 },
  TH_KEY_IN_USE: { http: 409, exit: 2 },
  TH_KEY_ROTATING: { http: 409, exit: 1 },
  TH_STORE_EMBEDDED_UNREACHABLE: { http: 500, exit: 1 },
  TH_SERVER_UNREACHABLE: { http: 502, exit: 1 },
  TH_SERVER_REFUSED: { http: 502, exit: 1 },
  TH_INTERNAL: { http: 500, exit: 1 },
} as const satisfies Record<string, { http: number; exit: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class TaskhostError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, options: { details?: unknown; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TaskhostError';
    this.code = code;
    this.details = options.details;
  }
}

/** True for a TaskhostError, checked by shape so it holds across module copies. */
export function isTaskhostError(error: unknown): error is TaskhostError {
  const code = error instanceof Error ? (error as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code in ERROR_CODES;
}

/** Normalises anything thrown into a TaskhostError, keeping the original as `cause`. */
export function toTaskhostError(error: unknown): TaskhostError {
  if (isTaskhostError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TaskhostError('TH_INTERNAL', message, { cause: error });
}

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CODES[code].http;
}

export function exitCodeOf(code: ErrorCode): number {
  return ERROR_CODES[code].exit;
}
