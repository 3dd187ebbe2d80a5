/*
 * rule_yaml.c — Prometheus rule-file YAML (libyaml): decoding a rule group
 * or a file of groups into RuleGroupDef, validating it as strictly as
 * `promtool check rules` (same messages and line:column positions, so people
 * recognise them), and writing a group back as YAML for the config API.
 */
#include "ruler/ruler.h"

#include <yaml.h>

#include <math.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "promql/promql_ast.h"

typedef struct YCtx
{
	yaml_document_t doc;
	List	   *unmarshal;		/* "line N: ..." */
	char	   *fatal;			/* an error that ends decoding (bad duration) */
} YCtx;

/* ---------------------------------------------------------------------
 * scalar resolution (yaml.v3's core schema)
 * --------------------------------------------------------------------- */
typedef enum YTag
{
	YT_NULL,
	YT_BOOL,
	YT_INT,
	YT_FLOAT,
	YT_STR,
	YT_SEQ,
	YT_MAP
} YTag;

static const char *
ytag_name(YTag t)
{
	switch (t)
	{
		case YT_NULL:
			return "!!null";
		case YT_BOOL:
			return "!!bool";
		case YT_INT:
			return "!!int";
		case YT_FLOAT:
			return "!!float";
		case YT_STR:
			return "!!str";
		case YT_SEQ:
			return "!!seq";
		case YT_MAP:
			return "!!map";
	}
	return "!!str";
}

static bool
is_int_text(const char *s)
{
	const char *p = s;

	if (*p == '+' || *p == '-')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b') && p[2])
	{
		const char *digits = p[1] == 'x' ? "0123456789abcdefABCDEF_" : p[1] == 'o' ? "01234567_" : "01_";

		for (p += 2; *p; p++)
			if (!strchr(digits, *p))
				return false;
		return true;
	}
	if (!*p)
		return false;
	for (; *p; p++)
		if (!(*p >= '0' && *p <= '9') && *p != '_')
			return false;
	return true;
}

