// Capture times as the replay report writes them: ISO 8601 UTC for any year a capture's 64-bit
// timestamps can hold (JavaScript's Date ends at +275760), and the last second an output capture
// of nanoseconds since 1970 can say.

/** The last whole second a pcapng timestamp of nanoseconds since 1970 (64 bits) can hold: 2554-07-21T23:34:32Z. */
export const MAX_OUTPUT_SEC = Math.floor(2 ** 64 / 1e9) - 1;

/** ISO 8601 UTC with µs (ns when there are some); any year, with the expanded form (+275761-...) past 9999 and before 0. */
export function isoTime(sec: number, nsec: number): string {
  const frac = nsec % 1000 === 0 ? String(nsec / 1000).padStart(6, '0') : String(nsec).padStart(9, '0');
  return `${civilTime(sec)}.${frac}Z`;
}

/** YYYY-MM-DDTHH:MM:SS of whole seconds since 1970 (proleptic Gregorian; Hinnant's civil_from_days). */
function civilTime(sec: number): string {
  if (Math.abs(sec) < 8.64e12) return new Date(sec * 1000).toISOString().slice(0, sec >= 253402300800 || sec < -62167219200 ? 22 : 19);
  const days = Math.floor(sec / 86400);
  const secs = sec - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const two = (n: number): string => String(n).padStart(2, '0');
  const year = `${y < 0 ? '-' : '+'}${String(Math.abs(y)).padStart(6, '0')}`;
  const hh = Math.floor(secs / 3600), mm = Math.floor((secs % 3600) / 60), ss = Math.floor(secs % 60);
  return `${year}-${two(m)}-${two(d)}T${two(hh)}:${two(mm)}:${two(ss)}`;
}
