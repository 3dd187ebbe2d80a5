/*
 * rule_store.c — rule groups in the database: creating, replacing and
 * deleting groups (one pg_cron job each), loading whole rule files, and
 * carrying state across a group's replacement the way Prometheus' rule
 * reload does (rules matched by name and labels keep their alerts and
 * staleness tracking; series of removed rules are marked stale).
 */
#include "ruler/ruler.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(mimir_set_rule_group);
PG_FUNCTION_INFO_V1(mimir_load_rules);
PG_FUNCTION_INFO_V1(mimir_delete_rule_group);
PG_FUNCTION_INFO_V1(mimir_delete_rule_namespace);

void
ruler_raise_errors(const char *what, List *errors)
{
	StringInfoData detail;
	ListCell   *lc;

	if (errors == NIL)
		return;
	initStringInfo(&detail);
	foreach(lc, errors)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&detail, '\n');
		appendStringInfoString(&detail, lfirst(lc));
	}
	if (list_length(errors) == 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s: %s", what, (char *) linitial(errors)),
				 errhint("Rules are checked as promtool check rules checks them.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s (and %d more errors)", what, (char *) linitial(errors),
					list_length(errors) - 1),
			 errdetail("%s", detail.data),
			 errhint("Rules are checked as promtool check rules checks them.")));
}

static void
check_namespace(const char *ns)
{
	if (*ns == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rule namespace must not be empty"),
				 errhint("Namespaces group rule groups like the files of a Prometheus server; use e.g. the file name.")));
	if (!pg_verify_mbstr(PG_UTF8, ns, strlen(ns), true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("rule namespace must be valid UTF-8")));
}

/* "kind name {labels}": Prometheus matches rules across reloads by name and labels */
static char *
rule_match_key(bool alerting, const char *name, const MimirLabelSet *labels)
{
	return psprintf("%s %s %s", alerting ? "alert" : "record", name, mimir_labelset_to_text(labels));
}

