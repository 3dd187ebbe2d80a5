/*
 * ruler_api.c — the ruler's HTTP API, run in a backend: Mimir's rule
 * configuration API (/config/v1/rules[/{namespace}[/{group}]], YAML) and
 * Prometheus' /api/v1/rules and /api/v1/alerts (JSON), with and without the
 * /prometheus prefix. Handlers take (method, path, parameters, body) and
 * produce (status, content type, body); ruler_route_run adapts them to the
 * HTTP workers' route table.
 */
#include "ruler/ruler.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "api/http.h"
#include "distributor/distributor.h"

static const char *ok_json = "{\"status\":\"success\",\"data\":null,\"errorType\":\"\",\"error\":\"\"}";

static void
respond(RulerHttpResponse *r, int status, const char *type, char *body)
{
	r->status = status;
	r->content_type = type;
	r->body = body;
}

static void
respond_text(RulerHttpResponse *r, int status, const char *msg)
{
	respond(r, status, "text/plain; charset=utf-8", psprintf("%s\n", msg));
}

static void
respond_api_error(RulerHttpResponse *r, int status, const char *type, const char *msg)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfo(&b, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", type);
	escape_json(&b, msg);
	appendStringInfoChar(&b, '}');
	respond(r, status, "application/json", b.data);
}

static char *
url_unescape(const char *s, int len)
{
	StringInfoData b;

	initStringInfo(&b);
	for (int i = 0; i < len; i++)
	{
		if (s[i] == '%' && i + 2 < len && isxdigit((unsigned char) s[i + 1]) &&
			isxdigit((unsigned char) s[i + 2]))
		{
			char		hex[3] = {s[i + 1], s[i + 2], 0};

			appendStringInfoChar(&b, (char) strtol(hex, NULL, 16));
			i += 2;
		}
		else
			appendStringInfoChar(&b, s[i]);
	}
	return b.data;
}

static bool
param_has(int n, char **names, char **values, const char *name, const char *value)
{
	bool		any = false;

	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
		{
			any = true;
			if (value && strcmp(values[i], value) == 0)
				return true;
		}
	return value == NULL ? any : false;
}

static bool
param_filter(int n, char **names, char **values, const char *name, const char *value)
{
	/* no such parameter: everything passes */
	if (!param_has(n, names, values, name, NULL))
		return true;
	return param_has(n, names, values, name, value);
}

/* ---------------------------------------------------------------------
 * configuration API (YAML)
 * --------------------------------------------------------------------- */

/* a stored group definition as an item of a YAML list indented by `indent` */
static void
append_group_item(StringInfo b, const char *def, int indent)
{
	const char *p = def;
	bool		first = true;

	while (*p)
	{
		const char *nl = strchr(p, '\n');
		int			len = nl ? (int) (nl - p) : (int) strlen(p);

		if (first)
			appendStringInfo(b, "%*s- ", indent, "");
		else
			appendStringInfo(b, "%*s", indent + 2, "");
		appendBinaryStringInfo(b, p, len);
		appendStringInfoChar(b, '\n');
		first = false;
		p += len + (nl ? 1 : 0);
	}
}

static void
config_get(RulerHttpResponse *r, int32 tid, const char *ns, const char *group)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = "   ";
	StringInfoData b;
	char	   *cur_ns = NULL;

	args[0] = Int32GetDatum(tid);
	args[1] = ns ? CStringGetTextDatum(ns) : (Datum) 0;
	args[2] = group ? CStringGetTextDatum(group) : (Datum) 0;
	if (!ns)
		nulls[1] = 'n';
	if (!group)
		nulls[2] = 'n';
	initStringInfo(&b);
	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT namespace, definition FROM mimir.rule_groups WHERE tenant_id = $1 "
							  "AND ($2::text IS NULL OR namespace = $2) AND ($3::text IS NULL OR name = $3) "
							  "ORDER BY namespace, name",
							  3, types, args, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "rule group lookup failed");
	if (SPI_processed == 0)
	{
		mimir_spi_finish();
		if (group)
			respond_text(r, 404, "group does not exist");
		else if (ns)
			respond_text(r, 404, "no rule groups found");
		else
			respond(r, 200, "application/yaml", pstrdup("{}\n"));
		return;
	}
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *rns = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *def = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (group)
		{
			/* one group: the group itself */
			appendStringInfoString(&b, def);
			break;
		}
		if (cur_ns == NULL || strcmp(cur_ns, rns) != 0)
		{
			ruler_emit_yaml_string(&b, rns);
			appendStringInfoString(&b, ":\n");
			cur_ns = rns;
		}
		append_group_item(&b, def, 4);
	}
	mimir_spi_finish();
	respond(r, 200, "application/yaml", b.data);
}

