/** Line numbers of fields in a parsed YAML document, for error messages. */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lc: LineCounter,
  ) {}

  lineAt(offset: number | undefined): number | undefined {
    if (offset === undefined) return undefined;
    return this.lc.linePos(offset).line;
  }

  /**
   * The line of the field at `path`: the key's line for a key (or a missing
   * key: its parent's line), the value's line for a scalar value.
   */
  line(path: readonly PropertyKey[], o: { key?: boolean } = {}): number | undefined {
    let node: unknown = this.doc.contents;
    let last: number | undefined = this.nodeLine(node);
    for (let i = 0; i < path.length; i++) {
      const p = path[i];
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(p));
        if (!pair) return last;
        const keyLine = this.nodeLine(pair.key) ?? last;
        if (i === path.length - 1 && o.key) return keyLine;
        last = keyLine;
        node = pair.value;
        if (node === null || node === undefined) return last;
      } else if (isSeq(node)) {
        const item = typeof p === 'number' ? node.items[p] : undefined;
        if (item === undefined || item === null) return last;
        last = this.nodeLine(item) ?? last;
        node = item;
      } else {
        return last;
      }
    }
    if (isScalar(node)) return this.nodeLine(node) ?? last;
    return last;
  }

  private nodeLine(n: unknown): number | undefined {
    const range = (n as Node | null)?.range;
    return range ? this.lineAt(range[0]) : undefined;
  }
}
