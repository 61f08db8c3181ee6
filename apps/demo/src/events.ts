import { defineEvent } from 'bus-core';

/** The payload of the guide's `SendEmailEvent`. */
export interface SendEmail {
  to: string;
  subject: string;
  body: string;
}

/**
 * Published by every sign-up, in the sign-up's transaction. Three handlers receive it (fan-out):
 * `SendEmailHandler` (queue `email`), `WelcomeCreditHandler` (queue `high`) and
 * `EmailAuditHandler` (queue `low`). The name is stored in every row: keep it stable.
 */
export const SendEmailEvent = defineEvent<SendEmail>('user.send-email');
