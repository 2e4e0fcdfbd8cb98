/*
 * counter_server: a tiny stateful TCP server used as the migration workload.
 *
 *   counter_server PORT [BIND_ADDR [BALLAST_MB]]
 *
 * Every connection gets a sequence number and its own counter; a global counter counts all
 * requests. Each request line gets one answer line:
 *
 *   {"conn":N,"count":M,"total":T}
 *
 * Built to be checkpointed by CRIU: one thread, poll() (no epoll descriptor to dump), non-blocking
 * sockets, no descriptors besides stdio and its sockets, EINTR handled everywhere, and SIGTERM or
 * SIGINT make it close everything and exit 0.
 *
 * BALLAST_MB (default 0) stands in for a server with much memory (a cache, a JVM heap): that many
 * MB are allocated and written at start, and every answer writes one page of them, round robin,
 * so the memory stays resident and a little of it changes all the time (what CRIU's pre-dump
 * rounds are for).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 4096
#define LINE_MAX_LEN 512
#define OUT_MAX_LEN 65536

struct conn {
	int fd;
	unsigned long id;
	unsigned long count;
	size_t in_len;
	char in[LINE_MAX_LEN];
	size_t out_len;
	char out[OUT_MAX_LEN];
};

static volatile sig_atomic_t stop_requested;
static struct conn *conns[MAX_CONNS];
static struct pollfd pfds[MAX_CONNS + 1];
static int nconns;
static unsigned long next_conn_id;
static unsigned long total;
static unsigned char *ballast;
static size_t ballast_pages;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "counter_server: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void close_conn(int i)
{
	close(conns[i]->fd);
	free(conns[i]);
	conns[i] = conns[nconns - 1];
	nconns--;
}

/* Sends what is buffered; returns -1 when the connection is dead. */
static int flush_out(struct conn *c)
{
	while (c->out_len > 0) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	return 0;
}

static int answer(struct conn *c)
{
	c->count++;
	total++;
	if (ballast_pages)
		ballast[(total % ballast_pages) * 4096] = (unsigned char)total;
	char line[128];
	int len = snprintf(line, sizeof line, "{\"conn\":%lu,\"count\":%lu,\"total\":%lu}\n", c->id,
			   c->count, total);
	if (c->out_len + (size_t)len > OUT_MAX_LEN)
		return -1; /* the client stopped reading: drop it rather than grow without bound */
	memcpy(c->out + c->out_len, line, (size_t)len);
	c->out_len += (size_t)len;
	return 0;
}

/* Reads and answers every complete line; returns -1 when the connection is finished. */
static int handle_input(struct conn *c)
{
	for (;;) {
		char buf[4096];
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		if (n == 0)
			return -1;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || c->in_len == LINE_MAX_LEN) {
				c->in_len = 0;
				if (answer(c) < 0)
					return -1;
				if (buf[i] == '\n')
					continue;
			}
			c->in[c->in_len++] = buf[i];
		}
	}
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or a transient error such as ECONNABORTED or EMFILE */
		}
		if (nconns == MAX_CONNS) {
			close(fd);
			continue;
		}
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->fd = fd;
		c->id = next_conn_id++;
		conns[nconns++] = c;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: counter_server PORT [BIND_ADDR [BALLAST_MB]]\n");
		return 2;
	}
	int port = atoi(argv[1]);
	const char *bind_addr = argc >= 3 ? argv[2] : "0.0.0.0";
	long ballast_mb = argc == 4 ? atol(argv[3]) : 0;
	if (ballast_mb < 0 || ballast_mb > 65536) {
		fprintf(stderr, "counter_server: bad BALLAST_MB: %s (0-65536)\n", argv[3]);
		return 2;
	}
	if (ballast_mb > 0) {
		ballast_pages = (size_t)ballast_mb * 256;
		ballast = malloc(ballast_pages * 4096);
		if (!ballast)
			die("malloc ballast");
		/* Distinct bytes per page: CRIU must copy them (no zero pages to skip). */
		for (size_t i = 0; i < ballast_pages * 4096; i += 64)
			ballast[i] = (unsigned char)(i >> 12);
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	if (port <= 0 || port > 65535 || inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "counter_server: bad port or IPv4 address: %s %s\n", argv[1], bind_addr);
		return 2;
	}

	struct sigaction act = { .sa_handler = on_signal }; /* no SA_RESTART: poll returns EINTR */
	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	/* A backlog for every connection it can hold: a client opening a thousand at once would
	 * otherwise overflow it and get SYN-cookie connections, which did not all survive a dump. */
	if (listen(lfd, MAX_CONNS) < 0)
		die("listen");
	printf("counter_server listening on %s:%d pid %d\n", bind_addr, port, (int)getpid());
	fflush(stdout);

	while (!stop_requested) {
		pfds[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < nconns; i++) {
			short ev = POLLIN;
			if (conns[i]->out_len > 0)
				ev |= POLLOUT;
			pfds[i + 1] = (struct pollfd){ .fd = conns[i]->fd, .events = ev };
		}
		int n = poll(pfds, (nfds_t)nconns + 1, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		/* Walk backwards: close_conn moves the last connection into the freed slot. */
		int polled = nconns;
		for (int i = polled - 1; i >= 0; i--) {
			short re = pfds[i + 1].revents;
			if (!re)
				continue;
			struct conn *c = conns[i];
			int dead = 0;
			if (re & (POLLIN | POLLHUP | POLLERR))
				dead = handle_input(c) < 0;
			if (!dead)
				dead = flush_out(c) < 0;
			if (dead)
				close_conn(i);
		}
		if (pfds[0].revents & POLLIN)
			accept_all(lfd);
	}

	for (int i = nconns - 1; i >= 0; i--)
		close_conn(i);
	close(lfd);
	printf("counter_server exiting: %lu requests answered\n", total);
	fflush(stdout);
	return 0;
}
