/** Every error the gateway answers with: one table, one shape (OpenAI's), produced in one place. */
export const ERRORS = {
  invalid_path: { status: 400, type: 'invalid_request_error', message: 'The request path is malformed.' },
  invalid_request_body: { status: 400, type: 'invalid_request_error', message: 'The request body is not a JSON object the gateway can read.' },
  missing_api_key: { status: 401, type: 'invalid_request_error', message: 'No API key provided. Send it as "Authorization: Bearer KEY" or "X-API-Key: KEY".' },
  invalid_api_key: { status: 401, type: 'invalid_request_error', message: 'Invalid API key.' },
  expired_api_key: { status: 401, type: 'invalid_request_error', message: 'This API key has expired.' },
  admin_disabled: { status: 403, type: 'permission_error', message: 'Admin endpoints are disabled: ADMIN_API_KEY is not set.' },
  invalid_admin_key: { status: 403, type: 'permission_error', message: 'Invalid admin key.' },
  model_not_allowed: { status: 403, type: 'permission_error', message: 'This API key may not use the requested model.' },
  not_found: { status: 404, type: 'invalid_request_error', message: 'No such endpoint.' },
  model_not_found: { status: 404, type: 'invalid_request_error', message: 'No model server serves the requested model.' },
  request_too_large: { status: 413, type: 'invalid_request_error', message: 'Request body is too large.' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error', message: 'Rate limit exceeded for this API key. Retry after the time in the Retry-After header.' },
  token_limit_exceeded: { status: 429, type: 'rate_limit_error', message: 'Token limit exceeded for this API key. Retry after the time in the Retry-After header.' },
  quota_exceeded: { status: 429, type: 'rate_limit_error', message: "This client's quota for the period is spent. Retry after the time in the Retry-After header." },
  internal_error: { status: 500, type: 'server_error', message: 'Internal gateway error.' },
  upstream_unavailable: { status: 502, type: 'server_error', message: 'The model server is unavailable.' },
  key_store_unavailable: { status: 503, type: 'server_error', message: 'API keys could not be loaded yet; try again shortly.' },
  gateway_busy: { status: 503, type: 'server_error', message: 'The gateway is holding too many request bodies; retry shortly.' },
  upstream_timeout: { status: 504, type: 'server_error', message: 'The model server did not answer in time.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** A request that ends in one of the coded errors. `message` must never contain request data. */
export class GatewayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? ERRORS[code].message);
  }

  get status(): number {
    return ERRORS[this.code].status;
  }

  body(): { error: { message: string; type: string; code: ErrorCode; param: null } } {
    return { error: { message: this.message, type: ERRORS[this.code].type, code: this.code, param: null } };
  }
}
