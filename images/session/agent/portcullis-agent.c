/*
 * portcullis-agent: the guest agent of the Portcullis session image.
 *
 * The gateway starts it with an exec (Docker, Kubernetes) as the session user, with no added
 * capabilities, and talks to it over the exec's stdin/stdout. Exec APIs give a program and
 * its streams, but no sockets inside the container's network namespace; this gives them.
 *
 *   portcullis-agent version
 *   portcullis-agent connect HOST PORT    stdin/stdout <-> one TCP connection (ssh -L, -D)
 *   portcullis-agent connect-unix PATH    stdin/stdout <-> one Unix socket (ssh -L to a socket)
 *   portcullis-agent listen-tcp HOST PORT listen; every accepted connection is multiplexed
 *   portcullis-agent listen-unix PATH     over stdin/stdout (ssh -R, X11, agent forwarding)
 *
 * Listen protocol, version 1. Frames both ways: u8 type, u32 id, u32 length (big endian),
 * then `length` bytes.
 *   agent -> gateway: READY(0, id 0, payload: bound port or path), OPEN(1, id, peer address),
 *                     DATA(2), EOF(3: the peer stopped sending), CLOSE(4), FAIL(5, id 0, message)
 *   gateway -> agent: DATA(2), EOF(3: shut down writing to the peer), CLOSE(4)
 * The agent exits when stdin ends: the gateway holds it open for as long as the forward lives.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define VERSION "1"
#define MAX_CONNS 64
#define BUF 32768

enum { F_READY = 0, F_OPEN = 1, F_DATA = 2, F_EOF = 3, F_CLOSE = 4, F_FAIL = 5 };

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, void *data, size_t len) {
  char *p = data;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int tcp_connect(const char *host, const char *port) {
  struct addrinfo hints = {0}, *res, *ai;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
  int fd = -1;
  for (ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

static int unix_address(const char *path, struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr->sun_path) return -1;
  strcpy(addr->sun_path, path);
  return 0;
}

static int unix_connect(const char *path) {
  struct sockaddr_un addr;
  if (unix_address(path, &addr) < 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* stdin -> fd and fd -> stdout until both directions ended; half-close passed on. */
static int relay(int fd) {
  char buf[BUF];
  int in_open = 1, out_open = 1;
  while (in_open || out_open) {
    struct pollfd p[2] = {{in_open ? 0 : -1, POLLIN, 0}, {out_open ? fd : -1, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (in_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) {
        in_open = 0;
        shutdown(fd, SHUT_WR);
      } else if (write_all(fd, buf, (size_t)n) < 0) {
        return 1;
      }
    }
    if (out_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) {
        out_open = 0;
        close(1);
        if (n < 0) return 1;
      } else if (write_all(1, buf, (size_t)n) < 0) {
        return 1;
      }
    }
  }
  return 0;
}

static int send_frame(uint8_t type, uint32_t id, const void *data, uint32_t len) {
  unsigned char head[9] = {type, id >> 24, id >> 16, id >> 8, id, len >> 24, len >> 16, len >> 8, len};
  if (write_all(1, head, sizeof head) < 0) return -1;
  return len ? write_all(1, data, len) : 0;
}

static int fail(const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  send_frame(F_FAIL, 0, msg, (uint32_t)strlen(msg));
  fprintf(stderr, "portcullis-agent: %s\n", msg);
  return 1;
}

struct conn { int fd; uint32_t id; int reading; };

