//! The `ringside` program, built in this package so the system tests can run it as a
//! process (start, SIGKILL, start again): the same `main` as `services/ringside`.

fn main() -> anyhow::Result<()> {
    ringside::cli::main()
}
