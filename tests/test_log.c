/* ik_log: multi-process append/tail, dead writers (kill -9 in a loop and
 * forged pending records), full logs, hostile files. */
#include "helpers.h"
#include "core/internal.h"
#include "map/log_layout.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- payloads: self-checking records ---------------------------------- */

#define PAY_MAGIC 0x50594c44u
#define END_MAGIC 0x454e4421u
#define PAY_MIN   32u
#define PAY_BUF   (70 * 1024)

struct pay_hdr {
    uint32_t magic;
    uint32_t len;
    uint32_t writer;
    uint32_t pad;
    uint64_t seq;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Fill buf (len >= PAY_MIN) with a record that carries its own checksum. */
static void pay_make(uint8_t *buf, size_t len, uint32_t magic, uint32_t writer, uint64_t seq)
{
    struct pay_hdr h = {magic, (uint32_t)len, writer, 0, seq};
    memcpy(buf, &h, sizeof(h));
    uint64_t x = seq * 0x9e3779b97f4a7c15ull + writer + 1;
    for (size_t i = sizeof(h); i < len - 8; i++)
        buf[i] = (uint8_t)(rng_next(&x) >> 24);
    uint64_t f = ikt_fnv(buf, len - 8);
    memcpy(buf + len - 8, &f, 8);
}

/* 0 if intact; fills h. */
static int pay_check(const uint8_t *buf, size_t len, struct pay_hdr *h)
{
    if (len < PAY_MIN)
        return -1;
    memcpy(h, buf, sizeof(*h));
    if ((h->magic != PAY_MAGIC && h->magic != END_MAGIC) || h->len != len)
        return -2;
    uint64_t f;
    memcpy(&f, buf + len - 8, 8);
    return f == ikt_fnv(buf, len - 8) ? 0 : -3;
}

static const char *tmp_path(const char *leaf)
{
    static char buf[8][256];
    static unsigned n;
    char *b = buf[n++ % 8];
    snprintf(b, sizeof(buf[0]), "%s/%s", ikt_tmpdir(), leaf);
    return b;
}

static void send_byte(int fd, char c)
{
    while (write(fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static int recv_byte(int fd)
{
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return r == 1 ? c : -1;
}

/* ---- child roles (exec'd) ---- */

/* argv: path id count maxlen fd. Append count self-checking records (count
 * -1: then block until killed) and, for finite counts, an END record.
 * fd (-1 none) gets 'S' once open and 'D' when done. */
static int child_writer(int argc, char **argv)
{
    if (argc < 5)
        return 30;
    uint32_t id = (uint32_t)atoi(argv[1]);
    long count = atol(argv[2]);
    size_t maxlen = (size_t)atol(argv[3]);
    int fd = atoi(argv[4]);
    ik_log *log;
    int rc = ik_log_open(&log, argv[0], 0, 0);
    if (rc != 0) {
        fprintf(stderr, "writer %u: open %s\n", id, ik_err_name(rc));
        return 31;
    }
    if (fd >= 0)
        send_byte(fd, 'S');
    static uint8_t buf[PAY_BUF];
    uint64_t x = (uint64_t)getpid() * 7919 + id + 1;
    long n = count < 0 ? -count : count;
    for (long i = 0; i < n; i++) {
        size_t len;
        if (maxlen > 2048 && rng_next(&x) % 16 == 0) /* now and then a big one */
            len = 2048 + rng_next(&x) % (maxlen - 2048 + 1);
        else
            len = PAY_MIN + rng_next(&x) % ((maxlen < 2048 ? maxlen : 2048) - PAY_MIN + 1);
        pay_make(buf, len, PAY_MAGIC, id, (uint64_t)i);
        rc = ik_log_append(log, buf, len);
        if (rc != 0) {
            fprintf(stderr, "writer %u: append %s\n", id, ik_err_name(rc));
            return 32;
        }
    }
    if (count >= 0) {
        pay_make(buf, PAY_MIN, END_MAGIC, id, (uint64_t)n);
        if (ik_log_append(log, buf, PAY_MIN) != 0)
            return 33;
    }
    if (fd >= 0)
        send_byte(fd, 'D');
    if (count < 0)
        (void)recv_byte(fd); /* wait to be killed */
    ik_log_close(log);
    return 0;
}

/* argv: path nwriters per_writer rdonly fd. Tail the log from 0 until END
 * records from all nwriters writers (per_writer >= 0), or one END record
 * from writer id 0xffffffff (per_writer -1, the crash test). Every record
 * must be intact and each writer's sequence gap-free and in order. Writes
 * "count" to fd. */
static int child_reader(int argc, char **argv)
{
    if (argc < 5)
        return 40;
    uint32_t nwriters = (uint32_t)atoi(argv[1]);
    long per = atol(argv[2]);
    bool rdonly = atoi(argv[3]) != 0;
    int fd = atoi(argv[4]);
    ik_log *log;
    if (ik_log_open(&log, argv[0], 0, rdonly ? IK_LOG_RDONLY : 0) != 0)
        return 41;
    static uint8_t buf[PAY_BUF];
    static uint64_t next[4096];
    uint64_t cur = 0, count = 0;
    uint32_t ends = 0;
    for (;;) {
        size_t len;
        int rc = ik_log_read(log, &cur, buf, sizeof(buf), &len, 20000);
        if (rc == IK_ETIMEDOUT) {
            fprintf(stderr, "reader: stalled at %llu\n", (unsigned long long)cur);
            return 43;
        }
        if (rc != 0) {
            fprintf(stderr, "reader: %s at %llu\n", ik_err_name(rc), (unsigned long long)cur);
            return 44;
        }
        struct pay_hdr h = {0};
        if (pay_check(buf, len, &h) != 0) {
            fprintf(stderr, "reader: torn record at %llu\n", (unsigned long long)cur);
            return 45;
        }
        if (h.magic == END_MAGIC && h.writer == 0xffffffffu)
            break;
        if (h.writer >= 4096 || h.seq != next[h.writer]) {
            fprintf(stderr, "reader: writer %u seq %llu, want %llu\n", h.writer,
                    (unsigned long long)h.seq,
                    (unsigned long long)(h.writer < 4096 ? next[h.writer] : 0));
            return 46;
        }
        next[h.writer]++;
        count++;
        if (h.magic == END_MAGIC && per >= 0) {
            if (h.seq != (uint64_t)per + 0)
                return 47;
            if (++ends == nwriters)
                break;
        }
    }
    ik_log_close(log);
    char out[32];
    int n = snprintf(out, sizeof(out), "%llu\n", (unsigned long long)count);
    if (write(fd, out, (size_t)n) != n)
        return 48;
    return 0;
}

/* argv: path fd. Open for writing, append one record, report, then wait to
 * be killed: leaves a writer slot owned by a dead process. */
static int child_hold(int argc, char **argv)
{
    if (argc < 2)
        return 50;
    int fd = atoi(argv[1]);
    ik_log *log;
    if (ik_log_open(&log, argv[0], 0, 0) != 0)
        return 51;
    if (ik_log_append(log, "held", 4) != 0)
        return 52;
    send_byte(fd, 'S');
    (void)recv_byte(fd);
    ik_log_close(log);
    return 0;
}

static const struct ikt_child_role roles[] = {
    {"writer", child_writer},
    {"reader", child_reader},
    {"hold", child_hold},
    {NULL, NULL},
};

/* Spawn a reader with a pipe for its count. */
static pid_t spawn_reader(const char *path, int nwriters, long per, int rdonly, int *rfd)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char a1[16], a2[24], a3[4], a4[16];
    snprintf(a1, sizeof(a1), "%d", nwriters);
    snprintf(a2, sizeof(a2), "%ld", per);
    snprintf(a3, sizeof(a3), "%d", rdonly);
    snprintf(a4, sizeof(a4), "%d", p[1]);
    pid_t pid = ikt_spawn(p[1], "reader", path, a1, a2, a3, a4, NULL);
    close(p[1]);
    *rfd = p[0];
    return pid;
}

static uint64_t reader_count(int fd)
{
    char buf[32] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n > 0);
    return strtoull(buf, NULL, 10);
}

/* ---- tests ---- */

static void test_basic_append_read(void **state)
{
    const char *path = tmp_path("basic.log");
    umask(0);
    int fds = ikt_count_fds();
    ik_log *log;
    assert_ok(ik_log_open(&log, path, 1 << 20, IK_LOG_CREATE));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ik_log_end(log), 0);

    static uint8_t big[100000], out[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31);
    const size_t sizes[] = {0, 1, 7, 8, 9, 1000, 100000};
    for (size_t i = 0; i < IK__ARRAY_LEN(sizes); i++)
        assert_ok(ik_log_append(log, big, sizes[i]));
    assert_true(ik_log_end(log) > 100000);

    ik_log *rd;
    assert_ok(ik_log_open(&rd, path, 0, IK_LOG_RDONLY));
    uint64_t cur = 0;
    size_t len;
    for (size_t i = 0; i < IK__ARRAY_LEN(sizes); i++) {
        if (sizes[i] == 100000) {
            uint64_t before = cur;
            assert_ik(IK_EMSGSIZE, ik_log_read(rd, &cur, out, 10, &len, 0));
            assert_int_equal(len, 100000);
            assert_int_equal(cur, before);
        }
        assert_ok(ik_log_read(rd, &cur, out, sizeof(out), &len, 0));
        assert_int_equal(len, sizes[i]);
        if (sizes[i] > 0)
            assert_memory_equal(out, big, sizes[i]);
    }
    assert_int_equal(cur, ik_log_end(rd));
    assert_ik(IK_ETIMEDOUT, ik_log_read(rd, &cur, out, sizeof(out), &len, 0));
    uint64_t t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_log_read(rd, &cur, out, sizeof(out), &len, 50));
    assert_true(ik__now_ns() - t0 >= 50 * 1000000ull); /* not earlier than the deadline */
    t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_log_read(log, &cur, out, sizeof(out), &len, 30));
    assert_true(ik__now_ns() - t0 >= 30 * 1000000ull);

    /* Reopen: the data persists, a second writer handle appends after it. */
    ik_log *w2;
    assert_ok(ik_log_open(&w2, path, 0, IK_LOG_CREATE));
    assert_ok(ik_log_append(w2, "again", 5));
    assert_ok(ik_log_read(rd, &cur, out, sizeof(out), &len, 1000));
    assert_int_equal(len, 5);
    assert_memory_equal(out, "again", 5);
    ik_log_close(w2);
    ik_log_close(rd);
    ik_log_close(log);
    ik_log_close(NULL);
    assert_int_equal(ikt_count_fds(), fds);
}

