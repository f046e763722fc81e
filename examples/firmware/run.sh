#!/usr/bin/env bash
# Builds librecede_ffi.a (with the `caller-memory` feature: creation in a
# caller's buffer), makes the copy whose only global symbols are recede_*
# (crates/ffi/scripts/hide-symbols.sh, which also routes the library's
# malloc family through its buffer-aware wrappers), compiles the C firmware
# examples against it with the system C compiler, and runs the P1 cart-pole
# swing-up. The last line is
# "swing-up: ok|failed, steps N, allocations during steps K"; the exit status
# is non-zero unless the pole ends up and still with no allocation in a step.
# Then the symbol check: nm lists the hidden library's global symbols (all
# recede_*), and two_osqps.c links it beside a second copy of OSQP's C
# library. Last, the quadrotor example (hover, a circle fed from C, a
# payload), created from the blob `recede export-firmware` writes inside a
# buffer of its own (recede_required_memory; zero allocations outside it);
# its last line, the script's last:
# "quadrotor: ok|failed, steps N, allocations during
# steps K".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

cargo build --release -p recede-ffi --features caller-memory >&2
target_dir="${CARGO_TARGET_DIR:-$root/target}"
lib="$target_dir/release/librecede_ffi.a"
out="$target_dir/firmware-example"
mkdir -p "$out"
hidden="$out/librecede_ffi_hidden.a"
"$root/crates/ffi/scripts/hide-symbols.sh" "$lib" "$hidden"

# The native libraries a Rust staticlib needs on this target, as rustc reports
# them (`--print native-static-libs`): glibc's libm, libdl, pthread, libgcc_s.
build() {
    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -DRECEDE_CALLER_MEMORY \
        -I "$root/crates/ffi/include" -I "$here" \
        "$here/$1.c" "$here/util.c" "$here/alloc_count.c" "$hidden" \
        -rdynamic -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc \
        -o "$out/$2"
}
build main firmware
build quadrotor quadrotor

"$out/firmware" "$here/cart_pole.toml"

if nm -g --defined-only "$hidden" | grep -E ' [A-Z] ' | grep -v ' recede_'; then
    echo "nm: global symbols besides recede_* in $hidden" >&2
    exit 1
fi
echo "nm: $(nm -g --defined-only "$hidden" | grep -cE ' [A-Z] recede_') global symbols, all recede_*"
# The shared library: rustc exports the #[no_mangle] functions, build.rs keeps
# the allocator wrappers local.
if nm -D --defined-only "$target_dir/release/librecede_ffi.so" | grep -v ' recede_'; then
    echo "nm -D: dynamic symbols besides recede_* in librecede_ffi.so" >&2
    exit 1
fi
echo "nm -D: $(nm -D --defined-only "$target_dir/release/librecede_ffi.so" | grep -c ' recede_') dynamic symbols in librecede_ffi.so, all recede_*"
# OSQP's C library as osqp-sys built it (the newest build), linked whole: a
# second definition of every OSQP, QDLDL and SuiteSparse symbol.
osqp_out="$(ls -td "$target_dir"/release/build/osqp-sys-*/out | head -1)"
link_with_osqp() {
    ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror \
        -I "$root/crates/ffi/include" -I "$here" -I "$osqp_out/src/include" \
        "$here/two_osqps.c" "$here/util.c" "$here/alloc_count.c" "$1" \
        -Wl,--whole-archive "$osqp_out/build/libosqp.a" -Wl,--no-whole-archive \
        -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc \
        -o "$2"
}
# The check can fail: the library as cargo builds it does not link.
if link_with_osqp "$lib" "$out/two_osqps_unhidden" 2>"$out/unhidden.log"; then
    echo "two osqps: the unhidden library linked beside OSQP; the check proves nothing" >&2
    exit 1
fi
echo "unhidden library beside OSQP: link fails as expected ($(grep -c 'multiple definition' "$out/unhidden.log") multiple definitions, e.g. $(grep -o 'multiple definition of `[a-z_]*' "$out/unhidden.log" | head -1 | sed 's/.*`//'))"
link_with_osqp "$hidden" "$out/two_osqps"
"$out/two_osqps" "$here/cart_pole.toml"

# The quadrotor is created from a firmware blob (no TOML on the target),
# written by the command line (the debug build `cargo test` makes anyway).
cargo build --bin recede >&2
"$target_dir/debug/recede" export-firmware "$here/quadrotor.toml" -o "$out/quadrotor.blob"
"$out/quadrotor" "$out/quadrotor.blob"
