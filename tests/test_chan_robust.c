/* Channel robustness regressions: the fifo:// listener lock cannot be
 * squatted by another uid; adopting inherited fds never changes their
 * (shared) status flags; a unix+dgram receive without timeout notices a
 * peer killed with -9. */
#include "helpers.h"
#include "chan_shared.h"
#include "chan/chan_int.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static void rundir_path(char *buf, size_t cap, const char *name, const char *suffix)
{
    char dir[512];
    assert_ok(ik_runtime_dir(dir, sizeof(dir)));
    snprintf(buf, cap, "%s/%s%s", dir, name, suffix);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Look up the object `leaf` (exact) and return its listening field, or -2
 * if it is not listed. */
struct find {
    const char *leaf;
    int listening;
};

static int find_cb(const ik_obj_info *info, void *arg)
{
    struct find *f = arg;
    if (strcmp(info->name, f->leaf) == 0)
        f->listening = info->listening;
    return 0;
}

static int listening_of(const char *leaf, unsigned flags)
{
    struct find f = {leaf, -2};
    int rc = ik_obj_list(leaf, flags | IK_OBJ_EXACT, find_cb, &f);
    assert_true(rc >= 0);
    return f.listening;
}

/* ---- 1. fifo:// listener lock ------------------------------------------- */

/* The abstract name the old lock used ("ipckit-fifo-<uid>-<fnv64(up)>"). */
static void old_lock_name(char *buf, size_t cap, const char *up, unsigned uid)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = up; *p != '\0'; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    snprintf(buf, cap, "ipckit-fifo-%u-%016llx", uid, (unsigned long long)h);
}

struct squat {
    char up[600], down[600], lock[600], dir[600];
    unsigned owner;
    ikt_gate ready, done;
    int status;
};

/* As uid 65534: grab everything reachable that could stand for the
 * listener's lock, signal, and hold it until the owner is done. Exit 0 if
 * the old abstract name was taken and nothing in the runtime dir was. */
static int squat_main_nobody(void *p)
{
    struct squat *s = p;
    int bad = 0;
    char name[128];
    old_lock_name(name, sizeof(name), s->up, s->owner);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(a.sun_path + 1, name, n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) != 0)
        bad |= 1;
    /* The private runtime directory is 0700: no lock file, FIFO or socket
     * of ours can appear in it. */
    int lf = open(s->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lf >= 0)
        bad |= 2;
    if (mkfifo(s->up, 0666) == 0 || mkfifo(s->down, 0666) == 0)
        bad |= 4;
    int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un b = {.sun_family = AF_UNIX};
    size_t ln = strlen(s->lock);
    memcpy(b.sun_path, s->lock, ln < sizeof(b.sun_path) ? ln : sizeof(b.sun_path) - 1);
    if (sk >= 0 && ln < sizeof(b.sun_path) && bind(sk, (struct sockaddr *)&b, sizeof(b)) == 0)
        bad |= 8;
    ikt_gate_open(&s->ready);
    ikt_gate_wait(&s->done);
    return bad;
}

static void *squat_thread(void *p)
{
    struct squat *s = p;
    s->status = ikt_run_as_nobody(squat_main_nobody, s);
    return NULL;
}

struct fifo_dialer {
    const char *url;
    ik_chan *ch;
    int rc;
    pthread_t th;
};

static void *fifo_dial_main(void *p)
{
    struct fifo_dialer *d = p;
    d->rc = ik_dial(&d->ch, d->url, NULL);
    return NULL;
}

