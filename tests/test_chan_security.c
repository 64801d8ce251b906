/* Channel security: Unix peer policy (a real uid 65534 peer), symlinks,
 * path squatting, file modes, TLS with certificates generated at test time,
 * and a real non-ipckit TLS client (openssl s_client). */
#include "helpers.h"
#include "chan_shared.h"
#include "core/internal.h"
#include "chan/chan_int.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static char certdir[512];

static const char *cf(const char *name)
{
    static char buf[8][600];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", certdir, name);
    return buf[i];
}

static int gen_certs(void **state)
{
    IK__UNUSED(state);
    ikt_private_runtime();
    snprintf(certdir, sizeof(certdir), "%s/certs", ikt_tmpdir());
    char out[256];
    return ikt_run(out, sizeof(out), "%s/tests/chan/gen_certs.sh %s", ikt_srcdir(), certdir);
}

/* ---- dial in a thread while the main thread accepts ---------------------- */

struct dialer {
    char url[800];
    ik_chan_opts *opts;
    ik_chan *ch;
    int rc;
    char detail[256];
    pthread_t th;
};

static void *dial_main(void *arg)
{
    struct dialer *d = arg;
    d->rc = ik_dial(&d->ch, d->url, d->opts);
    snprintf(d->detail, sizeof(d->detail), "%s", ik_chan_last_errdetail());
    return NULL;
}

static void dial_start(struct dialer *d, const char *url, ik_chan_opts *o)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->url, sizeof(d->url), "%s", url);
    d->opts = o;
    pthread_create(&d->th, NULL, dial_main, d);
}

static void dial_join(struct dialer *d)
{
    pthread_join(d->th, NULL);
    ik_chan_opts_free(d->opts);
}

/* ---- Unix policy ---------------------------------------------------------- */

struct nobody_arg {
    char url[128];
};

/* As uid 65534: connect (abstract sockets have no file permissions), then
 * expect the server to hang up. 0 = rejected as it should be. */
static int nobody_dial(void *p)
{
    struct nobody_arg *a = p;
    ik_chan *ch;
    int rc = ik_dial(&ch, a->url, NULL);
    if (rc != 0)
        return 10;
    char buf[8];
    size_t len;
    rc = ik_recv(ch, buf, sizeof(buf), &len, 10000);
    ik_chan_close(ch);
    if (rc == IK_ECLOSED)
        return 0;
    return rc == 0 && len == 2 ? 1 : 11; /* 1: it was let in */
}

struct acceptor {
    ik_listener *l;
    ik_chan *ch;
    int rc;
    char detail[256];
    pthread_t th;
};

static void *accept_main(void *arg)
{
    struct acceptor *a = arg;
    a->rc = ik_accept(a->l, &a->ch, 10000);
    snprintf(a->detail, sizeof(a->detail), "%s", ik_chan_last_errdetail());
    if (a->rc == 0) {
        if (ik_send(a->ch, "ok", 2, 1000) != 0)
            a->rc = -1;
        ik_chan_close(a->ch);
    }
    return NULL;
}

static void test_other_uid_rejected_by_default(void **state)
{
    IK__UNUSED(state);
    if (!ikt_is_root())
        skip();
    struct nobody_arg na;
    snprintf(na.url, sizeof(na.url), "unix+abstract://%s", ikt_name("pol"));
    struct acceptor ac = {0};
    assert_ok(ik_listen(&ac.l, na.url, NULL));
    pthread_create(&ac.th, NULL, accept_main, &ac);
    assert_int_equal(ikt_run_as_nobody(nobody_dial, &na), 0);
    pthread_join(ac.th, NULL);
    assert_ik(IK_EAUTH, ac.rc);
    assert_non_null(strstr(ac.detail, "65534"));
    ik_listener_close(ac.l);

    /* An explicit allow-list widens the policy. */
    ik_chan_opts *o;
    assert_ok(ik_chan_opts_new(&o));
    assert_ok(ik_chan_opts_allow_uid(o, 65534));
    snprintf(na.url, sizeof(na.url), "unix+abstract://%s", ikt_name("pol"));
    assert_ok(ik_listen(&ac.l, na.url, o));
    ik_chan_opts_free(o);
    pthread_create(&ac.th, NULL, accept_main, &ac);
    assert_int_equal(ikt_run_as_nobody(nobody_dial, &na), 1);
    pthread_join(ac.th, NULL);
    assert_ok(ac.rc);
    ik_listener_close(ac.l);
}

/* A server of another uid squatting an abstract name (no file, so no
 * owner check) is refused by the dialer: EAUTH, nothing sent to it. */
struct squat_arg {
    char url[128];
    int ready;
};

static int nobody_listen(void *p)
{
    struct squat_arg *a = p;
    ik_listener *l;
    if (ik_listen(&l, a->url, NULL) != 0)
        return 10;
    if (write(a->ready, "L", 1) != 1)
        return 11;
    ik_chan *ch = NULL;
    int rc = ik_accept(l, &ch, 10000); /* the root dialer: rejected here too */
    ik_chan_close(ch);
    ik_listener_close(l);
    return rc == IK_EAUTH ? 0 : 12;
}

