/*
 * compactor.h — the compactor's shared pieces: exclusion with the head
 * cutter, the run log (mimir.compactor_runs), and what must happen after
 * data was deleted.
 */
#ifndef MIMIR_COMPACTOR_H
#define MIMIR_COMPACTOR_H

#include "mimir.h"

/* the head cutter's advisory lock: only one writer of chunks at a time */
#define COMPACTOR_CUT_LOCK_KEY	0x6d696d6972LL

typedef struct CompactorStats
{
	int64		rows_removed;
	int64		samples_removed;
	int64		bytes_removed;
	int			partitions_dropped;
	int64		chunks_written;
	int64		bytes_written;	/* by rewritten chunks: the net saving is bytes_removed - this */
} CompactorStats;

extern void mimir_compactor_init(void);

/* waits for the cutter; held until the end of the transaction */
extern void compactor_lock_chunks(void);
/* after commit, forget the shared per-series ingest state (samples were deleted) */
extern void compactor_reset_state_at_commit(void);
extern void compactor_log_run(const char *job, const char *tenant, TimestampTz started,
							  const CompactorStats *st, const char *detail);

/* rewrite chunks / head rows without the samples that match */
typedef bool (*CompactorSampleFilter) (void *arg, int64 series, int64 t);
extern void compactor_rewrite(int32 tenant_id, const int64 *series, int nseries,
							  int64 mint, int64 maxt, CompactorSampleFilter drop, void *arg,
							  CompactorStats *st);
/* chunk_packs.c: pack settled chunks (takes the chunk lock) */
extern int64 mimir_pack_chunks_internal(int64 settled_after_ms, int64 max_chunks, CompactorStats *st);
extern int64 mimir_pack_series_internal(CompactorStats *st);
extern void compactor_write_chunks(int64 series, const pc_sample *s, int n, CompactorStats *st);

#endif							/* MIMIR_COMPACTOR_H */
