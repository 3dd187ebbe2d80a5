/*
 * distributor.h — the remote-write endpoint's backend side: routes, limits,
 * counters and the hooks the HTTP worker calls around each batch.
 */
#ifndef MIMIR_DISTRIBUTOR_H
#define MIMIR_DISTRIBUTOR_H

#include "api/http.h"

extern char *mimir_http_listen_address;
extern int	mimir_http_port;
extern int	mimir_ingest_workers;
extern int	mimir_max_recv_msg_size;
extern bool mimir_multitenancy_enabled;

extern const HttpRoute mimir_http_routes[];
extern const int mimir_http_nroutes;

extern void mimir_register_ingest_workers(void);

/* push_handler.c: POST /api/v1/push and /api/v1/write */
extern void push_pre(HttpJob *job);
extern void push_run(HttpJob *job);
extern void push_publish(HttpJob *job);

/* http_routes.c */
extern void http_routes_set_ready(bool ready);

/* distributor.c */
extern void distributor_init(void);
extern void distributor_load_limits(void);
extern void distributor_tick(void);
extern void distributor_request_failed(HttpJob *job);
extern void distributor_request_committed(HttpJob *job);
extern void distributor_observe(HttpJob *job);

/* distributor_metrics.c */
extern void distributor_metrics_init(void);
extern void distributor_count(const char *tenant, uint64 requests, uint64 samples,
							  uint64 exemplars, uint64 metadata, uint64 deduped);
extern void distributor_count_discarded(const char *tenant, const char *reason, uint64 n);
extern void distributor_observe_duration(const char *method, const char *route, int status,
										 double seconds);
extern char *distributor_metrics_text(void);

/* Per-tenant limits, effective values (Mimir's names). */
typedef struct TenantLimits
{
	double		ingestion_rate;
	int64		ingestion_burst_size;
	int64		max_global_series_per_user;
	int64		max_global_series_per_metric;
	int			max_label_names_per_series;
	int			max_label_names_per_info_series;
	int			max_label_name_length;
	int			max_label_value_length;
	int			max_metadata_length;
	int64		creation_grace_period_ms;
	int64		past_grace_period_ms;
	int64		out_of_order_time_window_ms;
	int64		max_global_exemplars_per_user;
	bool		accept_ha_samples;
	char		ha_cluster_label[64];
	char		ha_replica_label[64];
	int			ha_max_clusters;
	int64		ha_failover_timeout_ms;
} TenantLimits;
extern void distributor_limits_for(const char *tenant, TenantLimits *out);

/* ha_tracker.c */
#define HA_ACCEPT				0
#define HA_DEDUPE				1
#define HA_TOO_MANY_CLUSTERS	2
extern int	ha_check_replica(int32 tenant_id, const char *cluster, const char *replica,
							 const TenantLimits *limits, char **elected);

#endif