static void test_fifo_lock_not_squattable(void **state)
{
    IK__UNUSED(state);
    if (!ikt_is_root())
        skip();
    const char *name = ikt_name("fsq");
    struct squat s = {.owner = (unsigned)geteuid()};
    rundir_path(s.up, sizeof(s.up), name, ".up.fifo");
    rundir_path(s.down, sizeof(s.down), name, ".down.fifo");
    rundir_path(s.lock, sizeof(s.lock), name, ".fifo.lock");
    ikt_gate_init(&s.ready);
    ikt_gate_init(&s.done);
    pthread_t th;
    pthread_create(&th, NULL, squat_thread, &s);
    ikt_gate_wait(&s.ready);

    char url[256];
    snprintf(url, sizeof(url), "fifo://%s", name);
    ik_listener *l;
    int rc = ik_listen(&l, url, NULL);
    ikt_gate_open(&s.done);
    pthread_join(th, NULL);
    assert_int_equal(s.status, 0); /* the squatter held the old name, nothing else */
    assert_ok(rc);                 /* and the owner listens anyway */
    /* FIFOs: the dialer waits for the server's ik_accept, so dial in a
     * thread. */
    struct fifo_dialer d = {.url = url};
    pthread_create(&d.th, NULL, fifo_dial_main, &d);
    ik_chan *srv;
    assert_ok(ik_accept(l, &srv, 20000));
    pthread_join(d.th, NULL);
    assert_ok(d.rc);
    ik_chan *c = d.ch;
    assert_ok(ik_send(c, "x", 1, 5000));
    char buf[4];
    size_t len;
    assert_ok(ik_recv(srv, buf, sizeof(buf), &len, 5000));
    assert_int_equal(len, 1);
    ik_chan_close(c);
    ik_chan_close(srv);
    ik_listener_close(l);
    assert_false(exists(s.lock));
    ikt_gate_close(&s.ready);
    ikt_gate_close(&s.done);
}

/* A listener in an exec'd child: listen, say so on fd argv[1], wait forever. */
static int child_fifo_listen(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_listener *l;
    if (ikt_listen_ready(&l, argv[0], argv[1]) != 0)
        return 2;
    for (;;)
        pause();
}

/* Everything that depends on the lock still works: a second live listener
 * is refused, a dead one's FIFOs are reused, ls/gc tell live from dead and
 * gc collects the dead listener's FIFOs and lock file. */