struct squat_runner {
    struct squat_arg a;
    int rc;
    pthread_t th;
};

static void *squat_main(void *p)
{
    struct squat_runner *r = p;
    r->rc = ikt_run_as_nobody(nobody_listen, &r->a);
    return NULL;
}

static void test_dialer_refuses_foreign_server(void **state)
{
    IK__UNUSED(state);
    if (!ikt_is_root())
        skip();
    struct squat_runner r;
    memset(&r, 0, sizeof(r));
    snprintf(r.a.url, sizeof(r.a.url), "unix+abstract://%s", ikt_name("sq"));
    int p[2];
    assert_int_equal(pipe(p), 0);
    r.a.ready = p[1];
    pthread_create(&r.th, NULL, squat_main, &r);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    ik_chan *ch = NULL;
    assert_ik(IK_EAUTH, ik_dial(&ch, r.a.url, NULL));
    assert_non_null(strstr(ik_chan_last_errdetail(), "65534"));
    pthread_join(r.th, NULL);
    assert_int_equal(r.rc, 0);
    close(p[0]);
    close(p[1]);
}

static void test_peer_credentials(void **state)
{
    IK__UNUSED(state);
    const char *n = ikt_name("cred");
    char url[128];
    snprintf(url, sizeof(url), "unix+seq://%s", n);
    ik_listener *l;
    ik_chan *c, *s;
    ikt_connect(url, &l, &c, &s);
    uid_t uid;
    gid_t gid;
    pid_t pid;
    assert_ok(ik_chan_peer(s, &uid, &gid, &pid));
    assert_int_equal(uid, geteuid());
    assert_int_equal(gid, getegid());
    assert_int_equal(pid, getpid());
    ik_chan_close(c);
    ik_chan_close(s);
    ik_listener_close(l);
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, "pipe"));
    assert_ik(IK_ENOTSUP, ik_chan_peer(a, &uid, NULL, NULL));
    ik_chan_close(a);
    ik_chan_close(b);
}

/* ---- paths: symlinks, squatting, modes ------------------------------------ */

static void rundir_file(char *buf, size_t cap, const char *name, const char *suffix)
{
    char dir[256];
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));
    snprintf(buf, cap, "%s/%s%s", dir, name, suffix);
}

static void test_symlinks_refused(void **state)
{
    IK__UNUSED(state);
    char path[512], url[128], target[512];
    snprintf(target, sizeof(target), "%s/target", ikt_tmpdir());
    const char *n = ikt_name("sym");
    rundir_file(path, sizeof(path), n, ".sock");
    assert_int_equal(symlink(target, path), 0);
    snprintf(url, sizeof(url), "unix://%s", n);
    ik_listener *l;
    ik_chan *c;
    assert_ik(IK_EUNSAFE, ik_listen(&l, url, NULL));
    assert_ik(IK_EUNSAFE, ik_dial(&c, url, NULL));
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode)); /* left alone, not replaced */
    assert_int_equal(lstat(target, &st), -1);

    /* A symlink where a FIFO goes. */
    n = ikt_name("symf");
    rundir_file(path, sizeof(path), n, ".up.fifo");
    assert_int_equal(symlink(target, path), 0);
    snprintf(url, sizeof(url), "fifo://%s", n);
    assert_ik(IK_EUNSAFE, ik_listen(&l, url, NULL));
    assert_ik(IK_EUNSAFE, ik_dial(&c, url, NULL));
    assert_int_equal(lstat(target, &st), -1);

    /* A regular file squatting the socket path is not deleted either. */
    n = ikt_name("reg");
    rundir_file(path, sizeof(path), n, ".sock");
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    close(fd);
    snprintf(url, sizeof(url), "unix://%s", n);
    assert_ik(IK_EUNSAFE, ik_listen(&l, url, NULL));
    assert_int_equal(lstat(path, &st), 0);
}

static int child_listen_forever(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_listener *l;
    if (ikt_listen_ready(&l, argv[0], argv[1]) != 0)
        return 10;
    for (;;)
        pause();
}

/* A client that is not ipckit pushes fds at a socket: argv[0] "stream" or
 * "seq", argv[1] a path or "@name" (abstract). It sends a frame announcing
 * 3 fds with SCM_RIGHTS attached, then a plain frame "ok". Exit 0 if the
 * kernel refused the fds (EPERM) and "ok" went out. */
static int child_push_fds(int argc, char **argv)
{
    IK__UNUSED(argc);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
    socklen_t sl = sizeof(sa);
    if (argv[1][0] == '@') {
        sa.sun_path[0] = '\0';
        sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(argv[1]));
    }
    int type = strcmp(argv[0], "seq") == 0 ? SOCK_SEQPACKET : SOCK_STREAM;
    int s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sl) != 0)
        return 10;
    if (ikt_send_frame_fds(s, 3, 3) >= 0 || errno != EPERM)
        return 11;
    uint8_t ok[14] = {'I', 'K', 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 'o', 'k'};
    if (send(s, ok, sizeof(ok), MSG_NOSIGNAL) != (ssize_t)sizeof(ok))
        return 12;
    char c1;
    while (read(s, &c1, 1) > 0) /* until the server closes */
        ;
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"listen", child_listen_forever},
    {"push-fds", child_push_fds},
    {NULL, NULL},
};

