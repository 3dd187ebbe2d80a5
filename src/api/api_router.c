/*
 * api_router.c — the query API's routes (served with and without Mimir's
 * /prometheus prefix), method checks, and the error boundary: every handler
 * runs in a subtransaction so that any ERROR it raises becomes Prometheus'
 * error JSON with the right type and status instead of escaping, and a
 * per-request timer turns an overlong request into a 503 "timeout". Also
 * the SQL entry point mimir.http_call(), which drives the same handlers
 * without HTTP (pg_regress tests every endpoint through it).
 */
#include "api/api.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "promql/promql.h"

PG_FUNCTION_INFO_V1(mimir_http_call);

typedef void (*ApiHandler) (ApiRequest *req, ApiResponse *resp);

typedef struct ApiRoute
{
	const char *path;			/* '*' matches one path segment */
	const char *methods;
	ApiHandler	fn;
} ApiRoute;

static const ApiRoute api_routes[] = {
	{"/api/v1/query", "GET,POST", api_query},
	{"/api/v1/query_range", "GET,POST", api_query_range},
	{"/api/v1/format_query", "GET,POST", api_format_query},
	{"/api/v1/series", "GET,POST", api_series},
	{"/api/v1/labels", "GET,POST", api_labels},
	{"/api/v1/label/*/values", "GET", api_label_values},
	{"/api/v1/metadata", "GET", api_metadata},
	{"/api/v1/query_exemplars", "GET,POST", api_query_exemplars},
	{"/api/v1/status/buildinfo", "GET", api_buildinfo},
	{"/api/v1/status/config", "GET", api_status_config},
	{"/api/v1/status/flags", "GET", api_status_flags},
	{"/api/v1/read", "POST", api_remote_read},
	{"/api/v1/cardinality/label_names", "GET,POST", api_cardinality_label_names},
	{"/api/v1/cardinality/label_values", "GET,POST", api_cardinality_label_values},
	{"/api/v1/cardinality/active_series", "GET,POST", api_cardinality_active_series},
};

/* the request timer */
static TimeoutId api_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t api_timeout_fired = false;

