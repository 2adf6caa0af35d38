// Policy `linux` against the kernel's own wildcard bind table: every variant in every mode is a row,
// eight socket and bind steps, each bind's errno as the table says (data in ./bind-wildcard.ts).
// Source: linux tools/testing/selftests/net/bind_wildcard.c (8 sockets, v4-mapped addresses).

import { describe, it } from 'vitest';
import { MODES, VARIANTS, wildcardScenario, type Mode, type Variant } from './bind-wildcard.js';
import { expectSteps } from './cases.js';

type Row = [title: string, variant: Variant, mode: Mode];
const rows: Row[] = VARIANTS.flatMap((v) => MODES.map((m): Row => [`${v.name} ${m}`, v, m]));

describe('linux: bind_wildcard selftest table', () => {
  it.each<Row>(rows)('%s', (_t, v, mode) => { expectSteps('linux', wildcardScenario(v, mode)); });
});
