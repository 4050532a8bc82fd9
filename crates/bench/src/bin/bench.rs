//! `bench`: Sesame's load benchmark (see the `sesame_bench` crate). Run it with `cargo xtask bench`,
//! which builds it and the binaries it starts (`sesame`, `mock-idp`, `bench-ceiling`) first.

use std::process::ExitCode;

use sesame_testkit::bins::Store;

mod flags {
    #![allow(missing_docs)] // The generated structs are documented by the declaration below.

    use sesame_testkit::bins::Store;

    xflags::xflags! {
        /// Sesame's load benchmark, per session store, against a bare-axum ceiling.
        cmd bench {
            /// Measure this store only (memory, redis, sqlite, postgres or redis-cluster); repeatable.
            /// Default: all five. docs/benchmark.md is rewritten only by a full run of all five.
            repeated --store store: Store
            /// Short windows and fewer logins (for CI; rougher numbers, docs/benchmark.md untouched).
            optional --quick
        }
    }
}

fn main() -> ExitCode {
    let flags = flags::Bench::from_env_or_exit();
    match sesame_bench::main(&Store::chosen(&flags.store, &Store::BENCHED), flags.quick) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}
