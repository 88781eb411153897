//! The `flowmart` binary; everything it does is in the library (`lib.rs`).

/// mimalloc rather than the system's allocator: the dataflow allocates and frees buffers per
/// batch in every operator, and mimalloc's per-thread free lists make it ~10 % faster at about
/// the same memory (BENCHMARKS.md, "The allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flowmart::main()
}
