/*
 * counter_client: drives counter_server and logs every answer, to measure migration downtime.
 *
 *   counter_client -H HOST -p PORT [-c CONNS] [-i INTERVAL_MS] [-d DURATION_S] [-t TIMEOUT_MS]
 *                  [-o FILE]
 *
 * Opens CONNS connections (default 1) and, on each, sends one request line every INTERVAL_MS
 * (default 10), waiting for the answer before sending the next (stop-and-wait, so an outage shows
 * as one long latency rather than a queue). Runs for DURATION_S seconds (default: until SIGTERM or
 * SIGINT). Writes one JSON line per answer to FILE (default stdout):
 *
 *   {"t":<unix ms of the send>,"conn":i,"seq":k,"latency_ms":x,"count":n}
 *
 * and one per failure:
 *
 *   {"t":<unix ms>,"conn":i,"event":"reset"|"closed"|"timeout"|"connect_failed"|"error","errno":e}
 *
 * It never reconnects: a broken connection stays broken and visible. Exit code 0 when every
 * connection survived, 1 when any broke, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024

enum state { CONNECTING, IDLE, WAITING, BROKEN };

struct conn {
	int fd;
	enum state state;
	unsigned long seq;
	double next_send;   /* monotonic ms */
	double sent_mono;   /* monotonic ms of the outstanding request */
	double sent_unix;   /* unix ms of the outstanding request */
	size_t in_len;
	char in[512];
};

static volatile sig_atomic_t stop_requested;
static struct conn conns[MAX_CONNS];
static struct pollfd pfds[MAX_CONNS];
static FILE *out;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void log_event(int i, const char *event, int err)
{
	fprintf(out, "{\"t\":%.3f,\"conn\":%d,\"event\":\"%s\",\"errno\":%d}\n",
		clock_ms(CLOCK_REALTIME), i, event, err);
	fflush(out);
}

static void break_conn(int i, const char *event, int err)
{
	log_event(i, event, err);
	if (conns[i].fd >= 0)
		close(conns[i].fd);
	conns[i].fd = -1;
	conns[i].state = BROKEN;
}

static const char *event_for_errno(int err)
{
	switch (err) {
	case ECONNRESET:
	case EPIPE:
		return "reset";
	case ETIMEDOUT:
		return "timeout";
	default:
		return "error";
	}
}

static void send_request(int i)
{
	struct conn *c = &conns[i];
	char line[32];
	int len = snprintf(line, sizeof line, "%lu\n", c->seq);
	c->sent_mono = clock_ms(CLOCK_MONOTONIC);
	c->sent_unix = clock_ms(CLOCK_REALTIME);
	for (;;) {
		ssize_t n = send(c->fd, line, (size_t)len, MSG_NOSIGNAL);
		if (n == len) {
			c->state = WAITING;
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* A 20-byte line never fills an empty send buffer; anything else is a dead socket. */
		break_conn(i, n < 0 ? event_for_errno(errno) : "error", n < 0 ? errno : 0);
		return;
	}
}

/* Parses the "count" of an answer line; -1 when absent. */
static long answer_count(const char *line)
{
	const char *p = strstr(line, "\"count\":");
	return p ? strtol(p + 8, NULL, 10) : -1;
}

static void read_answers(int i, double interval)
{
	struct conn *c = &conns[i];
	for (;;) {
		char buf[1024];
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			break_conn(i, event_for_errno(errno), errno);
			return;
		}
		if (n == 0) {
			break_conn(i, "closed", 0);
			return;
		}
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] != '\n') {
				if (c->in_len < sizeof c->in - 1)
					c->in[c->in_len++] = buf[k];
				continue;
			}
			c->in[c->in_len] = 0;
			c->in_len = 0;
			double now = clock_ms(CLOCK_MONOTONIC);
			fprintf(out,
				"{\"t\":%.3f,\"conn\":%d,\"seq\":%lu,\"latency_ms\":%.3f,\"count\":%ld}\n",
				c->sent_unix, i, c->seq, now - c->sent_mono, answer_count(c->in));
			fflush(out);
			c->seq++;
			c->state = IDLE;
			c->next_send = c->sent_mono + interval > now ? c->sent_mono + interval : now;
		}
	}
}

