/*
 * idcache.c — backend-local caches from a key (tenant name, label pair,
 * label set) to the id of its row. Entries for rows this transaction inserted
 * are tentative: they vanish if the (sub)transaction that created the row
 * aborts, so a cached id always names a row that exists.
 */
#include "mimir.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

typedef struct IdEntry
{
	char	   *key;			/* length-prefixed blob: 4-byte len + bytes */
	int64		val;
	int			level;			/* 0 = committed; else creating subxact nest level */
	uint32		hash;
	char		status;
} IdEntry;

static inline uint32
blob_len(const char *k)
{
	uint32		l;

	memcpy(&l, k, 4);
	return l;
}

#define SH_PREFIX idmap
#define SH_ELEMENT_TYPE IdEntry
#define SH_KEY_TYPE char *
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k), blob_len(k) + 4)
#define SH_EQUAL(tb, a, b) (blob_len(a) == blob_len(b) && memcmp(a, b, blob_len(a) + 4) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) a->hash
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

#define MAX_CACHES 8
#define CACHE_MAX_ENTRIES 4000000

struct IdCache
{
	const char *name;
	MemoryContext cxt;
	idmap_hash *map;
	List	   *tentative;		/* keys (palloc'd in cxt) of entries with level > 0 */
	bool		local;			/* idcache_create_local: never reset */
};

static IdCache *caches[MAX_CACHES];
static int	ncaches;

/*
 * Cached ids are only valid for the tables they came from: DROP EXTENSION /
 * CREATE EXTENSION or a TRUNCATE (a relcache invalidation of one of these
 * tables) makes every cache start over.
 */
static const char *const tracked_names[] = {"tenants", "label_pairs", "series"};
static Oid	tracked[3];
static bool stale;
static bool callback_registered;
static uint64 generation;

static void
relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid)
		stale = true;
	for (int i = 0; i < 3; i++)
		if (tracked[i] == relid)
			stale = true;
}

static void
check_stale(void)
{
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
		callback_registered = true;
	}
	if (stale)
	{
		stale = false;
		for (int i = 0; i < 3; i++)
			tracked[i] = InvalidOid;
		idcache_reset_all();
	}
	if (tracked[0] == InvalidOid && IsTransactionState())
	{
		Oid			ns = get_namespace_oid("mimir", true);

		for (int i = 0; i < 3 && OidIsValid(ns); i++)
			tracked[i] = get_relname_relid(tracked_names[i], ns);
	}
}

/* Changes whenever the caches were reset (for caches kept elsewhere). */
uint64
idcache_generation(void)
{
	check_stale();
	return generation;
}

IdCache *
idcache_create(const char *name)
{
	IdCache    *c = MemoryContextAllocZero(TopMemoryContext, sizeof(IdCache));

	if (ncaches >= MAX_CACHES)
		elog(ERROR, "too many id caches");
	c->name = name;
	c->cxt = AllocSetContextCreate(TopMemoryContext, "mimir id cache", ALLOCSET_DEFAULT_SIZES);
	c->map = idmap_create(c->cxt, 1024, NULL);
	caches[ncaches++] = c;
	return c;
}

/*
 * A private map of the same keys in the current memory context, which no
 * invalidation resets: for resolving the rows of one statement. Their copies
 * in a shared cache can be gone by the time they are looked up, because any
 * relcache invalidation of the tracked tables (an ANALYZE is enough) empties
 * the caches at the next lookup.
 */
IdCache *
idcache_create_local(void)
{
	IdCache    *c = palloc0(sizeof(IdCache));

	c->name = "local";
	c->cxt = CurrentMemoryContext;
	c->local = true;
	c->map = idmap_create(c->cxt, 64, NULL);
	return c;
}

/* Build a lookup key from parts (NUL-terminated strings), palloc'd. */
char *
idcache_key(int nparts, const char **parts)
{
	uint32		len = 0;
	char	   *k,
			   *p;

	for (int i = 0; i < nparts; i++)
		len += strlen(parts[i]) + 1;
	k = palloc(len + 4);
	memcpy(k, &len, 4);
	p = k + 4;
	for (int i = 0; i < nparts; i++)
	{
		size_t		l = strlen(parts[i]) + 1;

		memcpy(p, parts[i], l);
		p += l;
	}
	return k;
}

bool
idcache_get(IdCache *c, const char *key, int64 *val)
{
	IdEntry    *e;

	check_stale();
	e = idmap_lookup(c->map, (char *) key);

	if (e == NULL)
		return false;
	*val = e->val;
	return true;
}

void
idcache_put(IdCache *c, const char *key, int64 val, bool tentative)
{
	IdEntry    *e;
	bool		found;
	char	   *k;

	if (!c->local && c->map->members >= CACHE_MAX_ENTRIES && c->tentative == NIL)
	{
		/* keep memory bounded: start over */
		MemoryContextReset(c->cxt);
		c->map = idmap_create(c->cxt, 1024, NULL);
	}
	k = MemoryContextAlloc(c->cxt, blob_len(key) + 4);
	memcpy(k, key, blob_len(key) + 4);
	e = idmap_insert(c->map, k, &found);
	if (found)
		pfree(k);
	e->val = val;
	e->level = tentative ? GetCurrentTransactionNestLevel() : 0;
	if (tentative && !c->local)
	{
		MemoryContext old = MemoryContextSwitchTo(c->cxt);

		c->tentative = lappend(c->tentative, e->key);
		MemoryContextSwitchTo(old);
	}
}

/* Called at transaction end: promote (commit) or forget (abort) tentative entries. */
void
idcache_xact_end(bool commit)
{
	for (int i = 0; i < ncaches; i++)
	{
		IdCache    *c = caches[i];
		ListCell   *lc;

		foreach(lc, c->tentative)
		{
			IdEntry    *e = idmap_lookup(c->map, lfirst(lc));

			if (e == NULL)
				continue;
			if (commit)
				e->level = 0;
			else if (e->level > 0)
				idmap_delete_item(c->map, e);
		}
		list_free(c->tentative);
		c->tentative = NIL;
	}
}

/* Subtransaction end at nest level `level`. */
void
idcache_subxact_end(bool commit, int level)
{
	for (int i = 0; i < ncaches; i++)
	{
		IdCache    *c = caches[i];
		ListCell   *lc;

		foreach(lc, c->tentative)
		{
			IdEntry    *e = idmap_lookup(c->map, lfirst(lc));

			if (e == NULL || e->level < level)
				continue;
			if (commit)
				e->level = level - 1;
			else
				idmap_delete_item(c->map, e);
		}
	}
}

/* Forget everything (after data was deleted by someone). */
void
idcache_reset_all(void)
{
	generation++;
	for (int i = 0; i < ncaches; i++)
	{
		MemoryContextReset(caches[i]->cxt);
		caches[i]->map = idmap_create(caches[i]->cxt, 1024, NULL);
		caches[i]->tentative = NIL;
	}
}
