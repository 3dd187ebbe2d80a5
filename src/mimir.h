/*
 * mimir.h — declarations shared by every component of the extension:
 * configuration (GUCs), tenants, label sets and the storage constants
 * that readers and writers must agree on.
 */
#ifndef MIMIR_H
#define MIMIR_H

#include "postgres.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "storage/lockdefs.h"
#include "utils/timestamp.h"
#include "utils/jsonb.h"
#include "utils/resowner.h"

#include "storage/chunk_codec.h"
#include "ingester/ingester.h"

/*
 * A stored chunk never spans more than this many milliseconds from its first
 * to its last sample. Readers rely on it to prune partitions (a chunk that
 * overlaps [a, b] has mint >= a - MIMIR_CHUNK_MAX_SPAN_MS), so it is a
 * constant of the on-disk format, not a setting.
 */
#define MIMIR_CHUNK_MAX_SPAN_MS		(2 * 3600 * 1000LL)
#define MIMIR_CHUNK_MAX_SPAN_SQL	"7200000"	/* the same, for SQL text */
/* Chunks are partitioned by the day their first sample falls in. */
#define MIMIR_PARTITION_MS			(86400 * 1000LL)
/* A chunk pack holds chunks of series ids in [lo, lo + MIMIR_PACK_ID_SPAN). */
#define MIMIR_PACK_ID_SPAN			4096

/* GUCs */
extern char *mimir_tenant_guc;
extern int	mimir_chunk_max_samples;
extern char *mimir_database;
extern int	mimir_cut_interval_ms;

/* Timestamps: SQL timestamptz <-> Prometheus milliseconds since the epoch. */
#define MIMIR_EPOCH_DIFF_MS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000)
extern int64 mimir_ts_to_ms(TimestampTz ts);
extern TimestampTz mimir_ms_to_ts(int64 ms);
extern bool mimir_parse_duration(const char *s, int64 *ms);
extern int	mimir_hex_digit(char c);
extern int	mimir_varint_len(uint64 v);
extern int64 mimir_floor_div(int64 a, int64 b);
extern void mimir_put_varint(StringInfo s, uint64 v);
extern bool mimir_get_varint(const uint8 **p, const uint8 *end, uint64 *v);

/* zigzag: signed deltas as small unsigned varints */
static inline uint64
mimir_zigzag(int64 v)
{
	return ((uint64) v << 1) ^ (uint64) (v >> 63);
}

static inline int64
mimir_unzigzag(uint64 v)
{
	return (int64) (v >> 1) ^ -(int64) (v & 1);
}
extern int	mimir_int64_cmp(const void *a, const void *b);
extern char *mimir_go_quote(const char *s);
extern void mimir_register_worker(const char *function, const char *name, const char *type,
								  int restart_s, Datum arg);

/* One label (name = value). A label set is an array kept sorted by name. */
typedef struct MimirLabel
{
	char	   *name;
	char	   *value;
} MimirLabel;

typedef struct MimirLabelSet
{
	int			n;
	MimirLabel *labels;
} MimirLabelSet;

typedef enum MimirMatchOp
{
	MATCH_EQ,					/* = */
	MATCH_NEQ,					/* != */
	MATCH_RE,					/* =~ */
	MATCH_NRE					/* !~ */
} MimirMatchOp;

typedef struct MimirMatcher
{
	MimirMatchOp op;
	char	   *name;
	char	   *value;
	/* for regex matchers: the anchored pattern handed to the regex engine */
	text	   *anchored;
} MimirMatcher;

/* labels.c: parsing and validating Prometheus notation */
extern void mimir_parse_series(const char *text, MimirLabelSet *out);
extern List *mimir_parse_selector(const char *text);
extern MimirMatcher *mimir_make_matcher(MimirMatchOp op, const char *name,
										const char *value);
extern bool mimir_matcher_matches(MimirMatcher *m, const char *value);
extern char *mimir_re2_anchored(const char *re, List **group_names);
extern bool mimir_matcher_matches_empty(MimirMatcher *m);
extern const char *mimir_match_op_str(MimirMatchOp op);
extern char *mimir_labelset_to_text(const MimirLabelSet *ls);
extern int	mimir_label_cmp(const void *a, const void *b);
extern void mimir_check_utf8(const char *what, const char *s, int len);
extern bool mimir_valid_label_name(const char *s);
extern bool mimir_valid_metric_name(const char *s);

/* idcache.c: backend caches of row ids, transaction-aware */
typedef struct IdCache IdCache;
extern IdCache *idcache_create(const char *name);
extern IdCache *idcache_create_local(void);
extern char *idcache_key(int nparts, const char **parts);
extern bool idcache_get(IdCache *c, const char *key, int64 *val);
extern void idcache_put(IdCache *c, const char *key, int64 val, bool tentative);
extern void idcache_xact_end(bool commit);
extern void idcache_subxact_end(bool commit, int level);
extern void idcache_reset_all(void);
extern uint64 idcache_generation(void);

