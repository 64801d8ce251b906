#!/usr/bin/env bash
# Install the build into a scratch prefix, then build and run a program
# against it with pkg-config (shared and static) and with find_package.
set -euo pipefail
bindir=$1 srcdir=$2
prefix=$(mktemp -d /tmp/ik-install.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$bindir" --prefix "$prefix" >/dev/null
pcdir=$(dirname "$(find "$prefix" -name ipckit.pc | head -1)")
export PKG_CONFIG_PATH="$pcdir"
test -f "$prefix/include/ipckit.h"
test -f "$prefix/include/ipckit/shm.h"
find "$prefix" -name 'ipckitConfig.cmake' | grep -q .
"${CC:-cc}" ${CONSUMER_CFLAGS:-} -std=c11 -Wall -Werror -o "$prefix/consumer" "$srcdir/consumer.c" $(pkg-config --define-prefix --cflags --libs ipckit)
LD_LIBRARY_PATH="$(pkg-config --define-prefix --variable=libdir ipckit)" "$prefix/consumer" | grep -q 'hello IK_EOWNERDEAD'
"${CC:-cc}" ${CONSUMER_CFLAGS:-} -std=c11 -Wall -Werror -o "$prefix/consumer_static" "$srcdir/consumer.c" \
    $(pkg-config --define-prefix --cflags ipckit) "$(pkg-config --define-prefix --variable=libdir ipckit)/libipckit.a" $(pkg-config --define-prefix --libs-only-l --static ipckit | sed 's/-lipckit//')
"$prefix/consumer_static" | grep -q 'hello IK_EOWNERDEAD'
# Only the ik_ API is exported from the shared library.
lib=$(find "$prefix" -name 'libipckit.so.*.*' | head -1)
if nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^ik_' | grep -v '^_' | grep -q .; then
    echo "non-ik_ symbols exported:"; nm -D --defined-only "$lib" | grep -v ' ik_'; exit 1
fi
if nm -D --defined-only "$lib" | awk '{print $3}' | grep -q '^ik__'; then
    echo "internal ik__ symbols exported"; exit 1
fi
# find_package(ipckit) works too.
mkdir -p "$prefix/cm"
cat >"$prefix/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(consumer C)
set(CMAKE_C_FLAGS "\${CMAKE_C_FLAGS} ${CONSUMER_CFLAGS:-}")
find_package(ipckit REQUIRED)
add_executable(consumer $srcdir/consumer.c)
target_link_libraries(consumer PRIVATE ipckit::ipckit)
CM
cmake -S "$prefix/cm" -B "$prefix/cm/b" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/cm/b" >/dev/null
LD_LIBRARY_PATH="$(pkg-config --define-prefix --variable=libdir ipckit)" "$prefix/cm/b/consumer" | grep -q 'hello'
echo "install check: ok"
