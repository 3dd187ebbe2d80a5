/*
 * ingester.h — the ingester's shared state and entry points: the
 * shared-memory series map (series hash -> id and latest committed sample),
 * the remote-write ingest step and the head cut policy.
 */
#ifndef MIMIR_INGESTER_H
#define MIMIR_INGESTER_H

#include "postgres.h"

#include "distributor/rw.h"

/* A series' identity: 128-bit hash of tenant + canonical labels. */
typedef struct SeriesKey
{
	uint64		hi;
	uint64		lo;
} SeriesKey;

/* What the map knows about a series; maxt = PG_INT64_MIN: no sample yet. */
typedef struct SeriesInfo
{
	int64		id;
	int64		maxt;
	uint64		lastv;			/* value bits at maxt */
} SeriesInfo;

/* series_map.c */
extern int	mimir_head_series_capacity;
extern void series_map_init(void);
extern bool series_map_enabled(void);
extern bool series_map_get(const SeriesKey *k, int32 tenant, SeriesInfo *out);
extern void series_map_prefetch(const SeriesKey *k);
/* Record committed facts: inserts, or raises maxt. Returns false if full. */
extern bool series_map_put(const SeriesKey *k, int32 tenant, const SeriesInfo *in);
/* true if the map never had to drop a series (so absent means new) */
extern bool series_map_put_if(const SeriesKey *k, int32 tenant, const SeriesInfo *in, uint64 gen);
extern uint64 series_map_generation(void);
extern bool series_map_complete(void);
extern bool series_map_is_warm(int32 tenant);
extern void series_map_warm_lock(void);
extern void series_map_warm_unlock(void);
extern void series_map_set_warm(int32 tenant);
extern void series_map_reset(void);
extern bool series_map_check_epoch(uint64 epoch);
extern int64 series_map_tenant_series(int32 tenant);
extern uint64 series_map_count(void);
extern uint64 series_map_full_misses(void);
extern uint64 series_map_capacity(void);

/* uuid <-> key, the form stored in mimir.series.lhash */
extern Datum series_key_to_uuid(const SeriesKey *k);
extern void series_key_from_uuid(Datum d, SeriesKey *k);
/* hash of a MimirLabelSet (sorted, empty values already dropped) */
struct MimirLabelSet;
extern void series_key_of_labelset(const char *tenant, const struct MimirLabelSet *ls, SeriesKey *k);

/* ingest.c: one remote-write request of a tenant, inside a (sub)transaction */
typedef struct IngestResult
{
	uint64		stored;			/* samples appended to the head */
	uint64		dup_same;		/* identical duplicates, silently dropped */
	uint64		rejected[RW_NREASONS];	/* samples per ingester reason */
	uint64		exemplars_stored;
	uint32		series_created;
	char	   *first_error;	/* palloc'd Mimir message of the first rejection */
	int			first_reason;
} IngestResult;

extern void ingest_batch_begin(void);
extern void ingest_batch_end(bool committed);
extern void ingest_request_begin(void);
extern void ingest_request_end(bool ok);
extern void mimir_rw_ingest(int32 tenant_id, const char *tenant, rw_request *req,
							const rw_limits *lim, IngestResult *res);

/* cut policy (cut_worker.c) */
extern int	mimir_head_max_age_ms;

#endif
