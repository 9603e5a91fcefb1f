//! `taos-standin`: run the TDengine stand-in as a server (test equipment).

use clap::Parser;
use taos_standin::StandinServer;

/// A stand-in for TDengine 3.x's taosAdapter (WebSocket SQL and TMQ), for tests and demos.
/// Not a database for production.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6041")]
    listen: String,
    /// Keep data and committed offsets in this folder across restarts.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Server version to report (below 3.3.0.8 the connector uses JSON queries).
    #[arg(long = "server-version", default_value = taos_standin::DEFAULT_VERSION)]
    server_version: String,
    /// The TMQ rebalance timer in milliseconds (TDengine's `mqRebalanceInterval`, 2 s).
    #[arg(long, default_value_t = 2000)]
    rebalance_interval_ms: u64,
    /// Log every request (debug level).
    #[arg(short, long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let level = if args.verbose { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(level)
        .with_writer(std::io::stderr)
        .init();
    let mut builder = StandinServer::builder()
        .version(&args.server_version)
        .listen(&args.listen)
        .rebalance_interval(std::time::Duration::from_millis(args.rebalance_interval_ms));
    if let Some(d) = &args.data_dir {
        builder = builder.data_dir(d);
    }
    let standin = match builder.start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("taos-standin: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    eprintln!(
        "taos-standin listening on {} (version {})",
        standin.addr(),
        args.server_version
    );
    let _ = tokio::signal::ctrl_c().await;
    standin.shutdown().await;
    std::process::ExitCode::SUCCESS
}
