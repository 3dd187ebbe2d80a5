/*
 * push.c — the backend half of POST /api/v1/push: HA election, ingestion
 * rate limit, then the ingester (series, ordering rules, head row),
 * metadata and exemplars, all inside the worker's transaction. The answer
 * is prepared here and sent by the worker only after the commit; counters
 * are updated in push_publish once the outcome is known.
 */
#include "mimir.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "distributor/distributor.h"
#include "distributor/push.h"
#include "ingester/ingester.h"

static bool
valid_text(rw_str s)
{
	return memchr(s.p, '\0', s.len) == NULL && rw_valid_utf8(s.p, s.len);
}

static Datum
text_datum(rw_str s)
{
	return PointerGetDatum(cstring_to_text_with_len(s.p, (int) s.len));
}

static const char *
md_type(int32 t)
{
	return t >= 0 && t < RW_MD_TYPES ? rw_metadata_type_names[t] : "unknown";
}

/* Upsert the request's valid metadata; returns how many entries were stored. */
static uint64
store_metadata(int32 tenant_id, PushPrep *pp)
{
	rw_request *req = &pp->req;
	int			cap = req->nmetadata + req->nseries,
				n = 0;
	Datum	   *metric,
			   *type,
			   *help,
			   *unit;
	Oid			types[5] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		args[5];

	if (cap == 0)
		return 0;
	metric = palloc(sizeof(Datum) * cap);
	type = palloc(sizeof(Datum) * cap);
	help = palloc(sizeof(Datum) * cap);
	unit = palloc(sizeof(Datum) * cap);
	for (uint32 i = 0; i < req->nmetadata; i++)
	{
		rw_metadata *m = &req->metadata[i];

		if (m->status != RW_OK || !valid_text(m->family) || !valid_text(m->help) || !valid_text(m->unit))
			continue;
		metric[n] = text_datum(m->family);
		type[n] = CStringGetTextDatum(md_type(m->type));
		help[n] = text_datum(m->help);
		unit[n] = text_datum(m->unit);
		n++;
	}
	/* remote write 2.0: metadata per series, for the series' metric */
	for (uint32 i = 0; i < req->nseries; i++)
	{
		rw_series  *s = &req->series[i];
		const rw_str *name;
		rw_str		h = s->md_help;

		if (!s->has_md || s->status != RW_OK)
			continue;
		name = rw_series_label(req, s, "__name__");
		if (name == NULL || !valid_text(h) || !valid_text(s->md_unit))
			continue;
		if (pp->lim.max_metadata_length > 0 && s->md_unit.len > (uint32) pp->lim.max_metadata_length)
			continue;
		if (pp->lim.max_metadata_length > 0 && h.len > (uint32) pp->lim.max_metadata_length)
		{
			h.len = (uint32) pp->lim.max_metadata_length;
			while (h.len > 0 && ((unsigned char) h.p[h.len] & 0xc0) == 0x80)
				h.len--;
		}
		metric[n] = text_datum(*name);
		type[n] = CStringGetTextDatum(md_type(s->md_type));
		help[n] = text_datum(h);
		unit[n] = text_datum(s->md_unit);
		n++;
	}
	if (n == 0)
		return 0;
	args[0] = Int32GetDatum(tenant_id);
	args[1] = PointerGetDatum(construct_array(metric, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(type, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(help, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = PointerGetDatum(construct_array(unit, n, TEXTOID, -1, false, TYPALIGN_INT));
	mimir_spi_connect();
	/* Prometheus resends all metadata every minute: touch rows at most once a minute */
	if (SPI_execute_with_args("INSERT INTO mimir.metadata AS m (tenant_id, metric, type, help, unit) "
							  "SELECT DISTINCT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) "
							  "ON CONFLICT (tenant_id, metric, type, help, unit) DO UPDATE SET updated = now() "
							  "WHERE m.updated < now() - interval '1 minute'",
							  5, types, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "metadata upsert failed");
	mimir_spi_finish();
	return (uint64) n;
}

void
push_run(HttpJob *job)
{
	PushPrep   *pp = job->data;
	int32		tenant_id;
	uint64		items;
	IngestResult r;
	const char *first;
	uint64		rejected = 0;

	if (pp == NULL || job->status != 0)
		return;
	tenant_id = mimir_tenant_id(pp->tenant, true);

	if (pp->ha_cluster != NULL)
	{
		char	   *elected = NULL;
		int			res = ha_check_replica(tenant_id, pp->ha_cluster, pp->ha_replica, &pp->lim, &elected);

		if (res == HA_DEDUPE)
		{
			pp->deduped = true;
			http_respondf(job, 202, "replicas did not match, rejecting sample: replica=%s, elected=%s\n",
						  pp->ha_replica, elected ? elected : "");
			return;
		}
		if (res == HA_TOO_MANY_CLUSTERS)
		{
			http_respondf(job, 400,
						  "the write request has been rejected because the maximum number of high-availability (HA) "
						  "clusters has been reached for this tenant (limit: %d) (err-mimir-tenant-too-many-ha-clusters). "
						  "To adjust the related per-tenant limit, configure -distributor.ha-tracker.max-clusters, "
						  "or contact your service administrator.\n", pp->lim.ha_max_clusters);
			return;
		}
	}

	items = pp->val.valid_samples + pp->val.valid_exemplars + pp->val.valid_metadata;
	if (pp->lim.ingestion_rate > 0 && items > 0)
	{
		int64		burst = pp->lim.ingestion_burst_size > 0 ? pp->lim.ingestion_burst_size
			: (int64) pp->lim.ingestion_rate;
		int			rl = rate_limit_take(pp->tenant, pp->lim.ingestion_rate, burst, (int64) items);

		if (rl != 0)
		{
			pp->rate_limited = true;
			if (rl == 2)
				http_respondf(job, 429,
							  "the request has been rejected because the tenant exceeded the ingestion burst size limit, "
							  "set to " INT64_FORMAT ", with " UINT64_FORMAT " items. This limit is applied on the total "
							  "number of samples, exemplars and metadata received across all distributors "
							  "(err-mimir-tenant-max-ingestion-rate). To adjust the related per-tenant limits, configure "
							  "-distributor.ingestion-rate-limit and -distributor.ingestion-burst-size, or contact your "
							  "service administrator.\n", burst, items);
			else
				http_respondf(job, 429,
							  "the request has been rejected because the tenant exceeded the ingestion rate limit, "
							  "set to %g items/s with a maximum allowed burst of " INT64_FORMAT ". This limit is applied "
							  "on the total number of samples, exemplars and metadata received across all distributors "
							  "(err-mimir-tenant-max-ingestion-rate). To adjust the related per-tenant limits, configure "
							  "-distributor.ingestion-rate-limit and -distributor.ingestion-burst-size, or contact your "
							  "service administrator.\n", pp->lim.ingestion_rate, burst);
			push_add_retry_after(job);
			return;
		}
	}

	mimir_rw_ingest(tenant_id, pp->tenant, &pp->req, &pp->lim, &r);
	pp->stored_metadata = store_metadata(tenant_id, pp);
	pp->ingested = true;
	pp->stored_samples = r.stored;
	pp->stored_exemplars = r.exemplars_stored;
	memcpy(pp->ingester_discarded, r.rejected, sizeof(r.rejected));

	/* the distributor's validation errors come first, then the ingester's */
	first = pp->val.first_error ? pp->val.first_error : r.first_error;
	for (int i = 0; i < RW_NREASONS; i++)
		if (i != RW_E_NATIVE_HISTOGRAMS_DISABLED)
			rejected += pp->val.discarded[i] + r.rejected[i];
	if (first != NULL)
		http_respondf(job, 400, "%s\n(the request was partially ingested: " UINT64_FORMAT " samples stored, "
					  UINT64_FORMAT " rejected, %u series rejected)\n",
					  first, r.stored, rejected, pp->val.rejected_series);
	else
		http_respond(job, 200, NULL, "", 0);
}

/* After the commit (or its failure): headers of 2.0 and the counters. */
void
push_publish(HttpJob *job, bool committed)
{
	PushPrep   *pp = job->data;
	const char *tenant = pp && pp->tenant[0] ? pp->tenant : NULL;
	bool		stored = pp && pp->ingested && committed;

	if (pp != NULL && pp->version == RW_CT_V2)
	{
		char		v[24];

		snprintf(v, sizeof(v), UINT64_FORMAT, stored ? pp->stored_samples : 0);
		http_add_header(job, "X-Prometheus-Remote-Write-Samples-Written", v);
		http_add_header(job, "X-Prometheus-Remote-Write-Histograms-Written", "0");
		snprintf(v, sizeof(v), UINT64_FORMAT, stored ? pp->stored_exemplars : 0);
		http_add_header(job, "X-Prometheus-Remote-Write-Exemplars-Written", v);
	}
	if (tenant == NULL)
		return;
	distributor_count(tenant, 1, 0, 0, 0, 0);
	if (pp == NULL || !pp->decoded)
		return;
	if (pp->deduped)
	{
		distributor_count(tenant, 0, 0, 0, 0, pp->req.nsamples);
		return;
	}
	if (pp->rate_limited)
	{
		distributor_count_discarded(tenant, "rate_limited", pp->val.valid_samples);
		return;
	}
	if (!committed || !pp->ingested)
		return;
	distributor_count(tenant, 0, pp->val.valid_samples, pp->val.valid_exemplars, pp->val.valid_metadata, 0);
	distributor_count_ingested(tenant, pp->stored_samples);
	for (int i = 1; i < RW_NREASONS; i++)
		distributor_count_discarded(tenant, rw_reason_label(i), pp->val.discarded[i] + pp->ingester_discarded[i]);
}
