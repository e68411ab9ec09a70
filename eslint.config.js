import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * Files matching `files` may not import from the listed top-level folders of src/, statically or
 * with import(). Relative imports only (that is all this project uses).
 */
function importDirection(files, folders, message, ignores = []) {
  const regex = `^(\\.\\.?/)+(${folders.join('|')})/`;
  return [
    {
      files: [files],
      ignores,
      rules: {
        'no-restricted-imports': ['error', { patterns: [{ regex, message }] }],
        'no-restricted-syntax': ['error', { selector: `ImportExpression > Literal[value=/${regex.replaceAll('/', '\\/')}/]`, message }],
      },
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.bench-build/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly',
        setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly',
        setImmediate: 'readonly', AbortController: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly',
        fetch: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The store is async: a call whose promise nobody awaits would let a command finish (and close
    // the store) before its write, or swallow its error. The type checker alone cannot see that.
    files: ['src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    // No module imports itself back through others, statically or with import() (type-only imports
    // aside): a cycle makes load order matter and a layer's modules no longer read bottom-up.
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  // The direction of imports (docs: ../shared/ARCHITECTURE.md): faces (cli, http) -> core -> store
  // and push; nothing imports a face, store and push import no core. Checked for static imports
  // and for `await import()` alike.
  ...importDirection('src/core/**/*.ts', ['cli', 'http'], 'the core speaks no face: it may not import src/cli or src/http'),
  // The core reaches the store through its interface (store/store.js) and opener (store/open.js,
  // location.js) only, never a backend's own modules: it must not know which backend it talks to.
  // (Merged into the rule above: a second config for the same files would replace it.)
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\.?/)+(cli|http)/', message: 'the core speaks no face: it may not import src/cli or src/http' },
            { regex: '^(\\.\\.?/)+store/(?!(store|open|location)\\.js$)', message: 'the core uses the store interface (store/store.js) and opener (store/open.js) only, not a backend module' },
          ],
        },
      ],
    },
  },
  ...importDirection('src/{store,push}/**/*.ts', ['core', 'cli', 'http'], 'store and push sit below the core: no src/core, src/cli or src/http'),
  ...importDirection('src/{config,config-defaults,config-schema,delivery-policy,durations,errors,limits}.ts', ['core', 'store', 'cli', 'http'], 'config (with the parsers it checks values with), errors and limits are read by every layer and import none of them'),
  ...importDirection('src/http/**/*.ts', ['cli'], 'the HTTP face may not import the terminal face'),
  // The CLI reaches the HTTP face only where a command starts a listener: `serve`, and
  // `dispatch --watch --metrics-port`.
  ...importDirection('src/cli/**/*.ts', ['http'], 'the terminal face may not import the HTTP face (only the serve and dispatch commands start its listeners)', [
    'src/cli/commands/serve.ts',
    'src/cli/commands/dispatch.ts',
  ]),
  {
    // The executable is CommonJS (bin/package.json): a CommonJS entry starts faster.
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The subscribe page and its service worker run in the browser.
    files: ['src/http/static/**/*.js'],
    languageOptions: {
      globals: {
        self: 'readonly', window: 'readonly', document: 'readonly', navigator: 'readonly', clients: 'readonly',
        Notification: 'readonly', atob: 'readonly', btoa: 'readonly', location: 'readonly',
      },
    },
  },
);
