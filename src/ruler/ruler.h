/*
 * ruler.h — the ruler's internal interfaces: rule-group definitions (parsed
 * from Prometheus rule-file YAML), the Go text/template subset used for alert
 * labels and annotations, group evaluation, the Alertmanager notifier and
 * the HTTP handlers.
 */
#ifndef MIMIR_RULER_H
#define MIMIR_RULER_H

#include "mimir.h"

#include "lib/stringinfo.h"

/* ---------------------------------------------------------------------
 * Rule groups (rule_yaml.c)
 * --------------------------------------------------------------------- */
typedef struct RuleDef
{
	bool		alerting;		/* alert: ... (else record: ...) */
	char	   *name;
	char	   *expr;
	int64		for_ms;
	int64		keep_firing_for_ms;
	MimirLabelSet labels;		/* sorted by name */
	MimirLabelSet annotations;	/* sorted by name */
} RuleDef;

typedef struct RuleGroupDef
{
	char	   *name;
	bool		has_interval;
	int64		interval_ms;	/* 0 when not given */
	bool		has_query_offset;
	int64		query_offset_ms;
	int64		limit;
	bool		align;			/* align_evaluation_time_on_interval (Mimir) */
	int			nrules;
	RuleDef    *rules;
	int			line;			/* 1-based position of the group in the YAML */
	int			column;
} RuleGroupDef;

/*
 * Parse YAML. Errors (promtool's wording and positions) are appended to
 * *errors as char *; the result is NULL when there are any.
 */
extern RuleGroupDef *ruler_parse_group(const char *yaml, List **errors);
extern List *ruler_parse_file(const char *yaml, List **errors);	/* RuleGroupDef * */

/* Semantic validation (promtool check rules) of one group; errors appended. */
extern void ruler_validate_group(const RuleGroupDef *g, List **errors);

/* YAML of a group, as Mimir's config API returns it (indent = spaces before "name:") */
extern char *ruler_group_to_yaml(const RuleGroupDef *g);
extern void ruler_emit_group(StringInfo out, const RuleGroupDef *g, int indent);
extern void ruler_emit_yaml_string(StringInfo out, const char *s);

/* Prometheus model.Duration formatting: 1h30m, 15s, 0s */
extern char *ruler_format_duration(int64 ms);

/* ---------------------------------------------------------------------
 * Go text/template subset (gotmpl_*.c)
 * --------------------------------------------------------------------- */

/* Runs a PromQL instant query for the template function `query`. */
typedef struct GtSample
{
	MimirLabelSet labels;
	double		value;
} GtSample;
typedef GtSample *(*GtQueryFn) (void *arg, const char *query, int64 t_ms, int *n);

typedef struct GtEnv
{
	MimirLabelSet labels;		/* .Labels / $labels */
	MimirLabelSet external_labels;	/* .ExternalLabels / $externalLabels */
	const char *external_url;	/* .ExternalURL / $externalURL */
	double		value;			/* .Value / $value */
	int64		t_ms;			/* evaluation time (query, now) */
	GtQueryFn	query;			/* NULL: query() fails */
	void	   *query_arg;
} GtEnv;

/*
 * Expand text as Prometheus does for alert templates (with the $labels,
 * $externalLabels, $externalURL, $value definitions prepended). On failure
 * returns NULL and sets *err to Prometheus' message.
 */
extern char *gotmpl_expand_alert(const char *rule_name, const char *text, const GtEnv *env,
								 char **err);
/* Parse only (promtool's template check): NULL if fine, else the error. */
extern char *gotmpl_check_alert(const char *rule_name, const char *text);
/* Plain expansion of a named template with env data (no prepended defs). */
extern char *gotmpl_expand(const char *name, const char *text, const GtEnv *env, char **err);

/* Go's fmt number formatting, shared with the JSON API */
extern void gofmt_float_shortest(StringInfo out, double v, char fmt);	/* 'g' (%v) or 'e' */
extern void gofmt_query_escape(StringInfo out, const char *s);
extern char *gofmt_quote(const char *s);	/* strconv.Quote */
extern char *gofmt_rfc3339(int64 ms, bool nanos);

/* ---------------------------------------------------------------------
 * Evaluation (rule_eval.c) and scheduling (rule_store.c)
 * --------------------------------------------------------------------- */
extern char *mimir_alertmanager_url;
extern char *mimir_ruler_external_url;
extern char *mimir_ruler_external_labels;
extern int	mimir_ruler_evaluation_interval_ms;
extern int	mimir_ruler_resend_delay_ms;
extern int	mimir_alertmanager_timeout_ms;
extern int	mimir_ruler_max_catchup;
extern int	mimir_ruler_slot_delay_ms;

extern void mimir_ruler_init(void);
extern void mimir_register_notifier(void);

/* rule_eval.c: append a sample to existing series by id */
extern void ruler_append_to_series(int32 tenant_id, const int64 *ids, int n, int64 t, double v);

/* rule_store.c */
extern void ruler_store_group(int32 tenant_id, const char *ns, const RuleGroupDef *g);
extern bool ruler_delete_group(int32 tenant_id, const char *ns, const char *name);
extern int	ruler_delete_namespace(int32 tenant_id, const char *ns);
extern void ruler_raise_errors(const char *what, List *errors);

/* the group hash offset Prometheus adds to evaluation slots */
extern uint64 ruler_group_hash(const char *file, const char *name);
extern int64 ruler_eval_slot(int64 now_ms, int64 interval_ms, uint64 hash, bool align);


/* external labels parsed from mimir.ruler_external_labels */
extern void ruler_external_labels(MimirLabelSet *out);

/* ---------------------------------------------------------------------
 * HTTP (ruler_api.c)
 * --------------------------------------------------------------------- */
typedef struct RulerHttpResponse
{
	int			status;
	const char *content_type;
	char	   *body;
} RulerHttpResponse;

/*
 * Handle one ruler API request in a backend (inside a transaction).
 * params: nparams name/value pairs of the query string or form body.
 */
extern void ruler_http_handle(const char *method, const char *path,
							  int nparams, char **names, char **values,
							  const char *body, size_t body_len, const char *tenant,
							  RulerHttpResponse *resp);
/* true if the path belongs to the ruler API */
extern bool ruler_http_path(const char *path);
/* the handler as an HTTP route's backend step (api/http.h) */
struct HttpJob;
extern void ruler_route_run(struct HttpJob *job);

#endif							/* MIMIR_RULER_H */
