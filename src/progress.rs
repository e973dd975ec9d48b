//! Progress on stderr, the one way dbkit shows it: indicatif indicators drawn only when
//! stderr is a terminal, nothing at all otherwise (CI logs and `--format json` stay
//! clean). Engines create `Indicator`s for their phases; an indicator is cleared when it
//! is finished or dropped, so only the report remains.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Whether progress is drawn at all: stderr is a terminal.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// One line of status on stderr, only on a terminal ("migrating to V3").
pub fn say(line: &str) {
    if enabled() {
        eprintln!("{line}");
    }
}

/// A bar, counter or spinner for one phase; a no-op when progress is off.
#[derive(Debug)]
pub struct Indicator {
    bar: Option<ProgressBar>,
}

impl Indicator {
    /// A bar of `len` steps. `template` is indicatif's (`{bar:30} {pos}/{len} {msg}`).
    pub fn bar(len: u64, template: &str) -> Indicator {
        Indicator::make(enabled(), || ProgressBar::new(len), template)
    }

    /// A counter or spinner without a known length (`{spinner} {pos} {msg}`).
    pub fn spinner(template: &str) -> Indicator {
        Indicator::make(enabled(), ProgressBar::no_length, template)
    }

    /// Nothing drawn, whatever stderr is.
    pub fn hidden() -> Indicator {
        Indicator { bar: None }
    }

    /// `bar`, `spinner` with an explicit switch (the caller asked for no progress).
    pub fn bar_if(on: bool, len: u64, template: &str) -> Indicator {
        Indicator::make(on && enabled(), || ProgressBar::new(len), template)
    }

    fn make(on: bool, new: impl FnOnce() -> ProgressBar, template: &str) -> Indicator {
        let bar = on.then(|| {
            let bar = new();
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Indicator { bar }
    }

    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    pub fn set_length(&self, len: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(len);
        }
    }

    pub fn set_position(&self, pos: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(pos);
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    pub fn set_prefix(&self, prefix: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(prefix.into());
        }
    }

    /// Clear it from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Indicator {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_indicators_do_nothing() {
        let i = Indicator::hidden();
        i.set_length(3);
        i.inc(1);
        i.set_message("x");
        assert!(!i.is_drawn());
        assert!(!Indicator::bar_if(false, 3, "{pos}").is_drawn());
    }
}