/* fd pushing: a client that is not ipckit connects to a default unix://,
 * unix+seq:// or unix+abstract:// listener and sends SCM_RIGHTS before the
 * server has even accepted. The kernel refuses them at the sender; not one
 * fd enters this process; the connection goes on. */
static void push_case(const char *scheme, const char *type, const char *addr)
{
    char url[PATH_MAX + 32];
    snprintf(url, sizeof(url), "%s://%s", scheme, addr[0] == '@' ? addr + 1 : addr);
    ik_listener *l;
    assert_ok(ik_listen(&l, url, NULL));
    int before = ikt_count_fds();
    pid_t pid = ikt_spawn(-1, "push-fds", type, addr, NULL);
    ik_chan *ch;
    assert_ok(ik_accept(l, &ch, 10000));
    char buf[16];
    size_t len;
    assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 10000));
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "ok", 2);
    assert_int_equal(ikt_count_fds(), before + 1); /* the channel itself, nothing else */
    ik_chan_close(ch);
    assert_int_equal(ikt_wait(pid), 0);
    ik_listener_close(l);
}

static void test_fds_cannot_be_pushed(void **state)
{
    IK__UNUSED(state);
#ifndef IK__SO_PASSRIGHTS
    skip();
#else
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), v = 1;
    socklen_t sl = sizeof(v);
    int refusable = getsockopt(s, SOL_SOCKET, IK__SO_PASSRIGHTS, &v, &sl) == 0;
    close(s);
    if (!refusable)
        skip(); /* kernel before 6.16 */
    char path[PATH_MAX], abs[64];
    snprintf(path, sizeof(path), "%s/push.sock", ikt_tmpdir());
    push_case("unix", "stream", path);
    snprintf(path, sizeof(path), "%s/push-seq.sock", ikt_tmpdir());
    push_case("unix+seq", "seq", path);
    snprintf(abs, sizeof(abs), "@%s", ikt_name("push"));
    push_case("unix+abstract", "stream", abs);
#endif
}

static void squat_case(const char *scheme)
{
    char url[128];
    snprintf(url, sizeof(url), "%s://%s", scheme, ikt_name("sq"));
    int p[2];
    assert_int_equal(pipe(p), 0);
    char ws[16];
    snprintf(ws, sizeof(ws), "%d", p[1]);
    pid_t pid = ikt_spawn(p[1], "listen", url, ws, NULL);
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    ik_listener *l;
    assert_ik(IK_EADDRINUSE, ik_listen(&l, url, NULL)); /* live: never stolen */
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_ok(ik_listen(&l, url, NULL)); /* stale: replaced */
    ik_listener_close(l);
}

static void test_live_path_not_stolen_stale_replaced(void **state)
{
    IK__UNUSED(state);
    squat_case("unix");
    squat_case("unix+seq");
    squat_case("unix+dgram");
    squat_case("fifo");
    char url[128];
    snprintf(url, sizeof(url), "unix+abstract://%s", ikt_name("ab"));
    ik_listener *a, *b;
    assert_ok(ik_listen(&a, url, NULL));
    assert_ik(IK_EADDRINUSE, ik_listen(&b, url, NULL));
    ik_listener_close(a);
}

/* Closing a listener whose path was taken over (removed by hand, then bound
 * by a new listener) must not delete the new listener's socket. */
static void test_close_keeps_a_replacing_socket(void **state)
{
    IK__UNUSED(state);
    const char *n = ikt_name("rep");
    char url[128], path[600];
    snprintf(url, sizeof(url), "unix://%s", n);
    rundir_file(path, sizeof(path), n, ".sock");
    ik_listener *a, *b;
    assert_ok(ik_listen(&a, url, NULL));
    assert_int_equal(unlink(path), 0);
    assert_ok(ik_listen(&b, url, NULL));
    ik_listener_close(a);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    ik_chan *c, *s;
    assert_ok(ik_dial(&c, url, NULL));
    assert_ok(ik_accept(b, &s, 5000));
    ik_chan_close(c);
    ik_chan_close(s);
    ik_listener_close(b);
    assert_int_equal(lstat(path, &st), -1);
}

/* A server between bind() and listen() refuses connections, like a dead
 * one. Listeners serialise that window with a flock on the directory, so a
 * rival never judges it stale. Here the test plays the server in that
 * window (holding the lock) while a rival ik_listen runs in a thread. */
struct rival {
    char url[128];
    int rc;
    atomic_int done;
    atomic_int tid;
    pthread_t th;
};

