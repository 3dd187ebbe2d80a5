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
 * Layout: a compact open-addressing index (8 bytes per bucket: 32 bits of
 * the key and a slot number, split into partitions with linear probing) over
 * a dense array of slots allocated in arrival order. Senders repeat their
 * series in the same order, so the slots a request touches are mostly
 * consecutive, and only as many slot pages become resident as there are
 * series. Nothing is deleted except by a full reset. The size is fixed at
 * start (mimir.head_series_capacity), so memory is bounded whatever the
 * series count; series beyond it are still ingested correctly, through SQL
 * lookups (slower).
 *
 * Lookups take no lock: a slot is read under a per-slot sequence counter
 * that writers make odd while they change it, and a reader checks there that
 * the slot still holds its key (a reset frees every slot for reuse). Only
 * inserts take the partition's LWLock.
 * That keeps the hot path, two probes per series per request, free of
 * shared cache-line writes.
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
	uint64		hi;				/* key: never changes once published */
	uint64		lo;
	int64		id;				/* never changes once published */
	pg_atomic_uint32 seq;		/* odd while maxt/lastv change */
	uint32		unused;
	int64		maxt;
	uint64		lastv;
} Slot;

/* index word: 0 = empty, else (32 key bits << 32) | (slot number + 1) */
#define IDX_FP(k)		((uint64) (uint32) (k)->hi << 32)
#define IDX_SLOT(w)		((uint32) (w) - 1)

typedef struct TenantCount
{
	int32		tenant;
	bool		warm;
	int64		series;
} TenantCount;

typedef struct MapShared
{
	uint32		slots_per_part;	/* index buckets per partition */
	uint32		used[NPARTS];
	uint32		nslots;			/* capacity of the slot array */
	pg_atomic_uint32 next_slot;
	LWLockPadded *locks;		/* NPARTS of them (padded: index them as such) */
	LWLock	   *tenant_lock;	/* tenants[] */
	LWLock	   *warm_lock;		/* serializes warming */
	int			ntenants;
	TenantCount tenants[MAX_TENANTS];
	pg_atomic_uint64 full_misses;
	pg_atomic_uint64 count;
	pg_atomic_uint64 epoch;		/* identity of mimir.series the map describes */
	pg_atomic_uint64 generation;	/* bumped by every reset */
} MapShared;

int			mimir_head_series_capacity = 2000000;
static MapShared *map;
static pg_atomic_uint64 *index_words;
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
index_size(void)
{
	return mul_size(mul_size(slots_per_part(), NPARTS), sizeof(pg_atomic_uint64));
}

static Size
slots_size(void)
{
	return mul_size(mimir_head_series_capacity, sizeof(Slot));
}

