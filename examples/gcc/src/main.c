#include <stdint.h>
#include <stdio.h>

uint64_t big_all(uint64_t x);

int main(void) {
    printf("hello from stagecache's gcc example: %llu\n", (unsigned long long)big_all(42));
    return 0;
}
