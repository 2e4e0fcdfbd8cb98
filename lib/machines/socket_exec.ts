/**
 * `p4cf-socket-exec`: runs a program with a TCP connection made in the namespace it is started in
 * as its descriptor 3. CRIU must dump and restore a server from inside the server's own network
 * namespace, which has no route to the underlay; its page server connection (`--ps-socket 3`)
 * is made here, in the machine's namespace, before `nsenter` takes CRIU into the host's. The
 * other end, a lazy-pages daemon, takes its connection the same way (`listen`).
 *
 * Compiled here from a page of C, like the workloads: static, into `.run/bin/`.
 *
 * ```
 * p4cf-socket-exec connect ADDR PORT TIMEOUT_MS [AFTER_FILE] -- PROGRAM ARGS...
 * p4cf-socket-exec listen  ADDR PORT TIMEOUT_MS [AFTER_FILE] -- PROGRAM ARGS...
 * ```
 *
 * `connect` retries until the peer listens; `listen` accepts one connection on the given (the
 * machine's underlay) address, which only root reaches (lib/machines/plan.ts's guard).
 * With AFTER_FILE the program starts only once that file exists. Past TIMEOUT_MS it exits 124.
 * The helper stays the program's parent (forwarding SIGTERM, SIGINT, SIGHUP; exiting with its
 * status) and pushes the connection's corked data every 2 ms: CRIU corks its page-server socket
 * and leaves its last request corked, which would cost Linux's 200 ms cork timeout per dump.
 *
 * @module
 */
import type { Shell } from "../shell.ts";
import { buildCHelper } from "../workloads/build.ts";

/** The descriptor the program finds its connection on. */
export const SOCKET_FD = 3;

export const SOCKET_EXEC_C = `/* p4cf-socket-exec (P4ContainerFlow, lib/machines/socket_exec.ts). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child;

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

#define PUSH_US 2000

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void fail(const char *what, int code) {
  fprintf(stderr, "p4cf-socket-exec: %s: %s\\n", what, code == 124 ? "timed out" : strerror(errno));
  exit(code);
}

int main(int argc, char **argv) {
  int sep = 0;
  for (int i = 1; i < argc; i++) if (strcmp(argv[i], "--") == 0) { sep = i; break; }
  if (sep < 5 || sep > 6 || sep + 1 >= argc) {
    fprintf(stderr, "usage: p4cf-socket-exec connect|listen ADDR PORT TIMEOUT_MS [AFTER_FILE] -- PROGRAM ARGS...\\n");
    return 2;
  }
  int listening = strcmp(argv[1], "listen") == 0;
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
  if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) { errno = EINVAL; fail("address", 2); }
  long long deadline = now_ms() + atoll(argv[4]);
  const char *after = sep == 6 ? argv[5] : NULL;
  int sk = -1;
  if (listening) {
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (ls < 0) fail("socket", 2);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1)) fail("bind/listen", 2);
    printf("listening\\n");
    fflush(stdout);
    struct pollfd p = { .fd = ls, .events = POLLIN };
    for (;;) {
      long long left = deadline - now_ms();
      if (left <= 0) fail("accept", 124);
      int r = poll(&p, 1, (int)left);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) fail("poll", 2);
      if (r == 0) continue;
      sk = accept4(ls, NULL, NULL, 0);
      if (sk >= 0) break;
      if (errno != EINTR && errno != ECONNABORTED) fail("accept", 2);
    }
    close(ls);
  } else {
    for (;;) {
      sk = socket(AF_INET, SOCK_STREAM, 0);
      if (sk < 0) fail("socket", 2);
      if (connect(sk, (struct sockaddr *)&sa, sizeof sa) == 0) break;
      if (errno != ECONNREFUSED && errno != EINTR && errno != ETIMEDOUT) fail("connect", 2);
      close(sk);
      if (now_ms() >= deadline) fail("connect", 124);
      usleep(2000);
    }
  }
  if (after) {
    struct stat st;
    while (stat(after, &st) != 0) {
      if (now_ms() >= deadline) fail(after, 124);
      usleep(1000);
    }
  }
  if (sk != 3) {
    if (dup2(sk, 3) < 0) fail("dup2", 2);
    close(sk);
  }
  /* CRIU corks its page-server socket and never uncorks it before its last request, which then
     waits out Linux's 200 ms cork timer. We keep a share of the socket and push what is corked
     every PUSH_US: setting TCP_NODELAY flushes pending output even while corked. */
  pid_t pid = fork();
  if (pid < 0) fail("fork", 2);
  if (pid == 0) {
    execvp(argv[sep + 1], argv + sep + 1);
    fail(argv[sep + 1], 127);
  }
  child = pid;
  signal(SIGTERM, forward);
  signal(SIGINT, forward);
  signal(SIGHUP, forward);
  for (;;) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) fail("waitpid", 2);
    int one = 1;
    setsockopt(3, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    usleep(PUSH_US);
  }
}
`;

/** How the helper makes its connection. */
export interface SocketExecOptions {
  /** The helper binary (see {@link buildSocketExec}). */
  binary: string;
  mode: "connect" | "listen";
  address: string;
  port: number;
  timeoutMs: number;
  /** Start the program only once this file exists. */
  afterFile?: string;
}

/** Argv running `argv` with the helper's connection as descriptor {@link SOCKET_FD} (pure). */
export function socketExecArgv(o: SocketExecOptions, argv: readonly string[]): string[] {
  return [
    o.binary,
    o.mode,
    o.address,
    String(o.port),
    String(o.timeoutMs),
    ...(o.afterFile ? [o.afterFile] : []),
    "--",
    ...argv,
  ];
}

/** Compiles the helper into `.run/bin/` unless it is there from this very source. */
export function buildSocketExec(shell: Shell, gcc = "gcc"): Promise<string> {
  return buildCHelper(shell, "p4cf-socket-exec", SOCKET_EXEC_C, gcc);
}
