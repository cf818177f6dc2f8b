/**
 * Run in a child process by test/unit/schema/validator-cache.test.ts, so each case starts
 * with empty in-memory caches: validates argv[3] (JSON) against the schema argv[2] (JSON)
 * through validatorFor, and prints `valid` or `invalid`.
 */
import { validatorFor } from '../../src/schema/validator-cache.ts';

const validate = await validatorFor(JSON.parse(process.argv[2] as string));
process.stdout.write(validate(JSON.parse(process.argv[3] as string)) ? 'valid' : 'invalid');
