// A cli-progress bar on standard error, for the commands that may run long (replay, run). The
// caller decides whether to draw one at all (only on a terminal: process.stderr.isTTY).

export interface ProgressBar {
  /** `total` NaN: the total is not known (a pipe): the bar shows how far only. */
  update(done: number, total: number): void;
  stop(): void;
}

/**
 * A bar labelled `label`, counting in `unit` (its values shown as `scale(n)`): e.g. the MiB of a
 * capture read, or the steps and connections of a run.
 */
export async function progressBar(label: string, unit: string, scale: (n: number) => number = (n) => n): Promise<ProgressBar> {
  // A CommonJS package: module.exports is the default export (under Node and in the bundle alike).
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  let bar: InstanceType<typeof SingleBar> | undefined;
  let stopped = false;
  return {
    update(done, total) {
      if (stopped) return;
      if (!bar) {
        const known = Number.isFinite(total);
        const format = known ? `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | eta {eta}s` : `${label} {value} ${unit}`;
        bar = new SingleBar({ format, hideCursor: true, clearOnComplete: true, stream: process.stderr }, Presets.shades_classic);
        bar.start(known ? scale(total) : 0, 0);
      }
      bar.update(scale(done));
    },
    stop() { if (bar && !stopped) { stopped = true; bar.stop(); } },
  };
}
