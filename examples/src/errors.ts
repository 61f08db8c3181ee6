import { type BusError, describeError, isBusError } from 'bus-core';
import { signUp } from './signup.js';

/** Your app's error, carrying the bus error as its cause (the guide's `AppError::Bus`). */
export class AppError extends Error {
  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

export async function signUpRoute(email: string, name: string): Promise<{ status: number; id?: string }> {
  try {
    return { status: 201, id: await signUp(email, name) };
  } catch (error) {
    // isBusError works across duplicated installs of bus-core, where instanceof would not.
    if (isBusError(error, 'SHUT_DOWN')) return { status: 503 }; // the process is stopping
    if (isBusError(error, 'PUBLISH_FAILED')) {
      // The database refused the insert (error.cause says why). The whole
      // transaction rolled back, so no user row was written either.
      throw new AppError('could not queue the welcome email', 503, { cause: error });
    }
    if (isBusError(error)) throw toAppError(error); // any other code is a bug or a bad config
    throw error;
  }
}

function toAppError(error: BusError): AppError {
  // `code` is stable, `value` is the offending value, `message` starts with `[CODE]`.
  console.error(`bus failed with ${error.code} (${String(error.value)}): ${describeError(error)}`);
  return new AppError('internal error', 500, { cause: error });
}
