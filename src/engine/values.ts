import type { StepValues, TaskValues, ValueContext, Variable } from '../template/context.ts';

/**
 * A resolution's values (µTask engine/values): the roots templates read, kept up to date as
 * steps end. One object per resolution run; each render gets a context built from it.
 */
export class ResolutionValues {
  readonly input: Record<string, unknown>;
  resolverInput: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  readonly task: TaskValues;
  readonly variables: readonly Variable[];
  private readonly steps: Record<string, StepValues> = {};

  constructor(roots: {
    input: Record<string, unknown>;
    resolverInput: Record<string, unknown>;
    config: Record<string, unknown>;
    task: TaskValues;
    variables: readonly Variable[];
  }) {
    this.input = roots.input;
    this.resolverInput = roots.resolverInput;
    this.config = roots.config;
    this.task = roots.task;
    this.variables = roots.variables;
  }

  /** Records what a step holds now (µTask SetOutput, SetMetadata, SetChildren, SetError, SetState). */
  setStep(
    name: string,
    step: { output: unknown; metadata: unknown; children: unknown; error: string | null; state: string },
  ): void {
    this.steps[name] = {
      output: step.output ?? undefined,
      metadata: step.metadata ?? undefined,
      children: step.children ?? undefined,
      error: step.error ?? undefined,
      state: step.state,
    };
  }

  setOutput(name: string, output: unknown): void {
    this.steps[name] = { ...(this.steps[name] ?? {}), output };
  }

  deleteStep(name: string): void {
    delete this.steps[name];
  }

  /** The context of one render: the roots, plus what only this render sees. */
  context(
    extra: {
      iterator?: unknown;
      pre_hook?: ValueContext['pre_hook'];
      function_args?: Record<string, unknown>;
    } = {},
  ): ValueContext {
    const context: ValueContext = {
      input: this.input,
      resolver_input: this.resolverInput,
      step: this.steps,
      config: this.config,
      task: this.task,
      variables: this.variables,
    };
    if (extra.iterator !== undefined) context.iterator = extra.iterator;
    if (extra.pre_hook !== undefined) context.pre_hook = extra.pre_hook;
    if (extra.function_args !== undefined) context.function_args = extra.function_args;
    return context;
  }
}
