import { defineEvent } from 'bus-core';

/** The payload: plain data (strings, numbers, booleans, null, arrays, plain objects, Date, bigint, bytes). */
export interface SendEmail {
  to: string;
  subject: string;
  body: string;
}

// The name is written into every row: keep it stable across deploys and refactors.
export const SendEmailEvent = defineEvent<SendEmail>('user.send-email');

/** Published with SendEmailEvent at sign-up; see docs/delivery.md. */
export interface UserSignedUp {
  userId: string;
  email: string;
}

export const UserSignedUpEvent = defineEvent<UserSignedUp>('user.signed-up');
