/* ipckit command-line tool (placeholder until the registry lands). */
#include <ipckit.h>
#include <stdio.h>

int main(void)
{
    printf("ipckit %s\n", ik_version());
    return 0;
}