void
ruler_store_group(int32 tenant_id, const char *ns, const RuleGroupDef *g)
{
	int64		interval = g->has_interval ? g->interval_ms : mimir_ruler_evaluation_interval_ms;
	int64		gid;
	bool		isnull;
	int			nold;
	int64	   *old_id;
	char	  **old_key;
	bool	   *old_used;
	int64	   *gone = NULL;
	int			ngone = 0;

	if (interval < 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("evaluation interval of rule group \"%s\" must be at least 1s", g->name)));

	mimir_spi_connect();
	{
		Oid			types[8] = {INT4OID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, BOOLOID, TEXTOID};
		Datum		args[8];

		args[0] = Int32GetDatum(tenant_id);
		args[1] = CStringGetTextDatum(ns);
		args[2] = CStringGetTextDatum(g->name);
		args[3] = Int64GetDatum(interval);
		args[4] = Int64GetDatum(g->has_query_offset ? g->query_offset_ms : 0);
		args[5] = Int64GetDatum(g->limit);
		args[6] = BoolGetDatum(g->align);
		args[7] = CStringGetTextDatum(ruler_group_to_yaml(g));
		if (SPI_execute_with_args("INSERT INTO mimir.rule_groups(tenant_id, namespace, name, interval_ms, "
								  "query_offset_ms, rule_limit, align, definition) "
								  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
								  "ON CONFLICT (tenant_id, namespace, name) DO UPDATE SET "
								  "interval_ms = EXCLUDED.interval_ms, query_offset_ms = EXCLUDED.query_offset_ms, "
								  "rule_limit = EXCLUDED.rule_limit, align = EXCLUDED.align, "
								  "definition = EXCLUDED.definition, updated = now() RETURNING id",
								  8, types, args, NULL, false, 1) != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "rule group upsert failed");
		gid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}

	/* the current rules, to carry their state over */
	{
		Oid			type = INT8OID;
		Datum		arg = Int64GetDatum(gid);

		if (SPI_execute_with_args("SELECT id, kind, name, labels FROM mimir.rules "
								  "WHERE group_id = $1 ORDER BY idx",
								  1, &type, &arg, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "rule lookup failed");
		nold = (int) SPI_processed;
		old_id = palloc(sizeof(int64) * Max(nold, 1));
		old_key = palloc(sizeof(char *) * Max(nold, 1));
		old_used = palloc0(sizeof(bool) * Max(nold, 1));
		gone = palloc(sizeof(int64) * Max(nold, 1));
		for (int i = 0; i < nold; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	td = SPI_tuptable->tupdesc;
			MimirLabelSet ls;

			old_id[i] = DatumGetInt64(SPI_getbinval(tup, td, 1, &isnull));
			mimir_labelset_from_jsonb(DatumGetJsonbP(SPI_getbinval(tup, td, 4, &isnull)), &ls);
			old_key[i] = rule_match_key(strcmp(SPI_getvalue(tup, td, 2), "alerting") == 0,
										SPI_getvalue(tup, td, 3), &ls);
		}
	}

	for (int i = 0; i < g->nrules; i++)
	{
		RuleDef    *r = &g->rules[i];
		char	   *key = rule_match_key(r->alerting, r->name, &r->labels);
		int			match = -1;
		Oid			types[9] = {INT8OID, INT4OID, TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, JSONBOID, JSONBOID};
		Datum		args[9];

		for (int k = 0; k < nold; k++)
			if (!old_used[k] && strcmp(old_key[k], key) == 0)
			{
				match = k;
				break;
			}
		args[0] = Int64GetDatum(match >= 0 ? old_id[match] : gid);
		args[1] = Int32GetDatum(i);
		args[2] = CStringGetTextDatum(r->alerting ? "alerting" : "recording");
		args[3] = CStringGetTextDatum(r->name);
		args[4] = CStringGetTextDatum(r->expr);
		args[5] = Int64GetDatum(r->for_ms);
		args[6] = Int64GetDatum(r->keep_firing_for_ms);
		args[7] = JsonbPGetDatum(mimir_labels_jsonb(&r->labels));
		args[8] = JsonbPGetDatum(mimir_labels_jsonb(&r->annotations));
		if (match >= 0)
		{
			old_used[match] = true;
			if (SPI_execute_with_args("UPDATE mimir.rules SET idx = $2, kind = $3, name = $4, expr = $5, "
									  "for_ms = $6, keep_firing_for_ms = $7, labels = $8, annotations = $9 "
									  "WHERE id = $1", 9, types, args, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "rule update failed");
		}
		else if (SPI_execute_with_args("INSERT INTO mimir.rules(group_id, idx, kind, name, expr, for_ms, "
									   "keep_firing_for_ms, labels, annotations) "
									   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
									   9, types, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "rule insert failed");
	}
	for (int k = 0; k < nold; k++)
		if (!old_used[k])
			gone[ngone++] = old_id[k];
	if (ngone > 0)
	{
		Oid			types[2] = {INT8ARRAYOID, INT8OID};
		Datum		args[2] = {mimir_int8_array(gone, ngone), Int64GetDatum(gid)};

		/* their series get staleness markers at the group's next evaluation */
		if (SPI_execute_with_args("UPDATE mimir.rule_groups g SET stale_series = g.stale_series || "
								  "coalesce((SELECT array_agg(s) FROM mimir.rules r, unnest(r.prev_series) s "
								  "WHERE r.id = ANY($1)), '{}') WHERE g.id = $2",
								  2, types, args, NULL, false, 0) != SPI_OK_UPDATE ||
			SPI_execute_with_args("DELETE FROM mimir.rules WHERE id = ANY($1)",
								  1, types, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "rule removal failed");
	}
	{
		Oid			type = INT8OID;
		Datum		arg = Int64GetDatum(gid);

		if (SPI_execute_with_args("SELECT mimir.schedule_rule_group($1)", 1, &type, &arg,
								  NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not schedule the rule group's job");
	}
	mimir_spi_finish();
}

/* Delete a group: its series get staleness markers now, its job goes. */
bool
ruler_delete_group(int32 tenant_id, const char *ns, const char *name)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3];
	bool		isnull;
	int64		gid;
	int64		last_ts;
	int			n = 0;
	int64	   *series = NULL;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = Int32GetDatum(tenant_id);
	args[1] = CStringGetTextDatum(ns);
	args[2] = CStringGetTextDatum(name);
	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT g.id, coalesce(g.last_eval_ts, 0), "
							  "g.stale_series || coalesce((SELECT array_agg(s) FROM mimir.rules r, "
							  "unnest(r.prev_series) s WHERE r.group_id = g.id), '{}') "
							  "FROM mimir.rule_groups g WHERE g.tenant_id = $1 AND g.namespace = $2 "
							  "AND g.name = $3 FOR UPDATE",
							  3, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "rule group lookup failed");
	if (SPI_processed == 0)
	{
		mimir_spi_finish();
		return false;
	}
	gid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	last_ts = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);

		if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *nulls;

			deconstruct_array(a, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
			series = MemoryContextAlloc(caller, sizeof(int64) * Max(n, 1));
			for (int i = 0; i < n; i++)
				series[i] = DatumGetInt64(elems[i]);
		}
	}
	{
		Oid			type = INT8OID;
		Datum		arg = Int64GetDatum(gid);

		if (SPI_execute_with_args("SELECT mimir.unschedule_job(mimir.rule_group_job_name($1))",
								  1, &type, &arg, NULL, false, 0) != SPI_OK_SELECT ||
			SPI_execute_with_args("DELETE FROM mimir.rule_groups WHERE id = $1",
								  1, &type, &arg, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "rule group delete failed");
	}
	mimir_spi_finish();
	/* Prometheus marks the series of a removed group stale */
	{
		int64		t = mimir_ts_to_ms(GetCurrentTimestamp());
		uint64		bits = MIMIR_STALE_NAN_BITS;
		double		stale;

		memcpy(&stale, &bits, 8);
		if (t > last_ts)
			ruler_append_to_series(tenant_id, series, n, t, stale);
	}
	return true;
}

int
ruler_delete_namespace(int32 tenant_id, const char *ns)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2];
	List	   *names = NIL;
	ListCell   *lc;
	int			n = 0;
	MemoryContext caller = CurrentMemoryContext;

	args[0] = Int32GetDatum(tenant_id);
	args[1] = CStringGetTextDatum(ns);
	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT name FROM mimir.rule_groups WHERE tenant_id = $1 AND namespace = $2",
							  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "rule group lookup failed");
	MemoryContextSwitchTo(caller);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	mimir_spi_finish();
	foreach(lc, names)
		if (ruler_delete_group(tenant_id, ns, lfirst(lc)))
			n++;
	return n;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * --------------------------------------------------------------------- */