static void *rival_main(void *arg)
{
    struct rival *r = arg;
    atomic_store(&r->tid, (int)gettid());
    ik_listener *l = NULL;
    r->rc = ik_listen(&l, r->url, NULL);
    if (r->rc == 0)
        ik_listener_close(l);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Is thread tid blocked in flock(2)? (/proc/self/task/TID/syscall; where
 * that file is unavailable say yes: the outcome is checked either way, only
 * the interleaving is then not forced) */
static int in_flock(int tid)
{
    char p[64], buf[64] = "";
    snprintf(p, sizeof(p), "/proc/self/task/%d/syscall", tid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    long nr = atol(buf); /* in flock, or between its bounded retries */
    return nr == SYS_flock || nr == SYS_clock_nanosleep || nr == SYS_nanosleep;
}

static void test_bind_listen_window_not_stolen(void **state)
{
    IK__UNUSED(state);
    const char *n = ikt_name("win");
    char path[600], dir[600];
    rundir_file(path, sizeof(path), n, ".sock");
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    assert_int_equal(flock(dfd, LOCK_EX), 0);
    int sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    assert_int_equal(fchmod(sfd, 0600), 0);
    assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct rival r;
    memset(&r, 0, sizeof(r));
    snprintf(r.url, sizeof(r.url), "unix://%s", n);
    pthread_create(&r.th, NULL, rival_main, &r);
    while (atomic_load(&r.tid) == 0 || (!atomic_load(&r.done) && !in_flock(atomic_load(&r.tid))))
        sched_yield();
    assert_int_equal(listen(sfd, 8), 0); /* the "server" is live now */
    assert_int_equal(flock(dfd, LOCK_UN), 0);
    pthread_join(r.th, NULL);
    assert_ik(IK_EADDRINUSE, r.rc);
    struct stat st;
    assert_int_equal(lstat(path, &st), 0);
    close(sfd);
    close(dfd);
    unlink(path);
}

struct dir_holder {
    const char *dir;
    int ready[2], stop[2];
};

/* As uid 65534: flock the shared directory until told to stop. */
static int nobody_hold_dir(void *arg)
{
    struct dir_holder *h = arg;
    close(h->ready[0]);
    close(h->stop[1]);
    int rc = ikt_become_nobody();
    if (rc != 0)
        return rc;
    int fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX) != 0 || write(h->ready[1], "L", 1) != 1)
        return 2;
    char c;
    return read(h->stop[0], &c, 1) >= 0 ? 0 : 3;
}

/* Another user holding the lock of a shared directory (anyone may open
 * /tmp and flock it) delays a listener there by at most 2 s: IK_EBUSY,
 * never a hang. */
static void test_listen_in_locked_shared_dir(void **state)
{
    IK__UNUSED(state);
    if (!ikt_is_root())
        skip();
    char shared[] = "/tmp/ikt-shared-XXXXXX"; /* reachable by uid 65534 */
    assert_non_null(mkdtemp(shared));
    struct dir_holder h = {.dir = shared};
    assert_int_equal(chmod(h.dir, 01777), 0);
    assert_int_equal(pipe(h.ready), 0);
    assert_int_equal(pipe(h.stop), 0);
    pid_t pid = ikt_fork(nobody_hold_dir, &h);
    close(h.ready[1]);
    close(h.stop[0]);
    char c;
    assert_int_equal(read(h.ready[0], &c, 1), 1);
    char url[600];
    snprintf(url, sizeof(url), "unix://%s/x.sock", h.dir);
    ik_listener *l;
    assert_ik(IK_EBUSY, ik_listen(&l, url, NULL));
    close(h.stop[1]);
    assert_int_equal(ikt_wait(pid), 0);
    close(h.ready[0]);
    assert_ok(ik_listen(&l, url, NULL)); /* free again */
    ik_listener_close(l);
    assert_int_equal(rmdir(shared), 0);
}

static void test_file_modes(void **state)
{
    IK__UNUSED(state);
    umask(0);
    const char *n = ikt_name("mode");
    char url[128], path[512];
    struct stat st;
    ik_listener *l;
    snprintf(url, sizeof(url), "unix://%s", n);
    assert_ok(ik_listen(&l, url, NULL));
    rundir_file(path, sizeof(path), n, ".sock");
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    ik_listener_close(l);
    assert_int_equal(lstat(path, &st), -1); /* removed at close */
    snprintf(url, sizeof(url), "fifo://%s", n);
    assert_ok(ik_listen(&l, url, NULL));
    rundir_file(path, sizeof(path), n, ".up.fifo");
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    rundir_file(path, sizeof(path), n, ".down.fifo");
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    ik_listener_close(l);
    umask(022);
}

/* ---- TLS ------------------------------------------------------------------ */

static ik_listener *tls_server(const char *cert, const char *ca_for_clients)
{
    ik_chan_opts *o;
    assert_ok(ik_chan_opts_new(&o));
    char c[600], k[600];
    snprintf(c, sizeof(c), "%s/%s.pem", certdir, cert);
    snprintf(k, sizeof(k), "%s/%s.key", certdir, cert);
    assert_ok(ik_chan_opts_set_tls_files(o, ca_for_clients, c, k));
    ik_listener *l;
    assert_ok(ik_listen(&l, "tls://127.0.0.1:0", o));
    ik_chan_opts_free(o);
    return l;
}

/* Dial l's URL (host replaced by `host`) with the given client options and
 * accept; returns the dial result, *acc the accept result. */
