/**
 * Errors to HTTP for Fastify: the framework-neutral mapping lives in
 * core/errors.ts (the only place where failures become HTTP bodies); this
 * module adds Fastify's own request errors (validation, content type parser)
 * and sends the result through a Fastify reply.
 *
 * @module
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest, errorBody, HttpError, logFailure, toHttpError as toHttpErrorCore } from './core/errors.js';
import { DEFAULT_REALM } from './core/limits.js';

export {
  accessTokenError,
  badRequest,
  bearerChallenge,
  dependencyUnavailable,
  ERROR_REASONS,
  type ErrorReason,
  errorBody,
  errorHeaders,
  HttpError,
  type HttpErrorCode,
  insufficientScope,
  invalidCredentials,
  invalidScope,
  isStoreOutage,
  isTokenRefusal,
  malformedAuthorization,
  missingToken,
  RETRY_AFTER_SECONDS,
  refreshTokenError,
  storeUnavailable,
} from './core/errors.js';

/** Sends `err` as `{error, error_description[, reason]}` with its status and headers. */
export function sendHttpError(reply: FastifyReply, err: HttpError): FastifyReply {
  // RFC 6749 §5.1 asks for no-store on token responses; an error response from an
  // auth endpoint must not be cached either.
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  return reply.code(err.statusCode).send(errorBody(err));
}

/** Fixed descriptions for Fastify's own request errors: their messages may quote the request. */
function frameworkError(err: FastifyError): HttpError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(
        415,
        'invalid_request',
        'Unsupported content type; send application/x-www-form-urlencoded or application/json',
      );
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'invalid_request', 'The request body is too large');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('The JSON request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return badRequest('The request body is not valid JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('The Content-Length header does not match the body');
    case 'FST_ERR_CTP_INVALID_TYPE':
      return badRequest('The Content-Type header is invalid');
    default:
      return undefined;
  }
}

/** Maps anything thrown while handling a request: Fastify's errors, then the neutral mapping. Exported for tests and for embedding apps. */
export function toHttpError(err: unknown, realm = DEFAULT_REALM): HttpError {
  if (err instanceof HttpError) return err;
  const fe = err as Partial<FastifyError> & { validation?: unknown; validationContext?: string };
  if (fe && typeof fe === 'object') {
    if (fe.validation) {
      // Ajv's message names the field and the rule ("body must have required property 'grant_type'"),
      // never the offending value.
      return badRequest(`Invalid request: ${fe.message ?? 'validation failed'}`);
    }
    if (typeof fe.code === 'string') {
      const mapped = frameworkError(fe as FastifyError);
      if (mapped) return mapped;
    }
  }
  return toHttpErrorCore(err, realm);
}

/**
 * Fastify error handler: everything ends as `{error, error_description[, reason]}`, logged by
 * the rule every adapter keeps ({@link logFailure}).
 */
export function httpErrorHandler(realm = DEFAULT_REALM) {
  return function handle(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const mapped = toHttpError(err, realm);
    logFailure(request.log, err, mapped);
    return sendHttpError(reply, mapped);
  };
}