/* promchunk.c */
extern pc_sample *mimir_chunk_decode(bytea *chunk, int *n);
extern bytea *mimir_chunk_encode(const pc_sample *s, int n);
extern int	mimir_sort_dedup_samples(pc_sample *s, int n, const char *series);
extern TimestampTz mimir_ms_to_ts_checked(int64 ms);
extern int64 mimir_ts_to_ms_checked(TimestampTz ts, const char *what);

/* tenant.c */
extern void mimir_validate_tenant_name(const char *name);
extern const char *mimir_tenant_name(text *arg_or_null);
extern int32 mimir_tenant_id(const char *name, bool create);
extern void mimir_tenant_write_lock(int32 tenant_id, bool exclusive);
extern int	mimir_tenant_lock(uint32 space, int32 tenant_id, LOCKMODE mode, bool nowait);

/* series_index.c */
extern int64 mimir_series_get_or_create(int32 tenant_id, const char *tenant,
										const MimirLabelSet *ls, SeriesKey *key);
extern void mimir_series_create_batch(int32 tenant_id, int n, const SeriesKey *keys, char ***names,
									  char ***values, const int *nlabels, int64 *ids);
/* A selected series: id and its label set (sorted by name). */
typedef struct MimirSeriesRef
{
	int64		id;
	MimirLabelSet labels;
} MimirSeriesRef;
extern MimirSeriesRef *mimir_select_series(int32 tenant_id, List *matchers,
										   int *nseries);
extern char *mimir_series_text(int64 series_id);
extern void mimir_series_keys_of_pairs(int32 tenant_id, int n, int32 *const *pairs, const int *np,
									   SeriesKey *keys);
extern int	mimir_series_keys_by_ids(int32 tenant_id, const int64 *ids, int n, int64 *out_ids,
									 SeriesKey *out_keys);
extern void mimir_series_find_packed(int32 tenant_id, int n, char ***names, char ***values,
									 const int *nlabels, int64 *ids);
extern int64 mimir_series_count_with_pair(int32 tenant_id, int32 pair);
extern Datum mimir_int4_array(const int32 *ids, int n);
extern Datum mimir_int8_array(const int64 *ids, int n);

/*
 * A set of series ids for reads that select: members lie in [lo, hi]; slot
 * (hi - lo + 1 entries) gives the reader's index of each id there, or -1
 * for non-members; without slot, lookup does the same.
 */
typedef struct MimirSeriesSet
{
	int64		lo;
	int64		hi;
	const int32 *slot;
	int32		(*lookup) (void *arg, int64 series);
	void	   *arg;
} MimirSeriesSet;

/* chunk_store.c / series_read.c */
typedef struct MimirSeriesData
{
	int64		id;
	MimirLabelSet labels;
	int			n;
	pc_sample  *samples;		/* sorted by t, no duplicates */
} MimirSeriesData;
extern MimirSeriesData *mimir_read_series(int32 tenant_id, List *matchers,
										  int64 mint, int64 maxt, int *nseries);
extern void mimir_ensure_partition(int64 mint);
extern bool mimir_partition_exists(const char *name);
extern bool mimir_ids_in_range(const int64 *ids, int n, int64 lo, int64 hi);
extern void mimir_set_lock_timeout_local(const char *value);
extern char *mimir_partition_name(int64 day);
extern void mimir_forget_partitions(void);
extern void mimir_scan_chunks(const int64 *series, int nseries, int64 mint, int64 maxt,
							  void (*fn) (void *arg, int64 series_id, bytea *chunk), void *arg);
extern void mimir_scan_head(int32 tenant_id, int64 mint, int64 maxt,
							void (*fn) (void *arg, int n, int64 *series, pc_sample *s), void *arg);
extern void mimir_scan_head_select(int32 tenant_id, int64 mint, int64 maxt, const MimirSeriesSet *set,
								   void (*fn) (void *arg, int index, int64 series,
											   const pc_sample *s, int n),
								   void *arg);
/* Direct chunk reads of a set of series (chunk_store.c). */
typedef struct MimirChunkScan MimirChunkScan;
extern MimirChunkScan *mimir_chunk_scan_begin(const MimirSeriesSet *set, const int64 *ids, int nids,
											  int nindex, int64 mint, int64 maxt);
extern void mimir_chunk_scan_read(MimirChunkScan *cs, int from, int to,
								  void (*fn) (void *arg, int index, const uint8 *data, size_t len),
								  void *arg);
extern void mimir_chunk_scan_end(MimirChunkScan *cs);
extern int	mimir_cut_head_internal(int max_rows);

