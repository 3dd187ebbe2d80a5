/*
 * gotmpl_exec.c — executing a parsed Go text/template against the alert
 * template data (.Labels, .ExternalLabels, .ExternalURL, .Value) with
 * Prometheus' options (missingkey=zero): values and their printing, fields,
 * variables, pipelines, control structures, Go's builtin functions, and the
 * entry points used by the ruler.
 */
#include "ruler/gotmpl_int.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#define GT_ERRCODE			MAKE_SQLSTATE('M', 'T', 'P', 'L', '1')
#define GT_MAX_DEPTH		1000

typedef struct Var
{
	const char *name;
	GtValue		val;
} Var;

typedef struct Exec
{
	GtTemplate *tmpl;
	StringInfo	out;
	Var		   *vars;
	int			nvars,
				capvars;
	const GtEnv *env;
	GtNode	   *at;				/* node being executed, for error locations */
	int			depth;
	int			ctl;			/* 0, 1 = break, 2 = continue */
} Exec;

static Exec *cur_exec;

void
gt_fail(const char *fmt,...)
{
	va_list		ap;
	StringInfoData b;

	initStringInfo(&b);
	for (;;)
	{
		int			need;

		va_start(ap, fmt);
		need = appendStringInfoVA(&b, fmt, ap);
		va_end(ap);
		if (need == 0)
			break;
		enlargeStringInfo(&b, need);
	}
	ereport(ERROR, (errcode(GT_ERRCODE), errmsg_internal("%s", b.data)));
	pg_unreachable();
}

/* ---------------------------------------------------------------------
 * values
 * --------------------------------------------------------------------- */
GtValue
gv_invalid(void)
{
	GtValue		v;

	memset(&v, 0, sizeof(v));
	v.kind = GV_INVALID;
	return v;
}

GtValue
gv_bool(bool b)
{
	GtValue		v = gv_invalid();

	v.kind = GV_BOOL;
	v.b = b;
	return v;
}

GtValue
gv_int(int64 i)
{
	GtValue		v = gv_invalid();

	v.kind = GV_INT;
	v.i = i;
	return v;
}

GtValue
gv_float(double f)
{
	GtValue		v = gv_invalid();

	v.kind = GV_FLOAT;
	v.f = f;
	return v;
}

GtValue
gv_string(const char *s)
{
	GtValue		v = gv_invalid();

	v.kind = GV_STRING;
	v.s = s;
	return v;
}

GtValue
gv_labels(const MimirLabelSet *ls)
{
	GtValue		v = gv_invalid();
	GtMap	   *m = palloc0(sizeof(GtMap));

	m->string_values = true;
	m->n = ls->n;
	m->keys = palloc(sizeof(char *) * Max(ls->n, 1));
	m->vals = palloc(sizeof(GtValue) * Max(ls->n, 1));
	for (int i = 0; i < ls->n; i++)
	{
		m->keys[i] = ls->labels[i].name;
		m->vals[i] = gv_string(ls->labels[i].value);
	}
	v.kind = GV_MAP;
	v.map = m;
	return v;
}

const char *
gv_type_name(const GtValue *v)
{
	switch (v->kind)
	{
		case GV_INVALID:
		case GV_NIL:
			return "<nil>";
		case GV_BOOL:
			return "bool";
		case GV_INT:
			return "int";
		case GV_FLOAT:
			return "float64";
		case GV_STRING:
			return "string";
		case GV_HTML:
			return "template.HTML";
		case GV_MAP:
			return v->map->string_values ? "map[string]string" : "map[string]interface {}";
		case GV_SLICE:
			return "template.queryResult";
		case GV_SAMPLE:
			return "*template.sample";
		case GV_DATA:
			return "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }";
		case GV_TIME:
			return "*time.Time";
		case GV_DURATION:
			return "*time.Duration";
	}
	return "?";
}

bool
gv_truth(const GtValue *v)
{
	switch (v->kind)
	{
		case GV_INVALID:
		case GV_NIL:
			return false;
		case GV_BOOL:
			return v->b;
		case GV_INT:
		case GV_DURATION:
			return v->i != 0;
		case GV_FLOAT:
			return v->f != 0;
		case GV_STRING:
		case GV_HTML:
			return v->s[0] != '\0';
		case GV_MAP:
			return v->map->n > 0;
		case GV_SLICE:
			return v->nsamples > 0;
		case GV_SAMPLE:
			return v->sample != NULL;
		default:
			return true;
	}
}

