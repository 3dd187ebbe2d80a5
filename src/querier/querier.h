/*
 * querier.h — how the PromQL engine reads storage: a series cursor selects
 * the series matching a selector through the label index and then hands out
 * each series' samples in a time range, one series at a time, merged from
 * chunks and head rows (sorted, de-duplicated, staleness markers included).
 *
 * This is the only interface the evaluator uses to read samples, so a change
 * of the head or chunk format only touches src/querier/series_cursor.c.
 */
#ifndef MIMIR_QUERIER_H
#define MIMIR_QUERIER_H

#include "mimir.h"

typedef struct MimirSeriesCursor MimirSeriesCursor;

/*
 * Select the series of tenant_id matching all matchers whose samples in
 * [mint, maxt] will be read. Series come sorted by label set. A tenant id < 0
 * (a tenant that never wrote) selects nothing. The label sets are allocated
 * in the caller's memory context and stay valid after the cursor is closed.
 */
extern MimirSeriesCursor *mimir_cursor_open(int32 tenant_id, List *matchers,
											int64 mint, int64 maxt);
extern int	mimir_cursor_nseries(MimirSeriesCursor *c);
extern const MimirLabelSet *mimir_cursor_labels(MimirSeriesCursor *c, int i);

/*
 * The samples of series i in [mint, maxt], sorted by time without duplicate
 * timestamps. The returned array stays valid until the next call. A
 * series' chunks are fetched and decoded when it is asked for, so memory
 * stays bounded whatever the number of series.
 */
extern const pc_sample *mimir_cursor_samples(MimirSeriesCursor *c, int i, int *n);

/* Samples currently held by the cursor (for the query's memory limit). */
extern int64 mimir_cursor_held(MimirSeriesCursor *c);

extern void mimir_cursor_close(MimirSeriesCursor *c);

/* Is this sample value Prometheus' staleness marker? */
static inline bool
mimir_is_stale(double v)
{
	uint64		bits;

	memcpy(&bits, &v, sizeof(bits));
	return bits == MIMIR_STALE_NAN_BITS;
}

#endif							/* MIMIR_QUERIER_H */