static int tls_try(ik_listener *l, const char *host, const char *ca, const char *cert, int verify,
                   int *acc, ik_chan **srv, ik_chan **cli, char *detail)
{
    char url[600];
    assert_ok(ik_listener_url(l, url, sizeof(url)));
    const char *port = strrchr(url, ':') + 1;
    char durl[700];
    snprintf(durl, sizeof(durl), "tls://%s:%s", host, port);
    ik_chan_opts *o;
    assert_ok(ik_chan_opts_new(&o));
    char c[600] = "", k[600] = "";
    if (cert != NULL) {
        snprintf(c, sizeof(c), "%s/%s.pem", certdir, cert);
        snprintf(k, sizeof(k), "%s/%s.key", certdir, cert);
    }
    assert_ok(ik_chan_opts_set_tls_files(o, ca, cert ? c : NULL, cert ? k : NULL));
    assert_ok(ik_chan_opts_set_verify(o, verify));
    assert_ok(ik_chan_opts_set_timeout(o, 10000));
    struct dialer d;
    dial_start(&d, durl, o);
    ik_chan *s = NULL;
    *acc = ik_accept(l, &s, 10000);
    dial_join(&d);
    if (detail != NULL)
        snprintf(detail, 256, "%s", d.detail);
    if (srv != NULL)
        *srv = s;
    else
        ik_chan_close(s);
    if (cli != NULL)
        *cli = d.ch;
    else
        ik_chan_close(d.ch);
    return d.rc;
}

/* A TLS listener on 127.0.0.1 with the "server" certificate and handshake
 * limits (ik_chan_opts_set_limits). */
static ik_listener *tls_server_limits(int max_pending, int hs_timeout_ms)
{
    ik_chan_opts *o;
    assert_ok(ik_chan_opts_new(&o));
    assert_ok(ik_chan_opts_set_tls_files(o, NULL, cf("server.pem"), cf("server.key")));
    assert_ok(ik_chan_opts_set_limits(o, max_pending, hs_timeout_ms));
    ik_listener *l;
    assert_ok(ik_listen(&l, "tls://127.0.0.1:0", o));
    ik_chan_opts_free(o);
    return l;
}

/* n plain TCP connections to TLS listener l (they never handshake). */
static void tls_dial_plain(ik_listener *l, ik_chan **c, int n)
{
    char url[600], turl[700];
    assert_ok(ik_listener_url(l, url, sizeof(url)));
    snprintf(turl, sizeof(turl), "tcp://%s", url + strlen("tls://"));
    for (int i = 0; i < n; i++)
        assert_ok(ik_dial(&c[i], turl, NULL));
}

/* A real client gets into l and its message arrives. */
static void tls_real_client_gets_in(ik_listener *l)
{
    int acc;
    ik_chan *s = NULL, *c = NULL;
    assert_ok(tls_try(l, "127.0.0.1", cf("ca.pem"), NULL, 1, &acc, &s, &c, NULL));
    assert_ok(acc);
    assert_ok(ik_send(c, "real", 4, 1000));
    char buf[8];
    size_t len;
    assert_ok(ik_recv(s, buf, sizeof(buf), &len, 5000));
    ik_chan_close(s);
    ik_chan_close(c);
}

static void test_tls_good_certificate(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server("server", NULL);
    int acc;
    ik_chan *s, *c;
    assert_ok(tls_try(l, "127.0.0.1", cf("ca.pem"), NULL, 1, &acc, &s, &c, NULL));
    assert_ok(acc);
    char subj[256];
    assert_ok(ik_chan_peer_subject(c, subj, sizeof(subj)));
    assert_non_null(strstr(subj, "CN=localhost"));
    assert_ik(IK_ENOENT, ik_chan_peer_subject(s, subj, sizeof(subj))); /* no client cert */
    assert_ok(ik_send(c, "secret", 6, 1000));
    char buf[16];
    size_t len;
    assert_ok(ik_recv(s, buf, sizeof(buf), &len, 5000));
    assert_int_equal(len, 6);
    ik_chan_close(c);
    ik_chan_close(s);
    /* by name too (SAN DNS:localhost) */
    assert_ok(tls_try(l, "localhost", cf("ca.pem"), NULL, 1, &acc, NULL, NULL, NULL));
    ik_listener_close(l);
}

static void expect_auth_fail(const char *server_cert, const char *host, const char *why)
{
    ik_listener *l = tls_server(server_cert, NULL);
    int acc;
    char detail[256];
    int rc = tls_try(l, host, cf("ca.pem"), NULL, 1, &acc, NULL, NULL, detail);
    if (rc != IK_EAUTH)
        fail_msg("%s: dial gave %s", why, ik_err_name(rc));
    if (strstr(detail, "verify") == NULL)
        fail_msg("%s: detail '%s' lacks the OpenSSL reason", why, detail);
    assert_true(acc != 0); /* the server saw the handshake fail too */
    ik_listener_close(l);
}