static void
print_labels_map(StringInfo out, const MimirLabelSet *ls)
{
	appendStringInfoString(out, "map[");
	for (int i = 0; i < ls->n; i++)
		appendStringInfo(out, "%s%s:%s", i ? " " : "", ls->labels[i].name, ls->labels[i].value);
	appendStringInfoChar(out, ']');
}

static void
print_sample(StringInfo out, const GtSample *s)
{
	appendStringInfoChar(out, '{');
	print_labels_map(out, &s->labels);
	appendStringInfoChar(out, ' ');
	gofmt_float_shortest(out, s->value, 'g');
	appendStringInfoChar(out, '}');
}

/* fmt.Fprint of one value (text/template's printing of an action's result) */
void
gv_print(StringInfo out, const GtValue *v)
{
	switch (v->kind)
	{
		case GV_INVALID:
			appendStringInfoString(out, "<no value>");
			break;
		case GV_NIL:
			appendStringInfoString(out, "<nil>");
			break;
		case GV_BOOL:
			appendStringInfoString(out, v->b ? "true" : "false");
			break;
		case GV_INT:
			appendStringInfo(out, INT64_FORMAT, v->i);
			break;
		case GV_FLOAT:
			gofmt_float_shortest(out, v->f, 'g');
			break;
		case GV_STRING:
		case GV_HTML:
			appendStringInfoString(out, v->s);
			break;
		case GV_MAP:
			appendStringInfoString(out, "map[");
			for (int i = 0; i < v->map->n; i++)
			{
				if (i)
					appendStringInfoChar(out, ' ');
				appendStringInfo(out, "%s:", v->map->keys[i]);
				if (v->map->vals[i].kind == GV_INVALID)
					appendStringInfoString(out, "<nil>");
				else
					gv_print(out, &v->map->vals[i]);
			}
			appendStringInfoChar(out, ']');
			break;
		case GV_SLICE:
			appendStringInfoChar(out, '[');
			for (int i = 0; i < v->nsamples; i++)
			{
				if (i)
					appendStringInfoChar(out, ' ');
				appendStringInfoChar(out, '&');
				print_sample(out, v->samples[i]);
			}
			appendStringInfoChar(out, ']');
			break;
		case GV_SAMPLE:
			if (v->sample == NULL)
				appendStringInfoString(out, "<nil>");
			else
				print_sample(out, v->sample);
			break;
		case GV_DATA:
			appendStringInfoChar(out, '{');
			print_labels_map(out, &v->env->labels);
			appendStringInfoChar(out, ' ');
			print_labels_map(out, &v->env->external_labels);
			appendStringInfo(out, " %s ", v->env->external_url ? v->env->external_url : "");
			gofmt_float_shortest(out, v->env->value, 'g');
			appendStringInfoChar(out, '}');
			break;
		case GV_TIME:
			gofmt_time(out, v->i);
			break;
		case GV_DURATION:
			gofmt_duration(out, v->i);
			break;
	}
}

/* fmt.Sprint (spaces between operands when neither is a string) / Sprintln */
void
gv_sprint(StringInfo out, int nargs, GtValue *args, bool ln)
{
	for (int i = 0; i < nargs; i++)
	{
		bool		is_str = args[i].kind == GV_STRING || args[i].kind == GV_HTML;

		if (i > 0 && (ln || (!is_str && !(args[i - 1].kind == GV_STRING || args[i - 1].kind == GV_HTML))))
			appendStringInfoChar(out, ' ');
		if (args[i].kind == GV_INVALID)
			appendStringInfoString(out, "<nil>");
		else
			gv_print(out, &args[i]);
	}
	if (ln)
		appendStringInfoChar(out, '\n');
}

/* ---------------------------------------------------------------------
 * argument helpers (Go's reflection conversions)
 * --------------------------------------------------------------------- */
const char *
gt_arg_string(GtValue *args, int i)
{
	GtValue    *v = &args[i];

	if (v->kind == GV_STRING || v->kind == GV_HTML)
		return v->s;
	if (v->kind == GV_INVALID || v->kind == GV_NIL)
		gt_fail("invalid value; expected string");
	gt_fail("wrong type for value; expected string; got %s", gv_type_name(v));
}

double
gt_arg_float(GtValue *args, int i)
{
	GtValue    *v = &args[i];

	if (v->kind == GV_FLOAT)
		return v->f;
	if (v->kind == GV_INT)
		return (double) v->i;
	if (v->kind == GV_INVALID || v->kind == GV_NIL)
		gt_fail("invalid value; expected float64");
	gt_fail("wrong type for value; expected float64; got %s", gv_type_name(v));
}

