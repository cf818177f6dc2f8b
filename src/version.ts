/** taskhost's version, as `--version`, the API description and instance rows show it. */
export const VERSION = '0.1.0';
