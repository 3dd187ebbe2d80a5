/*
 * tenant.c — tenant names and ids. Names follow Mimir's tenant-id rules;
 * ids are created on first write and looked up (never created) by readers.
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"

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
