/**
 * Scrolling in kumiki's id order (integers ascending, then strings by UTF-16 code unit) on Qdrant,
 * which can order a scroll only by point id or by one numeric payload key (`order_by`). Points carry
 * numeric sort keys (ids.ts): `kumiki.n` for integer ids, `kumiki.s0` … `kumiki.s7` for string ids.
 *
 * A page is the `need` smallest ids after the cursor: integer ids by `order_by kumiki.n`, then string
 * ids level by level — ordered by `kumiki.s0`, the points before the last value seen are complete and
 * sorted here, and the tie on that value is resolved one level deeper. Ids that share all levels are
 * fetched as a group and compared as strings. The cursor is the last id returned, so every record
 * present for the whole scroll comes exactly once, whatever is written meanwhile.
 */
import type { RecordId } from '../../core/types.js';
import { and, META_KEY, type QdrantCondition, type QdrantFieldCondition, type QdrantFilter } from './filter.js';
import { compareIds, ORDER_LEVELS, stringOrderKey } from './ids.js';
import { fromWirePayload, type WirePoint } from './payload.js';

/** One scroll request (filter, limit, optional `order_by` or point-id `offset`) against the collection. */
export type ScrollRequest = (body: {
  filter: QdrantFilter;
  limit: number;
  order_by?: { key: string; direction: 'asc' };
  offset?: string | number;
}) => Promise<{ points: WirePoint[]; next: unknown }>;

/** Page size when a group of points must be fetched whole. */
const FETCH_PAGE = 256;

const levelKey = (index: number) => `${META_KEY}.s${index}`;
const idOf = (point: WirePoint): RecordId => fromWirePayload(point.payload)?.id ?? String(point.id);
const byId = (a: WirePoint, b: WirePoint) => compareIds(idOf(a), idOf(b));
const level = (point: WirePoint, index: number): number =>
  (point.payload?.[META_KEY] as Record<string, number> | undefined)?.[`s${index}`] ?? 0;

/** Every point matching `filter`, page by page by point id; only for groups that share a whole sort key. */
async function fetchAll(request: ScrollRequest, filter: QdrantFilter): Promise<WirePoint[]> {
  const all: WirePoint[] = [];
  let offset: string | number | undefined;
  do {
    const page = await request({ filter, limit: FETCH_PAGE, ...(offset === undefined ? {} : { offset }) });
    all.push(...page.points);
    offset = typeof page.next === 'string' || typeof page.next === 'number' ? page.next : undefined;
  } while (offset !== undefined);
  return all;
}

/** The `need` string-id points matching `filter` that come first, given equal levels before `depth`. */
async function smallestStrings(
  request: ScrollRequest,
  filter: QdrantFilter,
  depth: number,
  need: number,
): Promise<WirePoint[]> {
  if (need <= 0) return [];
  if (depth === ORDER_LEVELS) return (await fetchAll(request, filter)).sort(byId).slice(0, need);
  const { points } = await request({ filter, limit: need, order_by: { key: levelKey(depth), direction: 'asc' } });
  if (points.length < need) return points.sort(byId);
  const boundary = level(points[points.length - 1] as WirePoint, depth);
  const below = points.filter((point) => level(point, depth) < boundary).sort(byId);
  const tie = await smallestStrings(
    request,
    and(filter, { key: levelKey(depth), match: { value: boundary } }),
    depth + 1,
    need - below.length,
  );
  return [...below, ...tie];
}

/** String ids whose sort key is greater than `levels`: a lexicographic comparison, level by level. */
function afterKey(levels: number[]): QdrantCondition {
  return {
    should: levels.map((value, depth) =>
      and(
        ...levels
          .slice(0, depth)
          .map((equal, index): QdrantFieldCondition => ({ key: levelKey(index), match: { value: equal } })),
        { key: levelKey(depth), range: { gt: value } },
      ),
    ),
  };
}

/** The first `need` points matching `filter` whose ids come after `cursor` (all when undefined), in id order. */
export async function scrollInIdOrder(
  request: ScrollRequest,
  filter: QdrantFilter | undefined,
  cursor: RecordId | undefined,
  need: number,
): Promise<WirePoint[]> {
  const found: WirePoint[] = [];
  if (typeof cursor !== 'string') {
    const { points } = await request({
      filter: and(filter, {
        key: `${META_KEY}.n`,
        range: cursor === undefined ? { gte: -Number.MAX_SAFE_INTEGER } : { gt: cursor },
      }),
      limit: need,
      order_by: { key: `${META_KEY}.n`, direction: 'asc' },
    });
    found.push(...points);
    if (found.length >= need) return found;
  }
  let lower: QdrantCondition = { key: levelKey(0), range: { gte: 0 } };
  if (typeof cursor === 'string') {
    const key = stringOrderKey(cursor);
    if (key.saturated) {
      // Ids sharing the cursor's whole key: only comparing the strings can order them.
      const same = and(filter, ...key.levels.map((value, index) => ({ key: levelKey(index), match: { value } })));
      const ties = (await fetchAll(request, same)).filter((point) => compareIds(idOf(point), cursor) > 0);
      found.push(...ties.sort(byId).slice(0, need));
    }
    lower = afterKey(key.levels);
  }
  found.push(...(await smallestStrings(request, and(filter, lower), 0, need - found.length)));
  return found;
}