GtSample *
gt_arg_sample(GtValue *args, int i)
{
	GtValue    *v = &args[i];

	if (v->kind == GV_SAMPLE)
		return v->sample;
	if (v->kind == GV_INVALID || v->kind == GV_NIL)
		return NULL;
	gt_fail("wrong type for value; expected *template.sample; got %s", gv_type_name(v));
}

GtValue
gt_arg_slice(GtValue *args, int i)
{
	GtValue    *v = &args[i];

	if (v->kind == GV_SLICE)
		return *v;
	if (v->kind == GV_INVALID || v->kind == GV_NIL)
	{
		GtValue		e = gv_invalid();

		e.kind = GV_SLICE;
		return e;
	}
	gt_fail("wrong type for value; expected template.queryResult; got %s", gv_type_name(v));
}

/* Prometheus' convertToFloat */
bool
gt_to_float(const GtValue *v, double *out, char **err)
{
	switch (v->kind)
	{
		case GV_FLOAT:
			*out = v->f;
			return true;
		case GV_INT:
			*out = (double) v->i;
			return true;
		case GV_DURATION:
			*out = (double) v->i / 1e9;
			return true;
		case GV_STRING:
		case GV_HTML:
			{
				char	   *end;
				const char *s = v->s;

				errno = 0;
				if (pg_strcasecmp(s, "inf") == 0 || pg_strcasecmp(s, "+inf") == 0 ||
					pg_strcasecmp(s, "infinity") == 0 || pg_strcasecmp(s, "+infinity") == 0)
				{
					*out = INFINITY;
					return true;
				}
				if (pg_strcasecmp(s, "-inf") == 0 || pg_strcasecmp(s, "-infinity") == 0)
				{
					*out = -INFINITY;
					return true;
				}
				if (pg_strcasecmp(s, "nan") == 0)
				{
					*out = NAN;
					return true;
				}
				/* strtod accepts more (hex floats, leading spaces) than Go: check first */
				if (*s == '\0' || isspace((unsigned char) *s) || strpbrk(s, "xXpP") != NULL)
					goto bad;
				*out = strtod(s, &end);
				if (*end != '\0')
					goto bad;
				if (errno == ERANGE && isinf(*out))
				{
					*err = psprintf("strconv.ParseFloat: parsing %s: value out of range", gofmt_quote(s));
					return false;
				}
				return true;
		bad:
				*err = psprintf("strconv.ParseFloat: parsing %s: invalid syntax", gofmt_quote(s));
				return false;
			}
		default:
			*err = psprintf("can't convert %s to float", v->kind == GV_INVALID ? "<nil>" : gv_type_name(v));
			return false;
	}
}

/* ---------------------------------------------------------------------
 * execution
 * --------------------------------------------------------------------- */
static void exec_list(Exec *e, GtNode *list, GtValue dot);
static GtValue eval_pipeline(Exec *e, GtNode *pipe, GtValue dot);
static GtValue eval_arg(Exec *e, GtNode *n, GtValue dot);

static void
push_var(Exec *e, const char *name, GtValue v)
{
	if (e->nvars == e->capvars)
	{
		e->capvars = Max(16, e->capvars * 2);
		e->vars = e->vars ? repalloc(e->vars, sizeof(Var) * e->capvars) : palloc(sizeof(Var) * e->capvars);
	}
	e->vars[e->nvars].name = name;
	e->vars[e->nvars].val = v;
	e->nvars++;
}

static GtValue *
find_var(Exec *e, const char *name)
{
	for (int i = e->nvars - 1; i >= 0; i--)
		if (strcmp(e->vars[i].name, name) == 0)
			return &e->vars[i].val;
	gt_fail("undefined variable: %s", name);
}

static GtValue
field_of(Exec *e, GtValue v, const char *field)
{
	switch (v.kind)
	{
		case GV_DATA:
			if (strcmp(field, "Labels") == 0)
				return gv_labels(&v.env->labels);
			if (strcmp(field, "ExternalLabels") == 0)
				return gv_labels(&v.env->external_labels);
			if (strcmp(field, "ExternalURL") == 0)
				return gv_string(v.env->external_url ? v.env->external_url : "");
			if (strcmp(field, "Value") == 0)
				return gv_float(v.env->value);
			break;
		case GV_MAP:
			for (int i = 0; i < v.map->n; i++)
				if (strcmp(v.map->keys[i], field) == 0)
					return v.map->vals[i];
			/* missingkey=zero */
			return v.map->string_values ? gv_string("") : gv_invalid();
		case GV_SAMPLE:
			if (v.sample == NULL)
				gt_fail("nil pointer evaluating *template.sample.%s", field);
			if (strcmp(field, "Labels") == 0)
				return gv_labels(&v.sample->labels);
			if (strcmp(field, "Value") == 0)
				return gv_float(v.sample->value);
			break;
		case GV_INVALID:
		case GV_NIL:
			gt_fail("nil pointer evaluating interface {}.%s", field);
		default:
			break;
	}
	gt_fail("can't evaluate field %s in type %s", field, gv_type_name(&v));
}

