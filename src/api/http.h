/*
 * http.h — the HTTP layer shared by the distributor and the query API:
 * jobs created on libmicrohttpd threads and handed to the worker backend's
 * own thread, which alone may touch PostgreSQL (SPI, palloc, ereport).
 */
#ifndef MIMIR_HTTP_H
#define MIMIR_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct MHD_Connection;
typedef struct HttpJob HttpJob;

typedef struct HttpRoute
{
	const char *path;
	const char *methods;		/* e.g. "POST" or "GET,POST" */
	/* runs on the HTTP thread: pure C, no PostgreSQL calls; may answer the job */
	void		(*pre) (HttpJob *job);
	/* runs in the backend (NULL: pre always answers) */
	void		(*run) (HttpJob *job);
} HttpRoute;

#define HTTP_MAX_ARGS		64
#define HTTP_MAX_RESP_HDRS	8

struct HttpJob
{
	/* request; all strings malloc'd */
	char	   *method;
	char	   *path;
	char	   *content_type;
	char	   *content_encoding;
	char	   *org_id;
	char	   *retry_attempt;
	int			nargs;
	char	   *arg_name[HTTP_MAX_ARGS];
	char	   *arg_value[HTTP_MAX_ARGS];
	uint8_t    *body;
	size_t		body_len;
	size_t		body_cap;
	bool		body_too_large;
	uint64_t	content_length;
	double		start;			/* seconds, for request duration */

	const HttpRoute *route;
	void	   *data;			/* route's state between pre and run */
	void		(*free_data) (void *data);

	/* response; answered when status != 0 */
	int			status;
	char	   *resp;
	size_t		resp_len;
	const char *resp_type;
	int			nhdrs;
	char	   *hdr_name[HTTP_MAX_RESP_HDRS];
	char	   *hdr_value[HTTP_MAX_RESP_HDRS];

	/* plumbing */
	int			state;
	struct MHD_Connection *conn;
	HttpJob    *next;
};

/* Answer a job (usable on either thread: malloc only). */
extern void http_respond(HttpJob *job, int status, const char *type, const char *body, size_t len);
extern void http_respondf(HttpJob *job, int status, const char *fmt,...) __attribute__((format(printf, 3, 4)));
extern void http_add_header(HttpJob *job, const char *name, const char *value);
extern const char *http_arg(HttpJob *job, const char *name);

/* server lifecycle, called by the worker backend */
extern bool http_server_start(const char *addr, int port, const HttpRoute *routes, int nroutes,
							  size_t max_body, char *errbuf, size_t errlen);
extern void http_server_stop(void);
extern int	http_server_wakeup_fd(void);
/* take all queued jobs (a linked list in arrival order) */
extern HttpJob *http_server_take_jobs(void);
/* hand a finished job back to the HTTP thread */
extern void http_server_finish(HttpJob *job);
extern double http_now(void);

#endif
