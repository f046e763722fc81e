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
    // The shared library keeps the wrappers to itself: a second version
    // script makes them local (rustc's exports every #[no_mangle] function).
    let out_dir =
        std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out_dir.join("local-wrappers.map");
    let locals: String = WRAPPED.iter().map(|s| format!("__wrap_{s}; ")).collect();
    std::fs::write(&script, format!("{{ local: {locals}}};\n")).expect("OUT_DIR is writable");
    println!(
        "cargo::rustc-cdylib-link-arg=-Wl,--version-script={}",
        script.display()
    );
    for symbol in WRAPPED {
        let flag = format!("-Wl,--wrap={symbol}");
        println!("cargo::rustc-cdylib-link-arg={flag}");
        println!("cargo::rustc-link-arg-tests={flag}");
        println!("cargo::rustc-link-arg-benches={flag}");
        println!("cargo::rustc-link-arg-examples={flag}");
    }
}
