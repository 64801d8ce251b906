/* Sync benchmarks, each beside its raw baseline measured in the same run:
 * uncontended lock+unlock (ik_mutex vs robust pshared pthread_mutex),
 * 2-process ping-pong handoff through two semaphores (ik_sem vs POSIX sem_t),
 * contended lock throughput with 2 processes. Reports, never asserts. */
#include "harness.h"

#include <ipckit.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared {
    ik_mutex im;
    pthread_mutex_t pm;
    ik_sem is[2];
    sem_t ps[2];
    volatile int start;
};

static void robust_init(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_sync: %s: %s\n", what, ik_strerror(rc));
    exit(1);
}

static double uncontended_ik(struct shared *s, uint64_t n)
{
    uint64_t t0 = ikb_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (ik_mutex_lock(&s->im) != 0 || ik_mutex_unlock(&s->im) != 0)
            die("ik_mutex", IK_EIO);
    }
    return (double)(ikb_now_ns() - t0) / (double)n;
}

static double uncontended_pt(struct shared *s, uint64_t n)
{
    uint64_t t0 = ikb_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        pthread_mutex_lock(&s->pm);
        pthread_mutex_unlock(&s->pm);
    }
    return (double)(ikb_now_ns() - t0) / (double)n;
}

/* cpu >= 0: pin the calling process to that CPU; -1: undo. */
static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0)
        CPU_SET(cpu, &set);
    else
        for (int i = 0; i < CPU_SETSIZE; i++)
            CPU_SET(i, &set);
    (void)sched_setaffinity(0, sizeof(set), &set);
}

/* Ping-pong: the child echoes n times; returns ns per one-way handoff.
 * same_cpu: both processes pinned to CPU 0 (each handoff is a context
 * switch); else free to run on two CPUs. */
static double pingpong(struct shared *s, uint64_t n, bool ik, bool same_cpu)
{
    fflush(NULL);
    pin(same_cpu ? 0 : -1);
    pid_t pid = fork();
    if (pid == 0) {
        for (uint64_t i = 0; i < n; i++) {
            if (ik) {
                if (ik_sem_wait(&s->is[0]) != 0 || ik_sem_post(&s->is[1]) != 0)
                    _exit(1);
            } else {
                while (sem_wait(&s->ps[0]) != 0)
                    ;
                sem_post(&s->ps[1]);
            }
        }
        _exit(0);
    }
    uint64_t t0 = ikb_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (ik) {
            if (ik_sem_post(&s->is[0]) != 0 || ik_sem_wait(&s->is[1]) != 0)
                die("ik_sem", IK_EIO);
        } else {
            sem_post(&s->ps[0]);
            while (sem_wait(&s->ps[1]) != 0)
                ;
        }
    }
    double ns = (double)(ikb_now_ns() - t0) / (double)(2 * n);
    waitpid(pid, NULL, 0);
    pin(-1);
    return ns;
}

static void hammer(struct shared *s, uint64_t n, bool ik)
{
    for (uint64_t i = 0; i < n; i++) {
        if (ik) {
            if (ik_mutex_lock(&s->im) != 0 || ik_mutex_unlock(&s->im) != 0)
                _exit(1);
        } else {
            pthread_mutex_lock(&s->pm);
            pthread_mutex_unlock(&s->pm);
        }
    }
}

/* Two processes lock+unlock n times each; returns million ops per second. */
static double contended(struct shared *s, uint64_t n, bool ik)
{
    s->start = 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        while (!s->start)
            ;
        hammer(s, n, ik);
        _exit(0);
    }
    uint64_t t0 = ikb_now_ns();
    s->start = 1;
    hammer(s, n, ik);
    waitpid(pid, NULL, 0);
    return (double)(2 * n) / ((double)(ikb_now_ns() - t0) / 1e9) / 1e6;
}

int main(void)
{
    struct shared *s =
        mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return 1;
    int rc;
    if ((rc = ik_mutex_init(&s->im, 0)) != 0)
        die("ik_mutex_init", rc);
    robust_init(&s->pm);
    for (int i = 0; i < 2; i++) {
        if ((rc = ik_sem_init(&s->is[i], 0, 0)) != 0)
            die("ik_sem_init", rc);
        sem_init(&s->ps[i], 1, 0);
    }
    ikb_header("sync: ik_mutex / ik_sem vs robust pshared pthread_mutex / POSIX sem_t");

    uint64_t n = ikb_iters(20000000);
    double best_ik = 1e9, best_pt = 1e9;
    for (int rep = 0; rep < 5; rep++) { /* interleaved, best of 5 */
        double a = uncontended_ik(s, n), b = uncontended_pt(s, n);
        best_ik = a < best_ik ? a : best_ik;
        best_pt = b < best_pt ? b : best_pt;
    }
    ikb_report("uncontended lock+unlock (ns)", best_ik, "pthread_mutex robust", best_pt, "ns");

    uint64_t pp = ikb_iters(200000);
    for (int same = 0; same < 2; same++) {
        double pi = 1e9, pp_ = 1e9;
        for (int rep = 0; rep < 3; rep++) { /* interleaved, best of 3 */
            double a = pingpong(s, pp, true, same), b = pingpong(s, pp, false, same);
            pi = a < pi ? a : pi;
            pp_ = b < pp_ ? b : pp_;
        }
        ikb_report(same ? "2-process handoff, same CPU (ns)"
                        : "2-process handoff, ik_sem ping-pong",
                   pi, "sem_post/sem_wait", pp_, "ns");
    }

    uint64_t cn = ikb_iters(2000000);
    double ci = 0, cp = 0;
    for (int rep = 0; rep < 3; rep++) {
        double a = contended(s, cn, true), b = contended(s, cn, false);
        ci = a > ci ? a : ci;
        cp = b > cp ? b : cp;
    }
    /* Throughput: higher is better, so report time per op for the ratio. */
    ikb_report("contended 2 procs (ns/op)", 1e3 / ci, "pthread_mutex robust", 1e3 / cp, "ns");
    printf("  contended throughput: ik_mutex %.1f Mops/s, pthread %.1f Mops/s\n", ci, cp);
    munmap(s, sizeof(*s));
    return 0;
}
