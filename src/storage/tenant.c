/*
 * tenant.c — tenant names and ids. Names follow Mimir's tenant-id rules;
 * ids are created on first write and looked up (never created) by readers.
 */
#include "mimir.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"

/* advisory lock space of the tenant write lock: (database, 'mirt', tenant id) */
#define TENANT_LOCK_KEY 0x6d697274

static IdCache *tenant_cache;

void
mimir_validate_tenant_name(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant name must not be empty"),
				 errhint("Set mimir.tenant or pass a tenant argument.")));
	if (len > 150)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant ID is too long: max 150 characters"),
				 errhint("The tenant name starts with \"%.20s\".", name)));
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant ID is '.' or '..'")));
	for (const char *p = name; *p; p++)
	{
		char		c = *p;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			strchr("!-_.*'()", c))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tenant ID \"%s\" contains unsupported character '%c'", name, c),
				 errhint("Tenant IDs may contain letters, digits and the characters !-_.*'().")));
	}
}

const char *
mimir_tenant_name(text *arg_or_null)
{
	const char *name = arg_or_null ? text_to_cstring(arg_or_null) : mimir_tenant_guc;

	if (name == NULL)
		name = "anonymous";
	mimir_validate_tenant_name(name);
	return name;
}

/* Tenant id, or -1 if the tenant has never written anything and !create. */
int32
mimir_tenant_id(const char *name, bool create)
{
	const char *parts[1] = {name};
	char	   *key;
	int64		id;
	Datum		arg = CStringGetTextDatum(name);
	Oid			argtype = TEXTOID;
	bool		isnull;

	if (tenant_cache == NULL)
		tenant_cache = idcache_create("mimir tenant cache");
	key = idcache_key(1, parts);
	if (idcache_get(tenant_cache, key, &id))
		return (int32) id;

	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT id FROM mimir.tenants WHERE name = $1",
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "tenant lookup failed");
	if (SPI_processed == 1)
	{
		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		mimir_spi_finish();
		idcache_put(tenant_cache, key, id, false);
		return (int32) id;
	}
	if (!create)
	{
		mimir_spi_finish();
		return -1;
	}
	if (SPI_execute_with_args("INSERT INTO mimir.tenants(name) VALUES ($1) "
							  "ON CONFLICT (name) DO NOTHING RETURNING id",
							  1, &argtype, &arg, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "tenant insert failed");
	if (SPI_processed == 1)
	{
		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		mimir_spi_finish();
		idcache_put(tenant_cache, key, id, true);
		return (int32) id;
	}
	/* someone else created it concurrently */
	if (SPI_execute_with_args("SELECT id FROM mimir.tenants WHERE name = $1",
							  1, &argtype, &arg, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("tenant \"%s\" was created concurrently", name),
				 errhint("Retry the transaction.")));
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	mimir_spi_finish();
	idcache_put(tenant_cache, key, id, false);
	return (int32) id;
}

/*
 * A transaction-level lock on (database, space, tenant): the tenant locks of
 * the extension differ only in their space. Returns LockAcquire's result.
 */
int
mimir_tenant_lock(uint32 space, int32 tenant_id, LOCKMODE mode, bool nowait)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, space, (uint32) tenant_id, 2);
	return (int) LockAcquire(&tag, mode, false, nowait);
}

/*
 * The tenant write lock. Everything that resolves or uses series ids of a
 * tenant to write samples (remote write, mimir.write, the ruler) holds it
 * shared until its transaction ends; mimir.delete_tenant holds it exclusively
 * while it deletes the tenant's series and label pairs. So no acknowledged
 * write can land on a series id that a committed deletion removed: a writer
 * either finishes before the deletion starts or starts after it committed,
 * and then sees the deletion (caches are invalidated below and the shared
 * series map was reset at the deletion's commit).
 */
void
mimir_tenant_write_lock(int32 tenant_id, bool exclusive)
{
	static LocalTransactionId held_lxid = InvalidLocalTransactionId;
	static SubTransactionId held_subxid = InvalidSubTransactionId;
	static int32 held_tenant = -1;
	/* writes of one tenant call this per sample: skip what this (sub)xact holds */
	if (!exclusive && held_tenant == tenant_id && held_lxid == MyProc->lxid &&
		held_subxid == GetCurrentSubTransactionId())
		return;
	if (mimir_tenant_lock(TENANT_LOCK_KEY, tenant_id, exclusive ? ExclusiveLock : ShareLock, false) ==
		LOCKACQUIRE_OK)
		AcceptInvalidationMessages();
	held_tenant = exclusive ? -1 : tenant_id;
	held_lxid = MyProc->lxid;
	held_subxid = GetCurrentSubTransactionId();
}