static void test_fifo_lock_liveness(void **state)
{
    IK__UNUSED(state);
    const char *name = ikt_name("flv");
    char url[256], up[600], down[600], lock[600], leaf[300];
    snprintf(url, sizeof(url), "fifo://%s", name);
    rundir_path(up, sizeof(up), name, ".up.fifo");
    rundir_path(down, sizeof(down), name, ".down.fifo");
    rundir_path(lock, sizeof(lock), name, ".fifo.lock");
    snprintf(leaf, sizeof(leaf), "%s.up.fifo", name);

    pid_t pid = ikt_spawn_ready("fifo-listen", url);
    ik_listener *l;
    assert_ik(IK_EADDRINUSE, ik_listen(&l, url, NULL)); /* live: refused */
    assert_int_equal(listening_of(leaf, 0), 1);
    struct stat st;
    assert_int_equal(lstat(lock, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ik_obj_gc(name, 0, NULL, NULL), 0); /* gc keeps a live one */
    assert_true(exists(up) && exists(lock));

    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_int_equal(listening_of(leaf, 0), 0);
    /* A dead listener's files are reused by the next one. */
    assert_ok(ik_listen(&l, url, NULL));
    assert_int_equal(listening_of(leaf, 0), 1);
    ik_listener_close(l);
    assert_false(exists(up) || exists(down) || exists(lock));

    /* gc collects a dead listener's FIFOs and its lock file. */
    pid = ikt_spawn_ready("fifo-listen", url);
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    assert_true(exists(up) && exists(lock));
    assert_int_equal(ik_obj_gc(name, 0, NULL, NULL), 2);
    assert_false(exists(up) || exists(down) || exists(lock));
}

/* Root's ls/gc over another user's runtime directory. */
struct nobody_listener {
    char name[128];
    int pidpipe[2];
};

static int nobody_listen_main(void *p)
{
    struct nobody_listener *a = p;
    unsetenv("XDG_RUNTIME_DIR"); /* its own: /tmp/ipckit-65534 */
    char url[256];
    snprintf(url, sizeof(url), "fifo://%s", a->name);
    ik_listener *l;
    int32_t msg = ik_listen(&l, url, NULL) == 0 ? (int32_t)getpid() : -1;
    if (write(a->pidpipe[1], &msg, sizeof(msg)) != sizeof(msg) || msg < 0)
        return 3;
    for (;;)
        pause();
}

static void *nobody_listen_thread(void *p)
{
    struct nobody_listener *a = p;
    int st = ikt_run_as_nobody(nobody_listen_main, a);
    if (st == -1) { /* not root: unblock the reader */
        int32_t msg = -2;
        if (write(a->pidpipe[1], &msg, sizeof(msg)) < 0)
            return NULL;
    }
    return NULL;
}

static void test_fifo_lock_other_user_gc(void **state)
{
    IK__UNUSED(state);
    if (!ikt_is_root())
        skip();
    struct nobody_listener a;
    snprintf(a.name, sizeof(a.name), "%s", ikt_name("fog"));
    assert_int_equal(pipe2(a.pidpipe, O_CLOEXEC), 0);
    pthread_t th;
    pthread_create(&th, NULL, nobody_listen_thread, &a);
    int32_t pid;
    assert_int_equal(read(a.pidpipe[0], &pid, sizeof(pid)), sizeof(pid));
    assert_true(pid > 0);
    char leaf[300];
    snprintf(leaf, sizeof(leaf), "%s.up.fifo", a.name);
    assert_int_equal(listening_of(leaf, IK_OBJ_ALL_USERS), 1);
    assert_int_equal(ik_obj_gc(a.name, IK_OBJ_ALL_USERS, NULL, NULL), 0);
    assert_int_equal(listening_of(leaf, IK_OBJ_ALL_USERS), 1);
    kill(pid, SIGKILL);
    pthread_join(th, NULL);
    assert_int_equal(listening_of(leaf, IK_OBJ_ALL_USERS), 0);
    assert_int_equal(ik_obj_gc(a.name, IK_OBJ_ALL_USERS, NULL, NULL), 2);
    assert_int_equal(listening_of(leaf, IK_OBJ_ALL_USERS), -2);
    char lock[300];
    snprintf(lock, sizeof(lock), "/tmp/ipckit-65534/%s.fifo.lock", a.name);
    assert_false(exists(lock));
    close(a.pidpipe[0]);
    close(a.pidpipe[1]);
}

/* ---- 2. adopted fds keep their flags ------------------------------------ */

static const size_t sizes[] = {0, 1, 4095, 4096, 65536, 300000, 1u << 20};

static void force_reopen(int on)
{
#ifdef IK__CHAN_TEST_HOOKS
    ik__pipe_test_force_reopen(on);
#else
    IK__UNUSED(on);
#endif
}

/* argv: kind rfd wfd reopen. Echo every message back, alternating blocking
 * and timed calls, until "bye". */
static int child_adopt_echo(int argc, char **argv)
{
    IK__UNUSED(argc);
    force_reopen(atoi(argv[3]));
    ik_chan *ch;
    if (ik_chan_from_fd(&ch, argv[0], atoi(argv[1]), atoi(argv[2]), NULL) != 0)
        return 30;
    for (unsigned i = 0;; i++) {
        void *m;
        size_t len;
        int rc = ik_recv_alloc(ch, &m, &len, i % 2 ? -1 : 20000);
        if (rc != 0)
            return 31;
        if (len == 3 && memcmp(m, "bye", 3) == 0) {
            free(m);
            break;
        }
        rc = ik_send(ch, m, len, i % 2 ? 20000 : -1);
        free(m);
        if (rc != 0)
            return 32;
    }
    ik_chan_close(ch);
    return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + seed);
}