static void test_bad_args(void **state)
{
    const char *path = tmp_path("bad.log");
    ik_log *log, *rd;
    assert_ik(IK_EINVAL, ik_log_open(NULL, path, 0, IK_LOG_CREATE));
    assert_ik(IK_EINVAL, ik_log_open(&log, NULL, 0, IK_LOG_CREATE));
    assert_ik(IK_EINVAL, ik_log_open(&log, "", 0, IK_LOG_CREATE));
    assert_ik(IK_EINVAL, ik_log_open(&log, path, 0, IK_LOG_CREATE | (1u << 8)));
    assert_ik(IK_EINVAL, ik_log_open(&log, path, 0, IK_LOG_CREATE | IK_LOG_RDONLY));
    assert_ik(IK_EINVAL, ik_log_open(&log, path, 100, IK_LOG_CREATE));
    assert_ik(IK_EINVAL, ik_log_open(&log, path, SIZE_MAX, IK_LOG_CREATE));
    assert_ik(IK_EINVAL, ik_log_open(&log, tmp_path(""), 0, IK_LOG_CREATE));
    assert_ik(IK_ENOENT, ik_log_open(&log, path, 0, 0));
    assert_ok(ik_log_open(&log, path, 0, IK_LOG_CREATE));
    assert_ok(ik_log_open(&rd, path, 0, IK_LOG_RDONLY));
    assert_ik(IK_EMSGSIZE, ik_log_append(log, "x", (size_t)IK_LOG_REC_MAX + 1));
    assert_ik(IK_EINVAL, ik_log_append(log, NULL, 1));
    assert_ik(IK_EINVAL, ik_log_append(NULL, "x", 1));
    assert_ik(IK_EINVAL, ik_log_append(rd, "x", 1));
    assert_ok(ik_log_append(log, NULL, 0));
    uint64_t cur = 3;
    size_t len;
    char buf[8];
    assert_ik(IK_EINVAL, ik_log_read(rd, &cur, buf, sizeof(buf), &len, 0));
    cur = (uint64_t)64 << 30;
    assert_ik(IK_EINVAL, ik_log_read(rd, &cur, buf, sizeof(buf), &len, 0));
    cur = 0;
    assert_ik(IK_EINVAL, ik_log_read(rd, NULL, buf, sizeof(buf), &len, 0));
    assert_ik(IK_EINVAL, ik_log_read(rd, &cur, NULL, 8, &len, 0));
    assert_ik(IK_EINVAL, ik_log_read(rd, &cur, buf, sizeof(buf), NULL, 0));
    assert_ik(IK_EINVAL, ik_log_read(NULL, &cur, buf, sizeof(buf), &len, 0));
    assert_ok(ik_log_read(rd, &cur, NULL, 0, &len, 0));
    assert_int_equal(len, 0);
    assert_int_equal(ik_log_end(NULL), 0);
    ik_log_close(rd);
    ik_log_close(log);
}

