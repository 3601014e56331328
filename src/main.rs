use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = hotdeal::cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(hotdeal::cli::run(cli))
}
