import { checkPlugin, reportPassed, type CheckReport } from '../../plugins/check/check-plugin.ts';
import { countVerdicts, type Verdict } from '../../plugins/check/rules.ts';
import { killAllPluginGroups } from '../../plugins/groups.ts';
import { readJsonFlag, timeoutFlag } from '../flag-values.ts';
import { paint, printJson, useColour, type Colour } from '../output.ts';

/**
 * `taskhost plugin check PATH [--data JSON | --data-file F] [--timeout S] [--json]`: the
 * protocol linter (plugins/check/). Runs the plugin as taskhost does, registers nothing, and
 * opens no store. Exit 0 when no rule fails, 1 when one does, 2 for bad usage.
 */

export interface PluginCheckFlags {
  data?: string;
  dataFile?: string;
  timeout?: string;
  json?: boolean;
}

const COLOURS: Record<Verdict, Colour> = { pass: 'green', warn: 'yellow', fail: 'red', skip: 'dim' };

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function printText(report: CheckReport): void {
  const colour = useColour(process.stdout);
  const width = Math.max(...report.rules.map((rule) => rule.id.length)) + 2;
  const lines = [`plugin check ${report.file}${report.name ? ` (${report.name})` : ''}`];
  for (const rule of report.rules) {
    const verdict = paint(colour, COLOURS[rule.verdict], rule.verdict.padEnd(4));
    lines.push(`  ${verdict}  ${rule.id.padEnd(width)}${rule.message}`);
    if (rule.fix) {
      lines.push(`  ${' '.repeat(6)}${' '.repeat(width)}${paint(colour, 'bold', 'fix:')} ${rule.fix}`);
    }
  }
  const counts = countVerdicts(report.rules);
  const summary = `${counts.pass} passed, ${plural(counts.warn, 'warning')}, ${counts.fail} failed, ${counts.skip} skipped`;
  const verdict = reportPassed(report) ? paint(colour, 'green', 'OK') : paint(colour, 'red', 'FAILED');
  lines.push('', `${summary}: ${verdict}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

export async function pluginCheck(file: string, flags: PluginCheckFlags): Promise<number> {
  const data = readJsonFlag(flags.data, flags.dataFile, { inline: '--data', file: '--data-file' });
  const timeoutMs = timeoutFlag(flags.timeout);
  // Ctrl-C or SIGTERM: the plugin's process group goes too (it runs in its own group).
  const onSignal = (signal: NodeJS.Signals): void => {
    killAllPluginGroups();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const report = await checkPlugin({ file, data, timeoutMs });
    if (flags.json) {
      const { file: checked, name, rules, data: used, timings } = report;
      printJson({
        file: checked,
        name,
        ok: reportPassed(report),
        counts: countVerdicts(rules),
        rules,
        data: used,
        timings,
      });
    } else {
      printText(report);
    }
    return reportPassed(report) ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
