/** @json-editor/json-editor ships no types; the part of its API the dashboard uses. */
declare module '@json-editor/json-editor/src/core.js' {
  export interface JsonEditorError {
    path: string;
    property: string;
    message: string;
  }
  /** One field's editor (json-editor's own; `input` on the editors of a single field). */
  export interface FieldEditor {
    isRequired(): boolean;
    input?: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  }
  /** A theme draws json-editor's parts; `getErrorMessage` draws the message of a group (an object or array). */
  export interface Theme {
    getErrorMessage(text: string): HTMLElement;
  }
  export class JSONEditor {
    /** Every field's editor by path. */
    editors?: Record<string, FieldEditor>;
    constructor(element: HTMLElement, options: Record<string, unknown>);
    static defaults: {
      options: Record<string, unknown>;
      languages: Record<string, Record<string, string>>;
      themes: Record<string, new () => Theme>;
    };
    on(event: 'ready' | 'change', callback: () => void): void;
    getValue(): unknown;
    setValue(value: unknown): void;
    /** With a value: its errors; without: the errors found at the last change. */
    validate(value?: unknown): JsonEditorError[];
    setOption(option: 'show_errors', value: 'interaction' | 'change' | 'always' | 'never'): void;
    destroy(): void;
    ready: boolean;
  }
}

/** Stylesheets are bundled by esbuild into main.css. */
declare module '*.css';
