/* Shared memory and log benchmarks, each against raw system calls measured
 * in the same run (reported, never asserted; ratio = ipckit / raw, lower is
 * better):
 *   - named segment lifecycle: ik_shm_create + touch + close + unlink versus
 *     shm_open + ftruncate + mmap + touch + munmap + close + shm_unlink;
 *   - ik_log_append throughput (ns per record, 64 B and 1 KiB records, 1 and
 *     2 writer processes) versus write() to an O_APPEND file by the same
 *     number of processes, in the same directory. */
#include "harness.h"

#include <ipckit.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_shm_log: %s: %s\n", what, rc < 0 ? ik_strerror(rc) : strerror(errno));
    exit(1);
}

/* ---- shm lifecycle ----------------------------------------------------- */

static double shm_ipckit(uint64_t n)
{
    char name[64];
    snprintf(name, sizeof(name), "ikbench-%d", (int)getpid());
    uint64_t t0 = ikb_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        ik_shm *shm;
        int rc = ik_shm_create(&shm, name, 4096, 0);
        if (rc != 0)
            die("ik_shm_create", rc);
        ((volatile char *)ik_shm_ptr(shm))[0] = 1;
        ik_shm_close(shm);
        if ((rc = ik_shm_unlink(name)) != 0)
            die("ik_shm_unlink", rc);
    }
    return (double)(ikb_now_ns() - t0) / (double)n;
}

static double shm_raw(uint64_t n)
{
    char name[64];
    snprintf(name, sizeof(name), "/ikbench-raw-%d", (int)getpid());
    uint64_t t0 = ikb_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0 || ftruncate(fd, 4096) != 0)
            die("shm_open/ftruncate", 0);
        char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            die("mmap", 0);
        ((volatile char *)p)[0] = 1;
        munmap(p, 4096);
        close(fd);
        shm_unlink(name);
    }
    return (double)(ikb_now_ns() - t0) / (double)n;
}

/* ---- append throughput ------------------------------------------------- */

enum { MODE_LOG, MODE_RAW };

/* Child: open, wait for the start gate, append n records of size bytes. */
static int append_child(int mode, const char *path, size_t size, uint64_t n, int gate, int ready)
{
    static char rec[1024];
    memset(rec, 'r', sizeof(rec));
    ik_log *log = NULL;
    int fd = -1;
    if (mode == MODE_LOG) {
        if (ik_log_open(&log, path, 0, 0) != 0)
            return 2;
    } else {
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0)
            return 2;
    }
    char c = 1;
    if (write(ready, &c, 1) != 1)
        return 4;
    while (read(gate, &c, 1) < 0 && errno == EINTR)
        ;
    for (uint64_t i = 0; i < n; i++) {
        if (mode == MODE_LOG) {
            if (ik_log_append(log, rec, size) != 0)
                return 3;
        } else if (write(fd, rec, size) != (ssize_t)size) {
            return 3;
        }
    }
    ik_log_close(log);
    if (fd >= 0)
        close(fd);
    return 0;
}

/* Wall-clock ns per record with `writers` processes of n records each. */
static double append_run(int mode, const char *dir, size_t size, int writers, uint64_t n)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, mode == MODE_LOG ? "bench.log" : "bench.raw");
    if (mode == MODE_LOG) {
        ik_log *log;
        size_t cap = (size_t)writers * (size_t)n * (16 + ((size + 7) & ~(size_t)7)) + 4096;
        int rc = ik_log_open(&log, path, cap, IK_LOG_CREATE);
        if (rc != 0)
            die("ik_log_open", rc);
        ik_log_close(log);
    } else {
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
            die("open", 0);
        close(fd);
    }
    int gate[2], ready[2];
    if (pipe2(gate, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0)
        die("pipe", 0);
    pid_t pids[8];
    for (int w = 0; w < writers; w++) {
        fflush(NULL);
        pids[w] = fork();
        if (pids[w] < 0)
            die("fork", 0);
        if (pids[w] == 0) {
            close(gate[1]);
            close(ready[0]);
            _exit(append_child(mode, path, size, n, gate[0], ready[1]));
        }
    }
    close(gate[0]);
    close(ready[1]);
    /* The clock starts once every writer has opened and waits at the gate. */
    for (int w = 0; w < writers; w++) {
        char c;
        ssize_t r;
        while ((r = read(ready[0], &c, 1)) < 0 && errno == EINTR)
            ;
        if (r != 1)
            die("writer start", 0);
    }
    close(ready[0]);
    uint64_t t0 = ikb_now_ns();
    close(gate[1]); /* EOF releases all writers at once */
    for (int w = 0; w < writers; w++) {
        int st;
        while (waitpid(pids[w], &st, 0) < 0 && errno == EINTR)
            ;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_shm_log: writer failed (%d)\n", st);
            exit(1);
        }
    }
    double ns = (double)(ikb_now_ns() - t0) / (double)((uint64_t)writers * n);
    unlink(path);
    return ns;
}

int main(void)
{
    ikb_header("shared memory and log (ns; ratio = ipckit / raw syscalls)");

    uint64_t n = ikb_iters(3000);
    (void)shm_raw(n / 10 + 1); /* warm up */
    (void)shm_ipckit(n / 10 + 1);
    double raw = shm_raw(n), ik = shm_ipckit(n);
    ikb_report("shm create+map+unmap+unlink 4 KiB (ns/op)", ik, "shm_open+ftruncate+mmap..", raw,
               "ns");

    /* Both sides run in the same directory: $TMPDIR or /tmp. */
    char dir[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/ikbench-log-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", 0);
    const size_t sizes[] = {64, 1024};
    for (size_t s = 0; s < 2; s++) {
        uint64_t recs = ikb_iters(sizes[s] == 64 ? 200000 : 40000);
        for (int writers = 1; writers <= 2; writers++) {
            double b = append_run(MODE_RAW, dir, sizes[s], writers, recs);
            double l = append_run(MODE_LOG, dir, sizes[s], writers, recs);
            char what[96], base[64];
            snprintf(what, sizeof(what), "ik_log_append %zu B, %d writer%s (ns/rec)", sizes[s],
                     writers, writers > 1 ? "s" : "");
            snprintf(base, sizeof(base), "write() O_APPEND, %d proc", writers);
            ikb_report(what, l, base, b, "ns");
            printf("%-44s %12.0f  %-28s %12.0f  rec/s\n", "  = throughput", 1e9 / l, "", 1e9 / b);
        }
    }
    rmdir(dir);
    return 0;
}