static bool
is_float_text(const char *s)
{
	const char *p = s;
	bool		digits = false;

	if (strcmp(s, ".inf") == 0 || strcmp(s, "+.inf") == 0 || strcmp(s, "-.inf") == 0 ||
		strcmp(s, ".Inf") == 0 || strcmp(s, "+.Inf") == 0 || strcmp(s, "-.Inf") == 0 ||
		strcmp(s, ".INF") == 0 || strcmp(s, "+.INF") == 0 || strcmp(s, "-.INF") == 0 ||
		strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0)
		return true;
	if (*p == '+' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9')
		p++, digits = true;
	if (*p == '.')
	{
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits = true;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E')
	{
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

static YTag
node_tag(yaml_node_t *n)
{
	const char *tag = (const char *) n->tag;

	if (n->type == YAML_SEQUENCE_NODE)
		return YT_SEQ;
	if (n->type == YAML_MAPPING_NODE)
		return YT_MAP;
	if (tag && strcmp(tag, YAML_STR_TAG) != 0)
	{
		if (strcmp(tag, YAML_INT_TAG) == 0)
			return YT_INT;
		if (strcmp(tag, YAML_FLOAT_TAG) == 0)
			return YT_FLOAT;
		if (strcmp(tag, YAML_BOOL_TAG) == 0)
			return YT_BOOL;
		if (strcmp(tag, YAML_NULL_TAG) == 0)
			return YT_NULL;
	}
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return YT_STR;
	{
		const char *v = (const char *) n->data.scalar.value;

		if (*v == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
			strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0)
			return YT_NULL;
		if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0 ||
			strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
			return YT_BOOL;
		if (is_int_text(v))
			return YT_INT;
		if (is_float_text(v))
			return YT_FLOAT;
	}
	return YT_STR;
}

static int
node_line(yaml_node_t *n)
{
	return (int) n->start_mark.line + 1;
}

static int
node_col(yaml_node_t *n)
{
	return (int) n->start_mark.column + 1;
}

static void
type_error(YCtx *y, yaml_node_t *n, const char *into)
{
	YTag		t = node_tag(n);

	if (n->type == YAML_SCALAR_NODE)
		y->unmarshal = lappend(y->unmarshal,
							   psprintf("line %d: cannot unmarshal %s `%s` into %s", node_line(n),
										ytag_name(t), (const char *) n->data.scalar.value, into));
	else
		y->unmarshal = lappend(y->unmarshal,
							   psprintf("line %d: cannot unmarshal %s into %s", node_line(n),
										ytag_name(t), into));
}

/* string field: any scalar; null gives "" */
static char *
get_string(YCtx *y, yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
	{
		type_error(y, n, "string");
		return pstrdup("");
	}
	if (node_tag(n) == YT_NULL)
		return pstrdup("");
	return pstrdup((const char *) n->data.scalar.value);
}

static int64
get_int(YCtx *y, yaml_node_t *n)
{
	YTag		t = node_tag(n);
	const char *v;

	if (n->type != YAML_SCALAR_NODE || (t != YT_INT && t != YT_NULL && t != YT_FLOAT))
	{
		type_error(y, n, "int");
		return 0;
	}
	if (t == YT_NULL)
		return 0;
	v = (const char *) n->data.scalar.value;
	if (t == YT_FLOAT)
	{
		double		d = strtod(v, NULL);

		if (d != floor(d) || d > (double) PG_INT64_MAX || d < (double) PG_INT64_MIN)
		{
			type_error(y, n, "int");
			return 0;
		}
		return (int64) d;
	}
	{
		char	   *clean = palloc(strlen(v) + 1);
		int			j = 0;
		int64		r;
		char	   *end;
		int			base = 10;
		const char *p = v;
		bool		neg = false;

		if (*p == '+' || *p == '-')
			neg = (*p++ == '-');
		if (p[0] == '0' && p[1] == 'x')
			base = 16, p += 2;
		else if (p[0] == '0' && p[1] == 'o')
			base = 8, p += 2;
		else if (p[0] == '0' && p[1] == 'b')
			base = 2, p += 2;
		for (; *p; p++)
			if (*p != '_')
				clean[j++] = *p;
		clean[j] = '\0';
		errno = 0;
		r = strtoll(clean, &end, base);
		if (errno != 0 || *end)
		{
			type_error(y, n, "int");
			return 0;
		}
		return neg ? -r : r;
	}
}

static bool
get_bool(YCtx *y, yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE)
	{
		type_error(y, n, "bool");
		return false;
	}
	v = (const char *) n->data.scalar.value;
	if (node_tag(n) == YT_NULL)
		return false;
	/* yaml.v3 accepts the YAML 1.1 spellings when decoding into a bool */
	if (pg_strcasecmp(v, "true") == 0 || pg_strcasecmp(v, "yes") == 0 || pg_strcasecmp(v, "on") == 0 ||
		strcmp(v, "y") == 0 || strcmp(v, "Y") == 0)
		return true;
	if (pg_strcasecmp(v, "false") == 0 || pg_strcasecmp(v, "no") == 0 || pg_strcasecmp(v, "off") == 0 ||
		strcmp(v, "n") == 0 || strcmp(v, "N") == 0)
		return false;
	type_error(y, n, "bool");
	return false;
}

/* model.Duration: decoded from its string form; an invalid one ends decoding */
static int64
get_duration(YCtx *y, yaml_node_t *n, bool *ok)
{
	char	   *s;
	int64		ms;

	*ok = false;
	if (n->type != YAML_SCALAR_NODE)
	{
		type_error(y, n, "string");
		return 0;
	}
	s = (node_tag(n) == YT_NULL) ? "" : (char *) n->data.scalar.value;
	if (*s == '\0')
	{
		if (y->fatal == NULL)
			y->fatal = pstrdup("empty duration string");
		return 0;
	}
	if (!mimir_parse_duration(s, &ms))
	{
		if (y->fatal == NULL)
			y->fatal = psprintf("not a valid duration string: %s", mimir_go_quote(s));
		return 0;
	}
	*ok = true;
	return ms;
}

/* Checks duplicate keys of a mapping, as yaml.v3 does. */
static void
check_duplicate_keys(YCtx *y, yaml_node_t *map)
{
	for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
	{
		yaml_node_t *ka = yaml_document_get_node(&y->doc, a->key);

		if (ka->type != YAML_SCALAR_NODE)
			continue;
		for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++)
		{
			yaml_node_t *kb = yaml_document_get_node(&y->doc, b->key);

			if (kb->type == YAML_SCALAR_NODE &&
				strcmp((char *) ka->data.scalar.value, (char *) kb->data.scalar.value) == 0)
			{
				y->unmarshal = lappend(y->unmarshal,
									   psprintf("line %d: mapping key %s already defined at line %d",
												node_line(ka), mimir_go_quote((char *) ka->data.scalar.value),
												node_line(kb)));
				break;
			}
		}
	}
}

static int
labelset_cmp(const void *a, const void *b)
{
	return strcmp(((const MimirLabel *) a)->name, ((const MimirLabel *) b)->name);
}

/* map[string]string; later duplicates replace earlier ones (after the error) */
static void
get_string_map(YCtx *y, yaml_node_t *n, MimirLabelSet *out)
{
	int			cap;

	out->n = 0;
	out->labels = NULL;
	if (n->type == YAML_SCALAR_NODE && node_tag(n) == YT_NULL)
		return;
	if (n->type != YAML_MAPPING_NODE)
	{
		type_error(y, n, "map[string]string");
		return;
	}
	check_duplicate_keys(y, n);
	cap = (int) (n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	out->labels = palloc0(sizeof(MimirLabel) * Max(cap, 1));
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
	{
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
		char	   *key = get_string(y, k);
		char	   *val = get_string(y, v);
		int			i;

		for (i = 0; i < out->n; i++)
			if (strcmp(out->labels[i].name, key) == 0)
				break;
		out->labels[i].name = key;
		out->labels[i].value = val;
		if (i == out->n)
			out->n++;
	}
	qsort(out->labels, out->n, sizeof(MimirLabel), labelset_cmp);
}

/* positions of a rule's record/alert/expr value nodes (0 = absent, as Go's zero Node) */
typedef struct RulePos
{
	int			record_line,
				record_col;
	int			alert_line,
				alert_col;
	int			expr_line,
				expr_col;
} RulePos;

static void
decode_rule(YCtx *y, yaml_node_t *n, RuleDef *r, RulePos *pos)
{
	memset(r, 0, sizeof(*r));
	memset(pos, 0, sizeof(*pos));
	r->name = pstrdup("");
	r->expr = pstrdup("");
	if (n->type != YAML_MAPPING_NODE)
	{
		if (!(n->type == YAML_SCALAR_NODE && node_tag(n) == YT_NULL))
			type_error(y, n, "rulefmt.RuleNode");
		return;
	}
	check_duplicate_keys(y, n);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
	{
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
		const char *key = k->type == YAML_SCALAR_NODE ? (const char *) k->data.scalar.value : "";
		bool		ok;

		if (strcmp(key, "record") == 0)
		{
			char	   *s = get_string(y, v);

			pos->record_line = node_line(v);
			pos->record_col = node_col(v);
			/* the alert name wins when both are given (reported by validation) */
			if (*s && !r->alerting)
				r->name = s;
		}
		else if (strcmp(key, "alert") == 0)
		{
			char	   *s = get_string(y, v);

			pos->alert_line = node_line(v);
			pos->alert_col = node_col(v);
			if (*s)
			{
				r->alerting = true;
				r->name = s;
			}
		}
		else if (strcmp(key, "expr") == 0)
		{
			r->expr = get_string(y, v);
			pos->expr_line = node_line(v);
			pos->expr_col = node_col(v);
		}
		else if (strcmp(key, "for") == 0)
			r->for_ms = get_duration(y, v, &ok);
		else if (strcmp(key, "keep_firing_for") == 0)
			r->keep_firing_for_ms = get_duration(y, v, &ok);
		else if (strcmp(key, "labels") == 0)
			get_string_map(y, v, &r->labels);
		else if (strcmp(key, "annotations") == 0)
			get_string_map(y, v, &r->annotations);
		else
			y->unmarshal = lappend(y->unmarshal,
								   psprintf("line %d: field %s not found in type rulefmt.RuleNode",
											node_line(k), key));
		if (y->fatal)
			return;
	}
}

/* extra per-rule data validation needs */
typedef struct GroupExtra
{
	RulePos    *pos;
	bool		record_and_alert_set;	/* per rule: both record and alert given */
	bool	   *both;
	char	  **record_names;	/* record value when both are set */
	bool		source_tenants;
} GroupExtra;

static RuleGroupDef *
decode_group(YCtx *y, yaml_node_t *n, GroupExtra *ex)
{
	RuleGroupDef *g = palloc0(sizeof(RuleGroupDef));

	g->name = pstrdup("");
	g->line = node_line(n);
	g->column = node_col(n);
	memset(ex, 0, sizeof(*ex));
	if (n->type != YAML_MAPPING_NODE)
	{
		if (!(n->type == YAML_SCALAR_NODE && node_tag(n) == YT_NULL))
			type_error(y, n, "rulefmt.RuleGroup");
		return g;
	}
	check_duplicate_keys(y, n);
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
	{
		yaml_node_t *k = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
		const char *key = k->type == YAML_SCALAR_NODE ? (const char *) k->data.scalar.value : "";
		bool		ok;

		if (strcmp(key, "name") == 0)
			g->name = get_string(y, v);
		else if (strcmp(key, "interval") == 0)
		{
			g->interval_ms = get_duration(y, v, &ok);
			g->has_interval = ok && g->interval_ms > 0;
		}
		else if (strcmp(key, "query_offset") == 0 || strcmp(key, "evaluation_delay") == 0)
		{
			g->query_offset_ms = get_duration(y, v, &ok);
			g->has_query_offset = ok;
		}
		else if (strcmp(key, "limit") == 0)
			g->limit = get_int(y, v);
		else if (strcmp(key, "align_evaluation_time_on_interval") == 0)
			g->align = get_bool(y, v);
		else if (strcmp(key, "source_tenants") == 0)
		{
			if (v->type == YAML_SEQUENCE_NODE)
				ex->source_tenants = v->data.sequence.items.top > v->data.sequence.items.start;
			else if (!(v->type == YAML_SCALAR_NODE && node_tag(v) == YT_NULL))
				type_error(y, v, "[]string");
		}
		else if (strcmp(key, "rules") == 0)
		{
			if (v->type == YAML_SEQUENCE_NODE)
			{
				int			cnt = (int) (v->data.sequence.items.top - v->data.sequence.items.start);
				int			i = 0;

				g->rules = palloc0(sizeof(RuleDef) * Max(cnt, 1));
				ex->pos = palloc0(sizeof(RulePos) * Max(cnt, 1));
				ex->both = palloc0(sizeof(bool) * Max(cnt, 1));
				ex->record_names = palloc0(sizeof(char *) * Max(cnt, 1));
				for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++, i++)
				{
					yaml_node_t *rn = yaml_document_get_node(&y->doc, *it);

					decode_rule(y, rn, &g->rules[i], &ex->pos[i]);
					if (y->fatal)
						return g;
					ex->both[i] = ex->pos[i].record_line > 0 && ex->pos[i].alert_line > 0;
					if (ex->both[i] && rn->type == YAML_MAPPING_NODE)
					{
						/* remember the record value: the alert name won */
						for (yaml_node_pair_t *q = rn->data.mapping.pairs.start; q < rn->data.mapping.pairs.top; q++)
						{
							yaml_node_t *qk = yaml_document_get_node(&y->doc, q->key);
							yaml_node_t *qv = yaml_document_get_node(&y->doc, q->value);

							if (qk->type == YAML_SCALAR_NODE && qv->type == YAML_SCALAR_NODE &&
								strcmp((char *) qk->data.scalar.value, "record") == 0)
								ex->record_names[i] = pstrdup((char *) qv->data.scalar.value);
						}
					}
				}
				g->nrules = i;
			}
			else if (!(v->type == YAML_SCALAR_NODE && node_tag(v) == YT_NULL))
				type_error(y, v, "[]rulefmt.RuleNode");
		}
		else
			y->unmarshal = lappend(y->unmarshal,
								   psprintf("line %d: field %s not found in type rulefmt.RuleGroup",
											node_line(k), key));
		if (y->fatal)
			return g;
	}
	return g;
}

/* ---------------------------------------------------------------------
 * validation (rulefmt.RuleGroups.Validate)
 * --------------------------------------------------------------------- */
static bool
valid_label_value(const char *s)
{
	return pg_verify_mbstr(PG_UTF8, s, strlen(s), true);
}

static char *
rule_prefix(const RuleGroupDef *g, int i, const char *rulename, int l1, int c1, int l2, int c2,
			bool have_node, bool have_alt)
{
	if (have_alt)
		return psprintf("%d:%d: %d:%d: group %s, rule %d, %s: ", l1, c1, l2, c2, mimir_go_quote(g->name),
						i + 1, mimir_go_quote(rulename));
	if (have_node)
		return psprintf("%d:%d: group %s, rule %d, %s: ", l1, c1, mimir_go_quote(g->name), i + 1,
						mimir_go_quote(rulename));
	return psprintf("group %s, rule %d, %s: ", mimir_go_quote(g->name), i + 1, mimir_go_quote(rulename));
}

/* PromQL parse check; returns the parser's message or NULL */
static char *
promql_check(const char *expr)
{
	MemoryContext old = CurrentMemoryContext;
	char	   *msg = NULL;

	PG_TRY();
	{
		(void) promql_parse(expr);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(old);
		ed = CopyErrorData();
		FlushErrorState();
		msg = pstrdup(ed->message);
		FreeErrorData(ed);
	}
	PG_END_TRY();
	return msg;
}

static void
validate_group_ex(const RuleGroupDef *g, const GroupExtra *ex, List **errors)
{
	for (int i = 0; i < g->nrules; i++)
	{
		RuleDef    *r = &g->rules[i];
		RulePos    *p = ex && ex->pos ? &ex->pos[i] : NULL;
		bool		both = ex && ex->both ? ex->both[i] : false;
		const char *rname = r->name;
		List	   *tmpl_errs = NIL;
		ListCell   *lc;

		if (both)
			*errors = lappend(*errors,
							  psprintf("%sonly one of 'record' and 'alert' must be set",
									   rule_prefix(g, i, rname, p->record_line, p->record_col,
												   p->alert_line, p->alert_col, true, true)));
		if (*r->name == '\0')
			*errors = lappend(*errors,
							  psprintf("%sone of 'record' or 'alert' must be set",
									   rule_prefix(g, i, rname, p ? p->record_line : 0,
												   p ? p->record_col : 0, 0, 0, true, false)));
		if (*r->expr == '\0')
			*errors = lappend(*errors,
							  psprintf("%sfield 'expr' must be set in rule",
									   rule_prefix(g, i, rname, p ? p->expr_line : 0,
												   p ? p->expr_col : 0, 0, 0, true, false)));
		else
		{
			char	   *perr = promql_check(r->expr);

			if (perr)
				*errors = lappend(*errors,
								  psprintf("%scould not parse expression: %s",
										   rule_prefix(g, i, rname, p ? p->expr_line : 0,
													   p ? p->expr_col : 0, 0, 0, true, false), perr));
		}
		if (!r->alerting && *r->name)
		{
			int			rl = p ? p->record_line : 0,
						rc = p ? p->record_col : 0;

			if (r->annotations.n > 0)
				*errors = lappend(*errors, psprintf("%sinvalid field 'annotations' in recording rule",
													rule_prefix(g, i, rname, rl, rc, 0, 0, true, false)));
			if (r->for_ms != 0)
				*errors = lappend(*errors, psprintf("%sinvalid field 'for' in recording rule",
													rule_prefix(g, i, rname, rl, rc, 0, 0, true, false)));
			if (r->keep_firing_for_ms != 0)
				*errors = lappend(*errors, psprintf("%sinvalid field 'keep_firing_for' in recording rule",
													rule_prefix(g, i, rname, rl, rc, 0, 0, true, false)));
			if (!mimir_valid_metric_name(r->name))
				*errors = lappend(*errors, psprintf("%sinvalid recording rule name: %s",
													rule_prefix(g, i, rname, rl, rc, 0, 0, true, false),
													r->name));
		}
		for (int k = 0; k < r->labels.n; k++)
		{
			if (!mimir_valid_label_name(r->labels.labels[k].name) ||
				strcmp(r->labels.labels[k].name, "__name__") == 0)
				*errors = lappend(*errors, psprintf("%sinvalid label name: %s",
													rule_prefix(g, i, rname, 0, 0, 0, 0, false, false),
													r->labels.labels[k].name));
			if (!valid_label_value(r->labels.labels[k].value))
				*errors = lappend(*errors, psprintf("%sinvalid label value: %s",
													rule_prefix(g, i, rname, 0, 0, 0, 0, false, false),
													r->labels.labels[k].value));
		}
		for (int k = 0; k < r->annotations.n; k++)
			if (!mimir_valid_label_name(r->annotations.labels[k].name))
				*errors = lappend(*errors, psprintf("%sinvalid annotation name: %s",
													rule_prefix(g, i, rname, 0, 0, 0, 0, false, false),
													r->annotations.labels[k].name));
		/* templates of alerting rules must parse */
		if (r->alerting)
		{
			for (int k = 0; k < r->labels.n; k++)
			{
				char	   *e = gotmpl_check_alert(r->name, r->labels.labels[k].value);

				if (e)
					tmpl_errs = lappend(tmpl_errs, psprintf("%slabel %s: %s",
															rule_prefix(g, i, rname, 0, 0, 0, 0, false, false),
															mimir_go_quote(r->labels.labels[k].name), e));
			}
			for (int k = 0; k < r->annotations.n; k++)
			{
				char	   *e = gotmpl_check_alert(r->name, r->annotations.labels[k].value);

				if (e)
					tmpl_errs = lappend(tmpl_errs, psprintf("%sannotation %s: %s",
															rule_prefix(g, i, rname, 0, 0, 0, 0, false, false),
															mimir_go_quote(r->annotations.labels[k].name), e));
			}
		}
		foreach(lc, tmpl_errs)
			*errors = lappend(*errors, lfirst(lc));
	}
	if (ex && ex->source_tenants)
		*errors = lappend(*errors,
						  psprintf("group %s: federated rule groups (source_tenants) are not supported",
								   mimir_go_quote(g->name)));
	if (g->limit < 0)
		*errors = lappend(*errors, psprintf("group %s: limit must not be negative", mimir_go_quote(g->name)));
}

void
ruler_validate_group(const RuleGroupDef *g, List **errors)
{
	validate_group_ex(g, NULL, errors);
}

/* ---------------------------------------------------------------------
 * entry points
 * --------------------------------------------------------------------- */
static bool
load_document(YCtx *y, const char *text, List **errors)
{
	yaml_parser_t parser;
	bool		ok;

	memset(y, 0, sizeof(*y));
	if (!yaml_parser_initialize(&parser))
		elog(ERROR, "could not initialise the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, strlen(text));
	ok = yaml_parser_load(&parser, &y->doc);
	if (!ok)
	{
		int			line = (int) parser.problem_mark.line;

		/* yaml.v3 counts lines this way: scanner errors one further */
		if (parser.error == YAML_SCANNER_ERROR)
			line++;
		*errors = lappend(*errors, psprintf("yaml: line %d: %s", line,
											parser.problem ? parser.problem : "syntax error"));
		yaml_parser_delete(&parser);
		return false;
	}
	yaml_parser_delete(&parser);
	return true;
}

/* the unmarshal / fatal errors of decoding, as yaml.v3 reports them */
static bool
decode_errors(YCtx *y, List **errors)
{
	if (y->fatal)
	{
		*errors = lappend(*errors, y->fatal);
		return true;
	}
	if (y->unmarshal != NIL)
	{
		StringInfoData b;
		ListCell   *lc;

		initStringInfo(&b);
		appendStringInfoString(&b, "yaml: unmarshal errors:");
		foreach(lc, y->unmarshal)
			appendStringInfo(&b, "\n  %s", (char *) lfirst(lc));
		*errors = lappend(*errors, b.data);
		return true;
	}
	return false;
}

RuleGroupDef *
ruler_parse_group(const char *text, List **errors)
{
	YCtx		y;
	yaml_node_t *root;
	RuleGroupDef *g = NULL;
	GroupExtra	ex;
	int			before = list_length(*errors);

	if (!load_document(&y, text, errors))
		return NULL;
	PG_TRY();
	{
		root = yaml_document_get_root_node(&y.doc);
		if (root == NULL)
			*errors = lappend(*errors, pstrdup("rule group is empty"));
		else
		{
			g = decode_group(&y, root, &ex);
			if (!decode_errors(&y, errors))
			{
				if (*g->name == '\0')
					*errors = lappend(*errors, psprintf("%d:%d: Groupname must not be empty",
														g->line, g->column));
				validate_group_ex(g, &ex, errors);
			}
		}
	}
	PG_FINALLY();
	{
		yaml_document_delete(&y.doc);
	}
	PG_END_TRY();
	return list_length(*errors) > before ? NULL : g;
}

List *
ruler_parse_file(const char *text, List **errors)
{
	YCtx		y;
	yaml_node_t *root;
	List	   *groups = NIL;
	List	   *extras = NIL;
	int			before = list_length(*errors);

	if (!load_document(&y, text, errors))
		return NIL;
	PG_TRY();
	{
		root = yaml_document_get_root_node(&y.doc);
		if (root != NULL && !(root->type == YAML_SCALAR_NODE && node_tag(root) == YT_NULL))
		{
			if (root->type != YAML_MAPPING_NODE)
				type_error(&y, root, "rulefmt.RuleGroups");
			else
			{
				check_duplicate_keys(&y, root);
				for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
					 p < root->data.mapping.pairs.top && !y.fatal; p++)
				{
					yaml_node_t *k = yaml_document_get_node(&y.doc, p->key);
					yaml_node_t *v = yaml_document_get_node(&y.doc, p->value);
					const char *key = k->type == YAML_SCALAR_NODE ? (const char *) k->data.scalar.value : "";

					if (strcmp(key, "groups") != 0)
					{
						y.unmarshal = lappend(y.unmarshal,
											  psprintf("line %d: field %s not found in type rulefmt.RuleGroups",
													   node_line(k), key));
						continue;
					}
					if (v->type == YAML_SEQUENCE_NODE)
					{
						for (yaml_node_item_t *it = v->data.sequence.items.start;
							 it < v->data.sequence.items.top && !y.fatal; it++)
						{
							GroupExtra *ex = palloc0(sizeof(GroupExtra));

							groups = lappend(groups, decode_group(&y, yaml_document_get_node(&y.doc, *it), ex));
							extras = lappend(extras, ex);
						}
					}
					else if (!(v->type == YAML_SCALAR_NODE && node_tag(v) == YT_NULL))
						type_error(&y, v, "[]rulefmt.RuleGroup");
				}
			}
		}
		if (!decode_errors(&y, errors))
		{
			ListCell   *lc,
					   *lx;

			forboth(lc, groups, lx, extras)
			{
				RuleGroupDef *g = lfirst(lc);

				if (*g->name == '\0')
					*errors = lappend(*errors, psprintf("%d:%d: Groupname must not be empty",
														g->line, g->column));
				for (ListCell *pc = list_head(groups); pc != lc; pc = lnext(groups, pc))
					if (strcmp(((RuleGroupDef *) lfirst(pc))->name, g->name) == 0)
					{
						*errors = lappend(*errors, psprintf("%d:%d: groupname: %s is repeated in the same file",
															g->line, g->column, mimir_go_quote(g->name)));
						break;
					}
				validate_group_ex(g, lfirst(lx), errors);
			}
		}
	}
	PG_FINALLY();
	{
		yaml_document_delete(&y.doc);
	}
	PG_END_TRY();
	return list_length(*errors) > before ? NIL : groups;
}

/* ---------------------------------------------------------------------
 * output
 * --------------------------------------------------------------------- */
char *
ruler_format_duration(int64 ms)
{
	static const struct
	{
		char		unit[3];
		int64		ms;
	}			units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000LL},
	{"h", 3600000LL}, {"m", 60000LL}, {"s", 1000LL}, {"ms", 1LL}};
	StringInfoData b;

	if (ms == 0)
		return pstrdup("0s");
	initStringInfo(&b);
	if (ms < 0)
	{
		appendStringInfoChar(&b, '-');
		ms = -ms;
	}
	for (int i = 0; i < lengthof(units); i++)
		if (ms >= units[i].ms)
		{
			appendStringInfo(&b, INT64_FORMAT "%s", ms / units[i].ms, units[i].unit);
			ms %= units[i].ms;
		}
	return b.data;
}