/* Parent side of a channel of kind over (mine_r, mine_w), child side over
 * (its_r, its_w): after the child adopted its side and messages of every
 * size crossed both ways, no fd's F_GETFL changed. */
static void flags_case(const char *kind, int mine_r, int mine_w, int its_r, int its_w, int reopen)
{
    int fds[4] = {mine_r, mine_w, its_r, its_w}, before[4];
    for (int i = 0; i < 4; i++)
        before[i] = fcntl(fds[i], F_GETFL);
    force_reopen(reopen);
    ik_chan *ch;
    assert_ok(ik_chan_from_fd(&ch, kind, mine_r, mine_w, NULL));
    fcntl(its_r, F_SETFD, 0);
    fcntl(its_w, F_SETFD, 0);
    char r[16], w[16], ro[16];
    snprintf(r, sizeof(r), "%d", its_r);
    snprintf(w, sizeof(w), "%d", its_w);
    snprintf(ro, sizeof(ro), "%d", reopen);
    pid_t pid = ikt_spawn(-1, "adopt-echo", kind, r, w, ro, NULL);
    fcntl(its_r, F_SETFD, FD_CLOEXEC);
    fcntl(its_w, F_SETFD, FD_CLOEXEC);
    uint8_t *out = malloc(1u << 20), *in = malloc(1u << 20);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < IK__ARRAY_LEN(sizes); i++) {
        fill(out, sizes[i], (unsigned)i);
        assert_ok(ik_send(ch, out, sizes[i], i % 2 ? -1 : 20000));
        size_t len = 0;
        assert_ok(ik_recv(ch, in, 1u << 20, &len, i % 2 ? 20000 : -1));
        assert_int_equal(len, sizes[i]);
        if (len > 0)
            assert_memory_equal(in, out, len);
    }
    assert_ok(ik_send(ch, "bye", 3, 20000));
    assert_int_equal(ikt_wait(pid), 0);
    for (int i = 0; i < 4; i++)
        if (fcntl(fds[i], F_GETFL) != before[i])
            fail_msg("%s%s: fd %d (%s) flags %#x -> %#x", kind, reopen ? " (reopen)" : "", fds[i],
                     i < 2 ? "parent's channel" : "parent's copy of the child's", before[i],
                     fcntl(fds[i], F_GETFL));
    ik_chan_close(ch); /* closes mine_r / mine_w */
    force_reopen(0);
    close(its_r);
    if (its_w != its_r)
        close(its_w);
    free(out);
    free(in);
}

static void test_adopt_keeps_fd_flags(void **state)
{
    IK__UNUSED(state);
    for (int reopen = 0; reopen < 2; reopen++) {
        for (int nb = 0; nb < 2; nb++) {
            int p[2], q[2]; /* p: parent -> child, q: child -> parent */
            assert_int_equal(pipe2(p, O_CLOEXEC | (nb ? O_NONBLOCK : 0)), 0);
            assert_int_equal(pipe2(q, O_CLOEXEC | (nb ? O_NONBLOCK : 0)), 0);
            flags_case("pipe", q[0], p[1], p[0], q[1], reopen);
            if (reopen)
                continue; /* sockets do not use it */
            int sv[2];
            assert_int_equal(
                socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nb ? SOCK_NONBLOCK : 0), 0, sv),
                0);
            flags_case("unix", sv[0], sv[0], sv[1], sv[1], 0);
        }
    }
}

/* A timed send on an adopted BLOCKING pipe never blocks past its timeout,
 * and a timed receive on an empty blocking pipe returns at its deadline. */
