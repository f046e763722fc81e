//! With the `caller-memory` feature, the library's allocations go through
//! `__wrap_malloc` & co. (src/arena.rs): the shared library and this
//! crate's own test, bench and example binaries are linked with `--wrap`
//! for them. The static library is wrapped by scripts/hide-symbols.sh (a
//! firmware linking it unprocessed passes the same flags).

const WRAPPED: [&str; 5] = ["malloc", "calloc", "realloc", "posix_memalign", "free"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CALLER_MEMORY").is_none() {
        return;
    }
    for symbol in WRAPPED {
        let flag = format!("-Wl,--wrap={symbol}");
        println!("cargo::rustc-cdylib-link-arg={flag}");
        println!("cargo::rustc-link-arg-tests={flag}");
        println!("cargo::rustc-link-arg-benches={flag}");
        println!("cargo::rustc-link-arg-examples={flag}");
    }
}