static void test_full_log(void **state)
{
    const char *path = tmp_path("full.log");
    ik_log *log;
    assert_ok(ik_log_open(&log, path, 4096, IK_LOG_CREATE));
    char rec[5000];
    memset(rec, 'f', sizeof(rec));
    int n = 0, rc;
    while ((rc = ik_log_append(log, rec, 100)) == 0)
        n++;
    assert_ik(IK_ENOSPC, rc);
    assert_int_equal(n, 4096 / (16 + 104));
    assert_ik(IK_ENOSPC, ik_log_append(log, rec, 4096));
    /* A record that still fits goes in. */
    size_t left = 4096 - ik_log_end(log);
    if (left >= 16)
        assert_ok(ik_log_append(log, rec, left - 16));
    assert_int_equal(ik_log_end(log), 4096);
    assert_ik(IK_ENOSPC, ik_log_append(log, NULL, 0));
    uint64_t cur = 0;
    size_t len;
    int got = 0;
    while ((rc = ik_log_read(log, &cur, rec, sizeof(rec), &len, 0)) == 0)
        got++;
    assert_ik(IK_ENOSPC, rc);
    assert_int_equal(got, n + (left >= 16));
    /* At the end of a full log nothing can ever come: no wait, even with
     * an infinite timeout (this used to block forever). */
    assert_ik(IK_ENOSPC, ik_log_read(log, &cur, rec, sizeof(rec), &len, -1));
    ik_log *ro;
    assert_ok(ik_log_open(&ro, path, 0, IK_LOG_RDONLY));
    assert_ik(IK_ENOSPC, ik_log_read(ro, &cur, rec, sizeof(rec), &len, -1));
    ik_log_close(ro);
    ik_log_close(log);
}

