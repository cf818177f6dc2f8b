/**
 * Run in a child process by test/unit/schema/validator-cache.test.ts, so each case starts
 * with empty in-memory caches:
 *   SCHEMA DATA       validates DATA (JSON) against SCHEMA (JSON) through validatorFor;
 *   --template TEXT   checks TEXT (a template's YAML) as `taskhost template validate` does.
 * Prints `valid` or `invalid` (then the issues, one a line).
 */
import { validatorFor } from '../../src/schema/validator-cache.ts';
import { loadTemplateText } from '../../src/template/load.ts';

if (process.argv[2] === '--template') {
  const { issues } = loadTemplateText('probe.yaml', process.argv[3] as string, { isKnownAction: () => true });
  process.stdout.write(issues.length === 0 ? 'valid' : `invalid\n${issues.map((i) => i.message).join('\n')}`);
} else {
  const validate = await validatorFor(JSON.parse(process.argv[2] as string));
  process.stdout.write(validate(JSON.parse(process.argv[3] as string)) ? 'valid' : 'invalid');
}