static GtValue
fields_of(Exec *e, GtValue v, List *fields)
{
	ListCell   *lc;

	foreach(lc, fields)
		v = field_of(e, v, lfirst(lc));
	return v;
}

/* ---- builtins ---- */
static int
basic_kind(const GtValue *v)
{
	switch (v->kind)
	{
		case GV_BOOL:
			return 1;
		case GV_INT:
			return 2;
		case GV_FLOAT:
			return 3;
		case GV_STRING:
		case GV_HTML:
			return 4;
		default:
			return 0;
	}
}

static bool
cmp_eq(const GtValue *a, const GtValue *b)
{
	int			ka = basic_kind(a),
				kb = basic_kind(b);

	if (ka == 0 || kb == 0)
	{
		if ((a->kind == GV_NIL || a->kind == GV_INVALID) && (b->kind == GV_NIL || b->kind == GV_INVALID))
			return true;
		if (a->kind == GV_MAP || a->kind == GV_SLICE || b->kind == GV_MAP || b->kind == GV_SLICE)
			gt_fail("error calling eq: non-comparable type %s: %s",
					gv_type_name(a->kind == GV_MAP || a->kind == GV_SLICE ? a : b), "");
		if (a->kind == GV_INVALID || b->kind == GV_INVALID)
			gt_fail("error calling eq: invalid type for comparison");
		if (a->kind == GV_SAMPLE && b->kind == GV_SAMPLE)
			return a->sample == b->sample;
		if (a->kind == b->kind && (a->kind == GV_TIME || a->kind == GV_DURATION))
			return a->i == b->i;
		gt_fail("error calling eq: incompatible types for comparison");
	}
	if (ka != kb)
		gt_fail("error calling eq: incompatible types for comparison");
	switch (ka)
	{
		case 1:
			return a->b == b->b;
		case 2:
			return a->i == b->i;
		case 3:
			return a->f == b->f;
		default:
			return strcmp(a->s, b->s) == 0;
	}
}

static int
cmp_lt(const char *name, const GtValue *a, const GtValue *b)
{
	int			ka = basic_kind(a),
				kb = basic_kind(b);

	if (ka == 0 || kb == 0 || ka == 1 || kb == 1)
		gt_fail("error calling %s: invalid type for comparison", name);
	if (ka != kb)
		gt_fail("error calling %s: incompatible types for comparison", name);
	switch (ka)
	{
		case 2:
			return a->i < b->i ? -1 : a->i > b->i;
		case 3:
			return a->f < b->f ? -1 : a->f > b->f ? 1 : (a->f == b->f ? 0 : 2);
		default:
			{
				int			c = strcmp(a->s, b->s);

				return c < 0 ? -1 : c > 0;
			}
	}
}

static void
html_escape(StringInfo out, const char *s)
{
	for (; *s; s++)
		switch (*s)
		{
			case '&':
				appendStringInfoString(out, "&amp;");
				break;
			case '\'':
				appendStringInfoString(out, "&#39;");
				break;
			case '<':
				appendStringInfoString(out, "&lt;");
				break;
			case '>':
				appendStringInfoString(out, "&gt;");
				break;
			case '"':
				appendStringInfoString(out, "&#34;");
				break;
			case '\0':
				appendStringInfoString(out, "\xef\xbf\xbd");
				break;
			default:
				appendStringInfoChar(out, *s);
		}
}

static void
js_escape(StringInfo out, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		switch (c)
		{
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\'':
				appendStringInfoString(out, "\\'");
				break;
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '<':
				appendStringInfoString(out, "\\u003C");
				break;
			case '>':
				appendStringInfoString(out, "\\u003E");
				break;
			case '&':
				appendStringInfoString(out, "\\u0026");
				break;
			case '=':
				appendStringInfoString(out, "\\u003D");
				break;
			default:
				if (c < ' ')
					appendStringInfo(out, "\\u%04X", c);
				else
					appendStringInfoChar(out, (char) c);
		}
	}
}

