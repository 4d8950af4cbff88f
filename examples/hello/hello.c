/* The program the compile stage turns into /out/hello. */
#include <stdio.h>

int main(void) {
    printf("hello from stagecache\n");
    return 0;
}