/* a plain scalar is fine when YAML reads it back as the same string */
static bool
plain_ok(const char *s)
{
	const char *p;

	if (*s == '\0' || isspace((unsigned char) *s) || isspace((unsigned char) s[strlen(s) - 1]))
		return false;
	if (strchr("-?:,[]{}#&*!|>'\"%@`", *s))
		return false;
	for (p = s; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c < 0x20 || c == 0x7f || c >= 0x80)
			return false;
		if (c == ':' && (p[1] == ' ' || p[1] == '\0'))
			return false;
		if (c == '#' && p > s && p[-1] == ' ')
			return false;
	}
	if (is_int_text(s) || is_float_text(s))
		return false;
	if (strcmp(s, "~") == 0 || pg_strcasecmp(s, "null") == 0 || pg_strcasecmp(s, "true") == 0 ||
		pg_strcasecmp(s, "false") == 0 || pg_strcasecmp(s, "yes") == 0 || pg_strcasecmp(s, "no") == 0 ||
		pg_strcasecmp(s, "on") == 0 || pg_strcasecmp(s, "off") == 0 || strcmp(s, "y") == 0 ||
		strcmp(s, "n") == 0 || strcmp(s, "Y") == 0 || strcmp(s, "N") == 0)
		return false;
	return true;
}

