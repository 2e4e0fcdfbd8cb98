/**
 * The C source of `p4cf-segment-tap` (see lib/net/segment_tap.ts for what it is for). Kept apart
 * so the TypeScript that drives it stays readable. Compiled static into `.run/bin/` on first use.
 *
 * ```
 * p4cf-segment-tap capture PORTS READY_FILE OUT_FILE TIMEOUT_MS OWNER_PID
 * p4cf-segment-tap inject FILE
 * ```
 *
 * `capture` (in the source namespace) reads every IPv4 TCP segment arriving for one of PORTS
 * (comma-separated) with data or a FIN, through a packet socket: it sees them before netfilter,
 * so also those the lock refuses. It touches READY_FILE once the socket is bound, keeps segments
 * only after SIGUSR1. On SIGUSR2 it writes what it kept to OUT_FILE (each segment as a 4-byte
 * big-endian length and the IP packet; through a temporary file and a rename), forgets it and
 * goes on; on SIGTERM (or after TIMEOUT_MS) it writes the rest the same way and exits.
 * It also ends, writing nothing, as soon as OWNER_PID (the migration) is gone: a migration killed
 * half-way leaves no tap behind.
 * `inject` (in the target namespace) sends each packet of FILE, as it is, through a raw socket,
 * 100 us apart (the answers they draw would overflow BMv2's input all at once).
 *
 * @module
 */
export const SEGMENT_TAP_C = `/* p4cf-segment-tap (P4ContainerFlow, lib/net/segment_tap.ts). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64
#define INJECT_PACE_US 100
#define MAX_BYTES (64u << 20)

static volatile sig_atomic_t recording, flushing, finishing;
static void on_usr1(int s) { (void)s; recording = 1; }
static void on_usr2(int s) { (void)s; flushing = 1; }
static void on_term(int s) { (void)s; finishing = 1; }

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int die(const char *what) {
  fprintf(stderr, "p4cf-segment-tap: %s: %s\\n", what, strerror(errno));
  return 1;
}

static uint16_t ports[MAX_PORTS];
static int nports;
static unsigned char *store;
static size_t used;

/* Keeps one packet read from the socket if it is a segment for our ports with data or a FIN. */
static void keep(const unsigned char *buf, ssize_t n, const struct sockaddr_ll *from) {
  if (n < (ssize_t)sizeof(struct iphdr) || !recording || from->sll_pkttype != PACKET_HOST) return;
  const struct iphdr *ip = (const struct iphdr *)buf;
  size_t ihl = (size_t)ip->ihl * 4, total = ntohs(ip->tot_len);
  if (ip->version != 4 || ip->protocol != IPPROTO_TCP || total > (size_t)n) return;
  if (ihl + sizeof(struct tcphdr) > total) return;
  const struct tcphdr *tcp = (const struct tcphdr *)(buf + ihl);
  size_t data = total - ihl - (size_t)tcp->doff * 4;
  if (data == 0 && !tcp->fin) return;
  int ours = 0;
  for (int i = 0; i < nports; i++) ours |= ntohs(tcp->dest) == ports[i];
  if (!ours || used + 4 + total > MAX_BYTES) return;
  uint32_t len = htonl((uint32_t)total);
  memcpy(store + used, &len, 4);
  memcpy(store + used + 4, buf, total);
  used += 4 + total;
}

/* Reads what the socket holds now, without waiting. */
static void drain(int sk, unsigned char *buf, size_t size) {
  for (;;) {
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(sk, buf, size, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n < 0) return;
    keep(buf, n, &from);
  }
}

/* Writes the kept segments to out (a temporary file, then a rename) and forgets them. */
static int write_out(const char *out) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return die("output file");
  for (size_t off = 0; off < used;) {
    ssize_t w = write(fd, store + off, used - off);
    if (w < 0) return die("write");
    off += (size_t)w;
  }
  close(fd);
  if (rename(tmp, out) < 0) return die("rename");
  used = 0;
  return 0;
}

static int capture(char **argv) {
  for (char *p = strtok(argv[0], ","); p && nports < MAX_PORTS; p = strtok(NULL, ",")) {
    ports[nports++] = (uint16_t)atoi(p);
  }
  const char *ready = argv[1], *out = argv[2];
  long long deadline = now_ms() + atoll(argv[3]);
  pid_t owner = (pid_t)atoi(argv[4]);
  struct sigaction sa = { 0 };
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  /* Signals arrive only inside ppoll: a flag is never set between its check and the wait. */
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGUSR2);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);
  int sk = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
  if (sk < 0) return die("packet socket");
  int rcvbuf = 8 << 20;
  setsockopt(sk, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  store = malloc(MAX_BYTES);
  if (!store) return die("memory");
  int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return die("ready file");
  close(fd);
  static unsigned char buf[65536];
  while (!finishing && now_ms() < deadline) {
    if (owner > 0 && kill(owner, 0) < 0 && errno == ESRCH) return 0;
    if (flushing) {
      drain(sk, buf, sizeof buf);
      if (write_out(out)) return 1;
      flushing = 0;
    }
    struct pollfd pfd = { .fd = sk, .events = POLLIN };
    struct timespec wait = { 0, 50 * 1000000 };
    if (ppoll(&pfd, 1, &wait, &waiting) > 0) drain(sk, buf, sizeof buf);
  }
  drain(sk, buf, sizeof buf);
  return write_out(out);
}

static int inject(const char *file) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return die("input file");
  int sk = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (sk < 0) return die("raw socket");
  unsigned char buf[65536];
  int sent = 0;
  for (;;) {
    uint32_t len;
    if (read(fd, &len, 4) != 4) break;
    len = ntohl(len);
    if (len > sizeof buf || read(fd, buf, len) != (ssize_t)len) { errno = EINVAL; return die("input file"); }
    struct iphdr *ip = (struct iphdr *)buf;
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = ip->daddr };
    if (sendto(sk, buf, len, 0, (struct sockaddr *)&to, sizeof to) < 0) return die("send");
    sent++;
    /* Paced: each segment draws an answer at once, and a thousand answers at once overflow
       BMv2's input (its answers were lost, and recovered only by the restored sockets' 1 s
       loss probe). 100 us apart, a thousand take 0.1 s. */
    usleep(INJECT_PACE_US);
  }
  printf("%d\\n", sent);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 7 && strcmp(argv[1], "capture") == 0) return capture(argv + 2);
  if (argc == 3 && strcmp(argv[1], "inject") == 0) return inject(argv[2]);
  fprintf(stderr, "usage: p4cf-segment-tap capture PORTS READY_FILE OUT_FILE TIMEOUT_MS OWNER_PID | inject FILE\\n");
  return 2;
}
`;
