// UTF-8 bytes of strings that repeat (a decision's comment and record are written on many
// packets): each is encoded once and its bytes kept, up to a bound, then all forgotten at once.

const utf8 = new TextEncoder();

export class Utf8Memo {
  private readonly kept = new Map<string, Uint8Array>();

  /** At most `max` distinct strings are kept (a run's decisions are far fewer). */
  constructor(private readonly max = 4096) {}

  /** The UTF-8 bytes of text (the same array each time while it is kept: never write into it). */
  bytes(text: string): Uint8Array {
    let b = this.kept.get(text);
    if (b === undefined) {
      if (this.kept.size >= this.max) this.kept.clear();
      b = utf8.encode(text);
      this.kept.set(text, b);
    }
    return b;
  }
}
