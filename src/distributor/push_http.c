/*
 * push_http.c — the HTTP-thread half of POST /api/v1/push (and
 * /api/v1/write): tenant, Content-Type (remote write 1.0 or 2.0), size
 * limits before and after decompression, snappy, protobuf decoding, HA
 * replica label handling and Mimir's validation. Pure C (malloc, no
 * PostgreSQL calls): it runs on libmicrohttpd's thread, in parallel with the
 * backend storing earlier requests. What is left for the backend is only
 * what needs the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <snappy-c.h>

#include "api/http.h"
#include "distributor/push.h"

/* GUCs, read as plain variables (set by the backend) */
extern bool mimir_multitenancy_enabled;

/* declared in distributor.h */
extern void push_pre(HttpJob *job);

void
push_prep_free(void *p)
{
	PushPrep   *pp = p;

	if (pp == NULL)
		return;
	rw_request_free(&pp->req);
	rw_validation_free(&pp->val);
	free(pp->body);
	free(pp->ha_cluster);
	free(pp->ha_replica);
	free(pp);
}

void
push_add_retry_after(HttpJob *job)
{
	char		v[16];

	snprintf(v, sizeof(v), "%d", rw_retry_after(job->retry_attempt, (double) rand() / ((double) RAND_MAX + 1)));
	http_add_header(job, "Retry-After", v);
}

/* a server-side problem: 500, retried by the sender */
static void
server_error(HttpJob *job)
{
	http_respondf(job, 500, "out of memory\n");
	push_add_retry_after(job);
}

static void
too_large(HttpJob *job, unsigned long long size, const char *kind, size_t max)
{
	http_respondf(job, 400,
				  "the incoming push request has been rejected because its message size of %llu bytes (%s) "
				  "is larger than the allowed limit of %zu bytes (err-mimir-distributor-max-write-message-size). "
				  "To adjust the related limit, configure -distributor.max-recv-msg-size, or contact your service administrator.\n",
				  size, kind, max);
}

static int64_t wall_ms(void);

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
push_pre(HttpJob *job)
{
	PushPrep   *pp = calloc(1, sizeof(PushPrep));
	char		err[512];
	int			v;
	size_t		ulen = 0,
				max = http_server_max_body();
	int			rc;

	if (pp == NULL)
	{
		server_error(job);
		return;
	}
	job->data = pp;
	job->free_data = push_prep_free;

	/* tenant first, as Mimir's auth middleware does */
	if (mimir_multitenancy_enabled)
	{
		int			st = rw_parse_tenant(job->org_id, pp->tenant, err, sizeof(err));

		if (st != 0)
		{
			http_respondf(job, st, "%s\n", err);
			return;
		}
	}
	else
		strcpy(pp->tenant, "anonymous");

	v = rw_content_type_version(job->content_type);
	if (v == RW_CT_MALFORMED)
	{
		http_respondf(job, 400, "as per https://prometheus.io/docs/specs/prw/remote_write_spec_2_0/#protocol, "
					  "unexpected Content-Type format %s; expected 'application/x-protobuf' or "
					  "'application/x-protobuf;proto=<proto name>'\n", job->content_type);
		return;
	}
	if (v == RW_CT_UNSUPPORTED)
	{
		http_respondf(job, 415, "got %s content type; expected prometheus.WriteRequest or io.prometheus.write.v2.Request\n",
					  job->content_type);
		return;
	}
	pp->version = v;

	if (job->body_too_large)
	{
		too_large(job, (unsigned long long) job->content_length, "compressed", max);
		return;
	}
	if (job->body_len > 0 &&
		snappy_uncompressed_length((const char *) job->body, job->body_len, &ulen) != SNAPPY_OK)
	{
		http_respondf(job, 400, "snappy: corrupt input\n");
		return;
	}
	if (ulen > max)
	{
		too_large(job, (unsigned long long) ulen, "uncompressed", max);
		return;
	}
	pp->body = malloc(ulen ? ulen : 1);
	if (pp->body == NULL)
	{
		server_error(job);
		return;
	}
	if (job->body_len > 0 &&
		snappy_uncompress((const char *) job->body, job->body_len, (char *) pp->body, &ulen) != SNAPPY_OK)
	{
		http_respondf(job, 400, "snappy: corrupt input\n");
		return;
	}
	/* the compressed body is not needed any more */
	free(job->body);
	job->body = NULL;
	job->body_len = job->body_cap = 0;

	rc = v == RW_CT_V2 ? rw_decode_v2(pp->body, ulen, &pp->req, err, sizeof(err))
		: rw_decode_v1(pp->body, ulen, &pp->req, err, sizeof(err));
	if (rc < 0)
	{
		http_respondf(job, 400, "%s\n", err);
		return;
	}
	pp->decoded = true;

	push_prepare(job, pp);
}

/*
 * The limit-dependent part of the HTTP-thread step; the backend repeats it
 * when mimir.limits changed in between (the request then sees the limits
 * committed before it was processed).
 */
void
push_prepare(HttpJob *job, PushPrep *pp)
{
	pp->lim_version = limits_store_get(pp->tenant, &pp->lim);
	rw_validation_free(&pp->val);

	/*
	 * HA dedup looks at the first series only; when it carries both labels
	 * the request is subject to the election and the replica label goes.
	 */
	if (pp->ha_cluster == NULL && pp->lim.accept_ha_samples && pp->req.nseries > 0)
	{
		const rw_str *c = rw_series_label(&pp->req, &pp->req.series[0], pp->lim.ha_cluster_label);
		const rw_str *r = rw_series_label(&pp->req, &pp->req.series[0], pp->lim.ha_replica_label);

		if (c && r && c->len > 0 && r->len > 0)
		{
			pp->ha_cluster = strndup(c->p, c->len);
			pp->ha_replica = strndup(r->p, r->len);
			if (pp->ha_cluster == NULL || pp->ha_replica == NULL)
			{
				server_error(job);
				return;
			}
			rw_remove_label(&pp->req, pp->lim.ha_replica_label);
		}
	}

	pp->now_ms = wall_ms();
	rw_validate(&pp->req, pp->tenant, &pp->lim, pp->now_ms, &pp->val);
	for (uint32_t i = 0; i < pp->req.nseries; i++)
		if (pp->req.series[i].status == RW_OK && pp->req.series[i].hash_hi == 0 &&
			pp->req.series[i].hash_lo == 0)
		{
			server_error(job);
			return;
		}
}