static void
map_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(add_size(MAXALIGN(sizeof(MapShared)), MAXALIGN(index_size())), slots_size()));
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
	index_words = ShmemInitStruct("mimir series map index", index_size(), &found2);
	slots = ShmemInitStruct("mimir series map slots", slots_size(), &found2);
	if (!found)
	{
		LWLockPadded *l = GetNamedLWLockTranche("mimir series map");

		memset(map, 0, sizeof(*map));
		map->slots_per_part = slots_per_part();
		map->nslots = (uint32) mimir_head_series_capacity;
		pg_atomic_init_u32(&map->next_slot, 0);
		map->locks = l;
		map->tenant_lock = &l[NPARTS].lock;
		map->warm_lock = &l[NPARTS + 1].lock;
		pg_atomic_init_u64(&map->full_misses, 0);
		pg_atomic_init_u64(&map->count, 0);
		pg_atomic_init_u64(&map->epoch, 0);
		pg_atomic_init_u64(&map->generation, 0);
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

static inline pg_atomic_uint64 *
part_index(uint32 p)
{
	return index_words + (uint64) p * map->slots_per_part;
}

static inline uint32
home_of(const SeriesKey *k)
{
	/* bits not used by part_of, mapped onto [0, slots_per_part) */
	return (uint32) (((k->hi >> 32) * (uint64) map->slots_per_part) >> 32);
}

/*
 * A slot's sequence counter doubles as its writers' lock: odd while one
 * changes it. A reset (delete_series, retention, delete_tenant) frees every
 * slot for reuse while writers may still hold pointers found before it, so
 * readers and updaters check under the counter that the slot still holds
 * their key; a reused slot then reads as absent instead of as another
 * series' id or latest sample.
 */
static inline uint32
slot_lock(Slot *x)
{
	for (;;)
	{
		uint32		s = pg_atomic_read_u32(&x->seq);

		/* the compare-exchange is a full barrier */
		if ((s & 1) == 0 && pg_atomic_compare_exchange_u32(&x->seq, &s, s + 1))
			return s;
		pg_spin_delay();
	}
}

static inline void
slot_unlock(Slot *x, uint32 s)
{
	pg_write_barrier();
	pg_atomic_write_u32(&x->seq, s + 2);
}

static inline bool
slot_holds(const Slot *x, const SeriesKey *k)
{
	return x->hi == k->hi && x->lo == k->lo;
}

/* k's entry if the slot still holds k */
static inline bool
slot_read(Slot *x, const SeriesKey *k, SeriesInfo *out)
{
	for (;;)
	{
		uint32		s1 = pg_atomic_read_u32(&x->seq);
		bool		mine;

		if (s1 & 1)
		{
			pg_spin_delay();
			continue;
		}
		pg_read_barrier();
		mine = slot_holds(x, k);
		out->id = x->id;
		out->maxt = x->maxt;
		out->lastv = x->lastv;
		pg_read_barrier();
		if (pg_atomic_read_u32(&x->seq) == s1)
			return mine;
	}
}

/* raise k's latest sample to in; false if the slot no longer holds k */
static inline bool
slot_update(Slot *x, const SeriesKey *k, const SeriesInfo *in)
{
	uint32		s = slot_lock(x);
	bool		mine = slot_holds(x, k);

	if (mine && in->maxt > x->maxt)
	{
		x->maxt = in->maxt;
		x->lastv = in->lastv;
	}
	slot_unlock(x, s);
	return mine;
}

/* the slot holding k, or NULL; no lock */
static inline Slot *
find(const SeriesKey *k, uint32 p)
{
	pg_atomic_uint64 *ix = part_index(p);
	uint32		n = map->slots_per_part;
	uint32		i = home_of(k);
	uint64		fp = IDX_FP(k);

	for (uint32 probes = 0; probes < n; probes++)
	{
		uint64		w = pg_atomic_read_u64(&ix[i]);

		if (w == 0)
			return NULL;
		if ((w & UINT64CONST(0xffffffff00000000)) == fp)
		{
			Slot	   *x = &slots[IDX_SLOT(w)];

			pg_read_barrier();
			if (x->hi == k->hi && x->lo == k->lo)
				return x;
		}
		if (++i == n)
			i = 0;
	}
	return NULL;
}

/* Start loading k's slot into the cache (batches of lookups hide memory latency). */
void
series_map_prefetch(const SeriesKey *k)
{
	if (map != NULL)
		__builtin_prefetch(&part_index(part_of(k))[home_of(k)]);
}

bool
series_map_get(const SeriesKey *k, int32 tenant, SeriesInfo *out)
{
	Slot	   *x;

	if (map == NULL)
		return false;
	x = find(k, part_of(k));
	return x != NULL && slot_read(x, k, out);
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

/*
 * Insert or raise a series' entry. With gen, only if the map has not been
 * reset since the caller read series_map_generation(): a writer publishing
 * after its commit must not bring back ids a concurrent deletion removed.
 * The check is made under the partition lock, and a reset bumps the
 * generation before it clears any partition, so an entry either is refused
 * or lands before the clearing that removes it.
 */
static bool
map_put(const SeriesKey *k, int32 tenant, const SeriesInfo *in, const uint64 *gen)
{
	uint32		p;
	Slot	   *x;
	bool		inserted = false,
				ok = false;

	if (map == NULL)
		return false;
	if (gen && pg_atomic_read_u64(&map->generation) != *gen)
		return false;
	p = part_of(k);
	x = find(k, p);
	if (x != NULL && slot_update(x, k, in))
		return true;
	LWLockAcquire(&map->locks[p].lock, LW_EXCLUSIVE);
	x = find(k, p);
	if (gen && pg_atomic_read_u64(&map->generation) != *gen)
	{
		LWLockRelease(&map->locks[p].lock);
		return false;
	}
	if (x != NULL && slot_update(x, k, in))
		ok = true;
	else if ((uint64) map->used[p] * 100 < (uint64) map->slots_per_part * FILL_PERCENT &&
			 pg_atomic_read_u32(&map->next_slot) < map->nslots)
	{
		pg_atomic_uint64 *ix = part_index(p);
		uint32		n = map->slots_per_part;
		uint32		i = home_of(k);
		uint32		sn = pg_atomic_fetch_add_u32(&map->next_slot, 1);

		if (sn < map->nslots)
		{
			while (pg_atomic_read_u64(&ix[i]) != 0)
				if (++i == n)
					i = 0;
			uint32		s;

			x = &slots[sn];
			/* a slot freed by a reset may still be in a stale writer's hands */
			s = slot_lock(x);
			x->hi = k->hi;
			x->lo = k->lo;
			x->id = in->id;
			x->maxt = in->maxt;
			x->lastv = in->lastv;
			slot_unlock(x, s);
			pg_atomic_write_u64(&ix[i], IDX_FP(k) | ((uint64) sn + 1));
			map->used[p]++;
			inserted = ok = true;
		}
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
series_map_put(const SeriesKey *k, int32 tenant, const SeriesInfo *in)
{
	return map_put(k, tenant, in, NULL);
}

bool
series_map_put_if(const SeriesKey *k, int32 tenant, const SeriesInfo *in, uint64 gen)
{
	return map_put(k, tenant, in, &gen);
}

uint64
series_map_generation(void)
{
	return map ? pg_atomic_read_u64(&map->generation) : 0;
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
	pg_atomic_fetch_add_u64(&map->generation, 1);
	/*
	 * All partitions at once (NPARTS + 2 locks is within MAX_SIMUL_LWLOCKS):
	 * an insert between clearing one partition and rewinding next_slot would
	 * leave its slot published while the rewound counter hands it out again.
	 */
	for (int p = 0; p < NPARTS; p++)
		LWLockAcquire(&map->locks[p].lock, LW_EXCLUSIVE);
	for (int p = 0; p < NPARTS; p++)
	{
		memset(part_index(p), 0, sizeof(pg_atomic_uint64) * map->slots_per_part);
		map->used[p] = 0;
	}
	pg_atomic_write_u32(&map->next_slot, 0);
	for (int p = NPARTS - 1; p >= 0; p--)
		LWLockRelease(&map->locks[p].lock);
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
	return map ? map->nslots : 0;
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