static void
config_post(RulerHttpResponse *r, int32 tid, const char *ns, const char *body)
{
	List	   *errors = NIL;
	RuleGroupDef *g = ruler_parse_group(body, &errors);

	if (errors != NIL)
	{
		StringInfoData b;
		ListCell   *lc;
		const char *first = linitial(errors);

		initStringInfo(&b);
		if (strncmp(first, "yaml:", 5) == 0 || strstr(first, "duration string") != NULL)
			appendStringInfo(&b, "unable to decode rule group: %s", first);
		else
			foreach(lc, errors)
			{
				if (foreach_current_index(lc) > 0)
					appendStringInfoString(&b, ", ");
				appendStringInfoString(&b, lfirst(lc));
			}
		respond_text(r, 400, b.data);
		return;
	}
	ruler_store_group(tid, ns, g);
	respond(r, 202, "application/json", pstrdup(ok_json));
}

/* ---------------------------------------------------------------------
 * Prometheus API (JSON)
 * --------------------------------------------------------------------- */
static void
json_ts(StringInfo b, const char *key, Datum d, bool isnull)
{
	appendStringInfo(b, "\"%s\":", key);
	if (isnull)
		appendStringInfoString(b, "\"0001-01-01T00:00:00Z\"");
	else
		appendStringInfo(b, "\"%s\"", gofmt_rfc3339(mimir_ts_to_ms(DatumGetTimestampTz(d)), true));
}

static void
json_seconds(StringInfo b, const char *key, double secs)
{
	appendStringInfo(b, "\"%s\":", key);
	gofmt_float_shortest(b, secs, 'f');
}

static void
json_obj(StringInfo b, const char *jsonb_text)
{
	/* jsonb's text output is valid JSON already */
	appendStringInfoString(b, jsonb_text ? jsonb_text : "{}");
}

static void
append_alert_json(StringInfo b, HeapTuple tup, TupleDesc td, int col)
{
	bool		isnull;
	char	   *state = SPI_getvalue(tup, td, col + 2);

	appendStringInfoString(b, "{\"labels\":");
	json_obj(b, SPI_getvalue(tup, td, col));
	appendStringInfoString(b, ",\"annotations\":");
	json_obj(b, SPI_getvalue(tup, td, col + 1));
	appendStringInfo(b, ",\"state\":\"%s\"", state);
	appendStringInfo(b, ",\"activeAt\":\"%s\"",
					 gofmt_rfc3339(DatumGetInt64(SPI_getbinval(tup, td, col + 3, &isnull)), true));
	{
		Datum		kfs = SPI_getbinval(tup, td, col + 5, &isnull);

		if (!isnull)
			appendStringInfo(b, ",\"keepFiringSince\":\"%s\"", gofmt_rfc3339(DatumGetInt64(kfs), true));
	}
	appendStringInfoString(b, ",\"value\":\"");
	gofmt_float_shortest(b, DatumGetFloat8(SPI_getbinval(tup, td, col + 4, &isnull)), 'e');
	appendStringInfoString(b, "\"}");
}