static void test_tls_bad_server_certificates(void **state)
{
    IK__UNUSED(state);
    expect_auth_fail("self", "127.0.0.1", "self-signed");
    expect_auth_fail("wrongca", "127.0.0.1", "wrong CA");
    expect_auth_fail("wronghost", "127.0.0.1", "wrong host");
    expect_auth_fail("wronghost", "localhost", "wrong DNS name"); /* SSL_set1_host path */
    expect_auth_fail("expired", "127.0.0.1", "expired");
    /* verify=0 is explicit: then even self-signed connects, loudly */
    ik_listener *l = tls_server("self", NULL);
    int acc;
    char errpath[600];
    snprintf(errpath, sizeof(errpath), "%s/stderr.txt", certdir);
    fflush(stderr);
    int saved = dup(2);
    int efd = open(errpath, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(saved >= 0 && efd >= 0);
    dup2(efd, 2);
    int rc = tls_try(l, "127.0.0.1", NULL, NULL, 0, &acc, NULL, NULL, NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(efd);
    assert_ok(rc);
    assert_ok(acc);
    char out[512] = "";
    FILE *f = fopen(errpath, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    fclose(f);
    out[n] = '\0';
    assert_non_null(strstr(out, "verification is DISABLED"));
    ik_listener_close(l);
}

static void test_tls_mutual(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server("server", cf("ca.pem"));
    int acc;
    ik_chan *s = NULL, *c = NULL;
    /* With a client certificate from the CA: accepted, subject exposed. */
    assert_ok(tls_try(l, "127.0.0.1", cf("ca.pem"), "client", 1, &acc, &s, &c, NULL));
    assert_ok(acc);
    char subj[256];
    assert_ok(ik_chan_peer_subject(s, subj, sizeof(subj)));
    assert_non_null(strstr(subj, "CN=ipckit-client"));
    ik_chan_close(s);
    ik_chan_close(c);
    /* Without one: the server's handshake fails with IK_EAUTH (TLS 1.3
     * finishes the client side first; its channel then reads IK_ECLOSED). */
    int rc = tls_try(l, "127.0.0.1", cf("ca.pem"), NULL, 1, &acc, NULL, &c, NULL);
    assert_ik(IK_EAUTH, acc);
    assert_non_null(strstr(ik_chan_last_errdetail(), "certificate"));
    if (rc == 0) {
        char buf[8];
        size_t len;
        rc = ik_recv(c, buf, sizeof(buf), &len, 5000);
        assert_true(rc == IK_ECLOSED || rc == IK_EAUTH);
        ik_chan_close(c);
    } else {
        assert_ik(IK_EAUTH, rc);
    }
    /* A client certificate from another CA is refused too. */
    rc = tls_try(l, "127.0.0.1", cf("ca.pem"), "wrongca", 1, &acc, NULL, &c, NULL);
    assert_ik(IK_EAUTH, acc);
    ik_chan_close(c);
    ik_listener_close(l);
}

static void test_tls_plaintext_client_fails_cleanly(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server("server", NULL);
    ik_chan *c, *s = NULL;
    tls_dial_plain(l, &c, 1);
    assert_ok(ik_send(c, "plaintext hello", 15, 1000));
    assert_ik(IK_EAUTH, ik_accept(l, &s, 5000));
    assert_true(ik_chan_last_errdetail()[0] != '\0');
    char buf[64];
    size_t len;
    int rc = ik_recv(c, buf, sizeof(buf), &len, 5000);
    assert_true(rc == IK_ECLOSED || rc == IK_EPROTO); /* closed, or a TLS alert as garbage */
    ik_chan_close(c);
    ik_listener_close(l);
}

static void test_tls_handshake_timeout(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server_limits(16, 100);
    ik_chan *idle, *s;
    tls_dial_plain(l, &idle, 1); /* connects, never says a word */
    uint64_t t0 = ik__now_ns();
    assert_ik(IK_EAUTH, ik_accept(l, &s, 10000));
    assert_true(ik__now_ns() - t0 >= 100u * 1000000u);
    /* a real client still gets in */
    int acc;
    assert_ok(tls_try(l, "127.0.0.1", cf("ca.pem"), NULL, 1, &acc, NULL, NULL, NULL));
    assert_ok(acc);
    ik_chan_close(idle);
    ik_listener_close(l);
}

/* Idle connections that never handshake do not hold up a real client:
 * handshakes run concurrently inside ik_accept. */
static void test_tls_idle_flood_does_not_starve(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server_limits(64, 600000); /* idle ones would hold 10 min */
    ik_chan *idle[8];
    tls_dial_plain(l, idle, 8);
    tls_real_client_gets_in(l);
    for (int i = 0; i < 8; i++)
        ik_chan_close(idle[i]);
    ik_listener_close(l); /* frees the pending handshakes */
}

/* More idle connections than handshake slots: the oldest pending ones make
 * room, so a real client still gets in long before hs_timeout. */
static void test_tls_idle_flood_beyond_limit(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server_limits(4, 600000);
    ik_chan *idle[12];
    tls_dial_plain(l, idle, 12);
    tls_real_client_gets_in(l);
    for (int i = 0; i < 12; i++)
        ik_chan_close(idle[i]);
    ik_listener_close(l);
}

struct real_client {
    struct rlimit orig;
    char url[600];
};

/* A forked TLS client with its own fd limit back: dial, send "real", wait
 * for the server's one-byte answer. */
static int real_tls_client(void *arg)
{
    struct real_client *rc = arg;
    if (setrlimit(RLIMIT_NOFILE, &rc->orig) != 0)
        return 1;
    ik_chan_opts *o;
    ik_chan *c;
    if (ik_chan_opts_new(&o) != 0 || ik_chan_opts_set_tls_files(o, cf("ca.pem"), NULL, NULL) != 0 ||
        ik_chan_opts_set_timeout(o, 20000) != 0 || ik_dial(&c, rc->url, o) != 0)
        return 2;
    char b;
    size_t len;
    if (ik_send(c, "real", 4, 20000) != 0 || ik_recv(c, &b, 1, &len, 20000) != 0)
        return 3;
    ik_chan_close(c);
    ik_chan_opts_free(o);
    return 0;
}

/* Out of fds (EMFILE) with the backlog full of idle connections: the
 * oldest pending handshakes make room, so a real client gets in, and the
 * accept never spins on a listening socket it cannot drain. */
static void test_tls_accept_out_of_fds(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server_limits(64, 600000);
    ik_chan *idle[12];
    tls_dial_plain(l, idle, 12);
    struct real_client rc;
    assert_ok(ik_listener_url(l, rc.url, sizeof(rc.url)));
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rc.orig), 0);
    int lowest = dup(0); /* the lowest free fd number */
    assert_true(lowest >= 0);
    close(lowest);
    struct rlimit low = rc.orig;
    low.rlim_cur = (rlim_t)lowest + 3; /* room for 3 accepted connections */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    pid_t pid = ikt_fork(real_tls_client, &rc);
    ik_chan *s = NULL;
    int acc = ik_accept(l, &s, 20000);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rc.orig), 0);
    assert_ok(acc);
    char buf[8];
    size_t len;
    assert_ok(ik_recv(s, buf, sizeof(buf), &len, 20000));
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "real", 4);
    assert_ok(ik_send(s, "k", 1, 20000));
    assert_int_equal(ikt_wait(pid), 0);
    ik_chan_close(s);
    for (int i = 0; i < 12; i++)
        ik_chan_close(idle[i]);
    ik_listener_close(l);
}

