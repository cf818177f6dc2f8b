import packageJson from '../package.json' with { type: 'json' };

/** taskhost's version (package.json's), as `--version`, the API description and instance rows show it. */
export const VERSION: string = packageJson.version;
