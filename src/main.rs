use clap::Parser;

/// mimalloc: the request path allocates small, short-lived buffers on several threads at once,
/// where glibc's malloc spent about 8% of the server's CPU (arena locks, consolidation).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = hotdeal::cli::Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(hotdeal::cli::run(cli));
    hotdeal::telemetry::flush_logs();
    result
}