static void
api_timeout_handler(void)
{
	api_timeout_fired = true;
	/* what the SIGINT handler does: the next CHECK_FOR_INTERRUPTS cancels */
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

static const char *
strip_prefix(const char *path)
{
	if (strncmp(path, "/prometheus/", 12) == 0)
		return path + 11;
	return path;
}

/* Match path against pattern; *arg receives the segment matched by '*'. */
static bool
path_matches(const char *pattern, const char *path, const char **arg)
{
	const char *star = strchr(pattern, '*');

	if (star == NULL)
		return strcmp(pattern, path) == 0;
	{
		size_t		pre = star - pattern;
		const char *suffix = star + 1;
		size_t		plen = strlen(path),
					slen = strlen(suffix);
		size_t		seglen;

		if (plen < pre + slen + 1 || strncmp(pattern, path, pre) != 0 ||
			strcmp(path + plen - slen, suffix) != 0)
			return false;
		seglen = plen - pre - slen;
		if (memchr(path + pre, '/', seglen) != NULL)
			return false;
		if (arg)
			*arg = pnstrdup(path + pre, seglen);
		return true;
	}
}

static const ApiRoute *
find_route(const char *path, const char **arg)
{
	for (int i = 0; i < lengthof(api_routes); i++)
		if (path_matches(api_routes[i].path, path, arg))
			return &api_routes[i];
	return NULL;
}

bool
api_route_exists(const char *path)
{
	return find_route(strip_prefix(path), NULL) != NULL;
}

static bool
method_allowed(const char *methods, const char *method)
{
	size_t		ml = strlen(method);
	const char *m = methods;

	while (*m)
	{
		const char *e = strchr(m, ',');
		size_t		l = e ? (size_t) (e - m) : strlen(m);

		if (l == ml && strncmp(m, method, l) == 0)
			return true;
		m += l + (e ? 1 : 0);
	}
	return false;
}

void
api_request_init(ApiRequest *req, const char *method, const char *path, const char *tenant)
{
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->path = path;
	req->tenant = tenant;
	req->now_ms = mimir_ts_to_ms(GetCurrentTimestamp());
}

void
api_response_init(ApiResponse *resp)
{
	memset(resp, 0, sizeof(*resp));
	initStringInfo(&resp->body);
}

void
api_add_header(ApiResponse *resp, const char *name, const char *value)
{
	if (resp->nheaders >= API_MAX_HEADERS)
		return;
	resp->hdr_name[resp->nheaders] = name;
	resp->hdr_value[resp->nheaders] = pstrdup(value);
	resp->nheaders++;
}

/*
 * The evaluation phase changes how SQL states map to Prometheus error
 * types: before it, data exceptions are bad parameters (400); inside the
 * engine only syntax errors are (as promql.h specifies), the rest of its
 * errors are "execution" (422).
 */
bool		api_in_evaluation = false;

static ApiErrorType
map_error(ErrorData *ed, bool in_eval)
{
	int			code = ed->sqlerrcode;
	int			cat = ERRCODE_TO_CATEGORY(code);

	if (code == ERRCODE_SYNTAX_ERROR)
		return API_ERR_BAD_DATA;
	if (code == ERRCODE_UNDEFINED_OBJECT)
		return API_ERR_NOT_FOUND;
	if (code == ERRCODE_PROGRAM_LIMIT_EXCEEDED)
		return API_ERR_EXECUTION;
	if (cat == ERRCODE_TO_CATEGORY(ERRCODE_INTERNAL_ERROR) ||
		cat == ERRCODE_TO_CATEGORY(ERRCODE_INSUFFICIENT_RESOURCES) ||
		cat == ERRCODE_TO_CATEGORY(ERRCODE_SYSTEM_ERROR) ||
		cat == ERRCODE_TO_CATEGORY(ERRCODE_DATA_CORRUPTED))
		return API_ERR_INTERNAL;
	if (cat == ERRCODE_TO_CATEGORY(ERRCODE_OPERATOR_INTERVENTION))
		return API_ERR_UNAVAILABLE;
	if (!in_eval && (cat == ERRCODE_TO_CATEGORY(ERRCODE_DATA_EXCEPTION) ||
					 code == ERRCODE_NULL_VALUE_NOT_ALLOWED))
		return API_ERR_BAD_DATA;
	return API_ERR_EXECUTION;
}

/*
 * Run one request. Never raises: every error becomes a response. The
 * caller must be inside a transaction.
 */
void
api_handle(ApiRequest *req, ApiResponse *resp)
{
	const ApiRoute *route;
	const char *arg = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int			timeout_ms = 0;

	req->route_path = strip_prefix(req->path);
	route = find_route(req->route_path, &arg);
	if (route == NULL)
	{
		api_error(resp, API_ERR_NOT_FOUND, "unknown API endpoint %s", req->path);
		return;
	}
	if (!method_allowed(route->methods, req->method))
	{
		StringInfoData allow;

		initStringInfo(&allow);
		for (const char *m = route->methods; *m; m++)
		{
			if (*m == ',')
				appendStringInfoString(&allow, ", ");
			else
				appendStringInfoChar(&allow, *m);
		}
		api_error(resp, API_ERR_BAD_DATA, "method %s is not allowed for %s (allowed: %s)",
				  req->method, req->path, allow.data);
		resp->status = 405;
		api_add_header(resp, "Allow", allow.data);
		return;
	}
	req->path_arg = arg;

	if (api_timeout_id == MAX_TIMEOUTS)
		api_timeout_id = RegisterTimeout(USER_TIMEOUT, api_timeout_handler);
	api_timeout_fired = false;
	api_in_evaluation = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		api_parse_form_body(req);
		timeout_ms = api_timeout_ms(req);
		if (timeout_ms > 0)
			enable_timeout_after(api_timeout_id, timeout_ms);
		route->fn(req, resp);
		if (timeout_ms > 0)
			disable_timeout(api_timeout_id, false);
		if (api_timeout_fired)
		{
			/* fired after the work was done: the cancel it requested is moot */
			QueryCancelPending = false;
			api_timeout_fired = false;
		}
		mimir_subxact_commit(cxt, owner);
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		bool		fired;
		bool		in_eval = api_in_evaluation;

		if (timeout_ms > 0)
			disable_timeout(api_timeout_id, false);
		fired = api_timeout_fired;
		api_timeout_fired = false;
		/* our timer's cancel request must not outlive this request */
		if (fired)
			QueryCancelPending = false;
		api_in_evaluation = false;
		ed = mimir_subxact_abort(cxt, owner);

		if (ed->sqlerrcode == ERRCODE_QUERY_CANCELED)
		{
			if (fired)
				api_error(resp, API_ERR_TIMEOUT, "query timed out in query execution");
			else if (strstr(ed->message, "timed out") != NULL)
				api_error(resp, API_ERR_TIMEOUT, "%s", ed->message);
			else
				api_error(resp, API_ERR_CANCELED, "query was canceled in query execution");
		}
		else
			api_error(resp, map_error(ed, in_eval), "%s", ed->message);
		FreeErrorData(ed);
	}
	PG_END_TRY();
}

