// Decorated handlers register themselves when their module is loaded: import them for that effect.
import './handlers/audit-signup.js';
import { bus } from './bus.js';
import { SendEmailEvent, UserSignedUpEvent } from './events.js';
import { SendEmailHandler } from './handlers/send-email.js';
import { WelcomeCreditHandler } from './handlers/welcome-credit.js';
import { connectMailer } from './mailer.js';

// Option C: no decorator. The factory runs when this process starts its workers.
bus.register(SendEmailEvent, SendEmailHandler, {
  factory: async () =>
    new SendEmailHandler(await connectMailer({ apiKey: process.env.MAIL_API_KEY }), 'from@email.com'),
});
// Without a factory the class is built with `new WelcomeCreditHandler()`.
bus.register(UserSignedUpEvent, WelcomeCreditHandler);