static int serve(int listener, const char *ready) {
  struct conn conns[MAX_CONNS];
  int count = 0;
  uint32_t next_id = 1;
  char buf[BUF];
  if (send_frame(F_READY, 0, ready, (uint32_t)strlen(ready)) < 0) return 1;
  for (;;) {
    struct pollfd p[MAX_CONNS + 2];
    p[0] = (struct pollfd){0, POLLIN, 0};
    p[1] = (struct pollfd){count < MAX_CONNS ? listener : -1, POLLIN, 0};
    for (int i = 0; i < count; i++) p[i + 2] = (struct pollfd){conns[i].reading ? conns[i].fd : -1, POLLIN, 0};
    if (poll(p, (nfds_t)count + 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      unsigned char head[9];
      if (read_all(0, head, sizeof head) < 0) return 0; /* the gateway ended the forward */
      uint32_t id = (uint32_t)head[1] << 24 | head[2] << 16 | head[3] << 8 | head[4];
      uint32_t len = (uint32_t)head[5] << 24 | head[6] << 16 | head[7] << 8 | head[8];
      if (len > BUF || (len && read_all(0, buf, len) < 0)) return 1;
      for (int i = 0; i < count; i++) {
        if (conns[i].id != id) continue;
        if (head[0] == F_DATA) {
          if (write_all(conns[i].fd, buf, len) < 0) shutdown(conns[i].fd, SHUT_RDWR);
        } else if (head[0] == F_EOF) {
          shutdown(conns[i].fd, SHUT_WR);
        } else if (head[0] == F_CLOSE) {
          close(conns[i].fd);
          conns[i--] = conns[--count];
        }
        break;
      }
      continue; /* the connection table may have changed */
    }
    int polled = count; /* connections accepted below have no poll entry yet */
    if (p[1].revents & POLLIN) {
      struct sockaddr_storage peer;
      socklen_t peer_len = sizeof peer;
      int fd = accept(listener, (struct sockaddr *)&peer, &peer_len);
      if (fd >= 0) {
        char host[NI_MAXHOST] = "", port[NI_MAXSERV] = "0", text[NI_MAXHOST + NI_MAXSERV + 2];
        if (peer.ss_family != AF_UNIX) getnameinfo((struct sockaddr *)&peer, peer_len, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(text, sizeof text, "%s %s", host, port);
        conns[count++] = (struct conn){fd, next_id, 1};
        if (send_frame(F_OPEN, next_id++, text, (uint32_t)strlen(text)) < 0) return 1;
      }
    }
    for (int i = 0; i < polled; i++) {
      if (!conns[i].reading || !(p[i + 2].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(conns[i].fd, buf, sizeof buf);
      if (n > 0) {
        if (send_frame(F_DATA, conns[i].id, buf, (uint32_t)n) < 0) return 1;
      } else {
        conns[i].reading = 0;
        if (send_frame(F_EOF, conns[i].id, NULL, 0) < 0) return 1;
      }
    }
  }
}

static int listen_tcp(const char *host, const char *port) {
  struct addrinfo hints = {0}, *res;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (getaddrinfo(*host ? host : NULL, port, &hints, &res) != 0) {
    errno = EADDRNOTAVAIL;
    return fail("resolve");
  }
  int fd = socket(res->ai_family, SOCK_STREAM, 0), one = 1;
  if (fd < 0) return fail("socket");
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) return fail("bind");
  freeaddrinfo(res);
  if (listen(fd, 16) < 0) return fail("listen");
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bound_len);
  char bound_port[NI_MAXSERV] = "0";
  getnameinfo((struct sockaddr *)&bound, bound_len, NULL, 0, bound_port, sizeof bound_port, NI_NUMERICSERV);
  return serve(fd, bound_port);
}

static int listen_unix(const char *path) {
  struct sockaddr_un addr;
  if (unix_address(path, &addr) < 0) {
    errno = ENAMETOOLONG;
    return fail("path");
  }
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return fail("socket");
  umask(0177); /* the socket is the user's alone, like sshd's agent socket */
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) return fail("bind");
  if (listen(fd, 16) < 0) return fail("listen");
  int status = serve(fd, path);
  unlink(path);
  return status;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 2 && strcmp(argv[1], "version") == 0) return puts(VERSION) < 0;
  if (argc == 4 && strcmp(argv[1], "connect") == 0) {
    int fd = tcp_connect(argv[2], argv[3]);
    if (fd < 0) {
      fprintf(stderr, "portcullis-agent: cannot connect to %s port %s\n", argv[2], argv[3]);
      return 2;
    }
    return relay(fd);
  }
  if (argc == 3 && strcmp(argv[1], "connect-unix") == 0) {
    int fd = unix_connect(argv[2]);
    if (fd < 0) {
      fprintf(stderr, "portcullis-agent: cannot connect to %s\n", argv[2]);
      return 2;
    }
    return relay(fd);
  }
  if (argc == 4 && strcmp(argv[1], "listen-tcp") == 0) return listen_tcp(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "listen-unix") == 0) return listen_unix(argv[2]);
  fprintf(stderr, "usage: portcullis-agent version | connect HOST PORT | connect-unix PATH | listen-tcp HOST PORT | listen-unix PATH\n");
  return 64;
}