static void
require_args(FunctionCallInfo fcinfo, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", what)));
}

Datum
mimir_set_rule_group(PG_FUNCTION_ARGS)
{
	char	   *ns;
	char	   *yaml;
	const char *tenant;
	List	   *errors = NIL;
	RuleGroupDef *g;

	require_args(fcinfo, 2, "namespace and group YAML");
	ns = text_to_cstring(PG_GETARG_TEXT_PP(0));
	yaml = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tenant = mimir_tenant_name(PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2));
	check_namespace(ns);
	g = ruler_parse_group(yaml, &errors);
	ruler_raise_errors("rule group", errors);
	ruler_store_group(mimir_tenant_id(tenant, true), ns, g);
	PG_RETURN_VOID();
}

Datum
mimir_load_rules(PG_FUNCTION_ARGS)
{
	char	   *ns;
	char	   *yaml;
	const char *tenant;
	List	   *errors = NIL;
	List	   *groups;
	ListCell   *lc;
	int32		tid;

	require_args(fcinfo, 2, "namespace and rule file");
	ns = text_to_cstring(PG_GETARG_TEXT_PP(0));
	yaml = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tenant = mimir_tenant_name(PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2));
	check_namespace(ns);
	groups = ruler_parse_file(yaml, &errors);
	ruler_raise_errors("rule file", errors);
	tid = mimir_tenant_id(tenant, true);
	foreach(lc, groups)
		ruler_store_group(tid, ns, lfirst(lc));
	/* the file is the namespace: groups it no longer has go */
	{
		Oid			types[2] = {INT4OID, TEXTOID};
		Datum		args[2] = {Int32GetDatum(tid), CStringGetTextDatum(ns)};
		List	   *gone = NIL;
		MemoryContext caller = CurrentMemoryContext;

		mimir_spi_connect();
		if (SPI_execute_with_args("SELECT name FROM mimir.rule_groups WHERE tenant_id = $1 AND namespace = $2",
								  2, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "rule group lookup failed");
		MemoryContextSwitchTo(caller);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			bool		keep = false;
			ListCell   *gc;

			foreach(gc, groups)
				if (strcmp(((RuleGroupDef *) lfirst(gc))->name, name) == 0)
					keep = true;
			if (!keep)
				gone = lappend(gone, name);
		}
		mimir_spi_finish();
		foreach(lc, gone)
			ruler_delete_group(tid, ns, lfirst(lc));
	}
	PG_RETURN_INT32(list_length(groups));
}

Datum
mimir_delete_rule_group(PG_FUNCTION_ARGS)
{
	const char *tenant;
	int32		tid;

	require_args(fcinfo, 2, "namespace and group name");
	tenant = mimir_tenant_name(PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2));
	tid = mimir_tenant_id(tenant, false);
	if (tid < 0)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(ruler_delete_group(tid, text_to_cstring(PG_GETARG_TEXT_PP(0)),
									  text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

Datum
mimir_delete_rule_namespace(PG_FUNCTION_ARGS)
{
	const char *tenant;
	int32		tid;

	require_args(fcinfo, 1, "namespace");
	tenant = mimir_tenant_name(PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	tid = mimir_tenant_id(tenant, false);
	if (tid < 0)
		PG_RETURN_INT32(0);
	PG_RETURN_INT32(ruler_delete_namespace(tid, text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
