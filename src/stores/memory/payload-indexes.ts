/** A collection's payload indexes: declared ones, and those built on their own for busy fields. */
import type { Filter } from '../../core/filter.js';
import type { JsonObject } from '../../core/types.js';
import { CompiledFilter, fieldsOf, PayloadIndex } from './filters.js';

/** Payload indexes built on their own once a field was filtered on this often… */
const AUTO_INDEX_USES = 2;
/** …in a collection at least this large… */
const AUTO_INDEX_MIN_RECORDS = 1000;
/** …up to this many per collection. */
const AUTO_INDEX_LIMIT = 16;

export class PayloadIndexes {
  /** Payload indexes by field. */
  private readonly indexes = new Map<string, PayloadIndex>();
  /** Fields indexed because they were declared (`createPayloadIndex`), saved with the collection. */
  readonly declared = new Set<string>();
  private readonly fieldUses = new Map<string, number>();

  constructor(private readonly autoIndex: boolean) {}

  /** Fields with a payload index, and whether each was declared or chosen automatically. */
  list(): { field: string; source: 'declared' | 'automatic' }[] {
    return [...this.indexes.keys()].map((field) => ({
      field,
      source: this.declared.has(field) ? 'declared' : 'automatic',
    }));
  }

  /** Builds a payload index on `field` over the payloads of rows 0..n-1. Returns whether it was new. */
  create(field: string, declared: boolean, payloads: readonly JsonObject[]): boolean {
    if (declared) this.declared.add(field);
    if (this.indexes.has(field)) return false;
    const index = new PayloadIndex(field);
    for (let row = 0; row < payloads.length; row++) index.set(row, payloads[row] as JsonObject);
    this.indexes.set(field, index);
    return true;
  }

  /** Drops a payload index; returns whether there was one. */
  drop(field: string): boolean {
    this.declared.delete(field);
    this.fieldUses.delete(field);
    return this.indexes.delete(field);
  }

  set(row: number, payload: JsonObject): void {
    if (this.indexes.size === 0) return; // the common case, on every record written: no iterator
    for (const index of this.indexes.values()) index.set(row, payload);
  }

  move(from: number, to: number): void {
    for (const index of this.indexes.values()) index.move(from, to);
  }

  truncate(size: number): void {
    for (const index of this.indexes.values()) index.truncate(size);
  }

  /** `filter` compiled over the indexes there are now. */
  compile(filter: Filter): CompiledFilter {
    return new CompiledFilter(filter, this.indexes);
  }

  /** A byte per row, 1 where `filter` matches; counts the use of each field towards automatic indexes. */
  select(filter: Filter, payloads: readonly JsonObject[]): Uint8Array {
    if (this.autoIndex) {
      for (const field of fieldsOf(filter)) {
        if (this.indexes.has(field)) continue;
        const uses = (this.fieldUses.get(field) ?? 0) + 1;
        this.fieldUses.set(field, uses);
        const automatic = this.indexes.size - this.declared.size;
        if (uses >= AUTO_INDEX_USES && payloads.length >= AUTO_INDEX_MIN_RECORDS && automatic < AUTO_INDEX_LIMIT) {
          this.create(field, false, payloads);
        }
      }
    }
    return this.compile(filter).mask(payloads.length, payloads);
  }
}