static void
api_alerts(RulerHttpResponse *r, int32 tid)
{
	Oid			type = INT4OID;
	Datum		arg = Int32GetDatum(tid);
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"status\":\"success\",\"data\":{\"alerts\":[");
	if (tid >= 0)
	{
		mimir_spi_connect();
		if (SPI_execute_with_args("SELECT a.labels::text, a.annotations::text, a.state, a.active_at, a.value, "
								  "a.keep_firing_since FROM mimir.alert_state a "
								  "JOIN mimir.rules r ON r.id = a.rule_id JOIN mimir.rule_groups g ON g.id = r.group_id "
								  "WHERE g.tenant_id = $1 AND a.state <> 'inactive' "
								  "ORDER BY g.namespace, g.name, r.idx, a.labels_key",
								  1, &type, &arg, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "alert lookup failed");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			if (i)
				appendStringInfoChar(&b, ',');
			append_alert_json(&b, SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		}
		mimir_spi_finish();
	}
	appendStringInfoString(&b, "]}}");
	respond(r, 200, "application/json", b.data);
}

static void
api_rules(RulerHttpResponse *r, int32 tid, int np, char **names, char **values)
{
	StringInfoData b;
	StringInfoData grp;
	const char *type_filter = NULL;
	bool		exclude_alerts = param_has(np, names, values, "exclude_alerts", "true");
	bool		filtering = param_has(np, names, values, "rule_name[]", NULL);
	Oid			argtype = INT4OID;
	Datum		arg = Int32GetDatum(tid);
	int64		cur_group = -1;
	int			nrules = 0;
	int			ngroups = 0;

	for (int i = 0; i < np; i++)
		if (strcmp(names[i], "type") == 0)
		{
			if (strcmp(values[i], "alert") != 0 && strcmp(values[i], "record") != 0 && values[i][0])
			{
				respond_api_error(r, 400, "bad_data",
								  psprintf("unsupported rule type %s", gofmt_quote(values[i])));
				return;
			}
			type_filter = values[i][0] ? values[i] : NULL;
		}
	filtering = filtering || type_filter != NULL;
	initStringInfo(&b);
	initStringInfo(&grp);
	appendStringInfoString(&b, "{\"status\":\"success\",\"data\":{\"groups\":[");
	if (tid < 0)
		goto done;
	mimir_spi_connect();
	if (SPI_execute_with_args("SELECT g.id, g.namespace, g.name, g.interval_ms, g.last_eval_at, "
							  "coalesce(g.last_duration, 0), r.id, r.kind, r.name, r.expr, r.for_ms, "
							  "r.keep_firing_for_ms, r.labels::text, r.annotations::text, r.health, "
							  "coalesce(r.last_error, ''), r.last_eval_at, coalesce(r.eval_duration, 0) "
							  "FROM mimir.rule_groups g LEFT JOIN mimir.rules r ON r.group_id = g.id "
							  "WHERE g.tenant_id = $1 ORDER BY g.namespace, g.name, r.idx",
							  1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "rule lookup failed");
	{
		SPITupleTable *rules = SPI_tuptable;
		uint64		nrows = SPI_processed;

		for (uint64 i = 0; i <= nrows; i++)
		{
			HeapTuple	tup;
			TupleDesc	td = rules->tupdesc;
			bool		isnull;
			int64		gid;
			char	   *gns;
			char	   *gname;
			char	   *kind;
			char	   *rname;
			bool		alerting;

			/* close the previous group; groups without a matching rule go when filtering */
			gid = i < nrows ? DatumGetInt64(SPI_getbinval(rules->vals[i], td, 1, &isnull)) : -2;
			if (gid != cur_group && cur_group >= 0)
			{
				if (nrules > 0 || !filtering)
				{
					if (ngroups++ > 0)
						appendStringInfoChar(&b, ',');
					appendStringInfo(&b, "%s]}", grp.data);
				}
				cur_group = -1;
			}
			if (i == nrows)
				break;
			tup = rules->vals[i];
			gns = SPI_getvalue(tup, td, 2);
			gname = SPI_getvalue(tup, td, 3);
			if (!param_filter(np, names, values, "file[]", gns) ||
				!param_filter(np, names, values, "rule_group[]", gname))
				continue;
			if (cur_group < 0)
			{
				Datum		d;

				cur_group = gid;
				nrules = 0;
				resetStringInfo(&grp);
				appendStringInfoString(&grp, "{\"name\":");
				escape_json(&grp, gname);
				appendStringInfoString(&grp, ",\"file\":");
				escape_json(&grp, gns);
				appendStringInfoChar(&grp, ',');
				json_seconds(&grp, "interval", DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull)) / 1000.0);
				appendStringInfoChar(&grp, ',');
				d = SPI_getbinval(tup, td, 5, &isnull);
				json_ts(&grp, "lastEvaluation", d, isnull);
				appendStringInfoChar(&grp, ',');
				json_seconds(&grp, "evaluationTime", DatumGetFloat8(SPI_getbinval(tup, td, 6, &isnull)));
				appendStringInfoString(&grp, ",\"rules\":[");
			}
			(void) SPI_getbinval(tup, td, 7, &isnull);
			if (isnull)
				continue;		/* a group without rules */
			kind = SPI_getvalue(tup, td, 8);
			rname = SPI_getvalue(tup, td, 9);
			alerting = strcmp(kind, "alerting") == 0;
			if (type_filter && (strcmp(type_filter, "alert") == 0) != alerting)
				continue;
			if (!param_filter(np, names, values, "rule_name[]", rname))
				continue;
			if (nrules++ > 0)
				appendStringInfoChar(&grp, ',');
			if (alerting)
			{
				/* the rule's alerts, and its state: the highest of them */
				int64		rid = DatumGetInt64(SPI_getbinval(tup, td, 7, &isnull));
				Oid			t2 = INT8OID;
				Datum		a2 = Int64GetDatum(rid);
				const char *state = "inactive";
				StringInfoData alerts;

				initStringInfo(&alerts);
				if (SPI_execute_with_args("SELECT labels::text, annotations::text, state, active_at, value, "
										  "keep_firing_since FROM mimir.alert_state WHERE rule_id = $1 "
										  "AND state <> 'inactive' ORDER BY labels_key",
										  1, &t2, &a2, NULL, true, 0) != SPI_OK_SELECT)
					elog(ERROR, "alert lookup failed");
				for (uint64 k = 0; k < SPI_processed; k++)
				{
					char	   *st = SPI_getvalue(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 3);

					if (strcmp(st, "firing") == 0)
						state = "firing";
					else if (strcmp(st, "pending") == 0 && strcmp(state, "firing") != 0)
						state = "pending";
					if (k)
						appendStringInfoChar(&alerts, ',');
					append_alert_json(&alerts, SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1);
				}
				SPI_freetuptable(SPI_tuptable);
				appendStringInfo(&grp, "{\"state\":\"%s\",\"name\":", state);
				escape_json(&grp, rname);
				appendStringInfoString(&grp, ",\"query\":");
				escape_json(&grp, SPI_getvalue(tup, td, 10));
				appendStringInfoChar(&grp, ',');
				json_seconds(&grp, "duration", DatumGetInt64(SPI_getbinval(tup, td, 11, &isnull)) / 1000.0);
				appendStringInfoChar(&grp, ',');
				json_seconds(&grp, "keepFiringFor", DatumGetInt64(SPI_getbinval(tup, td, 12, &isnull)) / 1000.0);
				appendStringInfoString(&grp, ",\"labels\":");
				json_obj(&grp, SPI_getvalue(tup, td, 13));
				appendStringInfoString(&grp, ",\"annotations\":");
				json_obj(&grp, SPI_getvalue(tup, td, 14));
				appendStringInfo(&grp, ",\"alerts\":[%s]", exclude_alerts ? "" : alerts.data);
			}
			else
			{
				appendStringInfoString(&grp, "{\"name\":");
				escape_json(&grp, rname);
				appendStringInfoString(&grp, ",\"query\":");
				escape_json(&grp, SPI_getvalue(tup, td, 10));
				appendStringInfoString(&grp, ",\"labels\":");
				json_obj(&grp, SPI_getvalue(tup, td, 13));
			}
			appendStringInfo(&grp, ",\"health\":\"%s\",\"lastError\":", SPI_getvalue(tup, td, 15));
			escape_json(&grp, SPI_getvalue(tup, td, 16));
			appendStringInfo(&grp, ",\"type\":\"%s\",", kind);
			{
				Datum		d = SPI_getbinval(tup, td, 17, &isnull);

				json_ts(&grp, "lastEvaluation", d, isnull);
			}
			appendStringInfoChar(&grp, ',');
			json_seconds(&grp, "evaluationTime", DatumGetFloat8(SPI_getbinval(tup, td, 18, &isnull)));
			appendStringInfoChar(&grp, '}');
		}
	}
	mimir_spi_finish();
