#!/usr/bin/env bash
# Makes a copy of the static library whose only global symbols are the
# interface's `recede_*` functions (GNU binutils, ELF targets):
#
#   1. `ld -r --whole-archive` prelinks every member of librecede_ffi.a (this
#      crate, Rust's std, OSQP, QDLDL and SuiteSparse's C code) into one
#      relocatable object, resolving the references between them;
#   2. `objcopy --wildcard --keep-global-symbol='recede_*'` makes every other
#      defined symbol local (osqp_setup, csc_spalloc, qdldl_factor, Rust's
#      mangled symbols, ...);
#   3. the same objcopy drops the `.llvmbc` / `.llvmcmd` sections (bitcode
#      that Rust's std embeds; concatenated by `ld -r` it is no longer valid
#      bitcode, and binutils' LLVM plugin aborts on it in `ar` and `nm`) and
#      `.llvm_addrsig` (stale after the merge);
#   4. `ar` wraps the object in an archive again.
#
# With the `caller-memory` feature, step 1 also routes the library's
# malloc family through its own wrappers (see below).
#
# Undefined references (libc, libm, libgcc_s, pthread) stay global: the
# final link resolves them. A firmware can then link its own OSQP (another
# version, another build) beside recede: `examples/firmware/run.sh` does so
# with a second copy of OSQP's C library.
#
# Usage: hide-symbols.sh IN.a OUT.a   (fails if a non-recede global remains)
set -euo pipefail

in="$1"
out="$2"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

ld -r --whole-archive "$in" -o "$tmp/recede_ffi.o"
# A library built with the `caller-memory` feature defines __wrap_malloc & co.
# (src/arena.rs): every reference to the malloc family inside it (Rust's
# allocator, OSQP's C code) is renamed to the wrapper, the wrappers' own
# __real_* references to the C library's functions, and a second `ld -r`
# binds the renamed references to the wrappers before they are made local.
# (`ld -r --wrap` leaves the references of a relocatable link alone.)
if readelf -sW "$tmp/recede_ffi.o" | awk '$7 != "UND" && $8 == "__wrap_malloc" { found = 1 } END { exit !found }'; then
    rename=()
    for symbol in malloc calloc realloc posix_memalign free; do
        rename+=(--redefine-sym "$symbol=__wrap_$symbol" --redefine-sym "__real_$symbol=$symbol")
    done
    objcopy "${rename[@]}" --remove-section=.llvmbc --remove-section=.llvmcmd \
        --remove-section=.llvm_addrsig "$tmp/recede_ffi.o" "$tmp/renamed.o"
    ld -r "$tmp/renamed.o" -o "$tmp/recede_ffi.o"
fi
objcopy --wildcard --keep-global-symbol='recede_*' \
    --remove-section=.llvmbc --remove-section=.llvmcmd --remove-section=.llvm_addrsig \
    "$tmp/recede_ffi.o"
rm -f "$out"
ar rcs "$out" "$tmp/recede_ffi.o"

# Defined global or weak symbols that are not the interface's.
leaked="$(readelf -sW "$tmp/recede_ffi.o" |
    awk '($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" && $8 !~ /^recede_/ { print $8 }')"
if [[ -n "$leaked" ]]; then
    echo "hide-symbols: global symbols besides recede_*:" >&2
    echo "$leaked" | head -20 >&2
    exit 1
fi
echo "hide-symbols: $out exports $(readelf -sW "$tmp/recede_ffi.o" |
    awk '$5 == "GLOBAL" && $7 != "UND"' | wc -l) symbols, all recede_*" >&2
