// The public headers compile as C++.
#include <ipckit.h>

int main()
{
    return ik_name_check("ok") == 0 ? 0 : 1;
}