/* N exec'd writers x M records, two exec'd readers (read-write and
 * read-only) tailing concurrently: every record exactly once, intact, in
 * per-writer order. */
static void test_multi_writer_readers(void **state)
{
    const char *path = tmp_path("multi.log");
    ik_log *log;
    assert_ok(ik_log_open(&log, path, 32 << 20, IK_LOG_CREATE));
    enum { W = 3, M = 3000 };
    int rfd[2];
    pid_t readers[2];
    readers[0] = spawn_reader(path, W, M, 0, &rfd[0]);
    readers[1] = spawn_reader(path, W, M, 1, &rfd[1]);
    pid_t writers[W];
    for (int i = 0; i < W; i++) {
        char id[16], cnt[16];
        snprintf(id, sizeof(id), "%d", i);
        snprintf(cnt, sizeof(cnt), "%d", M);
        writers[i] = ikt_spawn(-1, "writer", path, id, cnt, "2000", "-1", NULL);
    }
    for (int i = 0; i < W; i++)
        assert_int_equal(ikt_wait(writers[i]), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ikt_wait(readers[i]), 0);
        assert_int_equal(reader_count(rfd[i]), W * (M + 1));
    }
    /* The parent sees the same. */
    static uint8_t buf[PAY_BUF];
    uint64_t cur = 0, next[W] = {0};
    size_t len;
    int rc;
    while ((rc = ik_log_read(log, &cur, buf, sizeof(buf), &len, 0)) == 0) {
        struct pay_hdr h = {0};
        assert_int_equal(pay_check(buf, len, &h), 0);
        assert_true(h.writer < W);
        assert_int_equal(h.seq, next[h.writer]);
        next[h.writer]++;
    }
    assert_ik(IK_ETIMEDOUT, rc);
    for (int i = 0; i < W; i++)
        assert_int_equal(next[i], M + 1);
    ik_log_close(log);
}

/* Wait for a victim's 'D' (done) or death, or until the log grew by want. */
static void wait_progress(ik_log *log, int fd, uint64_t want)
{
    uint64_t base = ik_log_end(log), t0 = ik__now_ns();
    for (;;) {
        if (ik_log_end(log) - base >= want)
            return;
        if (ik__now_ns() - t0 > 30ull * 1000000000u) /* hang detector only */
            fail_msg("writers made no progress for 30 s");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) {
            int c = recv_byte(fd);
            if (c != 'S')
                return;
        }
        sched_yield();
    }
}

struct victim {
    pid_t pid;
    int fd;
};

static void kill_victim(struct victim *v, int *kills)
{
    if (v->pid <= 0)
        return;
    kill(v->pid, SIGKILL);
    int st = ikt_wait(v->pid);
    if (st != 128 + SIGKILL)
        fail_msg("writer %d exited with %d before being killed", (int)v->pid, st);
    close(v->fd);
    (*kills)++;
    v->pid = 0;
}

/* The crash test: writers are kill -9'ed at random points (during start-up,
 * right after opening, or after a random amount of appending, often in the
 * middle of a record) at least 200 times, two at a time, while two readers
 * tail the log. Every record a reader returns must be intact, each writer's
 * records gap-free up to its death, and the readers must never stall. */
