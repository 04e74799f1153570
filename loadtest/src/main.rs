//! The `loadtest` binary: parse the command line, run (or bench, curve, cluster), print, write
//! files.
//!
//! Ctrl-C cancels the run; the run then stops its clients and the figures measured so far are
//! printed and written as usual. Exit status: 0 when every transport delivered everything exactly
//! once and in order, 2 when something was lost, duplicated or reordered (so scripts and CI can
//! tell), 1 on errors.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use loadtest::cli::{Cli, Command};
use loadtest::report::{self, RunReport};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadtest: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let most_clients = match &cli.command {
        Some(Command::Bench(args)) => args.clients.iter().copied().max().unwrap_or(0),
        Some(Command::Curve(args)) => args.sizes.iter().copied().max().unwrap_or(0),
        Some(Command::Cluster(args)) => args.clients,
        None => cli.run.clients,
    };
    loadtest::sysinfo::check_open_files(most_clients).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nloadtest: stopping (Ctrl-C); reporting what was measured");
                on_signal.cancel();
            }
        });
        match cli.command {
            Some(Command::Bench(args)) => {
                let reports = loadtest::bench::bench(&args, stop).await?;
                let command = std::env::args().collect::<Vec<_>>().join(" ");
                let md = loadtest::bench::markdown(&reports, &command);
                println!("{md}");
                if let Some(path) = &args.markdown {
                    write_out(path, &md)?;
                }
                if let Some(path) = &args.json {
                    write_out(path, serde_json::to_string_pretty(&reports)? + "\n")?;
                }
                if let (Some(path), Some(last)) = (&args.report, reports.last()) {
                    report::html::write(last, path)?;
                    eprintln!("wrote {}", path.display());
                }
                Ok(status(reports.iter()))
            }
            Some(Command::Curve(args)) => {
                let reports = loadtest::curve::curve(&args, stop).await?;
                let command = std::env::args().collect::<Vec<_>>().join(" ");
                let md = loadtest::curve::markdown(&reports, &command);
                println!("{md}");
                if let Some(path) = &args.markdown {
                    write_out(path, &md)?;
                }
                if let Some(path) = &args.svg {
                    write_out(path, loadtest::curve::svg(&reports)?)?;
                }
                if let Some(path) = &args.json {
                    write_out(path, serde_json::to_string_pretty(&reports)? + "\n")?;
                }
                Ok(status(reports.iter()))
            }
            Some(Command::Cluster(args)) => {
                let report = loadtest::cluster::cluster(&args, stop).await?;
                let command = std::env::args().collect::<Vec<_>>().join(" ");
                let md = loadtest::cluster::markdown(&report, &command);
                println!("{md}");
                if let Some(path) = &args.markdown {
                    write_out(path, &md)?;
                }
                if let Some(path) = &args.json {
                    write_out(path, serde_json::to_string_pretty(&report)? + "\n")?;
                }
                Ok(status(report.runs.iter().map(|r| &r.report)))
            }
            None => {
                let args = cli.run;
                let report = loadtest::run::run(&args, stop).await?;
                print!("{}", report::table::render(&report));
                // Where the files went, so they can be found (and opened) without guessing.
                if let Some(path) = &args.json {
                    report::json::write(&report, path)?;
                    eprintln!("wrote {}", path.display());
                }
                if let Some(path) = &args.report {
                    report::html::write(&report, path)?;
                    eprintln!("wrote {}", path.display());
                }
                Ok(status(std::iter::once(&report)))
            }
        }
    })
}

/// Writes one of the run's files, and says where it went (so it can be found without guessing).
fn write_out(path: &std::path::Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn status<'a>(mut reports: impl Iterator<Item = &'a RunReport>) -> ExitCode {
    if reports.all(|r| r.transports.iter().all(|t| t.is_clean())) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
