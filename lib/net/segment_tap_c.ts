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
 * only after SIGUSR1, and on SIGTERM (or after TIMEOUT_MS) writes them to OUT_FILE (each as a
 * 4-byte big-endian length and the IP packet; through a temporary file and a rename) and exits.
 * It also ends, writing nothing, as soon as OWNER_PID (the migration) is gone: a migration killed
 * half-way leaves no tap behind.
 * `inject` (in the target namespace) sends each packet of FILE, as it is, through a raw socket.
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
#define MAX_BYTES (64u << 20)

static volatile sig_atomic_t recording, finishing;
static void on_usr1(int s) { (void)s; recording = 1; }
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

static int capture(char **argv) {
  uint16_t ports[MAX_PORTS];
  int nports = 0;
  for (char *p = strtok(argv[0], ","); p && nports < MAX_PORTS; p = strtok(NULL, ",")) {
    ports[nports++] = (uint16_t)atoi(p);
  }
  const char *ready = argv[1], *out = argv[2];
  long long deadline = now_ms() + atoll(argv[3]);
  pid_t owner = (pid_t)atoi(argv[4]);
  struct sigaction sa = { 0 };
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int sk = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
  if (sk < 0) return die("packet socket");
  int rcvbuf = 8 << 20;
  setsockopt(sk, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return die("ready file");
  close(fd);
  unsigned char *store = malloc(MAX_BYTES);
  if (!store) return die("memory");
  size_t used = 0;
  unsigned char buf[65536];
  while (!finishing && now_ms() < deadline) {
    if (owner > 0 && kill(owner, 0) < 0 && errno == ESRCH) return 0;
    struct pollfd pfd = { .fd = sk, .events = POLLIN };
    if (poll(&pfd, 1, 50) <= 0) continue;
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(sk, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
    if (n < (ssize_t)sizeof(struct iphdr) || !recording || from.sll_pkttype != PACKET_HOST) continue;
    struct iphdr *ip = (struct iphdr *)buf;
    size_t ihl = (size_t)ip->ihl * 4, total = ntohs(ip->tot_len);
    if (ip->version != 4 || ip->protocol != IPPROTO_TCP || total > (size_t)n) continue;
    if (ihl + sizeof(struct tcphdr) > total) continue;
    struct tcphdr *tcp = (struct tcphdr *)(buf + ihl);
    size_t data = total - ihl - (size_t)tcp->doff * 4;
    if (data == 0 && !tcp->fin) continue;
    int ours = 0;
    for (int i = 0; i < nports; i++) ours |= ntohs(tcp->dest) == ports[i];
    if (!ours || used + 4 + total > MAX_BYTES) continue;
    uint32_t len = htonl((uint32_t)total);
    memcpy(store + used, &len, 4);
    memcpy(store + used + 4, buf, total);
    used += 4 + total;
  }
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", out);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return die("output file");
  for (size_t off = 0; off < used;) {
    ssize_t w = write(fd, store + off, used - off);
    if (w < 0) return die("write");
    off += (size_t)w;
  }
  close(fd);
  if (rename(tmp, out) < 0) return die("rename");
  return 0;
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
