/*
 * query_limits.c — the per-tenant query limits (Mimir's names, declared in
 * 60_query_api.sql into mimir.limit_definitions and set with
 * mimir.set_limit()), read for each request so that a change applies to
 * the next query without any reload.
 */
#include "api/api.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"

static int64
int_value(const char *v)
{
	return strtoll(v, NULL, 10);
}

static int64
duration_value(const char *v)
{
	int64		ms = 0;

	if (!mimir_parse_duration(v, &ms))
		return 0;
	return ms;
}

void
query_limits_for(const char *tenant, QueryLimits *out)
{
	Oid			type = TEXTOID;
	Datum		arg = CStringGetTextDatum(tenant);
	MemoryContext caller = CurrentMemoryContext;

	memset(out, 0, sizeof(*out));
	out->cardinality_analysis_enabled = true;
	out->cardinality_analysis_max_results = 500;
	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT name, value FROM mimir.tenant_limits($1)",
							  1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the limits of tenant \"%s\"", tenant);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *value = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (value == NULL)
			continue;
		if (strcmp(name, "max_fetched_series_per_query") == 0)
			out->max_fetched_series_per_query = int_value(value);
		else if (strcmp(name, "max_total_query_length") == 0)
			out->max_total_query_length_ms = duration_value(value);
		else if (strcmp(name, "max_query_lookback") == 0)
			out->max_query_lookback_ms = duration_value(value);
		else if (strcmp(name, "max_labels_query_length") == 0)
			out->max_labels_query_length_ms = duration_value(value);
		else if (strcmp(name, "max_query_expression_size_bytes") == 0)
			out->max_query_expression_size_bytes = int_value(value);
		else if (strcmp(name, "cardinality_analysis_enabled") == 0)
			out->cardinality_analysis_enabled = (strcmp(value, "true") == 0 ||
												 strcmp(value, "on") == 0 ||
												 strcmp(value, "t") == 0);
		else if (strcmp(name, "cardinality_analysis_max_results") == 0)
			out->cardinality_analysis_max_results = int_value(value);
	}
	mimir_spi_finish();
	MemoryContextSwitchTo(caller);
}