static GtValue
call_builtin(Exec *e, const char *name, GtNode *cmd, int nargs, GtValue *args)
{
	StringInfoData b;

	initStringInfo(&b);
	if (strcmp(name, "not") == 0)
	{
		if (nargs != 1)
			gt_fail("wrong number of args for not: want 1 got %d", nargs);
		return gv_bool(!gv_truth(&args[0]));
	}
	if (strcmp(name, "len") == 0)
	{
		if (nargs != 1)
			gt_fail("wrong number of args for len: want 1 got %d", nargs);
		switch (args[0].kind)
		{
			case GV_STRING:
			case GV_HTML:
				return gv_int(strlen(args[0].s));
			case GV_MAP:
				return gv_int(args[0].map->n);
			case GV_SLICE:
				return gv_int(args[0].nsamples);
			default:
				gt_fail("error calling len: len of type %s", gv_type_name(&args[0]));
		}
	}
	if (strcmp(name, "index") == 0)
	{
		GtValue		v;

		if (nargs < 1)
			gt_fail("wrong number of args for index: want at least 1 got %d", nargs);
		v = args[0];
		for (int i = 1; i < nargs; i++)
		{
			if (v.kind == GV_MAP)
			{
				if (args[i].kind != GV_STRING)
					gt_fail("error calling index: value has type %s; should be string", gv_type_name(&args[i]));
				v = field_of(e, v, args[i].s);
			}
			else if (v.kind == GV_SLICE || v.kind == GV_STRING)
			{
				int64		n = v.kind == GV_SLICE ? v.nsamples : (int64) strlen(v.s);

				if (args[i].kind != GV_INT)
					gt_fail("error calling index: cannot index slice/array with type %s", gv_type_name(&args[i]));
				if (args[i].i < 0 || args[i].i >= n)
					gt_fail("error calling index: index out of range: " INT64_FORMAT, args[i].i);
				if (v.kind == GV_SLICE)
				{
					GtValue		s = gv_invalid();

					s.kind = GV_SAMPLE;
					s.sample = v.samples[args[i].i];
					v = s;
				}
				else
					v = gv_int((unsigned char) v.s[args[i].i]);
			}
			else if (v.kind == GV_INVALID || v.kind == GV_NIL)
				gt_fail("error calling index: index of untyped nil");
			else
				gt_fail("error calling index: can't index item of type %s", gv_type_name(&v));
		}
		return v;
	}
	if (strcmp(name, "print") == 0 || strcmp(name, "println") == 0)
	{
		gv_sprint(&b, nargs, args, name[5] == 'l');
		return gv_string(b.data);
	}
	if (strcmp(name, "printf") == 0)
	{
		if (nargs < 1)
			gt_fail("wrong number of args for printf: want at least 1 got %d", nargs);
		gofmt_sprintf(&b, gt_arg_string(args, 0), nargs - 1, args + 1);
		return gv_string(b.data);
	}
	if (strcmp(name, "html") == 0 || strcmp(name, "js") == 0 || strcmp(name, "urlquery") == 0)
	{
		StringInfoData s;

		initStringInfo(&s);
		if (nargs == 1 && (args[0].kind == GV_STRING || args[0].kind == GV_HTML))
			appendStringInfoString(&s, args[0].s);
		else
			gv_sprint(&s, nargs, args, false);
		if (name[0] == 'h')
			html_escape(&b, s.data);
		else if (name[0] == 'j')
			js_escape(&b, s.data);
		else
			gofmt_query_escape(&b, s.data);
		return gv_string(b.data);
	}
	if (strcmp(name, "eq") == 0)
	{
		if (nargs < 2)
			gt_fail("error calling eq: missing argument for comparison");
		for (int i = 1; i < nargs; i++)
			if (cmp_eq(&args[0], &args[i]))
				return gv_bool(true);
		return gv_bool(false);
	}
	if (strcmp(name, "ne") == 0)
	{
		if (nargs != 2)
			gt_fail("wrong number of args for ne: want 2 got %d", nargs);
		return gv_bool(!cmp_eq(&args[0], &args[1]));
	}
	if (strcmp(name, "lt") == 0 || strcmp(name, "le") == 0 || strcmp(name, "gt") == 0 ||
		strcmp(name, "ge") == 0)
	{
		int			c;

		if (nargs != 2)
			gt_fail("wrong number of args for %s: want 2 got %d", name, nargs);
		c = cmp_lt(name, &args[0], &args[1]);
		if (c == 2)				/* NaN: every ordered comparison is false */
			return gv_bool(false);
		if (strcmp(name, "lt") == 0)
			return gv_bool(c < 0);
		if (strcmp(name, "le") == 0)
			return gv_bool(c <= 0);
		if (strcmp(name, "gt") == 0)
			return gv_bool(c > 0);
		return gv_bool(c >= 0);
	}
	if (strcmp(name, "slice") == 0)
	{
		int64		lo = 0,
					hi;
		const char *s;

		if (nargs < 1)
			gt_fail("wrong number of args for slice: want at least 1 got 0");
		s = gt_arg_string(args, 0);
		hi = strlen(s);
		if (nargs > 1)
		{
			if (args[1].kind != GV_INT)
				gt_fail("error calling slice: cannot index slice/array with type %s", gv_type_name(&args[1]));
			lo = args[1].i;
		}
		if (nargs > 2)
		{
			if (args[2].kind != GV_INT)
				gt_fail("error calling slice: cannot index slice/array with type %s", gv_type_name(&args[2]));
			hi = args[2].i;
		}
		if (lo < 0 || hi < lo || hi > (int64) strlen(s))
			gt_fail("error calling slice: index out of range: " INT64_FORMAT, hi);
		return gv_string(pnstrdup(s + lo, hi - lo));
	}
	if (strcmp(name, "call") == 0)
		gt_fail("error calling call: call of non-function");
	gt_fail("function %s not defined", gofmt_quote(name));
}