done:
	appendStringInfoString(&b, "]}}");
	respond(r, 200, "application/json", b.data);
}

/* ---------------------------------------------------------------------
 * dispatch
 * --------------------------------------------------------------------- */
bool
ruler_http_path(const char *path)
{
	if (strncmp(path, "/prometheus/", 12) == 0)
		path += 11;
	return strcmp(path, "/api/v1/rules") == 0 || strcmp(path, "/api/v1/alerts") == 0 ||
		strcmp(path, "/config/v1/rules") == 0 || strncmp(path, "/config/v1/rules/", 17) == 0;
}

void
ruler_http_handle(const char *method, const char *path, int np, char **names, char **values,
				  const char *body, size_t body_len, const char *tenant, RulerHttpResponse *r)
{
	int32		tid;
	bool		get = strcmp(method, "GET") == 0;

	respond_text(r, 404, "404 page not found");
	if (strncmp(path, "/prometheus/", 12) == 0)
		path += 11;
	tid = mimir_tenant_id(tenant, false);

	if (strcmp(path, "/api/v1/rules") == 0 || strcmp(path, "/api/v1/alerts") == 0)
	{
		if (!get && strcmp(method, "POST") != 0)
		{
			respond_text(r, 405, "method not allowed");
			return;
		}
		if (path[8] == 'r')
			api_rules(r, tid, np, names, values);
		else
			api_alerts(r, tid);
		return;
	}
	if (strcmp(path, "/config/v1/rules") == 0)
	{
		if (!get)
		{
			respond_text(r, 405, "method not allowed");
			return;
		}
		config_get(r, tid, NULL, NULL);
		return;
	}
	if (strncmp(path, "/config/v1/rules/", 17) == 0)
	{
		const char *rest = path + 17;
		const char *slash = strchr(rest, '/');
		char	   *ns = url_unescape(rest, slash ? (int) (slash - rest) : (int) strlen(rest));
		char	   *group = slash ? url_unescape(slash + 1, strlen(slash + 1)) : NULL;

		if (*ns == '\0' || (group && *group == '\0'))
		{
			respond_text(r, 400, "invalid namespace or rule group name");
			return;
		}
		if (get)
			config_get(r, tid, ns, group);
		else if (strcmp(method, "POST") == 0 && group == NULL)
		{
			char	   *yaml = pnstrdup(body ? body : "", body_len);

			if (tid < 0)
				tid = mimir_tenant_id(tenant, true);
			config_post(r, tid, ns, yaml);
		}
		else if (strcmp(method, "DELETE") == 0)
		{
			if (tid >= 0 && (group ? ruler_delete_group(tid, ns, group) : ruler_delete_namespace(tid, ns) > 0))
				respond(r, 202, "application/json", pstrdup(ok_json));
			else
				respond_text(r, 404, group ? "group does not exist" : "group namespace does not exist");
		}
		else
			respond_text(r, 405, "method not allowed");
	}
}

/* route adapter for the HTTP workers (src/api/http_routes.c) */
void
ruler_route_run(HttpJob *job)
{
	RulerHttpResponse r;
	const char *tenant = job->org_id && *job->org_id ? job->org_id : NULL;

	if (tenant == NULL)
	{
		if (mimir_multitenancy_enabled)
		{
			http_respondf(job, 401, "no org id\n");
			return;
		}
		tenant = "anonymous";
	}
	if (strchr(tenant, '|'))
	{
		http_respondf(job, 400, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"no valid org id found\"}");
		return;
	}
	mimir_validate_tenant_name(tenant);
	ruler_http_handle(job->method, job->path, job->nargs, job->arg_name, job->arg_value,
					  (const char *) job->body, job->body_len, tenant, &r);
	http_respond(job, r.status, r.content_type, r.body, strlen(r.body));
}
