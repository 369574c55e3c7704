// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const deterministic = 'Workflows are deterministic orchestration: do I/O in an activity.';
// Libraries that do I/O, validate at the boundary, or belong to the worker/client side.
const workflowForbiddenLibraries = [
  'zod',
  'axios',
  'pg',
  'pg-copy-streams',
  'ssh2',
  'pino',
  'yaml',
  'fastify',
  'prom-client',
  'commander',
  'undici',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/testing',
  '@temporalio/envconfig',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'test-artifacts/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: {
        process: 'readonly',
        console: 'readonly',
        __dirname: 'readonly',
        require: 'readonly',
        module: 'writable',
      },
    },
    rules: {
      // An un-awaited promise in a workflow or activity is a lost step.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Workflows, and the contract they share with their clients: deterministic, and apart from types they
    // import only the contract, other workflow code and the Temporal SDK.
    files: ['workflows/**/*.ts', 'contracts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: deterministic })),
            ...workflowForbiddenLibraries.map((name) => ({ name, message: deterministic, allowTypeImports: true })),
          ],
          patterns: [
            {
              // Activities and node-side code do I/O and pull in zod; workflows may only import their types.
              group: [
                '**/activities',
                '**/activities/**',
                '**/shared',
                '**/shared/**',
                '**/workers/**',
                '**/api/**',
                '**/cli/**',
                '**/simulators/**',
              ],
              message: 'Workflows may only import types from here (import type …).',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.name='proxyActivities'] > ObjectExpression:not(:has(> Property[key.name='heartbeatTimeout']))",
          message:
            'Give every activity a heartbeatTimeout (the worker heartbeats for it), so a dead worker is noticed in seconds.',
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'Buffer', 'fetch', '__dirname', '__filename', 'require', 'setImmediate'].map((name) => ({
          name,
          message: deterministic,
        })),
      ],
    },
  },
);
