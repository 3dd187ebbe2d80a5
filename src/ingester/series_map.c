/*
 * series_map.c — the ingester's shared-memory series map: series hash ->
 * series id, latest committed timestamp and the value stored there. Remote
 * write resolves a series and decides out-of-order / duplicate samples with
 * one probe here instead of SQL, which is what makes acked ingestion fast.
 *
 * It only ever holds committed facts (written after commit), so an aborted
 * write cannot make its retry look like a duplicate. It is filled from
 * storage once per tenant after a start ("warm"); from then on, as long as
 * it never overflowed, a series absent from it does not exist.
 *
 * Layout: a fixed open-addressing table split into partitions, each with its
 * own LWLock and linear probing; nothing is ever deleted except by a full
 * reset. Its size is fixed at start (mimir.head_series_capacity), so memory
 * is bounded whatever the series count; series beyond it are still ingested
 * correctly, through SQL lookups (slower).
 */
#include "mimir.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/uuid.h"

#include "ingester/ingester.h"

#define NPARTS			128
#define MAX_TENANTS		1024
#define FILL_PERCENT	95		/* a partition refuses inserts beyond this */

typedef struct Slot
{
	uint64		hi;				/* hi == lo == 0: empty */
	uint64		lo;
	int64		id;
	int64		maxt;
	uint64		lastv;
	int32		tenant;
	uint32		unused;
} Slot;

typedef struct TenantCount
{
	int32		tenant;
	bool		warm;
	int64		series;
} TenantCount;

typedef struct MapShared
{
	uint32		slots_per_part;
	uint32		used[NPARTS];
	LWLockPadded *locks;		/* NPARTS of them (padded: index as such) */
	LWLock	   *tenant_lock;	/* tenants[] */
	LWLock	   *warm_lock;		/* serializes warming */
	int			ntenants;
	TenantCount tenants[MAX_TENANTS];
	pg_atomic_uint64 full_misses;
	pg_atomic_uint64 count;
	pg_atomic_uint64 epoch;		/* identity of mimir.series the map describes */
} MapShared;

int			mimir_head_series_capacity = 2000000;
static MapShared *map;
static Slot *slots;
static shmem_request_hook_type prev_shmem_request_hook;
static shmem_startup_hook_type prev_shmem_startup_hook;

static uint32
slots_per_part(void)
{
	/* 25% headroom so that partitions (filled unevenly) hold the capacity */
	uint64		total = (uint64) mimir_head_series_capacity * 5 / 4;

	return (uint32) Max(64, (total + NPARTS - 1) / NPARTS);
}

static Size
slots_size(void)
{
	return mul_size(mul_size(slots_per_part(), NPARTS), sizeof(Slot));
}

static void
map_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(MapShared)), slots_size()));
	RequestNamedLWLockTranche("mimir series map", NPARTS + 2);
}

