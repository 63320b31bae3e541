//! The `fashionlab` command-line tool (native). In a wasm build this binary is empty: the site is the
//! library's cdylib, which trunk builds with `--no-default-features`.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    fashionlab::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
