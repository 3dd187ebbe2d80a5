/*
 * push_parse.c — the small request-level parsers of remote write, pure C:
 * the remote-write version from Content-Type, the tenant from X-Scope-OrgID
 * (dskit's rules) and Mimir's Retry-After backoff.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "distributor/rw.h"

static void
trim(const char **b, const char **e)
{
	while (*b < *e && isspace((unsigned char) **b))
		(*b)++;
	while (*e > *b && isspace((unsigned char) (*e)[-1]))
		(*e)--;
}

static bool
span_eq(const char *b, const char *e, const char *s)
{
	size_t		n = strlen(s);

	return (size_t) (e - b) == n && strncmp(b, s, n) == 0;
}

static bool
span_eq_ci(const char *b, const char *e, const char *s)
{
	size_t		n = strlen(s);

	return (size_t) (e - b) == n && strncasecmp(b, s, n) == 0;
}

/*
 * As Mimir: no Content-Type or another media type is 1.0; for
 * application/x-protobuf, proto=prometheus.WriteRequest is 1.0,
 * proto=io.prometheus.write.v2.Request 2.0, another proto unsupported, and
 * a parameter that is not key=value malformed.
 */
int
rw_content_type_version(const char *ct)
{
	const char *p,
			   *semi,
			   *b,
			   *e;
	int			version = RW_CT_V1;

	if (ct == NULL || *ct == '\0')
		return RW_CT_V1;
	semi = strchr(ct, ';');
	b = ct;
	e = semi ? semi : ct + strlen(ct);
	trim(&b, &e);
	if (!span_eq_ci(b, e, "application/x-protobuf"))
		return RW_CT_V1;
	p = semi;
	while (p != NULL)
	{
		const char *next = strchr(p + 1, ';');
		const char *pe = next ? next : p + strlen(p);
		const char *eq;
		const char *kb = p + 1,
				   *ke,
				   *vb,
				   *ve = pe;

		eq = memchr(kb, '=', (size_t) (pe - kb));
		if (eq == NULL || memchr(eq + 1, '=', (size_t) (pe - eq - 1)) != NULL)
		{
			/* an empty parameter (a trailing ';') is tolerated */
			const char *tb = kb,
					   *te = pe;

			trim(&tb, &te);
			if (eq == NULL && tb == te)
			{
				p = next;
				continue;
			}
			return RW_CT_MALFORMED;
		}
		ke = eq;
		vb = eq + 1;
		trim(&kb, &ke);
		trim(&vb, &ve);
		if (span_eq_ci(kb, ke, "proto"))
		{
			if (ve - vb >= 2 && *vb == '"' && ve[-1] == '"')
			{
				vb++;
				ve--;
			}
			if (span_eq(vb, ve, "prometheus.WriteRequest"))
				version = RW_CT_V1;
			else if (span_eq(vb, ve, "io.prometheus.write.v2.Request"))
				version = RW_CT_V2;
			else
				return RW_CT_UNSUPPORTED;
		}
		p = next;
	}
	return version;
}

static int
valid_tenant(const char *id, size_t len, char *err, size_t errlen)
{
	if (len == 0)
	{
		snprintf(err, errlen, "no org id");
		return 401;
	}
	if (len > 150)
	{
		snprintf(err, errlen, "tenant ID is too long: max 150 characters");
		return 400;
	}
	for (size_t i = 0; i < len; i++)
	{
		char		c = id[i];

		if (isalnum((unsigned char) c) && (unsigned char) c < 0x80)
			continue;
		if (strchr("!-_.*'()", c) != NULL && c != '\0')
			continue;
		snprintf(err, errlen, "tenant ID '%.*s' contains unsupported character '%c'", (int) len, id, c);
		return 400;
	}
	if ((len == 1 && id[0] == '.') || (len == 2 && id[0] == '.' && id[1] == '.'))
	{
		snprintf(err, errlen, "tenant ID is '.' or '..'");
		return 400;
	}
	if (len == 15 && memcmp(id, "__mimir_cluster", 15) == 0)
	{
		snprintf(err, errlen, "tenant ID '__mimir_cluster' is reserved");
		return 400;
	}
	return 0;
}

int
rw_parse_tenant(const char *h, char *out, char *err, size_t errlen)
{
	const char *first = NULL;
	size_t		first_len = 0;
	const char *p;

	if (h == NULL || *h == '\0')
	{
		snprintf(err, errlen, "no org id");
		return 401;
	}
	/* dskit: a|b names several tenants, which push does not accept */
	p = h;
	for (;;)
	{
		const char *bar = strchr(p, '|');
		size_t		len = bar ? (size_t) (bar - p) : strlen(p);
		int			st = valid_tenant(p, len, err, errlen);

		if (st != 0)
			return st == 401 ? 400 : st;
		if (first == NULL)
		{
			first = p;
			first_len = len;
		}
		else if (len != first_len || memcmp(p, first, len) != 0)
		{
			snprintf(err, errlen, "multiple org IDs present");
			return 400;
		}
		if (bar == NULL)
			break;
		p = bar + 1;
	}
	memcpy(out, first, first_len);
	out[first_len] = '\0';
	return 0;
}

int
rw_retry_after(const char *retry_attempt, double rnd)
{
	long		attempt = 1;
	double		base,
				v;

	if (retry_attempt != NULL)
	{
		char	   *end;
		long		a = strtol(retry_attempt, &end, 10);

		if (end != retry_attempt && *end == '\0' && a >= 1)
			attempt = a;
	}
	if (attempt > 8)
		attempt = 8;
	base = 6.0 * (double) (1L << (attempt - 1));
	v = base * (0.5 + rnd);		/* +-50% */
	if (v < 6)
		v = 6;
	if (v > 96)
		v = 96;
	return (int) ceil(v);
}
