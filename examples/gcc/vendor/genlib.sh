#!/bin/sh
# Generates a C library of N functions with enough arithmetic in each that
# gcc -O2 takes a few seconds: a stand-in for a vendored dependency.
n=${1:-3000}
i=0
echo '#include <stdint.h>'
while [ "$i" -lt "$n" ]; do
  cat <<C
uint64_t big_$i(uint64_t x) {
  uint64_t h = x ^ ${i}u;
  for (int k = 0; k < 16; k++) { h = (h * 1099511628211u) ^ (h >> 13) ^ (uint64_t)(k * $i); }
  return h + (h << 7) - (x % 97u);
}
C
  i=$((i + 1))
done
echo 'uint64_t big_all(uint64_t x) {'
echo '  uint64_t h = x;'
i=0
while [ "$i" -lt "$n" ]; do
  echo "  h ^= big_$i(h);"
  i=$((i + 1))
done
echo '  return h;'
echo '}'