/* Chunk packs (chunk_packs.c): settled chunks of many series in one row. */
typedef struct MimirPackEntry
{
	int64		series;
	int64		mint;
	int64		maxt;
	int32		off;			/* in the pack's data payload */
	int32		len;
} MimirPackEntry;
extern char *mimir_pack_partition_name(int64 day);
extern void mimir_forget_pack_partitions(void);
extern MimirPackEntry *mimir_pack_directory(Datum data, int64 series_lo, int64 pack_mint, int *n);
extern bytea *mimir_pack_chunk(Datum data, const MimirPackEntry *e);
extern void mimir_scan_packs(const int64 *series, int nseries, int64 mint, int64 maxt,
							 bool (*want) (void *arg, int64 series_id, int64 mint, int64 maxt),
							 void (*fn) (void *arg, int64 series_id, int64 mint, int64 maxt, bytea *chunk),
							 void *arg);
extern int64 mimir_packs_take(const int64 *series, int nseries, int64 maxt_lo, int64 maxt_hi,
							  bool to_plain, int64 *samples, int64 *bytes);
extern int64 mimir_packs_delete_tenant(int32 tenant_id, int64 before, int64 *samples, int64 *bytes);
extern int64 mimir_packs_take_from(const int64 *series, const int64 *from, int nseries, int64 maxt_lo,
								   int64 maxt_hi, bool to_plain, int64 *samples, int64 *bytes);
extern int	mimir_cut_head_upto(int max_rows, int64 max_id);
/*
 * Series blocks (series_blocks.c): settled series of a tenant packed many to
 * a row of mimir.series_blocks. Ids of a block lie in
 * [first_id, first_id + MIMIR_SERIES_BLOCK_SPAN).
 */
#define MIMIR_SERIES_BLOCK_SPAN		65536
#define MIMIR_SERIES_BLOCK_SPAN_SQL	"65536"
typedef struct MimirSeriesBlockIter
{
	const uint8 *p;
	const uint8 *end;
	int64		id;				/* the current series */
	int			n;				/* its label pair count */
	int32	   *pairs;			/* its label pair ids (label-name order) */
	int			cap;
} MimirSeriesBlockIter;
extern void mimir_sblock_begin(MimirSeriesBlockIter *it, Datum data, int64 first_id);
extern bool mimir_sblock_next(MimirSeriesBlockIter *it);
/* series creation (shared) vs. the packer (exclusive), per tenant, until commit */
extern void mimir_series_lock_shared(int32 tenant_id);
extern void mimir_series_lock_exclusive(int32 tenant_id);
/*
 * Calls fn for every packed series of the tenant in blocks matching the SQL
 * condition `cond` (over column pairs; args from $2, $1 is the tenant).
 * Caller is connected to SPI; reads in the caller's snapshot, or (fresh) in
 * a new one.
 */
extern void mimir_scan_series_blocks(int32 tenant_id, const char *cond, int nargs, Oid *types, Datum *args,
									 void (*fn) (void *arg, int64 id, const int32 *pairs, int n), void *arg,
									 bool fresh);
/* pair ids of a packed series (palloc'd), or NULL. Caller is connected to SPI. */
extern int32 *mimir_packed_series_pairs(int64 id, int32 *tenant_id, int *n);


/* head.c: the write buffer of mimir.write and head batch rows */
extern void mimir_head_flush(void);
extern void mimir_head_forget_tenant(int32 tenant);
extern void mimir_head_install_hooks(void);
extern void mimir_head_decode(bytea *data, int *n, int64 **series, pc_sample **samples);
extern void mimir_head_decode_select(bytea *data, const MimirSeriesSet *set,
									 void (*fn) (void *arg, int index, int64 series,
												 const pc_sample *s, int n),
									 void *arg);
extern bytea *mimir_head_encode(const int64 *series, const pc_sample *s, int n);
extern void mimir_head_append(int32 tenant, int64 series, const SeriesKey *key, int64 t, double v);

/* sql_write.c / sql_read.c */
extern void mimir_write_xact_end(void);
extern Jsonb *mimir_labels_jsonb(const MimirLabelSet *ls);
extern void mimir_labelset_from_jsonb(Jsonb *jb, MimirLabelSet *out);

/* dup_check.c */
#define MIMIR_DUP_NONE		0
#define MIMIR_DUP_SAME		1
#define MIMIR_DUP_DIFFERENT	2
extern void mimir_stored_lookup(int32 tenant, const int64 *series, const pc_sample *s, int n,
								uint8 *status, uint64 *stored);

/* cut_worker.c */
extern void mimir_register_cut_worker(void);

/* the staleness marker: a NaN with this exact bit pattern ends a series */
#define MIMIR_STALE_NAN_BITS	UINT64CONST(0x7ff0000000000002)

/* SPI helpers */
extern void mimir_spi_connect(void);
extern void mimir_spi_finish(void);

/* subtransactions that catch their own errors */
extern void mimir_subxact_commit(MemoryContext caller, ResourceOwner owner);
extern ErrorData *mimir_subxact_abort(MemoryContext caller, ResourceOwner owner);

#endif							/* MIMIR_H */