static void test_timed_io_on_blocking_adopted_pipe(void **state)
{
    IK__UNUSED(state);
    for (int reopen = 0; reopen < 2; reopen++) {
        int p[2], q[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(pipe2(q, O_CLOEXEC), 0);
        int fl = fcntl(p[1], F_GETFL);
        force_reopen(reopen);
        ik_chan *ch;
        assert_ok(ik_chan_from_fd(&ch, "pipe", q[0], p[1], NULL));
        uint8_t msg[1000] = {0};
        int rc;
        uint32_t k = ikt_fill_until_blocked(ch, msg, sizeof(msg), 100000, &rc);
        assert_ik(IK_ETIMEDOUT, rc);
        assert_true(k > 0);
        uint64_t t0 = ik__now_ns();
        assert_ik(IK_ETIMEDOUT, ik_send(ch, msg, sizeof(msg), 50));
        assert_true(ik__now_ns() - t0 >= 50 * 1000000ull); /* not earlier than the deadline */
        size_t len;
        t0 = ik__now_ns();
        assert_ik(IK_ETIMEDOUT, ik_recv(ch, msg, sizeof(msg), &len, 30));
        assert_true(ik__now_ns() - t0 >= 30 * 1000000ull);
        /* What was sent is intact: drain it as a reader would. */
        ik_chan *rd;
        assert_ok(ik_chan_from_fd(&rd, "pipe", p[0], q[1], NULL));
        for (uint32_t i = 0; i < k; i++) {
            assert_ok(ik_recv(rd, msg, sizeof(msg), &len, 5000));
            uint32_t idx;
            memcpy(&idx, msg, 4);
            assert_int_equal(idx, i);
        }
        assert_int_equal(fcntl(p[1], F_GETFL), fl);
        assert_int_equal(fl & O_NONBLOCK, 0);
        ik_chan_close(ch);
        ik_chan_close(rd);
        force_reopen(0);
    }
}

/* ---- fifo:// serves one client at a time --------------------------------- */

/* argv: url, message. Dial, send it, wait to be killed. */
static int child_fifo_client(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_chan *ch;
    if (ik_dial(&ch, argv[0], NULL) != 0 || ik_send(ch, argv[1], strlen(argv[1]), 5000) != 0)
        return 50;
    for (;;)
        pause();
}

/* A second ik_accept while the first client's channel is open would read
 * that client's bytes from the shared up FIFO; a new dialer while the
 * server's channel of a dead client is open would talk to that channel.
 * Both get IK_EBUSY, and nothing is lost or mixed. */
static void test_fifo_one_client_at_a_time(void **state)
{
    IK__UNUSED(state);
    char url[256];
    snprintf(url, sizeof(url), "fifo://%s", ikt_name("f1"));
    ik_listener *l;
    assert_ok(ik_listen(&l, url, NULL));
    pid_t c1 = ikt_spawn(-1, "fifo-client", url, "for-ch1", NULL);
    ik_chan *ch1, *ch2;
    assert_ok(ik_accept(l, &ch1, 20000));
    assert_ik(IK_EBUSY, ik_accept(l, &ch2, 0)); /* reads nothing of client 1 */
    char buf[32];
    size_t len;
    assert_ok(ik_recv(ch1, buf, sizeof(buf), &len, 20000));
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "for-ch1", 7);

    kill(c1, SIGKILL); /* the server has not noticed yet: ch1 stays open */
    assert_int_equal(ikt_wait(c1), 128 + SIGKILL);
    char url0[300];
    snprintf(url0, sizeof(url0), "%s?timeout=0", url);
    ik_chan *d;
    assert_ik(IK_EBUSY, ik_dial(&d, url0, NULL)); /* not ch1's new peer */
    assert_ik(IK_ECLOSED, ik_recv(ch1, buf, sizeof(buf), &len, 20000));
    ik_chan_close(ch1);

    pid_t c2 = ikt_spawn(-1, "fifo-client", url, "for-ch2", NULL);
    assert_ok(ik_accept(l, &ch2, 20000));
    assert_ok(ik_recv(ch2, buf, sizeof(buf), &len, 20000));
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "for-ch2", 7);
    kill(c2, SIGKILL);
    assert_int_equal(ikt_wait(c2), 128 + SIGKILL);
    ik_chan_close(ch2);
    ik_listener_close(l);
}

