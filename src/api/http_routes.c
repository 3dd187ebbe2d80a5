/*
 * http_routes.c — the table of HTTP endpoints served by the workers, and the
 * small operational endpoints (/ready, /metrics). Other components add
 * their endpoints as rows of mimir_http_routes (paths are also served under
 * Mimir's /prometheus prefix).
 */
#include "mimir.h"

#include "distributor/distributor.h"
#include "api/query_pool.h"
#include "ruler/ruler.h"

static volatile bool ready_flag;

void
http_routes_set_ready(bool ready)
{
	ready_flag = ready;
}

/* HTTP thread: no PostgreSQL calls here */
static void
ready_pre(HttpJob *job)
{
	if (ready_flag)
		http_respondf(job, 200, "ready\n");
	else
		http_respondf(job, 503, "not ready: the mimir extension is not installed in the database yet\n");
}

static void
metrics_run(HttpJob *job)
{
	char	   *text = distributor_metrics_text();

	http_respond(job, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

const HttpRoute mimir_http_routes[] = {
	/* path, methods, pre (HTTP thread), run (backend), done (after commit) */
	{"/api/v1/push", "POST", push_pre, push_run, push_publish},
	{"/api/v1/write", "POST", push_pre, push_run, push_publish},
	{"/ready", "GET", ready_pre, NULL, NULL},
	{"/metrics", "GET", NULL, metrics_run, NULL},
	/* ruler (the /prometheus prefix is stripped before matching) */
	{"/api/v1/rules", "GET,POST", NULL, ruler_route_run, NULL},
	{"/api/v1/alerts", "GET,POST", NULL, ruler_route_run, NULL},
	{"/config/v1/rules", "GET", NULL, ruler_route_run, NULL},
	{"/config/v1/rules/*", "GET,POST,DELETE", NULL, ruler_route_run, NULL},
	/* last: every other path is the query API's, whose router answers 404/405 in JSON */
	{"*", "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS", NULL, query_route_run, NULL},
};
const int	mimir_http_nroutes = lengthof(mimir_http_routes);
