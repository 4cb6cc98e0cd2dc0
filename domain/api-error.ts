// An error as the REST API answers it (`{ "error": { status, code, message, details } }`): the server throws it,
// and the CLI's client rebuilds it from the answer, so both sides speak of one thing.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}
