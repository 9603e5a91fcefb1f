//! Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise (logs,
//! CI), nothing with `--quiet` or `--json`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tdibt_backup::{Progress, ProgressSink};

pub enum Reporter {
    Bar(ProgressBar),
    Lines(Mutex<Option<Instant>>),
    Silent,
}

impl Reporter {
    pub fn new(quiet: bool, json: bool) -> Reporter {
        if quiet || json {
            Reporter::Silent
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg:8} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            Reporter::Bar(bar)
        } else {
            Reporter::Lines(Mutex::new(None))
        }
    }
}

pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

impl ProgressSink for Reporter {
    fn update(&self, what: &str, p: Progress) {
        match self {
            Reporter::Bar(bar) => {
                bar.set_message(what.to_string());
                bar.set_length(p.total);
                bar.set_position(p.done);
            }
            Reporter::Lines(last) => {
                let Ok(mut last) = last.lock() else { return };
                let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
                if due || p.done == p.total {
                    eprintln!(
                        "{what}: {}/{} done, {} rows, {}",
                        p.done,
                        p.total,
                        p.rows,
                        bytes(p.bytes)
                    );
                    *last = Some(Instant::now());
                }
            }
            Reporter::Silent => {}
        }
    }

    fn finish(&self, _what: &str) {
        if let Reporter::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