static void test_crash_kill9_writers(void **state)
{
    const char *path = tmp_path("crash.log");
    ik_log *log;
    assert_ok(ik_log_open(&log, path, 96 << 20, IK_LOG_CREATE));
    int rfd[2];
    pid_t readers[2];
    readers[0] = spawn_reader(path, 0, -1, 0, &rfd[0]);
    readers[1] = spawn_reader(path, 0, -1, 1, &rfd[1]);
    enum { KILLS = 220 };
    uint64_t seed = 0x1234567 ^ (uint64_t)getpid();
    struct victim prev = {0, -1};
    int kills = 0;
    for (int k = 0; kills < KILLS; k++) {
        /* Spawn victim k: 60 records of 32 B..64 KiB, then it blocks. */
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        char id[16], fdarg[16];
        snprintf(id, sizeof(id), "%d", k);
        snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
        struct victim cur = {ikt_spawn(sv[1], "writer", path, id, "-60", "65536", fdarg, NULL),
                             sv[0]};
        close(sv[1]);
        unsigned mode = (unsigned)(rng_next(&seed) % 8);
        if (mode != 0 && recv_byte(cur.fd) != 'S') /* mode 0: may die in start-up */
            fail_msg("victim %d did not start", k);
        /* Kill the previous victim while this one runs too. */
        if (prev.pid > 0) {
            unsigned pm = (unsigned)(rng_next(&seed) % 4);
            if (pm != 0)
                wait_progress(log, prev.fd, rng_next(&seed) % (64 * 1024));
            kill_victim(&prev, &kills);
        }
        if (mode == 1) {
            kill_victim(&cur, &kills); /* right after open */
            continue;
        }
        prev = cur;
    }
    kill_victim(&prev, &kills);
    assert_true(kills >= 200);
    /* Final END record from the parent releases the readers. */
    static uint8_t buf[PAY_BUF];
    pay_make(buf, PAY_MIN, END_MAGIC, 0xffffffffu, 0);
    assert_ok(ik_log_append(log, buf, PAY_MIN));
    uint64_t counts[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ikt_wait(readers[i]), 0);
        counts[i] = reader_count(rfd[i]);
    }
    /* Both readers and the parent agree on the committed records. */
    uint64_t cur = 0, n = 0, bytes = 0;
    size_t len;
    int rc;
    for (;;) {
        rc = ik_log_read(log, &cur, buf, sizeof(buf), &len, 0);
        if (rc != 0)
            break;
        struct pay_hdr h = {0};
        assert_int_equal(pay_check(buf, len, &h), 0);
        bytes += 16 + IK__ALIGN_UP(len, 8);
        if (h.magic == END_MAGIC)
            continue;
        n++;
    }
    assert_ik(IK_ETIMEDOUT, rc);
    assert_int_equal(counts[0], n);
    assert_int_equal(counts[1], n);
    print_message("crash test: %d kills, %llu records, %llu bytes skipped (dead writers)\n", kills,
                  (unsigned long long)n, (unsigned long long)(ik_log_end(log) - bytes));
    ik_log_close(log);
}

/* The writer slot table of a log mapped at base, and the slot whose owner
 * is pid (-1 if none). */
static struct ik__log_slot *slot_table(uint8_t *base)
{
    return (struct ik__log_slot *)(base + IK__LOG_SLOT_OFF);
}

static int slot_of(const struct ik__log_slot *slots, pid_t pid)
{
    for (int i = 0; i < (int)IK__LOG_SLOTS; i++) {
        if ((uint32_t)slots[i].owner == (uint32_t)pid)
            return i;
    }
    return -1;
}

/* Deterministic dead and live writers: forge a pending record in the slot of
 * a kill -9'ed writer (its claim done, the tail not yet moved) and in the
 * slot of a live one. */
static void test_pending_record_dead_and_live_writer(void **state)
{
    const char *path = tmp_path("pending.log");
    ik_log *log, *rd;
    assert_ok(ik_log_open(&log, path, 1 << 20, IK_LOG_CREATE));
    assert_ok(ik_log_open(&rd, path, 0, IK_LOG_RDONLY));
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char fdarg[16];
    snprintf(fdarg, sizeof(fdarg), "%d", sv[1]);
    pid_t pid = ikt_spawn(sv[1], "hold", path, fdarg, NULL);
    close(sv[1]);
    assert_int_equal(recv_byte(sv[0]), 'S');
    kill(pid, SIGKILL);
    assert_int_equal(ikt_wait(pid), 128 + SIGKILL);
    close(sv[0]);

    ik_map *m;
    assert_ok(ik_map_open(&m, path, 0, 0));
    uint8_t *base = ik_map_ptr(m);
    struct ik__log_hdr *h = (struct ik__log_hdr *)base;
    struct ik__log_slot *slots = slot_table(base);
    int slot = slot_of(slots, pid), mine = slot_of(slots, getpid());
    assert_true(slot >= 0 && mine >= 0);
    uint64_t t = h->tail;
    struct ik__log_rec *rec = (struct ik__log_rec *)(base + IK__LOG_HDR_SIZE + t);
    uint64_t gen = (slots[slot].owner >> 32) & IK__LOG_GEN_MASK;
    rec->claim = IK__LOG_CLAIMED | (gen << 35) | ((uint64_t)slot << 27) | 100;

    /* The read-only reader skips it locally, without waiting. */
    uint64_t cur = 0;
    size_t len;
    char buf[256];
    assert_ok(ik_log_read(rd, &cur, buf, sizeof(buf), &len, 0));
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "held", 4);
    uint64_t t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_log_read(rd, &cur, buf, sizeof(buf), &len, 0));
    assert_int_equal(cur, t + 16 + 104);
    assert_int_equal(rec->state, 0); /* a read-only view cannot mark it */
    assert_int_equal(h->tail, t);
    /* An appender helps the tail past the dead claim; a read-write reader
     * marks it abandoned. */
    assert_ok(ik_log_append(log, "after", 5));
    assert_int_equal(h->tail, t + 120 + 24);
    uint64_t c2 = 0;
    assert_ok(ik_log_read(log, &c2, buf, sizeof(buf), &len, 0));
    assert_ok(ik_log_read(log, &c2, buf, sizeof(buf), &len, 0));
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "after", 5);
    assert_int_equal(rec->state, IK__LOG_ST_ABANDONED);
    assert_ok(ik_log_read(rd, &cur, buf, sizeof(buf), &len, 0));
    assert_memory_equal(buf, "after", 5);
    assert_true(ik__now_ns() - t0 < 60ull * 1000000000ull);

    /* A pending record of a live writer (our own slot) is waited for. */
    t = h->tail;
    rec = (struct ik__log_rec *)(base + IK__LOG_HDR_SIZE + t);
    gen = (slots[mine].owner >> 32) & IK__LOG_GEN_MASK;
    rec->claim = IK__LOG_CLAIMED | (gen << 35) | ((uint64_t)mine << 27) | 8;
    h->tail = t + 24;
    uint64_t c3 = cur;
    t0 = ik__now_ns();
    assert_ik(IK_ETIMEDOUT, ik_log_read(rd, &c3, buf, sizeof(buf), &len, 40));
    assert_true(ik__now_ns() - t0 >= 40 * 1000000ull);
    assert_int_equal(c3, cur);
    assert_ik(IK_ETIMEDOUT, ik_log_read(log, &c3, buf, sizeof(buf), &len, 20));
    assert_int_equal(c3, cur);
    /* Once that writer handle is closed, the slot is free: skipped. */
    ik_log_close(log);
    assert_ik(IK_ETIMEDOUT, ik_log_read(rd, &c3, buf, sizeof(buf), &len, 0));
    assert_int_equal(c3, t + 24);
    ik_map_close(m);
    ik_log_close(rd);
}

