/* Built against the installed package through pkg-config. */
#include <ipckit.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    ik_shm *shm = NULL;
    int rc = ik_shm_anon(&shm, 4096, 0);
    if (rc != 0) {
        fprintf(stderr, "ik_shm_anon: %s\n", ik_strerror(rc));
        return 1;
    }
    memcpy(ik_shm_ptr(shm), "hello", 6);
    printf("ipckit %s: %s %s\n", ik_version(), (char *)ik_shm_ptr(shm), ik_err_name(IK_EOWNERDEAD));
    ik_shm_close(shm);
    return 0;
}
