/*
 * api.h — the Prometheus/Mimir query API as backend-side handlers,
 * independent of the HTTP transport: a request (method, path, parameters,
 * tenant, body) goes in, a response (status, content type, body) comes out.
 * The HTTP workers (through the query worker pool) and the SQL function
 * mimir.http_call() both drive the same handlers.
 */
#ifndef MIMIR_API_H
#define MIMIR_API_H

#include "mimir.h"
#include "lib/stringinfo.h"
#include "promql/promql.h"

/* Prometheus' error types (web/api/v1/api.go), with their HTTP statuses. */
typedef enum ApiErrorType
{
	API_ERR_NONE = 0,
	API_ERR_BAD_DATA,			/* 400 */
	API_ERR_EXECUTION,			/* 422 */
	API_ERR_CANCELED,			/* 503 */
	API_ERR_TIMEOUT,			/* 503 */
	API_ERR_INTERNAL,			/* 500 */
	API_ERR_UNAVAILABLE,		/* 503 */
	API_ERR_NOT_FOUND,			/* 404 */
	API_ERR_TOO_MANY_REQUESTS,	/* 429 */
	API_ERR_TOO_LARGE,			/* 413 */
	API_ERR_METHOD				/* 405 (our router; Prometheus' is plain text) */
} ApiErrorType;

typedef struct ApiParam
{
	char	   *name;
	char	   *value;
} ApiParam;

typedef struct ApiRequest
{
	const char *method;			/* "GET", "POST", ... */
	const char *path;			/* as received, with or without /prometheus */
	const char *tenant;			/* resolved tenant name (never NULL) */
	const char *content_type;	/* may be NULL */
	const char *body;			/* may be NULL */
	size_t		body_len;
	/* form values: POST body first, then the URL query (Go's r.Form order) */
	int			nparams;
	ApiParam   *params;
	/* filled by the router */
	const char *route_path;		/* path without the /prometheus prefix */
	const char *path_arg;		/* e.g. <name> of /api/v1/label/<name>/values */
	int64		now_ms;			/* request time, default evaluation time */
} ApiRequest;

#define API_MAX_HEADERS 4

typedef struct ApiResponse
{
	int			status;
	const char *content_type;
	StringInfoData body;
	int			nheaders;
	const char *hdr_name[API_MAX_HEADERS];
	char	   *hdr_value[API_MAX_HEADERS];
} ApiResponse;

/* api_router.c */
extern bool api_in_evaluation;
extern void api_handle(ApiRequest *req, ApiResponse *resp);
extern void api_request_init(ApiRequest *req, const char *method, const char *path,
							 const char *tenant);
extern void api_response_init(ApiResponse *resp);
extern void api_add_header(ApiResponse *resp, const char *name, const char *value);
extern bool api_route_exists(const char *path);

/* api_json.c */
/* Go's FormatFloat(v, 'f', -1, 64): longest output (5e-324) is 327 bytes */
#define API_FLOAT_BUFLEN 400
extern int	api_format_float_n(char *buf, double v);
extern void api_format_float(char *buf, size_t len, double v);
extern void api_format_go_duration(char *buf, size_t len, int64 ms);
extern void json_string(StringInfo s, const char *str);
extern void json_string_len(StringInfo s, const char *str, int len);
extern void json_float(StringInfo s, double v);
extern void json_timestamp(StringInfo s, int64 ms);
extern void json_labels(StringInfo s, const MimirLabelSet *ls);
extern void json_string_list(StringInfo s, List *strings);
extern void api_success_begin(ApiResponse *resp);
extern void api_success_end(ApiResponse *resp, List *warnings, List *infos);
extern void api_error_va(ApiResponse *resp, ApiErrorType type, const char *fmt, va_list ap) pg_attribute_printf(3, 0);
extern void api_error(ApiResponse *resp, ApiErrorType type, const char *fmt,...) pg_attribute_printf(3, 4);
extern int	api_error_status(ApiErrorType type);
extern const char *api_error_name(ApiErrorType type);

/*
 * Errors raised with these SQL states inside handlers become the matching
 * Prometheus error (see api_router.c for the complete mapping).
 */
#define API_ERRCODE_BAD_DATA	ERRCODE_SYNTAX_ERROR
#define API_ERRCODE_EXECUTION	ERRCODE_PROGRAM_LIMIT_EXCEEDED
#define API_ERRCODE_NOT_FOUND	ERRCODE_UNDEFINED_OBJECT

/* api_params.c */
extern void api_parse_query_string(ApiRequest *req, const char *qs, int len);
extern void api_parse_form_body(ApiRequest *req);
extern void api_add_param(ApiRequest *req, const char *name, const char *value);
extern const char *api_param(ApiRequest *req, const char *name);
extern List *api_param_all(ApiRequest *req, const char *name);
extern PqNode *api_parse_promql(const char *text, const char *prefix);
extern bool api_parse_time(const char *s, int64 *ms);
extern bool api_parse_duration(const char *s, int64 *ms, bool *overflow);
extern int64 api_time_param(ApiRequest *req, const char *name, int64 dflt);
extern int64 api_required_time_param(ApiRequest *req, const char *name);
extern int64 api_duration_param(ApiRequest *req, const char *name, int64 dflt);
extern int	api_limit_param(ApiRequest *req, const char *name);
extern List *api_match_params(ApiRequest *req, const char *name, bool wrap);
extern char *api_url_decode(const char *s, int len, bool plus_is_space, bool *ok);
#define API_MIN_TIME_MS	(PG_INT64_MIN / 1000 * 1000 + 1000)
#define API_MAX_TIME_MS	(PG_INT64_MAX / 1000 * 1000 - 1000)

/* query_limits.c: per-tenant query limits (Mimir's names) */
typedef struct QueryLimits
{
	int64		max_fetched_series_per_query;
	int64		max_total_query_length_ms;
	int64		max_query_lookback_ms;
	int64		max_labels_query_length_ms;
	int64		max_query_expression_size_bytes;
	int64		cardinality_analysis_max_results;
	bool		cardinality_analysis_enabled;
} QueryLimits;
extern void query_limits_for(const char *tenant, QueryLimits *out);

/* query_api.c */
extern void api_query(ApiRequest *req, ApiResponse *resp);
extern void api_query_range(ApiRequest *req, ApiResponse *resp);
extern void api_format_query(ApiRequest *req, ApiResponse *resp);
extern void api_buildinfo(ApiRequest *req, ApiResponse *resp);
extern void api_status_config(ApiRequest *req, ApiResponse *resp);
extern void api_status_flags(ApiRequest *req, ApiResponse *resp);
extern void api_write_matrix_result(StringInfo s, PqResult *res);
extern int	api_timeout_ms(ApiRequest *req);

/* series_api.c */
extern void api_series(ApiRequest *req, ApiResponse *resp);
extern void api_labels(ApiRequest *req, ApiResponse *resp);
extern void api_label_values(ApiRequest *req, ApiResponse *resp);
extern void api_metadata(ApiRequest *req, ApiResponse *resp);
extern void api_query_exemplars(ApiRequest *req, ApiResponse *resp);
extern void api_cardinality_label_names(ApiRequest *req, ApiResponse *resp);
extern void api_cardinality_label_values(ApiRequest *req, ApiResponse *resp);
extern void api_cardinality_active_series(ApiRequest *req, ApiResponse *resp);

/* remote_read.c */
extern void api_remote_read(ApiRequest *req, ApiResponse *resp);

#endif							/* MIMIR_API_H */