/* A pending record whose writer slot names a live pid, but a start time of
 * another boot (a log file that outlived a reboot) or no start time at all
 * (forged), is a dead writer's: skipped, not waited for. */
static void test_pending_record_of_other_boot(void **state)
{
    const char *path = tmp_path("boot.log");
    ik_log *log, *rd;
    assert_ok(ik_log_open(&log, path, 1 << 20, IK_LOG_CREATE));
    assert_ok(ik_log_open(&rd, path, 0, IK_LOG_RDONLY));
    assert_ok(ik_log_append(log, "mine", 4)); /* takes our slot */
    ik_map *m;
    assert_ok(ik_map_open(&m, path, 0, 0));
    uint8_t *base = ik_map_ptr(m);
    struct ik__log_hdr *h = (struct ik__log_hdr *)base;
    struct ik__log_slot *slots = slot_table(base);
    int mine = slot_of(slots, getpid());
    assert_true(mine >= 0);
    uint64_t start = slots[mine].start, ticks = start & IK__LOG_START_TICKS;
    uint64_t boot = start >> IK__LOG_START_BOOT;
    assert_int_equal(boot, ik__boot_tag());
    assert_true(ticks != 0 && boot != 0);
    uint64_t gen = (slots[mine].owner >> 32) & IK__LOG_GEN_MASK;
    const uint64_t forged[] = {ticks | ((boot % 0xffffff) + 1) << IK__LOG_START_BOOT, 0};
    uint64_t cur = 0;
    size_t len;
    char buf[64];
    assert_ok(ik_log_read(rd, &cur, buf, sizeof(buf), &len, 0));
    for (size_t i = 0; i < IK__ARRAY_LEN(forged); i++) {
        slots[mine].start = forged[i];
        uint64_t t = h->tail;
        struct ik__log_rec *rec = (struct ik__log_rec *)(base + IK__LOG_HDR_SIZE + t);
        rec->claim = IK__LOG_CLAIMED | (gen << 35) | ((uint64_t)mine << 27) | 8;
        h->tail = t + 24;
        assert_ik(IK_ETIMEDOUT, ik_log_read(rd, &cur, buf, sizeof(buf), &len, 0));
        assert_int_equal(cur, t + 24); /* skipped at once */
    }
    slots[mine].start = start;
    ik_map_close(m);
    ik_log_close(rd);
    ik_log_close(log);
}

/* A version 1 file (made by an older build) is still read and written, the
 * version 1 way: slot start words without a boot tag, so older builds
 * sharing it keep judging its writers right. */
static void test_version1_file_kept_v1(void **state)
{
    const char *path = tmp_path("v1.log");
    ik_log *log;
    assert_ok(ik_log_open(&log, path, 1 << 20, IK_LOG_CREATE));
    assert_ok(ik_log_append(log, "new", 3));
    ik_log_close(log);
    ik_map *m;
    assert_ok(ik_map_open(&m, path, 0, 0));
    uint8_t *base = ik_map_ptr(m);
    struct ik__log_hdr *h = (struct ik__log_hdr *)base;
    assert_int_equal(h->version, IK__LOG_VERSION);
    h->version = IK__LOG_VERSION_V1;
    assert_ok(ik_log_open(&log, path, 0, 0));
    assert_ok(ik_log_append(log, "old", 3));
    struct ik__log_slot *slots = slot_table(base);
    int mine = slot_of(slots, getpid());
    assert_true(mine >= 0);
    assert_int_equal(slots[mine].start >> IK__LOG_START_BOOT, 0); /* no tag */
    assert_true(slots[mine].start != 0);
    uint64_t cur = 0;
    size_t len;
    char buf[8];
    assert_ok(ik_log_read(log, &cur, buf, sizeof(buf), &len, 0));
    assert_ok(ik_log_read(log, &cur, buf, sizeof(buf), &len, 0));
    assert_memory_equal(buf, "old", 3);
    ik_log_close(log);
    ik_map_close(m);
}

