//! `tdibt monitor`: capture until SIGINT/SIGTERM (or, with `--once`, until drained).

use std::time::Duration;

use tdibt_backup::{serve_monitor, ServeOptions};
use tdibt_capture::MonitorOptions;
use tokio::sync::watch;
use tracing::info;

use crate::cli::{Cli, MonitorArgs};
use crate::exit::CliResult;
use crate::{output, settings};

pub fn run(cli: &Cli, args: &MonitorArgs) -> CliResult {
    let config = settings::effective_config(cli.config.as_deref(), &cli.overrides)?;
    let options = ServeOptions {
        monitor: MonitorOptions {
            once: args.once,
            // A one-shot run gives up on an unreachable server; a daemon keeps retrying.
            reconnect_deadline: args.once.then(|| Duration::from_secs(30)),
            metrics_listen: args.metrics_listen,
            ..MonitorOptions::default()
        },
        backup_every: args.backup_every,
        backup_after_blocks: args.backup_after_blocks,
        jobs: args.jobs,
        // `tdibt backup --engine taosdump` asked of this monitor runs taosdump here.
        other_engine: Some(std::sync::Arc::new(tdibt_taosdump::engine::TaosdumpStore)),
    };
    let runtime = super::runtime()?;
    let report = runtime.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("signal received: draining, checkpointing and committing");
            let _ = stop_tx.send(true);
        });
        serve_monitor(&config, options, stop_rx).await
    })?;
    if cli.json {
        return output::print_json(&report.stats);
    }
    let s = &report.stats;
    println!(
        "captured {} message(s), {} event(s), {} row(s), {} block mark(s); {} checkpoint(s) to {}",
        s.messages,
        s.events,
        s.rows,
        s.blocks_marked,
        s.checkpoints,
        report.checkpoint.display()
    );
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