/* ik_accept(…, 0) does bounded work even while connections keep arriving
 * (a flood keeps the listening socket readable): it returns ETIMEDOUT with
 * the rest still queued instead of looping until the flood stops. */
static void test_tls_accept_timeout_under_flood(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server_limits(1, 600000);
    ik_chan *idle[5];
    tls_dial_plain(l, idle, 5);
    ik_chan *s = NULL;
    assert_ik(IK_ETIMEDOUT, ik_accept(l, &s, 0));
    struct pollfd p = {.fd = ik_listener_pollfd(l), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 1); /* the others still wait */
    for (int i = 0; i < 5; i++)
        ik_chan_close(idle[i]);
    ik_listener_close(l);
}

/* A TLS send that times out may already have its record built inside
 * OpenSSL: the channel must close then (as for a partial send), or the next
 * send of the same size would flush the old record and B would be lost
 * while the "timed out" A arrives. */
static void test_tls_send_timeout_closes(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server("server", NULL);
    int acc;
    ik_chan *s = NULL, *c = NULL;
    assert_ok(tls_try(l, "127.0.0.1", cf("ca.pem"), NULL, 1, &acc, &s, &c, NULL));
    assert_ok(acc);
    uint8_t msg[100];
    memset(msg, 'A', sizeof(msg));
    /* nobody reads: the buffers fill, then a send times out */
    int rc;
    uint32_t k = ikt_fill_until_blocked(c, msg, sizeof(msg), 50000000u, &rc);
    assert_ik(IK_ETIMEDOUT, rc);
    struct ikt_seq_reader r = {.s = s, .cap = 128, .len = 100, .last = 'A'};
    ikt_seq_reader_start(&r);
    memset(msg, 'B', sizeof(msg));
    assert_ik(IK_ECLOSED, ik_send(c, msg, sizeof(msg), 10000));
    ik_chan_close(c);
    pthread_join(r.th, NULL);
    assert_ik(IK_ECLOSED, r.rc);
    assert_false(r.bad);
    assert_true(r.n == k || r.n == k + 1);
    ik_chan_close(s);
    ik_listener_close(l);
}

/* An event loop that calls ik_accept(…, 0) only when the listener's pollfd
 * is readable: the handshake's later steps arrive on the pending socket, so
 * the pollfd must report them too, or the client hangs. */
