/*
 * http_server.c — libmicrohttpd glue. The HTTP thread reads requests,
 * runs a route's thread-safe `pre` step (e.g. decoding a push body) and
 * queues the job for the backend, suspending the connection; the backend
 * answers and resumes it. Several worker processes share the port through
 * SO_REUSEPORT, so the kernel spreads connections over them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "http.h"

enum
{
	JOB_NEW = 0,
	JOB_QUEUED,
	JOB_DONE
};

static struct MHD_Daemon *daemon_handle;
static const HttpRoute *routes;
static int	nroutes;
static volatile size_t max_body = 100 * 1024 * 1024;
static int	wake_fd = -1;
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static HttpJob *queue_head,
		   *queue_tail;

double
http_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void
http_respond(HttpJob *job, int status, const char *type, const char *body, size_t len)
{
	free(job->resp);
	job->resp = malloc(len + 1);
	if (job->resp == NULL)
	{
		job->status = 500;
		job->resp_len = 0;
		return;
	}
	memcpy(job->resp, body, len);
	job->resp[len] = '\0';
	job->resp_len = len;
	job->resp_type = type;
	job->status = status;
}

void
http_respondf(HttpJob *job, int status, const char *fmt,...)
{
	va_list		ap;
	char	   *s = NULL;
	int			n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
	{
		http_respond(job, 500, "text/plain; charset=utf-8", "out of memory", 13);
		return;
	}
	http_respond(job, status, "text/plain; charset=utf-8", s, n);
	free(s);
}

void
http_add_header(HttpJob *job, const char *name, const char *value)
{
	if (job->nhdrs >= HTTP_MAX_RESP_HDRS)
		return;
	job->hdr_name[job->nhdrs] = strdup(name);
	job->hdr_value[job->nhdrs] = strdup(value);
	job->nhdrs++;
}

const char *
http_arg(HttpJob *job, const char *name)
{
	for (int i = 0; i < job->nargs; i++)
		if (strcmp(job->arg_name[i], name) == 0)
			return job->arg_value[i];
	return NULL;
}

static void
job_free(HttpJob *job)
{
	if (job->free_data && job->data)
		job->free_data(job->data);
	free(job->method);
	free(job->path);
	free(job->content_type);
	free(job->content_encoding);
	free(job->org_id);
	free(job->retry_attempt);
	for (int i = 0; i < job->nargs; i++)
	{
		free(job->arg_name[i]);
		free(job->arg_value[i]);
	}
	free(job->body);
	free(job->resp);
	for (int i = 0; i < job->nhdrs; i++)
	{
		free(job->hdr_name[i]);
		free(job->hdr_value[i]);
	}
	free(job);
}

static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	HttpJob    *job = cls;

	(void) kind;
	if (job->nargs < HTTP_MAX_ARGS)
	{
		job->arg_name[job->nargs] = strdup(key);
		job->arg_value[job->nargs] = strdup(value ? value : "");
		job->nargs++;
	}
	return MHD_YES;
}

static enum MHD_Result
send_response(struct MHD_Connection *conn, HttpJob *job)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(job->resp_len, job->resp ? job->resp : (char *) "",
										   MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (job->resp_len > 0 && job->resp_type)
		MHD_add_response_header(resp, "Content-Type", job->resp_type);
	for (int i = 0; i < job->nhdrs; i++)
		MHD_add_response_header(resp, job->hdr_name[i], job->hdr_value[i]);
	ret = MHD_queue_response(conn, job->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
route_job(HttpJob *job)
{
	const HttpRoute *r = NULL;
	const char *p = job->path;

	/* the query API is served with and without Mimir's /prometheus prefix */
	if (strncmp(p, "/prometheus/", 12) == 0)
		p += 11;
	for (int i = 0; i < nroutes; i++)
	{
		const char *rp = routes[i].path;
		size_t		rl = strlen(rp);

		/* a path ending in slash-star matches every path below it (ruler config API) */
		if (strcmp(rp, p) == 0 || strcmp(rp, "*") == 0 ||
			(rl >= 2 && rp[rl - 1] == '*' && rp[rl - 2] == '/' && strncmp(rp, p, rl - 1) == 0))
		{
			r = &routes[i];
			break;
		}
	}
	if (r == NULL)
	{
		http_respondf(job, 404, "404 page not found\n");
		return;
	}
	{
		/* methods list check */
		const char *m = r->methods;
		size_t		ml = strlen(job->method);
		int			ok = 0;

		while (*m)
		{
			const char *e = strchr(m, ',');
			size_t		l = e ? (size_t) (e - m) : strlen(m);

			if (l == ml && strncmp(m, job->method, l) == 0)
				ok = 1;
			m += l + (e ? 1 : 0);
		}
		if (!ok)
		{
			http_add_header(job, "Allow", r->methods);
			http_respondf(job, 405, "method %s not allowed for %s\n", job->method, job->path);
			return;
		}
	}
	job->route = r;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			   const char *version, const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	HttpJob    *job = *con_cls;

	(void) cls;
	(void) version;
	if (job == NULL)
	{
		const char *cl;

		job = calloc(1, sizeof(HttpJob));
		if (job == NULL)
			return MHD_NO;
		*con_cls = job;
		job->start = http_now();
		job->conn = conn;
		job->method = xstrdup(method);
		job->path = xstrdup(url);
		job->content_type = xstrdup(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"));
		job->content_encoding = xstrdup(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding"));
		job->org_id = xstrdup(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Scope-OrgID"));
		job->retry_attempt = xstrdup(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Retry-Attempt"));
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		job->content_length = cl ? strtoull(cl, NULL, 10) : 0;
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, job);
		route_job(job);
		if (job->status == 0 && job->content_length > max_body)
			job->body_too_large = 1;
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		size_t		n = *upload_data_size;

		*upload_data_size = 0;
		if (job->status != 0 || job->body_too_large)
			return MHD_YES;		/* discard: the answer is already known */
		if (job->body_len + n > max_body)
		{
			job->body_too_large = 1;
			free(job->body);
			job->body = NULL;
			job->content_length = job->body_len + n;
			return MHD_YES;
		}
		if (job->body_len + n > job->body_cap)
		{
			size_t		cap = job->body_cap ? job->body_cap : 65536;
			uint8_t    *nb;

			while (cap < job->body_len + n)
				cap *= 2;
			nb = realloc(job->body, cap);
			if (nb == NULL)
				return MHD_NO;
			job->body = nb;
			job->body_cap = cap;
		}
		memcpy(job->body + job->body_len, upload_data, n);
		job->body_len += n;
		return MHD_YES;
	}

	/* the whole request is here */
	if (job->state == JOB_NEW)
	{
		if (job->status == 0 && job->route && job->route->pre)
			job->route->pre(job);
		/* jobs of backend routes always go there, answered or not (accounting) */
		if (job->route && job->route->run)
		{
			job->state = JOB_QUEUED;
			MHD_suspend_connection(conn);
			pthread_mutex_lock(&queue_lock);
			job->next = NULL;
			if (queue_tail)
				queue_tail->next = job;
			else
				queue_head = job;
			queue_tail = job;
			pthread_mutex_unlock(&queue_lock);
			{
				uint64_t	one = 1;

				if (write(wake_fd, &one, sizeof(one)) < 0)
				{
					/* eventfd only fails on overflow; the backend is awake then anyway */
				}
			}
			return MHD_YES;
		}
		if (job->status == 0)
			http_respondf(job, 500, "internal error: no handler\n");
		job->state = JOB_DONE;
	}
	if (job->state == JOB_DONE)
		return send_response(conn, job);
	return MHD_YES;
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	HttpJob    *job = *con_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	/* a queued job is owned by the backend until it finishes it */
	if (job && job->state != JOB_QUEUED)
		job_free(job);
	*con_cls = NULL;
}

void
http_server_set_max_body(size_t m)
{
	max_body = m;
}

size_t
http_server_max_body(void)
{
	return max_body;
}

static int
bind_socket(const struct sockaddr_in *sa, bool reuseport, char *errbuf, size_t errlen)
{
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int			one = 1;

	if (fd < 0)
	{
		snprintf(errbuf, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *) sa, sizeof(*sa)) < 0)
	{
		snprintf(errbuf, errlen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

bool
http_listen(const char *addr, int port, int n, int *fds, char *errbuf, size_t errlen)
{
	struct sockaddr_in sa;
	char		e[128];
	int			probe;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
	{
		snprintf(errbuf, errlen, "invalid listen address \"%s\" (an IPv4 address is expected)", addr);
		return false;
	}
	/* without SO_REUSEPORT, so that a port someone else listens on is refused */
	probe = bind_socket(&sa, false, e, sizeof(e));
	if (probe < 0)
	{
		snprintf(errbuf, errlen, "could not listen on %s:%d: %s", addr, port, e);
		return false;
	}
	close(probe);
	for (int i = 0; i < n; i++)
	{
		fds[i] = bind_socket(&sa, true, e, sizeof(e));
		if (fds[i] < 0 || listen(fds[i], 1024) < 0 ||
			fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) < 0)
		{
			snprintf(errbuf, errlen, "could not listen on %s:%d: %s", addr, port,
					 fds[i] < 0 ? e : strerror(errno));
			for (int j = 0; j <= i; j++)
				if (fds[j] >= 0)
					close(fds[j]);
			return false;
		}
	}
	return true;
}

bool
http_server_start(int listen_fd, const HttpRoute *r, int n, char *errbuf, size_t errlen)
{
	sigset_t	all,
				old;

	routes = r;
	nroutes = n;
	if (wake_fd < 0)
		wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake_fd < 0)
	{
		snprintf(errbuf, errlen, "eventfd: %s", strerror(errno));
		return false;
	}
	/* HTTP threads must never receive the backend's signals */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	errno = 0;
	daemon_handle = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
									 MHD_ALLOW_SUSPEND_RESUME,
									 0, NULL, NULL, access_handler, NULL,
									 MHD_OPTION_LISTEN_SOCKET, (MHD_socket) listen_fd,
									 MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
									 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 120,
									 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (256 * 1024),
									 MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (daemon_handle == NULL)
	{
		snprintf(errbuf, errlen, "could not start the HTTP server: %s",
				 errno ? strerror(errno) : "libmicrohttpd failed to start");
		return false;
	}
	return true;
}

void
http_server_stop(void)
{
	if (daemon_handle)
	{
		MHD_stop_daemon(daemon_handle);
		daemon_handle = NULL;
	}
}

int
http_server_wakeup_fd(void)
{
	return wake_fd;
}

HttpJob *
http_server_take_jobs(void)
{
	HttpJob    *jobs;
	uint64_t	cnt;

	if (read(wake_fd, &cnt, sizeof(cnt)) < 0)
	{
		/* EAGAIN: nothing signalled, the queue may still hold jobs */
	}
	pthread_mutex_lock(&queue_lock);
	jobs = queue_head;
	queue_head = queue_tail = NULL;
	pthread_mutex_unlock(&queue_lock);
	return jobs;
}

void
http_server_finish(HttpJob *job)
{
	job->state = JOB_DONE;
	if (job->status == 0)
		http_respondf(job, 500, "internal error: request was not answered\n");
	MHD_resume_connection(job->conn);
}
