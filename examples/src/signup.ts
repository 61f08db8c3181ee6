import { bus } from './bus.js';
import { users } from './db/schema.js';
import { db } from './db.js';
import { SendEmailEvent, UserSignedUpEvent } from './events.js';

// The transactional outbox: the user row and the events commit together, or not at all.
export async function signUp(email: string, name: string): Promise<string> {
  return db.transaction(async (tx) => {
    const [user] = await tx.insert(users).values({ email, name }).returning({ id: users.id });
    if (user === undefined) throw new Error('insert returned no row');
    await bus.publishTxn(tx, SendEmailEvent, {
      to: email,
      subject: 'Welcome!',
      body: `Thanks for signing up, ${name}.`,
    });
    await bus.publishTxn(tx, UserSignedUpEvent, { userId: user.id, email });
    return user.id;
  });
}