static int start_connect(const struct sockaddr_in *sa, int i)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	conns[i].fd = fd;
	conns[i].state = CONNECTING;
	int r;
	do
		r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		conns[i].state = IDLE;
	else if (errno != EINPROGRESS)
		break_conn(i, "connect_failed", errno);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: counter_client -H HOST -p PORT [-c CONNS] [-i INTERVAL_MS] "
			"[-d DURATION_S] [-t TIMEOUT_MS] [-o FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = NULL, *out_path = NULL;
	int port = 0, nconns = 1;
	double interval = 10, duration_s = 0, timeout = 20000, connect_timeout = 3000;
	int opt;
	while ((opt = getopt(argc, argv, "H:p:c:i:d:t:o:")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'i': interval = atof(optarg); break;
		case 'd': duration_s = atof(optarg); break;
		case 't': timeout = atof(optarg); break;
		case 'o': out_path = optarg; break;
		default: usage();
		}
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	if (!host || port <= 0 || port > 65535 || nconns < 1 || nconns > MAX_CONNS || interval < 0 ||
	    timeout <= 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		usage();
	out = stdout;
	if (out_path) {
		out = fopen(out_path, "we");
		if (!out) {
			fprintf(stderr, "counter_client: cannot open %s: %s\n", out_path, strerror(errno));
			return 2;
		}
	}

	struct sigaction act = { .sa_handler = on_signal };
	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);

	double start = clock_ms(CLOCK_MONOTONIC);
	double deadline = duration_s > 0 ? start + duration_s * 1000.0 : 0;
	for (int i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conns[i].next_send = start;
		if (start_connect(&sa, i) < 0) {
			fprintf(stderr, "counter_client: socket: %s\n", strerror(errno));
			return 2;
		}
	}

	while (!stop_requested) {
		double now = clock_ms(CLOCK_MONOTONIC);
		if (deadline && now >= deadline)
			break;
		double wait = deadline ? deadline - now : 1000;
		int live = 0;
		for (int i = 0; i < nconns; i++) {
			struct conn *c = &conns[i];
			short ev = 0;
			double due = 0;
			if (c->state == CONNECTING) {
				ev = POLLOUT;
				due = start + connect_timeout;
				if (now >= due) {
					break_conn(i, "connect_failed", ETIMEDOUT);
					continue;
				}
			} else if (c->state == IDLE) {
				if (now >= c->next_send)
					send_request(i);
				due = c->next_send;
			}
			if (c->state == WAITING) {
				ev = POLLIN;
				due = c->sent_mono + timeout;
				if (now >= due) {
					break_conn(i, "timeout", 0);
					continue;
				}
			}
			if (c->state == BROKEN)
				continue;
			live++;
			if (due > now && due - now < wait)
				wait = due - now;
			pfds[i] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (!live)
			break;
		for (int i = 0; i < nconns; i++)
			if (conns[i].state == BROKEN)
				pfds[i] = (struct pollfd){ .fd = -1 };
		int n = poll(pfds, (nfds_t)nconns, (int)(wait + 0.999));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("counter_client: poll");
			return 2;
		}
		for (int i = 0; i < nconns && n > 0; i++) {
			short re = pfds[i].revents;
			if (!re || conns[i].state == BROKEN)
				continue;
			if (conns[i].state == CONNECTING) {
				int err = 0;
				socklen_t len = sizeof err;
				getsockopt(conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err)
					break_conn(i, "connect_failed", err);
				else
					conns[i].state = IDLE;
				continue;
			}
			if (re & (POLLIN | POLLHUP | POLLERR))
				read_answers(i, interval);
		}
	}

	int broken = 0;
	for (int i = 0; i < nconns; i++) {
		if (conns[i].state == BROKEN)
			broken = 1;
		else if (conns[i].fd >= 0)
			close(conns[i].fd);
	}
	fclose(out);
	return broken ? 1 : 0;
}
