// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/', 'bench/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.name='parseFloat']", message: 'parseFloat never touches money.' },
      ],
    },
  },
  {
    // The ledger core is pure: no clock, no randomness, no I/O.
    files: ['src/ledger/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'The ledger core takes time as an argument.' },
        { object: 'Math', property: 'random', message: 'The ledger core takes ids as arguments.' },
      ],
      'no-restricted-imports': [
        'error',
        { patterns: ['node:fs*', 'node:net', 'node:http*', 'pg', '@electric-sql/*', 'kysely', '../storage/*'] },
      ],
    },
  },
  {
    files: ['bin/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