void
ruler_emit_yaml_string(StringInfo out, const char *s)
{
	if (plain_ok(s))
	{
		appendStringInfoString(out, s);
		return;
	}
	appendStringInfoChar(out, '"');
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		switch (*p)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			default:
				if (*p < 0x20 || *p == 0x7f)
					appendStringInfo(out, "\\x%02x", *p);
				else
					appendStringInfoChar(out, (char) *p);
		}
	}
	appendStringInfoChar(out, '"');
}

static void
emit_map(StringInfo out, const char *key, const MimirLabelSet *ls, int indent)
{
	if (ls->n == 0)
		return;
	appendStringInfo(out, "%*s%s:\n", indent, "", key);
	for (int i = 0; i < ls->n; i++)
	{
		appendStringInfo(out, "%*s", indent + 4, "");
		ruler_emit_yaml_string(out, ls->labels[i].name);
		appendStringInfoString(out, ": ");
		ruler_emit_yaml_string(out, ls->labels[i].value);
		appendStringInfoChar(out, '\n');
	}
}

/*
 * One group as a YAML mapping; `indent` spaces before its keys. The first
 * line carries no indentation so that callers can put "- " in front.
 */
void
ruler_emit_group(StringInfo out, const RuleGroupDef *g, int indent)
{
	appendStringInfoString(out, "name: ");
	ruler_emit_yaml_string(out, g->name);
	appendStringInfoChar(out, '\n');
	if (g->has_interval)
		appendStringInfo(out, "%*sinterval: %s\n", indent, "", ruler_format_duration(g->interval_ms));
	if (g->has_query_offset)
		appendStringInfo(out, "%*squery_offset: %s\n", indent, "", ruler_format_duration(g->query_offset_ms));
	if (g->limit != 0)
		appendStringInfo(out, "%*slimit: " INT64_FORMAT "\n", indent, "", g->limit);
	if (g->align)
		appendStringInfo(out, "%*salign_evaluation_time_on_interval: true\n", indent, "");
	if (g->nrules == 0)
	{
		appendStringInfo(out, "%*srules: []\n", indent, "");
		return;
	}
	appendStringInfo(out, "%*srules:\n", indent, "");
	for (int i = 0; i < g->nrules; i++)
	{
		RuleDef    *r = &g->rules[i];
		int			ri = indent + 6;

		appendStringInfo(out, "%*s- %s: ", indent + 4, "", r->alerting ? "alert" : "record");
		ruler_emit_yaml_string(out, r->name);
		appendStringInfo(out, "\n%*sexpr: ", ri, "");
		ruler_emit_yaml_string(out, r->expr);
		appendStringInfoChar(out, '\n');
		if (r->for_ms)
			appendStringInfo(out, "%*sfor: %s\n", ri, "", ruler_format_duration(r->for_ms));
		if (r->keep_firing_for_ms)
			appendStringInfo(out, "%*skeep_firing_for: %s\n", ri, "",
							 ruler_format_duration(r->keep_firing_for_ms));
		emit_map(out, "labels", &r->labels, ri);
		emit_map(out, "annotations", &r->annotations, ri);
	}
}

char *
ruler_group_to_yaml(const RuleGroupDef *g)
{
	StringInfoData b;

	initStringInfo(&b);
	ruler_emit_group(&b, g, 0);
	return b.data;
}
