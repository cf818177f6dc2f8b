// Lint rules: typed checks that catch async mistakes, type-only imports, and an import
// graph that flows one way (LAYERS below), enforced by no-restricted-imports.
// test/unit/lint/layering.test.ts proves that a forbidden import fails `npm run check`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The folders of src/, lowest first: each may import only those before it. */
const LAYERS = [
  'system',
  'schema',
  'protocol',
  'expr',
  'template',
  'store',
  'stream',
  'plugins',
  'runs',
  'engine',
  'api',
  'cli',
];

/** Forbids the files of src/FOLDER to import from the folders named in `above`. */
function layer(folder, above, pure = false) {
  const patterns = [];
  if (above.length > 0) {
    patterns.push({
      group: above.flatMap((name) => [`**/${name}/**`, `../${name}/*`]),
      message: `${folder}/ may not import ${above.join(', ')}: imports flow down the layers (see eslint.config.js)`,
    });
  }
  if (pure) patterns.push({ group: ['node:*'], message: 'protocol/ is pure: no I/O, no node: modules' });
  return { files: [`src/${folder}/**`], rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.taskhost/', 'test/fixtures/', 'test/bench/fixtures/', 'tasks/'] },
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
  // The import direction of the README's layout: a layer imports only the layers before it
  // in LAYERS. One block per layer, so each file matches exactly one: flat config merges
  // rule options by replacement, and a file in two blocks would keep only the last list.
  ...LAYERS.map((folder, index) => layer(folder, LAYERS.slice(index + 1), folder === 'protocol')),
  // The dashboard runs in the browser: it talks to the server over HTTP only, and may share
  // nothing of it but pure modules (template/graph.ts's dependency parsing, the stream's event shape).
  {
    files: ['src/ui/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'src/ui/ runs in the browser: no node: modules' },
            {
              group: [
                ...LAYERS.map((name) => `../${name}/*`),
                ...LAYERS.map((name) => `../../${name}/*`),
                '!../template/graph.ts',
                '!../protocol/stream-event.ts',
              ],
              message:
                'src/ui/ may import only pure shared modules (../template/graph.ts, ../protocol/stream-event.ts); the rest is reached over HTTP',
            },
          ],
        },
      ],
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
