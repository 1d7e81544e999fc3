//! `ringside`: see [`ringside::cli`].

fn main() -> anyhow::Result<()> {
    ringside::cli::main()
}
