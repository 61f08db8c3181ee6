/**
 * Polls `condition` until it returns a truthy value or `timeoutMs` passes, then throws with
 * `message`: tests wait on conditions with a deadline instead of sleeping and hoping.
 *
 * @example
 * await waitFor(async () => (await bus.inspect.events()).length === 0, { message: 'queue drained' });
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const interval = options.intervalMs ?? 10;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(
        `timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.message ?? 'condition'}${why}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