/* ---- 3. unix+dgram: recv without timeout sees the peer die ------------- */

static int child_dgram_dial(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_chan *ch;
    if (ik_dial(&ch, argv[0], NULL) != 0 || ik_send(ch, "hi", 2, 5000) != 0)
        return 40;
    for (;;)
        pause();
}

static int child_dgram_listen(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_listener *l;
    if (ikt_listen_ready(&l, argv[0], argv[1]) != 0)
        return 41;
    ik_chan *ch;
    if (ik_accept(l, &ch, 20000) != 0 || ik_send(ch, "hi", 2, 5000) != 0)
        return 42;
    for (;;)
        pause();
}

static int child_dgram_adopt(int argc, char **argv)
{
    IK__UNUSED(argc);
    ik_chan *ch;
    if (ik_chan_from_fd(&ch, "unix+dgram", atoi(argv[0]), atoi(argv[0]), NULL) != 0 ||
        ik_send(ch, "hi", 2, 5000) != 0)
        return 43;
    for (;;)
        pause();
}

struct blocked_recv {
    ik_chan *ch;
    int rc;
    pid_t tid;
    pthread_t th;
};

static void *blocked_recv_main(void *p)
{
    struct blocked_recv *b = p;
    b->tid = (pid_t)syscall(SYS_gettid);
    char buf[64];
    size_t len;
    b->rc = ik_recv(b->ch, buf, sizeof(buf), &len, -1);
    return NULL;
}

/* Until the thread sleeps in the kernel (bounded; scheduling only). */
static void wait_sleeping(struct blocked_recv *b)
{
    for (int i = 0; i < 2000000; i++) {
        pid_t tid = __atomic_load_n(&b->tid, __ATOMIC_ACQUIRE);
        if (tid > 0) {
            char path[64], st[512];
            snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
            FILE *f = fopen(path, "re");
            if (f != NULL) {
                size_t n = fread(st, 1, sizeof(st) - 1, f);
                fclose(f);
                st[n] = '\0';
                char *rp = strrchr(st, ')');
                if (rp != NULL && rp[1] == ' ' && rp[2] == 'S')
                    return;
            }
        }
        sched_yield();
    }
}

enum { D_ACCEPTED, D_DIALED, D_PAIR };

static void dgram_death_case(int how, int no_diag)
{
#ifdef IK__CHAN_TEST_HOOKS
    ik__udgram_test_no_diag(no_diag);
#else
    IK__UNUSED(no_diag);
#endif
    char url[256];
    snprintf(url, sizeof(url), "unix+dgram://%s", ikt_name("dd"));
    ik_listener *l = NULL;
    ik_chan *ch = NULL;
    pid_t pid;
    if (how == D_ACCEPTED) {
        assert_ok(ik_listen(&l, url, NULL));
        pid = ikt_spawn(-1, "dgram-dial", url, NULL);
        assert_ok(ik_accept(l, &ch, 20000));
    } else if (how == D_DIALED) {
        pid = ikt_spawn_ready("dgram-listen", url);
        assert_ok(ik_dial(&ch, url, NULL));
    } else {
        ik_chan *other;
        assert_ok(ik_chan_pair(&ch, &other, "unix+dgram"));
        int r, w;
        assert_ok(ik_chan_fd(other, &r, &w));
        char fd[16];
        snprintf(fd, sizeof(fd), "%d", r);
        pid = ikt_spawn(r, "dgram-adopt", fd, NULL);
        ik_chan_close(other);
    }
    char buf[8];
    size_t len;
    assert_ok(ik_recv(ch, buf, sizeof(buf), &len, 20000)); /* the peer is alive */
    assert_int_equal(len, 2);

    struct blocked_recv b = {.ch = ch};
    pthread_create(&b.th, NULL, blocked_recv_main, &b);
    wait_sleeping(&b);
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    pthread_join(b.th, NULL); /* a hang here is the bug (ctest timeout) */
    if (b.rc != IK_EPEERDEAD && b.rc != IK_ECLOSED)
        fail_msg("case %d no_diag %d: recv(-1) gave %s", how, no_diag, ik_err_name(b.rc));
    assert_ik(IK_ECLOSED, ik_recv(ch, buf, sizeof(buf), &len, -1));
    ik_chan_close(ch);
    ik_listener_close(l);
#ifdef IK__CHAN_TEST_HOOKS
    ik__udgram_test_no_diag(0);
#endif
}

