/*
 * critical_section: N processes update a shared record under an ik_mutex.
 * One of them is killed (SIGKILL) in the middle of an update, leaving the
 * record half-written and the mutex held. The next process to lock gets
 * IK_EOWNERDEAD *with the lock held*, repairs the record, calls
 * ik_mutex_consistent() and everyone goes on. Exits by itself.
 *
 *   ./critical_section [workers] [updates-per-worker]
 */
#include <ipckit.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOTAL 1000000 /* invariant: from + to == TOTAL outside the lock */

struct record {
    ik_mutex lock;
    long from, to; /* an update moves one unit from `from` to `to` */
    long updates;  /* completed updates */
    long repairs;  /* IK_EOWNERDEAD recoveries */
};

/* Lock, repairing the record if the previous owner died mid-update. */
static int lock_record(struct record *r, int who)
{
    int rc = ik_mutex_lock(&r->lock);
    if (rc == IK_EOWNERDEAD) {
        printf("worker %d: previous owner died mid-update (from=%ld to=%ld): repairing\n", who,
               r->from, r->to);
        fflush(stdout);
        if (r->from + r->to != TOTAL) { /* roll the half-done unit forward */
            r->to = TOTAL - r->from;
            r->updates++;
        }
        r->repairs++;
        rc = ik_mutex_consistent(&r->lock);
    }
    return rc;
}

static int worker(struct record *r, int who, long n, bool victim)
{
    for (long i = 0; i < n; i++) {
        int rc = lock_record(r, who);
        if (rc != 0) {
            fprintf(stderr, "worker %d: lock: %s\n", who, ik_strerror(rc));
            return 1;
        }
        r->from--;
        if (victim && i == n / 2) {
            printf("worker %d: killed in the middle of an update\n", who);
            fflush(stdout);
            raise(SIGKILL); /* dies holding the lock, record half-updated */
        }
        r->to++;
        r->updates++;
        if ((rc = ik_mutex_unlock(&r->lock)) != 0) {
            fprintf(stderr, "worker %d: unlock: %s\n", who, ik_strerror(rc));
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    int workers = argc > 1 ? atoi(argv[1]) : 4;
    long n = argc > 2 ? atol(argv[2]) : 100000;
    if (workers < 2 || workers > 64 || n < 2) {
        fprintf(stderr, "usage: critical_section [workers 2..64] [updates >= 2]\n");
        return 2;
    }
    /* Anonymous shared memory: inherited by the workers, nothing left in
     * /dev/shm whatever happens. */
    ik_shm *shm;
    int rc = ik_shm_anon(&shm, sizeof(struct record), 0);
    if (rc != 0) {
        fprintf(stderr, "ik_shm_anon: %s\n", ik_strerror(rc));
        return 1;
    }
    struct record *r = ik_shm_ptr(shm);
    memset(r, 0, sizeof(*r));
    r->from = TOTAL;
    if ((rc = ik_mutex_init(&r->lock, 0)) != 0) {
        fprintf(stderr, "ik_mutex_init: %s\n", ik_strerror(rc));
        return 1;
    }
    fflush(stdout);
    pid_t pids[64];
    for (int i = 0; i < workers; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            return 1;
        }
        if (pids[i] == 0)
            _exit(worker(r, i, n, i == 0));
    }
    int failed = 0;
    for (int i = 0; i < workers; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        bool killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        if (i == 0 ? !killed : !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            failed = 1;
    }
    /* The victim may have died after the last survivor's final unlock. */
    if ((rc = lock_record(r, -1)) != 0 || (rc = ik_mutex_unlock(&r->lock)) != 0) {
        fprintf(stderr, "final lock: %s\n", ik_strerror(rc));
        return 1;
    }
    long want = (long)(workers - 1) * n + n / 2 + 1; /* the victim's half unit is rolled forward */
    printf("updates %ld (expected %ld), from+to = %ld (expected %d), repairs %ld\n", r->updates,
           want, r->from + r->to, TOTAL, r->repairs);
    bool ok = !failed && r->from + r->to == TOTAL && r->repairs == 1 && r->updates == want &&
              TOTAL - r->from == r->updates;
    printf("%s\n", ok ? "record consistent: survivors repaired it and went on" : "FAILED");
    ik_shm_close(shm);
    return ok ? 0 : 1;
}