/*
 * mimir.http_call(method, path, params, body, tenant, content_type)
 *   → (status, content_type, body bytea)
 * The SQL wrappers in 60_query_api.sql turn the body into text for JSON.
 */
Datum
mimir_http_call(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ApiRequest	req;
	ApiResponse resp;
	char	   *method,
			   *path,
			   *q;
	const char *tenant;
	Datum		vals[3];
	bool		nulls[3] = {false, false, false};
	bool		ok;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("method and path must not be NULL"),
				 errhint("For example: SELECT * FROM mimir.http_call('GET', '/api/v1/query', 'query=up').")));
	method = text_to_cstring(PG_GETARG_TEXT_PP(0));
	for (char *p = method; *p; p++)
		*p = pg_ascii_toupper(*p);
	path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tenant = mimir_tenant_name(PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4));

	/* the path may carry its own query string, as a URL would */
	q = strchr(path, '?');
	if (q)
		*q++ = '\0';
	path = api_url_decode(path, strlen(path), false, &ok);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL escape in path")));

	api_request_init(&req, method, path, tenant);
	api_response_init(&resp);
	if (!PG_ARGISNULL(5))
		req.content_type = text_to_cstring(PG_GETARG_TEXT_PP(5));
	if (!PG_ARGISNULL(3))
	{
		bytea	   *b = PG_GETARG_BYTEA_PP(3);

		req.body = VARDATA_ANY(b);
		req.body_len = VARSIZE_ANY_EXHDR(b);
		if (req.content_type == NULL)
			req.content_type = strcmp(strip_prefix(path), "/api/v1/read") == 0
				? "application/x-protobuf" : "application/x-www-form-urlencoded";
	}

	/* query-string errors are answered like any other bad request */
	PG_TRY();
	{
		if (q)
			api_parse_query_string(&req, q, strlen(q));
		if (!PG_ARGISNULL(2))
		{
			char	   *params = text_to_cstring(PG_GETARG_TEXT_PP(2));

			api_parse_query_string(&req, params, strlen(params));
		}
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		ed = CopyErrorData();
		if (ed->sqlerrcode != API_ERRCODE_BAD_DATA)
			PG_RE_THROW();
		FlushErrorState();
		api_error(&resp, API_ERR_BAD_DATA, "%s", ed->message);
	}
	PG_END_TRY();
	if (resp.status == 0)
		api_handle(&req, &resp);

	InitMaterializedSRF(fcinfo, 0);
	vals[0] = Int32GetDatum(resp.status);
	if (resp.content_type)
		vals[1] = CStringGetTextDatum(resp.content_type);
	else
		nulls[1] = true;
	{
		bytea	   *b = palloc(VARHDRSZ + resp.body.len);

		SET_VARSIZE(b, VARHDRSZ + resp.body.len);
		memcpy(VARDATA(b), resp.body.data, resp.body.len);
		vals[2] = PointerGetDatum(b);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, vals, nulls);
	return (Datum) 0;
}
