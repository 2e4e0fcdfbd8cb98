/*
 * LD_PRELOAD shim for simple_switch_grpc: BMv2 binds its Thrift runtime server (no
 * authentication, full control of the switch) to every address, and has no option to choose one.
 * Under this shim a TCP socket bound to the wildcard address is bound to loopback instead
 * (IPv4: 127.0.0.1; IPv6: ::ffff:127.0.0.1, which a dual-stack socket accepts IPv4 loopback on),
 * so nothing a lab starts is reachable from other machines. Other binds pass through unchanged.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

static int is_stream(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
  static bind_fn real_bind;
  if (!real_bind) real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
  if (addr && is_stream(fd)) {
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
      struct sockaddr_in in4;
      memcpy(&in4, addr, sizeof in4);
      if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
        in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
      }
    } else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
      struct sockaddr_in6 in6;
      memcpy(&in6, addr, sizeof in6);
      if (memcmp(&in6.sin6_addr, &in6addr_any, sizeof in6addr_any) == 0) {
        static const unsigned char mapped_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                          0, 0, 0xff, 0xff, 127, 0, 0, 1};
        memcpy(&in6.sin6_addr, mapped_loopback, sizeof mapped_loopback);
        return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
      }
    }
  }
  return real_bind(fd, addr, len);
}
