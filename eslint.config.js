// Lint rules: typed checks that catch async mistakes, type-only imports, and an import
// graph that flows one way, enforced by no-restricted-imports below:
//   system (process and OS facts), protocol (pure) <- store <- stream
//   protocol, store <- plugins <- runs <- api <- cli
// test/unit/lint/layering.test.ts proves that a forbidden import fails `npm run check`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Forbids files of `files` to import from the folders of src/ named in `above`. */
function layer(files, above, pure = false) {
  const patterns = [
    {
      group: above.flatMap((folder) => [`**/${folder}/**`, `../${folder}/*`]),
      message: `${files.split('/')[1]}/ may not import ${above.join(', ')}: imports flow down the layers (see eslint.config.js)`,
    },
  ];
  if (pure) patterns.push({ group: ['node:*'], message: 'protocol/ is pure: no I/O, no node: modules' });
  return [{ files: [files], rules: { 'no-restricted-imports': ['error', { patterns }] } }];
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.taskhost/', 'test/fixtures/', 'tasks/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      curly: ['error', 'multi-line'],
      eqeqeq: ['error', 'smart'],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The import direction of the README's layout, one block per layer. Each file matches
  // exactly one block: flat config merges rule options by replacement, so a file in two
  // blocks would keep only the last block's list.
  ...layer('src/system/**', ['protocol', 'store', 'stream', 'plugins', 'runs', 'api', 'cli']),
  ...layer('src/protocol/**', ['system', 'store', 'stream', 'plugins', 'runs', 'api', 'cli'], true),
  ...layer('src/store/**', ['protocol', 'stream', 'plugins', 'runs', 'api', 'cli']),
  ...layer('src/stream/**', ['plugins', 'runs', 'api', 'cli']),
  ...layer('src/plugins/**', ['stream', 'runs', 'api', 'cli']),
  ...layer('src/runs/**', ['api', 'cli']),
  ...layer('src/api/**', ['cli']),
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
