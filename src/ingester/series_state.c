/*
 * series_state.c — per-series ingest state in shared memory: the latest
 * timestamp of each series and the value stored at it. It lets remote write
 * reject out-of-order samples and detect duplicates without reading storage,
 * which is what makes acked ingestion fast. It only ever holds committed
 * facts (updated after commit), so an aborted write cannot make a retry look
 * like a duplicate. A series missing from it (new, or after a restart) is
 * loaded from storage once per tenant.
 */
#include "mimir.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/hsearch.h"

#define STATE_PARTITIONS	16
#define WARM_TENANTS		1024

typedef struct SeriesStateEntry
{
	int64		series;			/* key */
	int64		maxt;
	uint64		lastv;
} SeriesStateEntry;

typedef struct SeriesStateShared
{
	LWLock	   *locks;			/* STATE_PARTITIONS of them */
	LWLock	   *warm_lock;
	int			nwarm;
	int32		warm[WARM_TENANTS];
	uint32		generation;		/* bumped when data is deleted */
	pg_atomic_uint64 full_misses;
} SeriesStateShared;

int			mimir_head_series_capacity = 1000000;
static SeriesStateShared *state;
static HTAB *state_hash;
static shmem_request_hook_type prev_shmem_request_hook;
static shmem_startup_hook_type prev_shmem_startup_hook;

static void
state_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SeriesStateShared)) +
						   hash_estimate_size(mimir_head_series_capacity, sizeof(SeriesStateEntry)));
	RequestNamedLWLockTranche("mimir series state", STATE_PARTITIONS + 1);
}

static void
state_shmem_startup(void)
{
	bool		found;
	HASHCTL		ctl;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	state = ShmemInitStruct("mimir series state", sizeof(SeriesStateShared), &found);
	if (!found)
	{
		LWLockPadded *l = GetNamedLWLockTranche("mimir series state");

		memset(state, 0, sizeof(*state));
		state->locks = &l[0].lock;
		state->warm_lock = &l[STATE_PARTITIONS].lock;
		pg_atomic_init_u64(&state->full_misses, 0);
	}
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(SeriesStateEntry);
	ctl.num_partitions = STATE_PARTITIONS;
	state_hash = ShmemInitHash("mimir series state hash", mimir_head_series_capacity,
							   mimir_head_series_capacity, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_PARTITION | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

void
mimir_series_state_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = state_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = state_shmem_startup;
}

bool
mimir_series_state_enabled(void)
{
	return state != NULL;
}

static LWLock *
lock_for(uint32 hash)
{
	return state->locks + (hash % STATE_PARTITIONS);
}

/* Latest committed (t, value bits) of a series; false if unknown. */
bool
mimir_series_state_get(int64 series, int64 *maxt, uint64 *lastv)
{
	uint32		h;
	SeriesStateEntry *e;

	if (state == NULL)
		return false;
	h = get_hash_value(state_hash, &series);
	LWLockAcquire(lock_for(h), LW_SHARED);
	e = hash_search_with_hash_value(state_hash, &series, h, HASH_FIND, NULL);
	if (e)
	{
		*maxt = e->maxt;
		*lastv = e->lastv;
	}
	LWLockRelease(lock_for(h));
	return e != NULL;
}

/* Record a committed sample: keeps the latest one. */
void
mimir_series_state_put(int64 series, int64 t, uint64 v)
{
	uint32		h;
	SeriesStateEntry *e;
	bool		found;

	if (state == NULL)
		return;
	h = get_hash_value(state_hash, &series);
	LWLockAcquire(lock_for(h), LW_EXCLUSIVE);
	e = hash_search_with_hash_value(state_hash, &series, h, HASH_ENTER_NULL, &found);
	if (e == NULL)
		pg_atomic_fetch_add_u64(&state->full_misses, 1);
	else if (!found || t > e->maxt)
	{
		e->maxt = t;
		e->lastv = v;
	}
	LWLockRelease(lock_for(h));
}

/* Has the tenant's state been loaded from storage since startup? */
bool
mimir_series_state_warm(int32 tenant)
{
	bool		res = false;

	if (state == NULL)
		return false;
	LWLockAcquire(state->warm_lock, LW_SHARED);
	for (int i = 0; i < state->nwarm; i++)
		if (state->warm[i] == tenant)
			res = true;
	LWLockRelease(state->warm_lock);
	return res;
}

void
mimir_series_state_set_warm(int32 tenant)
{
	if (state == NULL)
		return;
	LWLockAcquire(state->warm_lock, LW_EXCLUSIVE);
	if (state->nwarm < WARM_TENANTS)
		state->warm[state->nwarm++] = tenant;
	LWLockRelease(state->warm_lock);
}

/* Forget everything (data was deleted); it is reloaded from storage. */
void
mimir_series_state_reset(void)
{
	HASH_SEQ_STATUS seq;
	SeriesStateEntry *e;

	if (state == NULL)
		return;
	for (int i = 0; i < STATE_PARTITIONS; i++)
		LWLockAcquire(state->locks + i, LW_EXCLUSIVE);
	hash_seq_init(&seq, state_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
		hash_search(state_hash, &e->series, HASH_REMOVE, NULL);
	LWLockAcquire(state->warm_lock, LW_EXCLUSIVE);
	state->nwarm = 0;
	state->generation++;
	LWLockRelease(state->warm_lock);
	for (int i = STATE_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(state->locks + i);
}

uint64
mimir_series_state_full_misses(void)
{
	return state ? pg_atomic_read_u64(&state->full_misses) : 0;
}