static GtValue
call_function(Exec *e, GtNode *ident, GtNode *cmd, List *argnodes, GtValue dot, GtValue *final)
{
	const char *name = ident->text;
	const GtFuncDef *f = gt_lookup_func(name);
	int			n = list_length(argnodes) + (final ? 1 : 0);
	GtValue    *args = palloc0(sizeof(GtValue) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;
	GtCall		c;
	GtValue		r;

	if (f == NULL)
		gt_fail("%s is not a defined function", gofmt_quote(name));
	/* and/or evaluate lazily and return an operand */
	if (strcmp(name, "and") == 0 || strcmp(name, "or") == 0)
	{
		bool		is_and = name[0] == 'a';
		GtValue		v = gv_invalid();

		if (n < 1)
			gt_fail("wrong number of args for %s: want at least 1 got 0", name);
		foreach(lc, argnodes)
		{
			e->at = cmd;
			v = eval_arg(e, lfirst(lc), dot);
			if (gv_truth(&v) != is_and)
				return v;
		}
		if (final)
			v = *final;
		return v;
	}
	foreach(lc, argnodes)
		args[i++] = eval_arg(e, lfirst(lc), dot);
	if (final)
		args[i++] = *final;
	e->at = cmd;
	if (f->fn == NULL)
		return call_builtin(e, name, cmd, n, args);
	if (f->nargs >= 0 && n != f->nargs)
		gt_fail("wrong number of args for %s: want %d got %d", name, f->nargs, n);
	if (f->nargs < 0 && n < f->minargs)
		gt_fail("wrong number of args for %s: want at least %d got %d", name, f->minargs, n);
	c.env = e->env;
	c.name = name;
	c.err = NULL;
	r = f->fn(&c, n, args);
	if (c.err)
	{
		e->at = cmd;
		gt_fail("error calling %s: %s", name, c.err);
	}
	return r;
}

static GtValue
eval_command(Exec *e, GtNode *cmd, GtValue dot, GtValue *final)
{
	GtNode	   *first = linitial(cmd->items);
	List	   *rest = list_copy_tail(cmd->items, 1);
	GtValue		v;

	e->at = cmd;
	if (first->kind == GN_IDENT)
		return call_function(e, first, cmd, rest, dot, final);
	if (rest != NIL || final)
	{
		if (first->kind == GN_FIELD || first->kind == GN_VARIABLE || first->kind == GN_CHAIN)
			gt_fail("can't give argument to non-function %s", gt_node_string(first));
		gt_fail("can't give argument to non-function %s", gt_node_string(first));
	}
	switch (first->kind)
	{
		case GN_FIELD:
			return fields_of(e, dot, first->fields);
		case GN_VARIABLE:
			return fields_of(e, *find_var(e, first->var), first->fields);
		case GN_CHAIN:
			v = first->node->kind == GN_PIPE ? eval_pipeline(e, first->node, dot) : eval_arg(e, first->node, dot);
			return fields_of(e, v, first->fields);
		case GN_PIPE:
			return eval_pipeline(e, first, dot);
		default:
			return eval_arg(e, first, dot);
	}
}

static GtValue
eval_arg(Exec *e, GtNode *n, GtValue dot)
{
	GtValue		v;

	e->at = n;
	switch (n->kind)
	{
		case GN_DOT:
			return dot;
		case GN_NIL:
			v = gv_invalid();
			v.kind = GV_NIL;
			return v;
		case GN_FIELD:
			return fields_of(e, dot, n->fields);
		case GN_VARIABLE:
			return fields_of(e, *find_var(e, n->var), n->fields);
		case GN_PIPE:
			return eval_pipeline(e, n, dot);
		case GN_IDENT:
			return call_function(e, n, n, NIL, dot, NULL);
		case GN_CHAIN:
			v = n->node->kind == GN_PIPE ? eval_pipeline(e, n->node, dot) : eval_arg(e, n->node, dot);
			return fields_of(e, v, n->fields);
		case GN_STRING:
			return gv_string(n->text);
		case GN_BOOL:
			return gv_bool(n->bval);
		case GN_NUMBER:
			/* Go's idealConstant: ints unless written as a float */
			if (n->is_int && !strpbrk(n->src, ".eEpP"))
				return gv_int(n->ival);
			if (n->is_int && n->src[0] == '\'')
				return gv_int(n->ival);
			return gv_float(n->is_int ? (double) n->ival : n->fval);
		default:
			gt_fail("can't handle %s for arg", gt_node_string(n));
	}
}

static GtValue
eval_pipeline(Exec *e, GtNode *pipe, GtValue dot)
{
	GtValue		v = gv_invalid();
	bool		have = false;
	ListCell   *lc;

	foreach(lc, pipe->items)
	{
		v = eval_command(e, lfirst(lc), dot, have ? &v : NULL);
		have = true;
	}
	foreach(lc, pipe->decl)
	{
		const char *name = lfirst(lc);

		if (pipe->is_assign)
			*find_var(e, name) = v;
		else
			push_var(e, name, v);
	}
	return v;
}

static void
exec_template_call(Exec *e, GtNode *n, GtValue dot)
{
	ListCell   *lc;

	foreach(lc, e->tmpl->defines)
	{
		GtDefine   *d = lfirst(lc);
		GtValue		arg = gv_invalid();
		Var		   *saved;
		int			savedn,
					savedcap;

		if (strcmp(d->name, n->text) != 0)
			continue;
		if (n->node)
			arg = eval_pipeline(e, n->node, dot);
		/* a called template sees only its own $ */
		saved = e->vars;
		savedn = e->nvars;
		savedcap = e->capvars;
		e->vars = NULL;
		e->nvars = e->capvars = 0;
		push_var(e, "$", arg);
		exec_list(e, d->root, arg);
		e->vars = saved;
		e->nvars = savedn;
		e->capvars = savedcap;
		return;
	}
	e->at = n;
	gt_fail("template %s not defined", gofmt_quote(n->text));
}

static void
exec_node(Exec *e, GtNode *n, GtValue dot)
{
	int			mark = e->nvars;
	GtValue		v;

	CHECK_FOR_INTERRUPTS();
	if (++e->depth > GT_MAX_DEPTH)
		gt_fail("exceeded maximum template depth (%d)", GT_MAX_DEPTH);
	switch (n->kind)
	{
		case GN_TEXT:
			appendStringInfoString(e->out, n->text);
			break;
		case GN_ACTION:
			v = eval_pipeline(e, n->node, dot);
			if (n->node->decl == NIL)
				gv_print(e->out, &v);
			/* declarations of an action live to the end of the enclosing list */
			mark = e->nvars;
			break;
		case GN_IF:
		case GN_WITH:
			v = eval_pipeline(e, n->node, dot);
			if (gv_truth(&v))
				exec_list(e, n->list, n->kind == GN_WITH ? v : dot);
			else if (n->elselist)
				exec_list(e, n->elselist, dot);
			e->nvars = mark;
			break;
		case GN_RANGE:
			{
				int			count;
				GtValue		item;

				v = eval_pipeline(e, n->node, dot);
				e->nvars = mark;
				if (v.kind == GV_SLICE)
					count = v.nsamples;
				else if (v.kind == GV_MAP)
					count = v.map->n;
				else if (v.kind == GV_INVALID || v.kind == GV_NIL)
					count = 0;
				else if (v.kind == GV_INT)
					count = (int) Max(v.i, 0);
				else
				{
					StringInfoData t;

					initStringInfo(&t);
					gv_print(&t, &v);
					e->at = n;
					gt_fail("range can't iterate over %s", t.data);
				}
				for (int i = 0; i < count; i++)
				{
					GtValue		key;

					CHECK_FOR_INTERRUPTS();
					if (v.kind == GV_SLICE)
					{
						key = gv_int(i);
						item = gv_invalid();
						item.kind = GV_SAMPLE;
						item.sample = v.samples[i];
					}
					else if (v.kind == GV_MAP)
					{
						key = gv_string(v.map->keys[i]);
						item = v.map->vals[i];
					}
					else
						key = item = gv_int(i);
					if (list_length(n->node->decl) == 1)
						push_var(e, linitial(n->node->decl), item);
					else if (list_length(n->node->decl) == 2)
					{
						push_var(e, linitial(n->node->decl), key);
						push_var(e, lsecond(n->node->decl), item);
					}
					exec_list(e, n->list, item);
					e->nvars = mark;
					if (e->ctl == 1)
					{
						e->ctl = 0;
						break;
					}
					e->ctl = 0;
				}
				if (count == 0 && n->elselist)
					exec_list(e, n->elselist, dot);
				break;
			}
		case GN_TEMPLATE:
			exec_template_call(e, n, dot);
			break;
		case GN_BREAK:
			e->ctl = 1;
			break;
		case GN_CONTINUE:
			e->ctl = 2;
			break;
		case GN_LIST:
			exec_list(e, n, dot);
			e->nvars = mark;
			break;
		default:
			gt_fail("unknown node");
	}
	e->depth--;
}

static void
exec_list(Exec *e, GtNode *list, GtValue dot)
{
	ListCell   *lc;
	int			mark = e->nvars;

	foreach(lc, list->items)
	{
		exec_node(e, lfirst(lc), dot);
		if (e->ctl)
			break;
	}
	e->nvars = mark;
}

/* "name:line:col" and the node text, as Template.ErrorContext */
static char *
error_context(Exec *e, GtNode *n, char **ctx)
{
	const char *text = e->tmpl->text;
	int			line = 1,
				col;
	int			last_nl = -1;
	char	   *s;

	for (int i = 0; i < n->pos && text[i]; i++)
		if (text[i] == '\n')
		{
			line++;
			last_nl = i;
		}
	col = n->pos - (last_nl + 1);
	s = gt_node_string(n);
	if (strlen(s) > 20)
		s = psprintf("%.20s...", s);
	*ctx = s;
	return psprintf("%s:%d:%d", e->tmpl->name, line, col);
}

/* ---------------------------------------------------------------------
 * entry points
 * --------------------------------------------------------------------- */
static char *
run(GtTemplate *t, const GtEnv *env, char **err)
{
	MemoryContext old = CurrentMemoryContext;
	Exec		e;
	StringInfoData out;
	GtValue		root = gv_invalid();
	char	   *result = NULL;
	Exec	   *outer = cur_exec;

	memset(&e, 0, sizeof(e));
	initStringInfo(&out);
	e.tmpl = t;
	e.out = &out;
	e.env = env;
	root.kind = GV_DATA;
	root.env = env;
	push_var(&e, "$", root);
	cur_exec = &e;
	PG_TRY();
	{
		exec_list(&e, t->root, root);
		result = out.data;
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(old);
		ed = CopyErrorData();
		if (ed->sqlerrcode != GT_ERRCODE)
		{
			cur_exec = outer;
			PG_RE_THROW();
		}
		FlushErrorState();
		if (e.at)
		{
			char	   *ctx;
			char	   *loc = error_context(&e, e.at, &ctx);

			*err = psprintf("template: %s: executing %s at <%s>: %s", loc, gofmt_quote(t->name),
							ctx, ed->message);
		}
		else
			*err = psprintf("template: %s: %s", t->name, ed->message);
		FreeErrorData(ed);
	}
	PG_END_TRY();
	cur_exec = outer;
	return result;
}

/* Prometheus' variable definitions, prepended to every alert template */
static const char *alert_defs =
"{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

char *
gotmpl_expand(const char *name, const char *text, const GtEnv *env, char **err)
{
	char	   *perr;
	GtTemplate *t = gt_parse(name, text, &perr);
	char	   *eerr = NULL;
	char	   *res;

	*err = NULL;
	if (t == NULL)
	{
		*err = psprintf("error parsing template %s: %s", name, perr);
		return NULL;
	}
	res = run(t, env, &eerr);
	if (res == NULL)
		*err = psprintf("error executing template %s: %s", name, eerr);
	return res;
}

char *
gotmpl_expand_alert(const char *rule_name, const char *text, const GtEnv *env, char **err)
{
	return gotmpl_expand(psprintf("__alert_%s", rule_name), psprintf("%s%s", alert_defs, text), env, err);
}

char *
gotmpl_check_alert(const char *rule_name, const char *text)
{
	char	   *err;

	if (gt_parse(psprintf("__alert_%s", rule_name), psprintf("%s%s", alert_defs, text), &err) == NULL)
		return err;
	return NULL;
}
