#!/usr/bin/env bash
# Builds librecede_ffi.a, compiles the C firmware example against it with the
# system C compiler, and runs the P1 cart-pole swing-up. The last line is
# "swing-up: ok|failed, steps N, allocations during steps K"; the exit status
# is non-zero unless the pole ends up and still with no allocation in a step.
# Then the quadrotor example (hover, a circle fed from C, a payload); its last
# line, the script's last: "quadrotor: ok|failed, steps N, allocations during
# steps K".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

cargo build --release -p recede-ffi >&2
target_dir="${CARGO_TARGET_DIR:-$root/target}"
lib="$target_dir/release/librecede_ffi.a"
out="$target_dir/firmware-example"
mkdir -p "$out"

# The native libraries a Rust staticlib needs on this target, as rustc reports
# them (`--print native-static-libs`): glibc's libm, libdl, pthread, libgcc_s.
build() {
    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror \
        -I "$root/crates/ffi/include" -I "$here" \
        "$here/$1.c" "$here/util.c" "$here/alloc_count.c" "$lib" \
        -rdynamic -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc \
        -o "$out/$2"
}
build main firmware
build quadrotor quadrotor

"$out/firmware" "$here/cart_pole.toml"
"$out/quadrotor" "$here/quadrotor.toml"
