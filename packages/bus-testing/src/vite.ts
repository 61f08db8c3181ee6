/** The part of a Vite plugin this one uses, so bus-testing needs no Vite types. */
export interface DecoratorsPlugin {
  name: string;
  enforce: 'pre';
  transform(code: string, id: string): Promise<{ code: string; map: string } | null>;
}

/** Options of `decorators`. */
export interface DecoratorsOptions {
  /** Files to compile (default: TypeScript files outside node_modules). */
  include?: RegExp;
}

const TYPESCRIPT = /\.[cm]?tsx?$/;

/**
 * A Vite (and so vitest) plugin that compiles standard TC39 decorators, such as
 * `@busEventHandler`, with esbuild. Vite 8 compiles TypeScript with oxc, which leaves standard
 * decorators in place, and Node cannot parse them yet: a test importing a decorated handler fails
 * with `SyntaxError: Invalid or unexpected token`. Needs `esbuild` installed (a dev dependency).
 *
 * @example
 * // vitest.config.ts
 * import { defineConfig } from 'vitest/config';
 * import { decorators } from 'bus-testing/vite';
 * export default defineConfig({ plugins: [decorators()] });
 */
export function decorators(options: DecoratorsOptions = {}): DecoratorsPlugin {
  const include = options.include ?? TYPESCRIPT;
  let esbuild: Promise<typeof import('esbuild')> | undefined;
  return {
    name: 'bus-testing:tc39-decorators',
    enforce: 'pre',
    async transform(code, id) {
      const file = id.split('?', 1)[0]!;
      if (!include.test(file) || file.includes('/node_modules/') || !code.includes('@')) return null;
      esbuild ??= import('esbuild').catch((cause: unknown) => {
        throw new Error('bus-testing/vite needs esbuild: install it as a dev dependency (npm i -D esbuild)', {
          cause,
        });
      });
      const { transform } = await esbuild;
      const out = await transform(code, {
        loader: file.endsWith('x') ? 'tsx' : 'ts',
        // ES2022 has classes and fields but no decorators: esbuild lowers exactly those.
        target: 'es2022',
        format: 'esm',
        sourcefile: file,
        sourcemap: 'external',
      });
      return { code: out.code, map: out.map };
    },
  };
}
