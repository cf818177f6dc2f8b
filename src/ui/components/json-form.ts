import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSONEditor, Theme } from '@json-editor/json-editor/src/core.js';
import type { JsonSchema } from '../types.ts';
import { ErrorBox, Loading } from './common.ts';

/**
 * A form generated from a JSON Schema by @json-editor/json-editor (labels from `title`,
 * `description` as help, enums as selects, booleans as checkboxes, numbers with their bounds,
 * required fields, nested objects and arrays), with its errors shown by the fields. The library
 * is loaded when a form is first shown, so the pages without one stay small.
 */

export interface JsonFormHandle {
  /** The value, or null after showing the errors by their fields when it is not valid. */
  submit(): unknown;
}

/** Schema keywords json-editor reads to pick a widget; set where the schema leaves them out. */
function prepare(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(prepare);
  if (schema === null || typeof schema !== 'object') return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    copy[key] =
      key === 'enum' || key === 'default' || key === 'const' || key === 'examples' ? value : prepare(value);
  }
  // Fields in the schema's order (json-editor's own order is by `propertyOrder`).
  if (copy.properties && typeof copy.properties === 'object') {
    const properties = copy.properties as Record<string, JsonSchema>;
    Object.keys(properties).forEach((name, index) => {
      const property = properties[name];
      if (property && property.propertyOrder === undefined) {
        properties[name] = { ...property, propertyOrder: index + 1 };
      }
    });
  }
  // A required text field must not be empty, as a person filling a form means it.
  if (Array.isArray(copy.required) && copy.properties && typeof copy.properties === 'object') {
    const properties = copy.properties as Record<string, JsonSchema>;
    for (const name of copy.required as string[]) {
      const property = properties[name];
      if (property?.type === 'string' && property.minLength === undefined && !Array.isArray(property.enum)) {
        properties[name] = { ...property, minLength: 1 };
      }
    }
  }
  if (copy.format === undefined) {
    if (copy.type === 'boolean') copy.format = 'checkbox';
    else if ((copy.type === 'number' || copy.type === 'integer') && !Array.isArray(copy.enum)) {
      copy.format = 'number';
    } else if (copy.type === 'array' && Array.isArray((copy.items as JsonSchema | undefined)?.enum)) {
      copy.format = 'checkbox';
      copy.uniqueItems = true;
    }
  }
  return copy;
}

/**
 * json-editor's html theme, with the messages of a group (an object's "missing the required
 * property", an array's "at least N items") marked: json-editor shows those at once, even on a
 * form nobody has touched yet, so the form keeps them hidden until a submit is tried. (Shown
 * at load, such a message also went away as the field was filled and left, moving the button
 * up between the mousedown and mouseup of a click on it: the click was lost.)
 */
function formTheme(editor: typeof JSONEditor): string {
  const themes = editor.defaults.themes;
  if (!themes.taskhost) {
    const Html = themes.html as new () => Theme;
    themes.taskhost = class extends Html {
      override getErrorMessage(text: string): HTMLElement {
        const message = super.getErrorMessage(text);
        message.classList.add('group-error');
        return message;
      }
    };
  }
  return 'taskhost';
}

/** A schema json-editor can draw: an object at the root, even for a plugin that takes `{}`. */
function rootSchema(schema: JsonSchema, title: string): JsonSchema {
  const empty =
    Object.keys(schema).length === 0 || (schema.type === undefined && schema.properties === undefined);
  const base = empty ? { type: 'object', properties: {} } : schema;
  return { ...(prepare(base) as JsonSchema), title: (base.title as string | undefined) ?? title };
}

export function JsonForm(props: {
  schema: JsonSchema;
  title: string;
  /** The form's name in its inputs' ids, unique on the page. */
  name: string;
  startval?: unknown;
  handle: { current: JsonFormHandle | null };
}): VNode {
  const holder = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<'loading' | 'ready' | Error>('loading');
  // How many fields are in error, once a submit was tried (null before).
  const [errorCount, setErrorCount] = useState<number | null>(null);
  // Whether a submit was tried: the messages of groups are shown from then on.
  const [tried, setTried] = useState(false);

  useEffect(() => {
    let editor: JSONEditor | null = null;
    let live = true;
    import('@json-editor/json-editor/src/core.js').then(
      ({ JSONEditor }) => {
        if (!live || !holder.current) return;
        editor = new JSONEditor(holder.current, {
          schema: rootSchema(props.schema, props.title),
          // json-editor treats a present `startval`, even undefined, as a value that leaves
          // out every optional field: give it only when there is one.
          ...(props.startval === undefined ? {} : { startval: props.startval }),
          theme: formTheme(JSONEditor),
          iconlib: null,
          form_name_root: props.name,
          disable_edit_json: true,
          disable_properties: true,
          disable_collapse: true,
          disable_array_delete_all_rows: true,
          disable_array_delete_last_row: true,
          no_additional_properties: true,
          prompt_before_delete: false,
          show_errors: 'interaction',
          // Untouched optional fields are left out, not sent as "", 0 or false.
          use_default_values: false,
          compact: false,
        });
        const current = editor;
        // json-editor draws the form synchronously (its `ready` event comes a frame later):
        // drop the loading note now, so the page does not shift under a click once it is drawn.
        setState('ready');
        current.on('change', () => {
          if (live) setErrorCount((count) => (count === null ? null : current.validate().length));
        });
        props.handle.current = {
          submit(): unknown {
            if (!current.ready) return null; // still drawing: the button does nothing yet
            // json-editor reads a field on its `change` event, which Enter in a text field (a
            // submit by keyboard) never fires: read the fields as they are now first. An
            // untouched optional field stays out of the value; a required one, even empty, is
            // read, so that leaving it empty is an error shown by the field itself.
            for (const field of Object.values(current.editors ?? {})) {
              if (field.input && (field.input.value !== '' || field.isRequired())) {
                field.input.dispatchEvent(new Event('change', { bubbles: true }));
              }
            }
            // validate() without an argument answers the errors of the last change: check now.
            const errors = current.validate(current.getValue());
            current.setOption('show_errors', 'always');
            setTried(true);
            setErrorCount(errors.length);
            if (errors.length > 0) {
              // json-editor draws the messages on its next frame, each in an .errmsg inside
              // its field's group; then take the keyboard to the first field in error.
              requestAnimationFrame(() =>
                requestAnimationFrame(() => {
                  const message = [...(holder.current?.querySelectorAll<HTMLElement>('.errmsg') ?? [])].find(
                    (element) => element.style.display !== 'none',
                  );
                  message?.parentElement?.querySelector<HTMLElement>('input, select, textarea')?.focus();
                }),
              );
              return null;
            }
            return current.getValue();
          },
        };
      },
      (error: unknown) => live && setState(error instanceof Error ? error : new Error(String(error))),
    );
    return () => {
      live = false;
      props.handle.current = null;
      editor?.destroy();
    };
  }, [props.schema, props.name]);

  return html`<div class=${tried ? 'json-form tried' : 'json-form'}>
    ${state === 'loading' ? html`<${Loading} what="the form" />` : null}
    ${state instanceof Error ? html`<${ErrorBox} error=${state} />` : null}
    <div ref=${holder}></div>
    <p class="form-errors" role="status" aria-live="polite">
      ${errorCount && state === 'ready' ? `${errorCount} field${errorCount === 1 ? '' : 's'} to fix` : ''}
    </p>
  </div>`;
}