static void
map_shmem_startup(void)
{
	bool		found,
				found2;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	map = ShmemInitStruct("mimir series map", sizeof(MapShared), &found);
	/* the segment is zero-filled by the kernel: slots need no memset, so
	 * pages become resident only as series arrive */
	slots = ShmemInitStruct("mimir series map slots", slots_size(), &found2);
	if (!found)
	{
		LWLockPadded *l = GetNamedLWLockTranche("mimir series map");

		memset(map, 0, sizeof(*map));
		map->slots_per_part = slots_per_part();
		map->locks = l;
		map->tenant_lock = &l[NPARTS].lock;
		map->warm_lock = &l[NPARTS + 1].lock;
		pg_atomic_init_u64(&map->full_misses, 0);
		pg_atomic_init_u64(&map->count, 0);
		pg_atomic_init_u64(&map->epoch, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
series_map_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = map_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = map_shmem_startup;
}

bool
series_map_enabled(void)
{
	return map != NULL;
}

static inline uint32
part_of(const SeriesKey *k)
{
	return (uint32) (k->lo % NPARTS);
}

static inline Slot *
part_slots(uint32 p)
{
	return slots + (uint64) p * map->slots_per_part;
}

static inline uint32
home_of(const SeriesKey *k)
{
	/* bits not used by part_of, mapped onto [0, slots_per_part) */
	return (uint32) (((k->hi >> 32) * (uint64) map->slots_per_part) >> 32);
}

bool
series_map_get(const SeriesKey *k, int32 tenant, SeriesInfo *out)
{
	uint32		p,
				i,
				n;
	Slot	   *s;
	bool		found = false;

	if (map == NULL)
		return false;
	p = part_of(k);
	s = part_slots(p);
	n = map->slots_per_part;
	i = home_of(k);
	LWLockAcquire(&map->locks[p].lock, LW_SHARED);
	for (uint32 probes = 0; probes < n; probes++)
	{
		Slot	   *x = &s[i];

		if (x->hi == k->hi && x->lo == k->lo && x->tenant == tenant)
		{
			out->id = x->id;
			out->maxt = x->maxt;
			out->lastv = x->lastv;
			found = true;
			break;
		}
		if (x->hi == 0 && x->lo == 0)
			break;
		if (++i == n)
			i = 0;
	}
	LWLockRelease(&map->locks[p].lock);
	return found;
}

static TenantCount *
tenant_slot(int32 tenant, bool create)
{
	for (int i = 0; i < map->ntenants; i++)
		if (map->tenants[i].tenant == tenant)
			return &map->tenants[i];
	if (!create || map->ntenants == MAX_TENANTS)
		return NULL;
	map->tenants[map->ntenants].tenant = tenant;
	map->tenants[map->ntenants].warm = false;
	map->tenants[map->ntenants].series = 0;
	return &map->tenants[map->ntenants++];
}

bool
series_map_put(const SeriesKey *k, int32 tenant, const SeriesInfo *in)
{
	uint32		p,
				i,
				n;
	Slot	   *s;
	bool		inserted = false,
				ok = false;

	if (map == NULL)
		return false;
	p = part_of(k);
	s = part_slots(p);
	n = map->slots_per_part;
	i = home_of(k);
	LWLockAcquire(&map->locks[p].lock, LW_EXCLUSIVE);
	for (uint32 probes = 0; probes < n; probes++)
	{
		Slot	   *x = &s[i];

		if (x->hi == k->hi && x->lo == k->lo && x->tenant == tenant)
		{
			if (in->maxt > x->maxt)
			{
				x->maxt = in->maxt;
				x->lastv = in->lastv;
			}
			ok = true;
			break;
		}
		if (x->hi == 0 && x->lo == 0)
		{
			if ((uint64) map->used[p] * 100 >= (uint64) n * FILL_PERCENT)
				break;
			x->hi = k->hi;
			x->lo = k->lo;
			x->tenant = tenant;
			x->id = in->id;
			x->maxt = in->maxt;
			x->lastv = in->lastv;
			map->used[p]++;
			inserted = ok = true;
			break;
		}
		if (++i == n)
			i = 0;
	}
	LWLockRelease(&map->locks[p].lock);
	if (!ok)
		pg_atomic_fetch_add_u64(&map->full_misses, 1);
	if (inserted)
	{
		TenantCount *t;

		pg_atomic_fetch_add_u64(&map->count, 1);
		LWLockAcquire(map->tenant_lock, LW_EXCLUSIVE);
		t = tenant_slot(tenant, true);
		if (t)
			t->series++;
		LWLockRelease(map->tenant_lock);
	}
	return ok;
}

bool
series_map_complete(void)
{
	return map != NULL && pg_atomic_read_u64(&map->full_misses) == 0;
}

bool
series_map_is_warm(int32 tenant)
{
	TenantCount *t;
	bool		warm;

	if (map == NULL)
		return false;
	LWLockAcquire(map->tenant_lock, LW_SHARED);
	t = tenant_slot(tenant, false);
	warm = t && t->warm;
	LWLockRelease(map->tenant_lock);
	return warm;
}

void
series_map_set_warm(int32 tenant)
{
	TenantCount *t;

	if (map == NULL)
		return;
	LWLockAcquire(map->tenant_lock, LW_EXCLUSIVE);
	t = tenant_slot(tenant, true);
	if (t)
		t->warm = true;
	else
		pg_atomic_fetch_add_u64(&map->full_misses, 1);	/* cannot track: be safe */
	LWLockRelease(map->tenant_lock);
}

void
series_map_warm_lock(void)
{
	LWLockAcquire(map->warm_lock, LW_EXCLUSIVE);
}

void
series_map_warm_unlock(void)
{
	LWLockRelease(map->warm_lock);
}

/* Series of the tenant known to the map (after warming: all of them). */
int64
series_map_tenant_series(int32 tenant)
{
	TenantCount *t;
	int64		n = 0;

	if (map == NULL)
		return 0;
	LWLockAcquire(map->tenant_lock, LW_SHARED);
	t = tenant_slot(tenant, false);
	if (t)
		n = t->series;
	LWLockRelease(map->tenant_lock);
	return n;
}

/* Forget everything (data was deleted); tenants are warmed again. */
void
series_map_reset(void)
{
	if (map == NULL)
		return;
	LWLockAcquire(map->warm_lock, LW_EXCLUSIVE);
	for (int p = 0; p < NPARTS; p++)
	{
		LWLockAcquire(&map->locks[p].lock, LW_EXCLUSIVE);
		memset(part_slots(p), 0, sizeof(Slot) * map->slots_per_part);
		map->used[p] = 0;
		LWLockRelease(&map->locks[p].lock);
	}
	LWLockAcquire(map->tenant_lock, LW_EXCLUSIVE);
	map->ntenants = 0;
	pg_atomic_write_u64(&map->count, 0);
	pg_atomic_write_u64(&map->full_misses, 0);
	LWLockRelease(map->tenant_lock);
	LWLockRelease(map->warm_lock);
}

/*
 * The map describes one incarnation of mimir.series (oid and relfilenode);
 * after DROP EXTENSION / CREATE EXTENSION or a TRUNCATE its ids mean
 * nothing: start over. Returns true if the map was reset.
 */
bool
series_map_check_epoch(uint64 epoch)
{
	if (map == NULL || pg_atomic_read_u64(&map->epoch) == epoch)
		return false;
	series_map_reset();
	pg_atomic_write_u64(&map->epoch, epoch);
	return true;
}

uint64
series_map_count(void)
{
	return map ? pg_atomic_read_u64(&map->count) : 0;
}

uint64
series_map_full_misses(void)
{
	return map ? pg_atomic_read_u64(&map->full_misses) : 0;
}

uint64
series_map_capacity(void)
{
	return map ? (uint64) map->slots_per_part * NPARTS * FILL_PERCENT / 100 : 0;
}

Datum
series_key_to_uuid(const SeriesKey *k)
{
	pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

	for (int i = 0; i < 8; i++)
	{
		u->data[i] = (unsigned char) (k->hi >> (56 - 8 * i));
		u->data[8 + i] = (unsigned char) (k->lo >> (56 - 8 * i));
	}
	return UUIDPGetDatum(u);
}

void
series_key_from_uuid(Datum d, SeriesKey *k)
{
	pg_uuid_t  *u = DatumGetUUIDP(d);

	k->hi = k->lo = 0;
	for (int i = 0; i < 8; i++)
	{
		k->hi = (k->hi << 8) | u->data[i];
		k->lo = (k->lo << 8) | u->data[8 + i];
	}
}

void
series_key_of_labelset(const char *tenant, const MimirLabelSet *ls, SeriesKey *k)
{
	rw_label   *l = palloc(sizeof(rw_label) * Max(ls->n, 1));
	rw_hashbuf	hb = {0};

	for (int i = 0; i < ls->n; i++)
	{
		l[i].name.p = ls->labels[i].name;
		l[i].name.len = (uint32) strlen(ls->labels[i].name);
		l[i].value.p = ls->labels[i].value;
		l[i].value.len = (uint32) strlen(ls->labels[i].value);
	}
	rw_series_hash(&hb, tenant, l, (uint32) ls->n, &k->hi, &k->lo);
	free(hb.p);
	pfree(l);
	if (k->hi == 0 && k->lo == 0)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
}
