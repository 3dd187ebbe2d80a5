/*
 * promql_labels.c — label-set operations of the evaluator: lookups and
 * copies with a label set/removed, the byte keys used to match series
 * (binary operator signatures, aggregation groups), Prometheus' label hash
 * (limit_ratio samples by it) and its textual form for error messages.
 *
 * Label sets are arrays sorted by name; strings are shared between sets
 * (they are immutable for the life of a query).
 */
#include "promql/promql_eval.h"

#include "lib/stringinfo.h"

#define LABEL_SEP '\xff'

const char *
pq_ls_get(const MimirLabelSet *ls, const char *name)
{
	int			lo = 0,
				hi = ls->n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(ls->labels[mid].name, name);

		if (c == 0)
			return ls->labels[mid].value;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/* A copy that owns its strings (for labels read from storage). */
MimirLabelSet
pq_ls_deep_copy(const MimirLabelSet *ls)
{
	MimirLabelSet r;

	r.n = ls->n;
	r.labels = palloc(sizeof(MimirLabel) * Max(ls->n, 1));
	for (int i = 0; i < ls->n; i++)
	{
		r.labels[i].name = pstrdup(ls->labels[i].name);
		r.labels[i].value = pstrdup(ls->labels[i].value);
	}
	return r;
}

MimirLabelSet
pq_ls_copy(const MimirLabelSet *ls)
{
	MimirLabelSet r;

	r.n = ls->n;
	r.labels = palloc(sizeof(MimirLabel) * Max(ls->n, 1));
	if (ls->n > 0)
		memcpy(r.labels, ls->labels, sizeof(MimirLabel) * ls->n);
	return r;
}

/* A copy with name set to value; an empty value removes the label. */
MimirLabelSet
pq_ls_set(const MimirLabelSet *ls, const char *name, const char *value)
{
	MimirLabelSet r;
	int			i = 0,
				o = 0;
	bool		done = false;

	r.labels = palloc(sizeof(MimirLabel) * (ls->n + 1));
	for (i = 0; i < ls->n; i++)
	{
		int			c = strcmp(ls->labels[i].name, name);

		if (!done && c >= 0)
		{
			if (value[0] != '\0')
			{
				r.labels[o].name = (char *) name;
				r.labels[o].value = (char *) value;
				o++;
			}
			done = true;
			if (c == 0)
				continue;
		}
		r.labels[o++] = ls->labels[i];
	}
	if (!done && value[0] != '\0')
	{
		r.labels[o].name = (char *) name;
		r.labels[o].value = (char *) value;
		o++;
	}
	r.n = o;
	return r;
}

MimirLabelSet
pq_ls_del(const MimirLabelSet *ls, const char *name)
{
	return pq_ls_set(ls, name, "");
}

MimirLabelSet
pq_ls_drop_name(const MimirLabelSet *ls)
{
	return pq_ls_set(ls, "__name__", "");
}

static bool
in_list(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), name) == 0)
		return true;
	return false;
}

/* keep: only the labels in names; !keep: all but those. */
MimirLabelSet
pq_ls_keep(const MimirLabelSet *ls, List *names, bool keep)
{
	MimirLabelSet r;

	r.n = 0;
	r.labels = palloc(sizeof(MimirLabel) * Max(ls->n, 1));
	for (int i = 0; i < ls->n; i++)
		if (in_list(names, ls->labels[i].name) == keep)
			r.labels[r.n++] = ls->labels[i];
	return r;
}

int
pq_ls_cmp(const MimirLabelSet *a, const MimirLabelSet *b)
{
	int			n = Min(a->n, b->n);

	for (int i = 0; i < n; i++)
	{
		int			c = strcmp(a->labels[i].name, b->labels[i].name);

		if (c != 0)
			return c;
		c = strcmp(a->labels[i].value, b->labels[i].value);
		if (c != 0)
			return c;
	}
	return a->n - b->n;
}

bool
pq_ls_equal(const MimirLabelSet *a, const MimirLabelSet *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->labels[i].name, b->labels[i].name) != 0 ||
			strcmp(a->labels[i].value, b->labels[i].value) != 0)
			return false;
	return true;
}

static inline void
key_label(StringInfo buf, const MimirLabel *l)
{
	appendStringInfoString(buf, l->name);
	appendStringInfoChar(buf, LABEL_SEP);
	appendStringInfoString(buf, l->value);
	appendStringInfoChar(buf, LABEL_SEP);
}

/* A byte key identifying the whole label set (appended to buf). */
void
pq_ls_key(const MimirLabelSet *ls, StringInfo buf)
{
	for (int i = 0; i < ls->n; i++)
		key_label(buf, &ls->labels[i]);
}

/* Prometheus' labels.Hash(): xxhash64 of name, 0xff, value, 0xff, ... */
uint64
pq_ls_hash(const MimirLabelSet *ls)
{
	StringInfoData buf;
	uint64		h;

	initStringInfo(&buf);
	pq_ls_key(ls, &buf);
	h = pq_xxhash64(buf.data, buf.len);
	pfree(buf.data);
	return h;
}

/* Labels as Prometheus prints them: {__name__="a", b="c"} */
char *
pq_ls_string(const MimirLabelSet *ls)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < ls->n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		if (mimir_valid_label_name(ls->labels[i].name))
			appendStringInfoString(&buf, ls->labels[i].name);
		else
			appendStringInfo(&buf, "\"%s\"", ls->labels[i].name);
		appendStringInfoString(&buf, "=\"");
		for (const char *c = ls->labels[i].value; *c; c++)
		{
			switch (*c)
			{
				case '"':
					appendStringInfoString(&buf, "\\\"");
					break;
				case '\\':
					appendStringInfoString(&buf, "\\\\");
					break;
				case '\n':
					appendStringInfoString(&buf, "\\n");
					break;
				case '\t':
					appendStringInfoString(&buf, "\\t");
					break;
				default:
					appendStringInfoChar(&buf, *c);
			}
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Join signature of a binary operation: on(names) keys on those labels,
 * ignoring(names) on all others but __name__.
 */
void
pq_sig_on(const MimirLabelSet *ls, List *names, bool on, StringInfo buf)
{
	for (int i = 0; i < ls->n; i++)
	{
		const MimirLabel *l = &ls->labels[i];

		if (on)
		{
			if (!in_list(names, l->name))
				continue;
		}
		else if (strcmp(l->name, "__name__") == 0 || in_list(names, l->name))
			continue;
		key_label(buf, l);
	}
}

/* Aggregation group key: by(grouping) or without(grouping) (and __name__). */
void
pq_group_key(const MimirLabelSet *ls, List *grouping, bool without, StringInfo buf)
{
	if (!without && grouping == NIL)
		return;
	pq_sig_on(ls, grouping, !without, buf);
}

/* The labels of an aggregation group's output series. */
MimirLabelSet
pq_group_labels(const MimirLabelSet *ls, List *grouping, bool without)
{
	MimirLabelSet r;

	if (without)
	{
		r = pq_ls_keep(ls, grouping, false);
		return pq_ls_drop_name(&r);
	}
	if (grouping == NIL)
	{
		r.n = 0;
		r.labels = palloc(sizeof(MimirLabel));
		return r;
	}
	return pq_ls_keep(ls, grouping, true);
}

static int
str_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((char *) lfirst(a), (char *) lfirst(b));
}

/* A sorted copy of a list of names. */
List *
pq_sorted_names(List *names)
{
	List	   *r = list_copy(names);

	list_sort(r, str_cmp);
	return r;
}