static void test_tls_pollfd_drives_handshakes(void **state)
{
    IK__UNUSED(state);
    ik_listener *l = tls_server("server", NULL);
    char url[600], durl[700];
    assert_ok(ik_listener_url(l, url, sizeof(url)));
    snprintf(durl, sizeof(durl), "tls://127.0.0.1:%s", strrchr(url, ':') + 1);
    ik_chan_opts *o;
    assert_ok(ik_chan_opts_new(&o));
    assert_ok(ik_chan_opts_set_tls_files(o, cf("ca.pem"), NULL, NULL));
    assert_ok(ik_chan_opts_set_timeout(o, 20000));
    struct dialer d;
    dial_start(&d, durl, o);
    int pfd = ik_listener_pollfd(l);
    assert_true(pfd >= 0);
    ik_chan *s = NULL;
    int rc = IK_ETIMEDOUT;
    for (int i = 0; i < 1000 && rc == IK_ETIMEDOUT; i++) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 15000), 1); /* never a silent stall */
        rc = ik_accept(l, &s, 0);
    }
    assert_ok(rc);
    dial_join(&d);
    assert_ok(d.rc);
    assert_ok(ik_send(d.ch, "hi", 2, 5000));
    char buf[4];
    size_t len;
    assert_ok(ik_recv(s, buf, sizeof(buf), &len, 5000));
    /* the handed-out channel is no longer in the listener's set */
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    assert_ok(ik_send(s, "x", 1, 5000));
    assert_ok(ik_send(d.ch, "y", 1, 5000));
    assert_int_equal(poll(&p, 1, 0), 0);
    ik_chan_close(s);
    ik_chan_close(d.ch);
    ik_listener_close(l);
}

struct tls_acceptor {
    ik_listener *l;
    int rc;
    pthread_t th;
};

static void *tls_accept_main(void *arg)
{
    struct tls_acceptor *a = arg;
    ik_chan *ch;
    a->rc = ik_accept(a->l, &ch, 20000);
    if (a->rc == 0)
        ik_chan_close(ch);
    return NULL;
}

static void test_openssl_s_client(void **state)
{
    IK__UNUSED(state);
    struct tls_acceptor a = {.l = tls_server("server", NULL)};
    char url[600];
    assert_ok(ik_listener_url(a.l, url, sizeof(url)));
    pthread_create(&a.th, NULL, tls_accept_main, &a);
    char out[8192];
    int st = ikt_run(out, sizeof(out),
                     "openssl s_client -connect %s -CAfile %s -verify_return_error -tls1_3 "
                     "-verify_ip 127.0.0.1 </dev/null 2>&1",
                     url + strlen("tls://"), cf("ca.pem"));
    pthread_join(a.th, NULL);
    if (st != 0 || strstr(out, "Verify return code: 0 (ok)") == NULL)
        fail_msg("s_client status %d:\n%s", st, out);
    assert_non_null(strstr(out, "TLSv1.3"));
    assert_ok(a.rc);
    ik_listener_close(a.l);
}

static void test_tls12_only_when_configured(void **state)
{
    IK__UNUSED(state);
    for (int allow = 0; allow < 2; allow++) {
        ik_chan_opts *o;
        assert_ok(ik_chan_opts_new(&o));
        assert_ok(ik_chan_opts_set_tls_files(o, NULL, cf("server.pem"), cf("server.key")));
        assert_ok(ik_chan_opts_set_tls12(o, allow));
        struct tls_acceptor a = {0};
        assert_ok(ik_listen(&a.l, "tls://127.0.0.1:0", o));
        ik_chan_opts_free(o);
        char url[600];
        assert_ok(ik_listener_url(a.l, url, sizeof(url)));
        pthread_create(&a.th, NULL, tls_accept_main, &a);
        char out[8192];
        int st = ikt_run(out, sizeof(out),
                         "openssl s_client -connect %s -CAfile %s -verify_return_error -tls1_2 "
                         "</dev/null 2>&1",
                         url + strlen("tls://"), cf("ca.pem"));
        pthread_join(a.th, NULL);
        if (allow) {
            assert_int_equal(st, 0);
            assert_ok(a.rc);
        } else {
            assert_true(st != 0); /* TLS 1.3 only by default */
            assert_ik(IK_EAUTH, a.rc);
        }
        ik_listener_close(a.l);
    }
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_other_uid_rejected_by_default),
        cmocka_unit_test(test_dialer_refuses_foreign_server),
        cmocka_unit_test(test_peer_credentials),
        cmocka_unit_test(test_symlinks_refused),
        cmocka_unit_test(test_live_path_not_stolen_stale_replaced),
        cmocka_unit_test(test_close_keeps_a_replacing_socket),
        cmocka_unit_test(test_bind_listen_window_not_stolen),
        cmocka_unit_test(test_file_modes),
        cmocka_unit_test(test_fds_cannot_be_pushed),
        cmocka_unit_test(test_tls_good_certificate),
        cmocka_unit_test(test_tls_bad_server_certificates),
        cmocka_unit_test(test_tls_mutual),
        cmocka_unit_test(test_tls_plaintext_client_fails_cleanly),
        cmocka_unit_test(test_tls_handshake_timeout),
        cmocka_unit_test(test_tls_idle_flood_does_not_starve),
        cmocka_unit_test(test_tls_idle_flood_beyond_limit),
        cmocka_unit_test(test_tls_send_timeout_closes),
        cmocka_unit_test(test_tls_accept_timeout_under_flood),
        cmocka_unit_test(test_tls_accept_out_of_fds),
        cmocka_unit_test(test_listen_in_locked_shared_dir),
        cmocka_unit_test(test_tls_pollfd_drives_handshakes),
        cmocka_unit_test(test_openssl_s_client),
        cmocka_unit_test(test_tls12_only_when_configured),
    };
    return cmocka_run_group_tests(tests, gen_certs, NULL);
}