static void test_dgram_recv_forever_sees_peer_death(void **state)
{
    IK__UNUSED(state);
    dgram_death_case(D_ACCEPTED, 0);
    dgram_death_case(D_DIALED, 0);
    dgram_death_case(D_PAIR, 0);
    /* Without sock_diag: a connect() probe of the peer's address (the
     * dialer's abstract autobind name; the server's socket file, held by
     * an O_PATH fd). */
    dgram_death_case(D_ACCEPTED, 1);
    dgram_death_case(D_DIALED, 1);
}

/* A live but silent peer is not declared dead: timed receives just time
 * out, across several liveness slices. */
static void test_dgram_live_peer_not_dead(void **state)
{
    IK__UNUSED(state);
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, "unix+dgram"));
    char buf[8];
    size_t len;
    assert_ik(IK_ETIMEDOUT, ik_recv(a, buf, sizeof(buf), &len, 350));
    assert_ok(ik_send(b, "ok", 2, 1000));
    assert_ok(ik_recv(a, buf, sizeof(buf), &len, 350));
    assert_int_equal(len, 2);
    ik_chan_close(a);
    ik_chan_close(b);
}

/* A datagram bigger than the kernel can build (about 4 MiB, below the
 * default max_msg) is IK_EMSGSIZE, nothing sent, and the channel lives on
 * (it was an unknown error that closed the channel). */
static void test_dgram_too_big_for_kernel(void **state)
{
    IK__UNUSED(state);
    ik_chan *a, *b;
    assert_ok(ik_chan_pair(&a, &b, "unix+dgram"));
    size_t big = 8u << 20;
    assert_true(ik_chan_max_msg(a) >= big);
    void *p = calloc(1, big);
    assert_non_null(p);
    assert_ik(IK_EMSGSIZE, ik_send(a, p, big, 1000));
    free(p);
    assert_ok(ik_send(a, "ok", 2, 1000));
    char buf[8];
    size_t len;
    assert_ok(ik_recv(b, buf, sizeof(buf), &len, 1000));
    assert_int_equal(len, 2);
    ik_chan_close(a);
    ik_chan_close(b);
}

static const struct ikt_child_role roles[] = {
    {"fifo-listen", child_fifo_listen},
    {"adopt-echo", child_adopt_echo},
    {"dgram-dial", child_dgram_dial},
    {"dgram-listen", child_dgram_listen},
    {"dgram-adopt", child_dgram_adopt},
    {"fifo-client", child_fifo_client},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    signal(SIGPIPE, SIG_DFL);
    ikt_private_runtime();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_lock_not_squattable),
        cmocka_unit_test(test_fifo_lock_liveness),
        cmocka_unit_test(test_fifo_lock_other_user_gc),
        cmocka_unit_test(test_fifo_one_client_at_a_time),
        cmocka_unit_test(test_adopt_keeps_fd_flags),
        cmocka_unit_test(test_timed_io_on_blocking_adopted_pipe),
        cmocka_unit_test(test_dgram_recv_forever_sees_peer_death),
        cmocka_unit_test(test_dgram_live_peer_not_dead),
        cmocka_unit_test(test_dgram_too_big_for_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