/* A forked (not exec'd) child appending through an inherited handle takes a
 * writer slot of its own. */
static int forked_append(void *arg)
{
    ik_log *log = arg;
    return ik_log_append(log, "child", 5) == 0 ? 0 : 1;
}

static void test_fork_inherited_handle(void **state)
{
    const char *path = tmp_path("fork.log");
    ik_log *log;
    assert_ok(ik_log_open(&log, path, 0, IK_LOG_CREATE));
    assert_ok(ik_log_append(log, "parent", 6));
    assert_int_equal(ikt_wait(ikt_fork(forked_append, log)), 0);
    assert_ok(ik_log_append(log, "parent2", 7));
    uint64_t cur = 0;
    size_t len;
    char buf[16];
    const char *want[] = {"parent", "child", "parent2"};
    for (int i = 0; i < 3; i++) {
        assert_ok(ik_log_read(log, &cur, buf, sizeof(buf), &len, 0));
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(buf, want[i], len);
    }
    ik_log_close(log);
}

/* Hostile and corrupt files give IK_EPROTO (or a path error), never a crash. */
static void test_corrupt_and_hostile(void **state)
{
    const char *path = tmp_path("corrupt.log");
    ik_log *log, *x;
    int fds = ikt_count_fds();
    assert_ok(ik_log_open(&log, path, 64 << 20, IK_LOG_CREATE));
    assert_ok(ik_log_append(log, "one", 3));
    assert_ok(ik_log_append(log, "two", 3));
    assert_ok(ik_log_append(log, "three", 5));
    uint64_t end = ik_log_end(log);
    ik_log_close(log);
    ik_map *m;
    assert_ok(ik_map_open(&m, path, 0, 0));
    uint8_t *base = ik_map_ptr(m);
    struct ik__log_hdr *h = (struct ik__log_hdr *)base;
    uint8_t *data = base + IK__LOG_HDR_SIZE;
    struct ik__log_hdr save = *h;

    h->magic ^= 1;
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, 0));
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, IK_LOG_RDONLY));
    *h = save;
    h->version = 99;
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, IK_LOG_RDONLY));
    *h = save;
    h->capacity = (uint64_t)1 << 50;
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, IK_LOG_RDONLY));
    h->capacity = 5000;
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, IK_LOG_RDONLY));
    *h = save;
    h->hdr_size = 64;
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, IK_LOG_RDONLY));
    *h = save;
    h->tail = h->capacity + 8;
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, 0));
    h->tail = 12;
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, 0));
    *h = save;

    uint64_t cur;
    size_t len;
    char buf[64];
    /* Tail far beyond the end of the file (but within capacity): no SIGBUS. */
    h->tail = 32 << 20;
    assert_ok(ik_log_open(&x, path, 0, IK_LOG_RDONLY));
    cur = end;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    cur = 30 << 20;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    /* The header's file_size lies: ignored (fstat is the truth). */
    h->file_size = (uint64_t)1 << 40;
    cur = 30 << 20;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    ik_log_close(x);
    *h = save;

    assert_ok(ik_log_open(&x, path, 0, 0));
    struct ik__log_rec *r2 = (struct ik__log_rec *)(data + 24);
    struct ik__log_rec s2 = *r2;
    /* A record longer than the log. */
    r2->claim = (r2->claim & ~(uint64_t)IK__LOG_LEN_MASK) | IK__LOG_LEN_MASK;
    cur = 0;
    assert_ok(ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    assert_int_equal(cur, 24);
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    /* Without the CLAIMED bit. */
    r2->claim = s2.claim & ~IK__LOG_CLAIMED;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    /* Unknown state: reported once, then passed. */
    *r2 = s2;
    r2->state = 0x12345678;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    assert_int_equal(cur, 48);
    assert_ok(ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    assert_memory_equal(buf, "three", 5);
    /* A flipped payload byte fails the checksum: reported, then passed. */
    *r2 = s2;
    data[24 + 16] ^= 0x20;
    cur = 24;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    assert_int_equal(cur, 48);
    cur = 24;
    data[24 + 16] ^= 0x20;
    assert_ok(ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    assert_memory_equal(buf, "two", 3);
    /* An offset cleared although the tail is past it. */
    uint64_t c3 = cur;
    struct ik__log_rec *r3 = (struct ik__log_rec *)(data + c3);
    struct ik__log_rec s3 = *r3;
    r3->claim = 0;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    *r3 = s3;
    /* Garbage at the tail: appends and reads refuse it. */
    uint64_t *at_tail = (uint64_t *)(data + end);
    *at_tail = 0x1234;
    assert_ik(IK_EPROTO, ik_log_append(x, "x", 1));
    cur = end;
    assert_ik(IK_EPROTO, ik_log_read(x, &cur, buf, sizeof(buf), &len, 0));
    *at_tail = 0;
    assert_ok(ik_log_append(x, "four", 4));
    ik_log_close(x);
    ik_map_close(m);

    /* Truncated and empty files, a log that is not a log. */
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_int_equal(ftruncate(fd, 100), 0);
    close(fd);
    assert_ik(IK_EPROTO, ik_log_open(&x, path, 0, 0));
    const char *empty = tmp_path("empty.log");
    fd = open(empty, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    close(fd);
    assert_ik(IK_EPROTO, ik_log_open(&x, empty, 0, IK_LOG_RDONLY));
    assert_ik(IK_EPROTO, ik_log_open(&x, empty, 0, IK_LOG_CREATE));
    assert_int_equal(ikt_count_fds(), fds); /* failed opens leak nothing */
}

/* Threads of one process share a writer handle (and a reader handle). */
struct thr_arg {
    ik_log *log;
    uint32_t id;
    int rc;
};

static void *thr_append(void *p)
{
    struct thr_arg *a = p;
    uint8_t buf[256];
    for (uint64_t i = 0; i < 2000; i++) {
        pay_make(buf, PAY_MIN + (i * 37 + a->id) % 200, PAY_MAGIC, a->id, i);
        if ((a->rc = ik_log_append(a->log, buf, PAY_MIN + (i * 37 + a->id) % 200)) != 0)
            return NULL;
    }
    return NULL;
}

static void test_threads_share_handle(void **state)
{
    const char *path = tmp_path("threads.log");
    ik_log *log;
    assert_ok(ik_log_open(&log, path, 4 << 20, IK_LOG_CREATE));
    enum { T = 4 };
    pthread_t th[T];
    struct thr_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (struct thr_arg){log, (uint32_t)i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, thr_append, &args[i]), 0);
    }
    /* Tail concurrently from this thread. */
    uint64_t cur = 0, next[T] = {0}, n = 0;
    uint8_t buf[256];
    size_t len;
    while (n < T * 2000) {
        assert_ok(ik_log_read(log, &cur, buf, sizeof(buf), &len, 20000));
        struct pay_hdr h = {0};
        assert_int_equal(pay_check(buf, len, &h), 0);
        assert_true(h.writer < T);
        assert_int_equal(h.seq, next[h.writer]);
        next[h.writer]++;
        n++;
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_ok(args[i].rc);
    }
    ik_log_close(log);
}

static void test_path_attacks(void **state)
{
    const char *target = tmp_path("t.log");
    const char *link = tmp_path("l.log");
    ik_log *log;
    assert_ok(ik_log_open(&log, target, 0, IK_LOG_CREATE));
    ik_log_close(log);
    assert_int_equal(symlink(target, link), 0);
    assert_ik(IK_EUNSAFE, ik_log_open(&log, link, 0, 0));
    assert_ik(IK_EUNSAFE, ik_log_open(&log, link, 0, IK_LOG_RDONLY));
    assert_ik(IK_EUNSAFE, ik_log_open(&log, link, 0, IK_LOG_CREATE));
    const char *fifo = tmp_path("f.log");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_ik(IK_EUNSAFE, ik_log_open(&log, fifo, 0, IK_LOG_RDONLY));
    if (!ikt_is_root())
        return;
    /* A log owned by another user is refused. */
    assert_int_equal(chown(target, 65534, 65534), 0);
    assert_ik(IK_EPERM_OWNER, ik_log_open(&log, target, 0, 0));
    assert_ik(IK_EPERM_OWNER, ik_log_open(&log, target, 0, IK_LOG_RDONLY));
    assert_ik(IK_EPERM_OWNER, ik_log_open(&log, target, 0, IK_LOG_CREATE));
}

/* examples/log_view runs by itself, shows every writer's lines, and exits 0. */
static void test_example_log_view(void **state)
{
    char exe[512];
    snprintf(exe, sizeof(exe), "%s/examples/log_view", ikt_bindir());
    if (access(exe, X_OK) != 0)
        skip(); /* examples not built */
    static char out[8192];
    assert_int_equal(ikt_run(out, sizeof(out), "'%s'", exe), 0);
    assert_non_null(strstr(out, "writer 0: done"));
    assert_non_null(strstr(out, "writer 1: done"));
    assert_non_null(strstr(out, "writer 2: done"));
    assert_non_null(strstr(out, "3 writers, log end at byte"));
}

int main(int argc, char **argv)
{
    ikt_child_dispatch(argc, argv, roles);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_append_read),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_full_log),
        cmocka_unit_test(test_multi_writer_readers),
        cmocka_unit_test(test_crash_kill9_writers),
        cmocka_unit_test(test_pending_record_dead_and_live_writer),
        cmocka_unit_test(test_pending_record_of_other_boot),
        cmocka_unit_test(test_version1_file_kept_v1),
        cmocka_unit_test(test_fork_inherited_handle),
        cmocka_unit_test(test_threads_share_handle),
        cmocka_unit_test(test_corrupt_and_hostile),
        cmocka_unit_test(test_path_attacks),
        cmocka_unit_test(test_example_log_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
