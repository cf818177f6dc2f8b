// The pg driver, loaded once through driver-probe.ts (see there why): import pg from here.
import { endDriverProbe } from './driver-probe.ts';
import pg from 'pg';

endDriverProbe();

export default pg;
