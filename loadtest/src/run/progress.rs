//! Progress bars for the three timed steps of a phase (connect, publish, drain), or nothing.
//!
//! Bars are for a person watching a terminal; with `--quiet` or when stdout is a pipe they are
//! hidden, so a script gets only the report.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress refresh period, and how often the connect and publish steps look at their counters.
pub const TICK: Duration = Duration::from_millis(100);

/// Progress bars, or nothing when quiet or not on a terminal.
#[derive(Clone, Copy)]
pub struct Progress {
    /// False with `--quiet` or when stdout is not a terminal.
    pub visible: bool,
}

impl Progress {
    pub fn bar(&self, len: u64, label: String) -> ProgressBar {
        if !self.visible {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        // The template is a constant; fall back to the default style if indicatif rejects it.
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix:>18} [{bar:40.cyan/blue}] {pos}/{len} {msg} ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label);
        bar
    }
}
