//! The `difftheory` command-line tool; see `difftheory --help`.
fn main() {
    std::process::exit(difftheory::cli::main_with_args(std::env::args().collect()));
}
